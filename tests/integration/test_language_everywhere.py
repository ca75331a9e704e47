"""Every page speaks one language at a time: Chinese in Chinese mode, English in English mode.

Every GET route of the app is requested (routes with arguments with seeded
values) by every role and by nobody logged in, with the session's language
set to ``zh_CN`` and to ``en``, over the demo data plus calls of every kind,
a duty shift, an outage, a field report with a photo and outbound tasks.
Every answer that is an HTML page is read as people see it (no ``<script>``
or ``<style>``; attribute values only where the browser shows them:
``title``, ``placeholder``, ``aria-label``, ``alt`` and the ``value`` of
buttons; text shown as code, ``<code>``, ``<kbd>``, ``<samp>``, only for
Chinese in English mode), and so are the error pages (404, 403, 400, 405, 413, 500 and a
failed CSRF check).

- In English mode no Chinese character may show outside quoted data: what
  people typed or the billing system sent (names, addresses, the caller's
  words, notes), the company's name, and the standard's script wording that
  is shown verbatim as the quote it is (P3, P4); text an element marks as
  Chinese (``lang="zh-CN"``, what the caller hears on the line) is a quote too.
- In Chinese mode no English word of three letters or more may show outside
  the same data and a short list of names and codes (``API``, ``CSV``,
  ``Twilio``, ...), each with its reason below.

A department has a Chinese and an English name: only the page language's
one may show. A new page is checked as soon as it is in the URL map.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, select

from callflows import services as calls
from callflows.models import OutboundTask, Provider
from callflows.services import SubmitForm, outbound_tasks
from dispatch.services import supervision
from hotline import services
from hotline.db import Base
from hotline.demo import DEMO_PASSWORD, load_demo
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, Department, Staff
from hotline.services import Actor, IntakeOutcome
from tests.integration.callhelp import confirm_and_triage, walk_to_read_back
from tests.integration.pagehelp import csrf_from, login
from tests.integration.seedhelp import shift_outage_and_field_case
from tests.support import Org, act, bring_case_to

ROOT = Path(__file__).resolve().parents[2]
LANGS = ("zh_CN", "en")
#: The demo's people (``hotline demo``), and nobody logged in.
ROLES = (None, "operator", "dispatcher", "crew", "meter", "supervisor", "admin")

#: Route arguments that name files, not pages.
FILE_ARGUMENTS = {"filename"}
#: Routes that cannot be given a seeded value here, by endpoint, with the reason (none yet:
#: a new route with an argument fails the test until its value is seeded or it is listed).
UNSEEDED: dict[str, str] = {}

#: Answers that are not pages people read in a language of the interface.
NOT_PAGES = {
    "/health": "the monitoring probe's JSON",
    "/api/docs": "the API's browser (Swagger UI) is for integrators and speaks English only",
}

#: Words that are the same in both languages: names of products, formats and codes.
ALLOWED_WORDS = {
    "API": "the integration interface's name, as on every API product",
    "JSON": "a file format",
    "CSV": "a file format",
    "XLSX": "a file format",
    "Excel": "a product name",
    "XML": "a file format",
    "Atom": "the feed format's name",
    "RSS": "the feed format's name",
    "Open311": "the name of the public standard GeoReport v2 belongs to",
    "GeoReport": "the name of the Open311 standard's interface",
    "Twilio": "the telephony provider's name",
    "WeChat": "a product name",
    "SMS": "the universal name of text messages on a phone",
    "English": "the language switch names the other language in that language",
    "OpenAPI": "the name of the API description format",
    "Swagger": "the name of the API browser",
    "Bearer": "the HTTP authentication scheme's name",
    "HTTP": "the protocol's name",
    "HTTPS": "the protocol's name",
    "GIS": "the trade's name for a map system",
    "JPEG": "an image format",
    "PNG": "an image format",
    "WebP": "an image format",
    "Alt": "a key's name as printed on the keyboard",
    "Enter": "a key's name as printed on the keyboard",
    "Esc": "a key's name as printed on the keyboard",
    "Ctrl": "a key's name as printed on the keyboard",
    "Shift": "a key's name as printed on the keyboard",
}
#: Chinese text allowed in English mode besides the quoted data.
ALLOWED_CHINESE = {
    "中文": "the language switch names the other language in that language",
}

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60]+")
_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"(?<![\w@.:/\\-])[A-Za-z][A-Za-z0-9_]*(?:[-'][A-Za-z]+)*")
_URLISH = re.compile(
    r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|(?<!\w)/[\w./?=&%-]+|\b[\w.-]+\.(?:toml|json|csv|xlsx|xml|atom|py|md)\b"
)
#: Attributes the browser shows (tooltips, hints, screen readers, images, buttons).
SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
#: Text shown as code (a command, a key, a file's header) is the same in every language,
#: except for Chinese in it in English mode.
CODE_ELEMENTS = ("code", "kbd", "samp")
#: Data shown masked (孙**, 禹城市汉槐街**): a quote, cut short.
MASKED = re.compile(r"[\w\u3400-\u9fff]+\*{2,}")


#: Elements inside a line of text: their text is read with the text around them.
INLINE_ELEMENTS = {"a", "abbr", "b", "em", "i", "mark", "q", "s", "small", "span", "strong"}
INLINE_ELEMENTS |= {"sub", "sup", "time", "u"}


class _Visible(HTMLParser):
    """The text of a page as people see it (and hear it through a screen reader).

    Text is read line by line: the text of inline elements (a link, a marked
    word) joins the text around it; any other element starts a new piece.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.code: list[str] = []
        self.chinese: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._code = 0
        self._chinese: list[str] = []

    def _flush(self) -> None:
        if self._line:
            self.parts.append("".join(self._line))
            self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag not in INLINE_ELEMENTS:
            self._flush()
        if tag in ("script", "style"):
            self._skip += 1
            return
        if tag in CODE_ELEMENTS:
            self._code += 1
        if tag != "html" and values.get("lang", "").lower().startswith("zh"):
            self._chinese.append(tag)
        for name in SHOWN_ATTRIBUTES:
            if values.get(name):
                self.parts.append(values[name])
        if tag == "input" and values.get("type") in ("submit", "button", "reset"):
            self.parts.append(values.get("value", ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in INLINE_ELEMENTS:
            self._flush()
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if tag in CODE_ELEMENTS and self._code:
            self._code -= 1
        if self._chinese and self._chinese[-1] == tag:
            self._chinese.pop()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._code:
            self.code.append(data)
        elif self._chinese:
            self.chinese.append(data)
        else:
            self._line.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def visible_text(html: str, code: bool = False, chinese: bool = True) -> list[str]:
    """The visible pieces of text of ``html``, one per text node or shown attribute.

    With ``code``, also what is shown as code (commands, keys, file headers);
    without ``chinese``, not what is marked as a Chinese quote (``lang="zh-CN"``).
    """
    parser = _Visible()
    parser.feed(html)
    parser.close()
    parts = parser.parts + (parser.code if code else []) + (parser.chinese if chinese else [])
    return [" ".join(part.split()) for part in parts if part.strip()]


@dataclass
class Quotes:
    """What may show in either language: data as entered, names, verbatim wording."""

    chinese: list[str] = field(default_factory=list)
    ascii: set[str] = field(default_factory=set)
    patterns: list[re.Pattern[str]] = field(default_factory=list)

    def strip(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub(" ", text)
        return text


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


#: Columns that hold names of the vocabulary in one language: never quoted data.
_ONE_LANGUAGE_COLUMN = re.compile(r"(^|_)(zh|en)$")
#: Columns the product writes itself, in its own words, that pages must put in words.
_PRODUCT_COLUMNS = {"limit_text"}
#: Columns of codes (states, kinds, statuses) that must reach people through labels.
_CODE_COLUMN = re.compile(
    r"(^|_)(state|status|kind|action|role|channel|category|priority|outcome|triage|stage|"
    r"clock|tier|source|cause|provider|direction|disposition|answer|step|hung_up_by|"
    r"code|zone|grade|lang|locale|sid|hash|digest|token|secret|salt|key)s?$"
)


def quoted_data(app) -> Quotes:
    """Everything people or outside systems entered, read from every table."""
    chinese: set[str] = set()
    ascii_words: set[str] = set()
    with app.extensions["hotline"].sessions() as session:
        for table in Base.metadata.sorted_tables:
            columns = [
                column
                for column in table.columns
                if isinstance(column.type, String | Text | JSON)
                and not _ONE_LANGUAGE_COLUMN.search(column.name)
                and not _CODE_COLUMN.search(column.name)
                and column.name not in _PRODUCT_COLUMNS
            ]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                for value in row:
                    for text in _strings(value):
                        if _CJK.search(text):
                            chinese.add(" ".join(text.split()))
                            # Long text is shown line by line and lists item by item.
                            for piece in re.split(r"[\n,、;；，]+", text):
                                if len(piece.strip()) >= 2:
                                    chinese.add(" ".join(piece.split()))
        for username in session.scalars(select(Staff.username)):
            ascii_words.add(username)
    company = app.config["HOTLINE"]
    for key in ("company_name", "company_short"):
        if company.get(key):
            chinese.add(company[key])
    quotes = Quotes(chinese=sorted(chinese, key=len, reverse=True), ascii=ascii_words)
    quotes.patterns.append(MASKED)
    quotes.patterns.append(re.compile("|".join(re.escape(text) for text in quotes.chinese)))
    quotes.patterns.extend(_verbatim_wording())
    return quotes


def _verbatim_wording() -> list[re.Pattern[str]]:
    """The standard's wording in the call scripts (verbatim), with their fields as wildcards."""
    patterns = []
    for path in sorted((ROOT / "callflows" / "scripts").glob("*.toml")):
        script = tomllib.loads(path.read_text(encoding="utf-8"))
        for group in ("prompts", "steps"):
            for entry in script.get(group, []):
                if entry.get("verbatim") and entry.get("zh"):
                    pieces = re.split(r"\{\w+\}", " ".join(entry["zh"].split()))
                    patterns.append(re.compile(".{0,40}?".join(re.escape(p) for p in pieces)))
    return patterns


def foreign_text(text: str, lang: str, quotes: Quotes) -> list[str]:
    """Pieces of ``text`` in the other language than ``lang``, outside quotes and names."""
    text = quotes.strip(text)
    if lang == "en":
        for allowed in ALLOWED_CHINESE:
            text = text.replace(allowed, " ")
        return [run for run in _CJK.findall(text) if _IDEOGRAPH.search(run)]
    text = _URLISH.sub(" ", text)
    found = []
    for word in _WORD.findall(text):
        letters = sum(ch.isalpha() for ch in word)
        if letters < 3 or word in ALLOWED_WORDS or word in quotes.ascii:
            continue
        if re.fullmatch(r"[A-Z]{1,4}\d[\w-]*|[A-Z]+-\d[\w-]*", word):  # codes: DN100, RY-2026…
            continue
        found.append(word)
    return found


def test_the_detector_finds_each_language_outside_quotes() -> None:
    quotes = Quotes(chinese=["孙建国"], ascii={"operator"})
    quotes.patterns.append(re.compile("孙建国"))
    assert foreign_text("Caller 孙建国 · registered", "en", quotes) == []
    assert foreign_text("Caller 孙建国 · 已登记", "en", quotes) == ["已登记"]
    assert foreign_text("剩余时间 179 · register", "zh_CN", quotes) == ["register"]
    assert foreign_text("15min / 1 day", "zh_CN", quotes) == ["day"]
    assert foreign_text("导出 CSV · Excel · /api/docs · DN100 · operator", "zh_CN", quotes) == []
    assert foreign_text("状态 in_progress", "zh_CN", quotes) == ["in_progress"]
    assert visible_text(
        '<p title="提示">a<script>var x="英文";</script><style>p{}</style>'
        '<input type="submit" value="Save"><input type="hidden" value="hidden"></p>'
    ) == ["提示", "a", "Save"]


# -- the seeded world ------------------------------------------------------------------------


@dataclass
class World:
    values: dict[str, list[Any]]
    quotes: Quotes


def _demo_org(app) -> Org:
    org = Org()
    with app.extensions["hotline"].sessions() as session:
        for staff in session.scalars(select(Staff)):
            org.actors[staff.username] = Actor.of(staff)
        for dept in session.scalars(select(Department)):
            org.departments[dept.code] = dept.id
    return org


@pytest.fixture
def world(app, clock) -> World:
    """The demo, and something on every page: calls of every kind, a shift, an outage, a photo."""
    svc = app.extensions["hotline"]
    flows = app.extensions["callflows"]
    assert load_demo(svc)
    org = _demo_org(app)
    operator, dispatcher = org["operator"], org["dispatcher"]
    cases = {
        state.value: bring_case_to(svc, org, state)
        for state in (
            State.EXTENSION_REQUESTED,
            State.EXTENSION_APPROVED,  # the caller is to be told the new time (G7)
            State.AWAITING_FOLLOW_UP,
            State.CLOSED,
            State.MERGED,
        )
    }
    # A note with a banned phrase: the case page and the flags page mark it (G2).
    act(
        svc, dispatcher, cases[State.AWAITING_FOLLOW_UP.value], Action.ADD_NOTE, note="这个不归我管"
    )
    # A visit booked with the customer (F1).
    services.book_appointment(
        svc,
        org["crew"],
        cases[State.EXTENSION_REQUESTED.value],
        starts_at=clock.now + timedelta(hours=3),
        ends_at=clock.now + timedelta(hours=5),
        requested_by_customer=True,
        note="检查户外管道",
    )
    # Supervision orders (督办 / 催办): one to a department, one to a person, answered.
    supervision.issue(
        svc,
        org["supervisor"],
        cases[State.EXTENSION_REQUESTED.value],
        kind="supervise",
        instruction="请今天下班前到场处理并回复",
        to_department_id=org.departments["REPAIR"],
    )
    urged = supervision.issue(
        svc,
        dispatcher,
        cases[State.EXTENSION_APPROVED.value],
        kind="urge",
        instruction="请尽快回复用户",
        to_staff_id=org["crew"].id,
    )
    supervision.answer(svc, org["crew"], urged.id, answer="已联系用户,明天上午到场")
    recorded, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-RECORDED", from_raw="13805341234"
    )
    calls.answer(svc, flows, operator, recorded)
    walk_to_read_back(svc, flows, operator, recorded)
    confirm_and_triage(svc, flows, operator, recorded)
    result = calls.submit(
        svc, flows, operator, recorded, SubmitForm(outcome=IntakeOutcome.DISPATCH)
    )
    cases["from_call"] = result.case_number or ""
    calls.end_call(svc, flows, call_id=recorded, hung_up_by="caller")  # its record is kept
    live, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-LIVE", from_raw="13953412345"
    )
    calls.answer(svc, flows, operator, live)
    ringing, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-RINGING", from_raw="15065341111"
    )
    missed, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-MISSED", from_raw="18653400001"
    )
    calls.end_call(svc, flows, call_id=missed, hung_up_by="caller")
    cases["field"], photos = shift_outage_and_field_case(app, svc, org, clock)
    outbound_tasks.take_next(svc, operator)
    with svc.sessions() as session:
        demo_cases = list(session.scalars(select(Case.number).order_by(Case.id)))
        articles = list(
            session.execute(select(Base.metadata.tables["knowledge_articles"].c.id)).scalars()
        )[:2]
        tasks = list(session.scalars(select(OutboundTask.id)))
    numbers = sorted(set(cases.values()) | set(demo_cases))
    return World(
        values={
            "number": numbers,
            "call_id": [recorded, live, ringing, missed],
            "photo_id": photos,
            "operator_id": [operator.id],
            "article_id": articles,
            "task_id": tasks,
        },
        quotes=quoted_data(app),
    )


def every_get_path(app, world: World) -> list[tuple[str, str]]:
    """(endpoint, path) for every GET route, with every seeded value of its arguments."""
    adapter = app.url_map.bind("localhost")
    paths: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments & FILE_ARGUMENTS:
            continue
        if rule.endpoint in UNSEEDED:
            continue
        unknown = rule.arguments - world.values.keys() - set(rule.defaults or {})
        assert not unknown, f"{rule.rule}: no seeded value for {sorted(unknown)}; add one here"
        combos: list[dict[str, Any]] = [{}]
        for name in sorted(rule.arguments):
            combos = [{**combo, name: value} for combo in combos for value in world.values[name]]
        for combo in combos:
            path = adapter.build(rule.endpoint, combo, method="GET")
            if path not in NOT_PAGES:
                paths.append((rule.endpoint, path))
    return sorted(set(paths), key=lambda item: item[1])


def _client(app, username: str | None, lang: str):
    client = app.test_client()
    if username is not None:
        assert login(client, username, DEMO_PASSWORD).status_code == 302, username
    with client.session_transaction() as session:
        session["lang"] = lang
    return client


def _findings(html: str, lang: str, quotes: Quotes) -> list[str]:
    found = []
    for piece in visible_text(html, code=lang == "en", chinese=lang != "en"):
        foreign = foreign_text(piece, lang, quotes)
        if foreign:
            found.append(f"{' '.join(foreign)!r} in {piece[:160]!r}")
    return found


def _is_page(response) -> bool:
    return response.mimetype == "text/html"


def check_pages(app, world: World) -> tuple[dict[tuple[str, str], dict[str, str]], set[str]]:
    """Findings by (language, endpoint): each foreign piece with a path and role showing it."""
    problems: dict[tuple[str, str], dict[str, str]] = {}
    shown: set[str] = set()
    paths = every_get_path(app, world)
    assert any(path == "/console" for _endpoint, path in paths)
    for lang in LANGS:
        for username in ROLES:
            client = _client(app, username, lang)
            for endpoint, path in paths:
                response = client.get(path)
                assert response.status_code < 500, (lang, username, path, response.status_code)
                if response.status_code != 200 or not _is_page(response):
                    continue
                shown.add(endpoint)
                for finding in _findings(response.get_data(as_text=True), lang, world.quotes):
                    problems.setdefault((lang, endpoint), {}).setdefault(
                        finding, f"{path} as {username or 'nobody'}"
                    )
    return problems, shown


def _report(problems: dict[tuple[str, str], dict[str, str]]) -> str:
    return "\n".join(
        f"{lang} {endpoint}:\n    "
        + "\n    ".join(f"{finding}  [{where}]" for finding, where in sorted(found.items())[:12])
        for (lang, endpoint), found in sorted(problems.items())
    )


#: Pages whose wording is still being put in both languages, by endpoint, with what is
#: left. They are read like every page and their findings printed; once a page is clean
#: the test fails until its entry is removed here.
PENDING: dict[str, str] = {}


def test_every_page_speaks_the_session_language(app, world: World) -> None:
    problems, shown = check_pages(app, world)
    # The pages really were read, for every role's home and the case page.
    for endpoint in ("console.home", "board.page", "crew.home", "pages.case_page", "admin.staff"):
        assert endpoint in shown, endpoint
    pending = {key: found for key, found in problems.items() if key[1] in PENDING}
    if pending:
        print("pages still being put in both languages:\n" + _report(pending))
    clean = sorted(set(PENDING) - {endpoint for _lang, endpoint in pending})
    assert not clean, f"no longer mixing languages, remove from PENDING: {clean}"
    rest = {key: found for key, found in problems.items() if key[1] not in PENDING}
    assert not rest, "text in the other language:\n" + _report(rest)


# -- error pages -----------------------------------------------------------------------------


def _error_pages(app) -> dict[str, Any]:
    """Each error as a page answers it, in each language: (status, html) by name and language."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom() -> Any:
        raise RuntimeError("a fault in the code")

    app.add_url_rule("/language-test/boom", "language_test_boom", boom)
    too_big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    answers: dict[str, Any] = {}
    for lang in LANGS:
        for name, response in _errors_in(app, lang, too_big).items():
            answers[f"{lang} {name}"] = (response.status_code, response)
    return answers


def _errors_in(app, lang: str, too_big: bytes) -> dict[str, Any]:
    crew = _client(app, "crew", lang)
    operator = _client(app, "operator", lang)
    token = csrf_from(operator.get("/operator").get_data(as_text=True))
    return {
        "404": operator.get("/no-such-page"),
        "404 case": operator.get("/cases/RY-20000101-9999"),
        "403": crew.get("/admin/staff"),
        "405": operator.get("/logout"),
        "400": operator.post("/lang/xx", data={"csrf_token": token}),
        "csrf": operator.post("/lang/en", data={"csrf_token": "forged"}),
        "413": operator.post(
            "/lang/en", data=too_big, content_type="application/x-www-form-urlencoded"
        ),
        "500": operator.get("/language-test/boom"),
    }


def test_error_pages_are_in_the_layout_and_the_session_language(app, world: World) -> None:
    answers = _error_pages(app)
    expected = {"404": 404, "404 case": 404, "403": 403, "405": 405, "400": 400, "csrf": 400}
    expected.update({"413": 413, "500": 500})
    problems = {}
    for key, (status, response) in answers.items():
        lang, name = key.split(" ", 1)
        assert status == expected[name], (key, status)
        assert response.mimetype == "text/html", key
        html = response.get_data(as_text=True)
        assert 'class="topbar"' in html and 'id="error-page"' in html, key  # the product's layout
        found = _findings(html, lang, world.quotes)
        if found:
            problems[key] = found
    assert not problems, problems
    # Each says what happened in its own words, in the page language.
    zh = answers["zh_CN csrf"][1].get_data(as_text=True)
    en = answers["en csrf"][1].get_data(as_text=True)
    assert "页面已过期" in zh and "The page has expired" in en
    assert "无权访问" in answers["zh_CN 403"][1].get_data(as_text=True)
    assert "Page or case not found" in answers["en 404"][1].get_data(as_text=True)


def test_the_api_answers_errors_in_json(app, world: World) -> None:
    client = _client(app, "operator", "zh_CN")
    for path, status in (("/api/cases/RY-20000101-9999", 404), ("/api/no-such-thing", 404)):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.mimetype == "application/json", path
        assert response.get_json()["code"] == status


# -- history, durations, live notices and the script, in words -------------------------------

_RAW = re.compile(
    r"\{'|\[\{|\b\w+_id\b|\b\d{4}-\d\d-\d\dT\d\d:\d\d|\+00:00|\b(?:deadline|supervision|"
    r"appointment|caller)_\w+\b"
)


def _facts_of(html: str) -> list[tuple[str, str]]:
    """The facts (``<div class="data">``: name and text) of the page's last history list."""
    part = html[html.rindex('<ol class="history">') :]
    facts = []
    for fact in re.findall(r'<div class="data">(.*?)</div>', part, re.S):
        name, text = re.match(r"\s*<span>(.*?)</span>\s*:?(.*)", fact, re.S).groups()
        facts.append((" ".join(name.split()), " ".join(text.split())))
    return facts


def test_the_case_page_and_the_audit_page_tell_the_history_with_the_same_words(
    app, world: World, clock
) -> None:
    """One rendering of a case's history: the audit page states the facts the case page does.

    Every fact is named, with its unit, names for ids and Beijing times (G7's
    promise, the escalation's overdue minutes), in the page language.
    """
    from dispatch.services.sweep import sweep

    svc = app.extensions["hotline"]
    org = _demo_org(app)
    number = bring_case_to(svc, org, State.EXTENSION_APPROVED)
    clock.advance(days=12)
    sweep(svc, check_duty=False)
    for lang in LANGS:
        client = _client(app, "supervisor", lang)
        case_page = client.get(f"/cases/{number}").get_data(as_text=True)
        audit_page = client.get(f"/audit?case={number}").get_data(as_text=True)
        on_case = _facts_of(case_page)
        on_audit = _facts_of(audit_page)
        assert on_case and sorted(on_case) == sorted(on_audit), (lang, on_case, on_audit)
        for fact in (f"{name} {text}" for name, text in on_case):
            assert not _RAW.search(fact), (lang, fact)
            assert not foreign_text(fact, lang, world.quotes), (lang, fact)
        joined = " ".join(f"{name} {text}" for name, text in on_case)
        if lang == "en":
            assert "2 working days" in joined and "min" in joined, joined
        else:
            assert "2 个工作日" in joined and "分钟" in joined, joined


@pytest.mark.parametrize(
    ("written", "zh", "en"),
    [
        ("15min / 1 day", "15 分钟 / 1 天", "15 min / 1 day"),
        ("2 working days", "2 个工作日", "2 working days"),
        ("4h", "4 小时", "4 h"),
        ("3 days", "3 天", "3 days"),
        ("1 working day", "1 个工作日", "1 working day"),
        (
            "1 day (1 working day counted around the clock)",
            "1 天(1 个工作日,全天候计时)",
            "1 day (1 working day counted around the clock)",
        ),
        ("4h · 当日报单 (F8)", "4 小时 · 当日报单 (F8)", "4 h · reported the same day (F8)"),
    ],
)
def test_time_limits_are_told_with_units_in_the_page_language(app, written, zh, en) -> None:
    from hotline.web import labels

    for lang, expected in (("zh_CN", zh), ("en", en)):
        with app.test_request_context("/"):
            from flask import session

            session["lang"] = lang
            assert labels.limit_words(written) == expected, lang


def test_live_notices_name_the_action_in_the_page_language(app, world: World) -> None:
    """A live notice says 「登记」 / "Register", never the code ``register``."""
    import html as html_lib
    import json

    names = {}
    for lang in LANGS:
        page = _client(app, "dispatcher", lang).get("/dispatch").get_data(as_text=True)
        raw = re.search(r'id="live-dot"[^>]*data-actions="([^"]*)"', page)
        assert raw, "the top bar carries the action names"
        names[lang] = json.loads(html_lib.unescape(raw.group(1)))
    assert names["zh_CN"]["register"] == "登记"
    assert names["zh_CN"]["deadline_escalated"] == "超时升级"
    assert not _CJK.search(" ".join(names["en"].values()))
    live_js = (ROOT / "hotline" / "web" / "static" / "live.js").read_text(encoding="utf-8")
    assert "payload.action;" not in live_js  # the code itself is never shown


def test_the_script_wording_stays_verbatim_and_its_english_shows_on_demand(
    app, world: World
) -> None:
    """P3: the standard's wording is shown as written in both languages; its English
    line is shown in English mode and only on demand in Chinese mode."""
    import html as html_lib
    import json

    call_id = world.values["call_id"][1]  # the live call
    greeting = "您好,这里是禹城市润禹水务有限公司,请问有什么可以帮您"
    for lang in LANGS:
        page = _client(app, "operator", lang).get(f"/console/calls/{call_id}")
        html = page.get_data(as_text=True)
        view = json.loads(
            html_lib.unescape(
                re.search(
                    r'<script type="application/json" id="call-view">(.*?)</script>', html, re.S
                ).group(1)
            )
        )
        texts = json.dumps(view, ensure_ascii=False)
        assert greeting in texts or "您好" in texts  # the standard's words travel as written
        assert 'id="step-text" class="step-text" lang="zh-CN"' in html
        english_line = re.search(r'<p id="step-text-en"[^>]*>', html).group(0)
        if lang == "en":
            assert "hidden" not in english_line and 'id="toggle-english"' not in html
        else:
            assert "hidden" in english_line and 'id="toggle-english"' in html


def test_the_call_review_shows_times_and_states_in_words(app, world: World) -> None:
    """The call detail: statuses by name, times in Beijing time, no ISO or UTC times."""
    recorded = world.values["call_id"][0]
    for lang in LANGS:
        html = _client(app, "supervisor", lang).get(f"/calls/{recorded}").get_data(as_text=True)
        text = " ".join(visible_text(html))
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\+00:00", text), text
        assert "in_progress" not in text and "completed" not in text
        assert ("Ended" if lang == "en" else "已结束") in text, lang
        # The read-back's time as the utility's clock shows it, not a recorded ISO time.
        assert re.search(r"(复述确认|Read-back confirmed)\S* ?: \d\d:\d\d:\d\d", text), text
