"""G2 while typing on every staff page, and the flags marked where the text shows.

Every GET page of the app is opened by every member of staff over the seeded
database of ``test_get_writes_nothing`` (cases in several states, calls,
a crew's field report, knowledge articles, outbound tasks...). A page with a
field staff type free words into (a ``<textarea>``, a text or search
``<input>``) outside a ``method="get"`` form must load ``phrase_check.js`` and
its rules, and each such field must be one the script checks, or one the
call page checks itself (``data-check`` with its warning box), or say why it
holds no words (``data-no-phrase-check="<reason>"``).

The case page marks each flagged history entry and lists the case's flags,
linking supervisors to ``/flags?case=<number>``; the call's review marks the
flagged transcript turn and links to ``/flags?call=<id>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import select

from callflows import services as calls
from callflows.domain.compliance import DEFAULT_BANNED_PHRASES
from callflows.models import ComplianceFlag
from hotline.domain.lifecycle import Action, State
from tests.integration.callhelp import answered_call, make_flows
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.integration.test_get_writes_nothing import (  # noqa: F401 (the fixture)
    Seeded,
    every_get_path,
    seeded,
)
from tests.support import STAFF, act, bring_case_to

SCRIPT = "/static/phrase_check.js"
#: Input types staff type free words into (a search's words are not stored).
_WORD_TYPES = {"text"}
#: Input modes that say a field takes no words.
_NOT_WORDS = {"numeric", "decimal", "tel", "email", "url"}
#: Parts of a page fetched into another page (the board's drawer): the page they
#: are shown in loads the checker, which warns on fields added later too.
_FRAGMENT_HOSTS = {"/dispatch/cards/": "/dispatch"}


@dataclass
class Field:
    tag: str
    attrs: dict[str, str]
    form_method: str | None  # None: not inside a form

    @property
    def name(self) -> str:
        return self.attrs.get("name") or self.attrs.get("id") or "?"


@dataclass
class PageAudit:
    """What a page's HTML says about the warning while typing."""

    scripts: list[str] = field(default_factory=list)
    data: str | None = None
    whole: bool = False  # a whole page (<html>), not a fragment for another page
    staff: bool = False  # a staff page (the live-connection dot), not a public one
    fields: list[Field] = field(default_factory=list)
    warning_boxes: set[str] = field(default_factory=set)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.audit = PageAudit()
        self._form: str | None = None
        self._in_data = False
        self._data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.audit.whole = True
        if values.get("id") == "live-dot":
            self.audit.staff = True
        if tag == "form":
            self._form = values.get("method", "").lower()
        elif tag in ("textarea", "input"):
            self.audit.fields.append(Field(tag, values, self._form))
        elif tag == "script":
            if values.get("src"):
                self.audit.scripts.append(values["src"].split("?")[0])
            if values.get("id") == "phrase-check-data":
                self._in_data = True
        if "g2-warning" in values.get("class", "").split() and values.get("data-for"):
            self.audit.warning_boxes.add(values["data-for"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "script" and self._in_data:
            self._in_data = False
            self.audit.data = "".join(self._data)

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self._data.append(data)


def audit(html: str) -> PageAudit:
    reader = _Reader()
    reader.feed(html)
    return reader.audit


def word_fields(page: PageAudit) -> list[Field]:
    """The fields staff type words into that are sent to be stored (not a GET form's)."""
    found = []
    for f in page.fields:
        kind = f.attrs.get("type", "text").lower() if f.tag == "input" else "textarea"
        if kind != "textarea" and kind not in _WORD_TYPES:
            continue
        if f.form_method == "get":
            continue  # a filter or a search: nothing is stored
        if f.attrs.get("inputmode", "").lower() in _NOT_WORDS:
            continue  # a number, a phone number...: no words
        found.append(f)
    return found


def problems(page: PageAudit) -> list[str]:
    """Why the page's fields are not all warned about (empty: they are).

    A fragment is only checked for its fields; its host page loads the script.
    """
    fields = word_fields(page)
    if not fields:
        return []
    wrong = []
    if page.whole and SCRIPT not in page.scripts:
        wrong.append(f"does not load {SCRIPT}")
    if page.whole and page.data is None:
        wrong.append("has no #phrase-check-data")
    elif page.whole:
        rules = json.loads(page.data)
        if tuple(rules.get("phrases", ())) != DEFAULT_BANNED_PHRASES:
            wrong.append("its phrase list is not the server's")
        if not rules.get("words", {}).get("warning"):
            wrong.append("its warning has no words")
    for f in fields:
        if "data-no-phrase-check" in f.attrs:
            if not f.attrs["data-no-phrase-check"].strip():
                wrong.append(f"field {f.name!r} opts out without a reason")
            continue
        if "data-check" in f.attrs:
            if f.attrs.get("name") not in page.warning_boxes:
                wrong.append(f"field {f.name!r} is checked by its page but has no warning box")
            continue
    return wrong


# -- the audit itself can fail ------------------------------------------------------------

_GOOD_HEAD = (
    "<html>"
    '<script type="application/json" id="phrase-check-data">'
    + json.dumps(
        {"phrases": list(DEFAULT_BANNED_PHRASES), "words": {"warning": "w"}}, ensure_ascii=False
    )
    + f'</script><script src="{SCRIPT}"></script>'
)


def test_the_audit_passes_a_checked_page_and_names_each_gap() -> None:
    """G2: the audit fails a page that would let staff type a banned phrase unwarned."""
    form = '<form method="post"><textarea name="note"></textarea>{}</form>'
    assert problems(audit(_GOOD_HEAD + form.format(""))) == []
    assert problems(audit('<form method="get"><input name="q"></form>')) == []
    assert problems(audit("<html>" + form.format(""))) == [
        f"does not load {SCRIPT}",
        "has no #phrase-check-data",
    ]
    assert problems(audit(_GOOD_HEAD + form.format('<input type="search" name="s">'))) == []
    assert problems(audit("<html>" + form.format('<input name="phone">'))) == [
        f"does not load {SCRIPT}",
        "has no #phrase-check-data",
    ]
    assert problems(audit(form.format(""))) == []  # a fragment: its host page loads it
    assert problems(
        audit(_GOOD_HEAD + form.format('<input name="n" data-no-phrase-check="">'))
    ) == ["field 'n' opts out without a reason"]
    assert problems(
        audit(_GOOD_HEAD + form.format('<textarea name="a" data-check="1"></textarea>'))
    ) == ["field 'a' is checked by its page but has no warning box"]
    wrong_list = _GOOD_HEAD.replace("不归我管", "不归你管") + form.format("")
    assert problems(audit(wrong_list)) == ["its phrase list is not the server's"]


# -- every staff page ---------------------------------------------------------------------

#: Pages with staff text that must be among those walked (a rename shows up here).
_MUST_HAVE_FIELDS = {
    "/cases/",  # notes, results, replies, returns, extension reasons, follow-up words,
    # supervision orders and answers, incident updates, promise notes (its sections)
    "/crew",  # the crew page: result notes, hand-back reasons, field reports
    "/console",  # the console and its call page
    "/outbound",  # outbound tasks
    "/knowledge/",  # knowledge-base articles
    "/calls/",  # quality-check comments
    "/dispatch/cards/",  # the board's drawer
}


def test_every_staff_page_with_text_fields_warns_while_typing(
    app,
    seeded: Seeded,  # noqa: F811 (the fixture imported above)
) -> None:
    """G2: every GET page that shows a staff text field loads the checker for it."""
    paths = [p for p in every_get_path(app, seeded) if not p.startswith("/api/")]
    with_fields: set[str] = set()
    wrong: dict[str, list[str]] = {}
    for username, _role, _dept in STAFF:
        client = logged_in(app.test_client(), username)
        for path in paths:
            response = client.get(path)
            if response.status_code != 200 or "text/html" not in response.content_type:
                continue
            page = audit(text_of(response))
            if page.whole and not page.staff:
                continue  # a public page: residents type there, not staff
            if word_fields(page):
                with_fields.add(path)
            if found := problems(page):
                wrong.setdefault(f"{username} {path}", found)
    assert not wrong, "pages without the warning while typing:\n" + "\n".join(
        f"  {where}: {', '.join(found)}" for where, found in sorted(wrong.items())
    )
    for prefix, host in _FRAGMENT_HOSTS.items():
        fragments = [p for p in with_fields if p.startswith(prefix)]
        assert fragments, f"no fragment under {prefix} had fields; update _FRAGMENT_HOSTS"
        page = audit(text_of(logged_in(app.test_client(), "dispatcher").get(host)))
        assert SCRIPT in page.scripts and page.data, f"{host} shows {prefix}… without the checker"
    missing = {
        prefix for prefix in _MUST_HAVE_FIELDS if not any(p.startswith(prefix) for p in with_fields)
    }
    assert not missing, (
        f"no page with staff text fields under {sorted(missing)}: {sorted(with_fields)}"
    )


def test_the_rules_and_the_warning_come_in_the_page_language(app, app_org, client) -> None:
    """G2: the warning's words follow the page's language; the list is the server's."""
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    logged_in(client, "dispatcher")
    html = text_of(client.get(f"/cases/{number}"))
    rules = json.loads(audit(html).data or "{}")
    assert rules["rule"] == "G2"
    assert tuple(rules["phrases"]) == DEFAULT_BANNED_PHRASES
    assert rules["words"]["warning"] == "禁语提示(G2):请勿使用"
    client.post("/lang/en", data={"next": "/", "csrf_token": csrf_from(html)})
    rules = json.loads(audit(text_of(client.get(f"/cases/{number}"))).data or "{}")
    assert rules["words"]["warning"] == "Banned phrase (G2), do not use:"


def test_public_pages_get_no_checker(app, client) -> None:
    html = text_of(client.get("/login"))
    assert SCRIPT not in audit(html).scripts
    assert audit(html).data is None


# -- the marks ------------------------------------------------------------------------------


def _rows(html: str) -> list[str]:
    """The rows of the /flags list."""
    return html.split('<tr class="flag-row">')[1:]


def _flags(app, **where: Any) -> list[ComplianceFlag]:
    with app.extensions["hotline"].sessions() as session:
        query = select(ComplianceFlag).order_by(ComplianceFlag.id)
        for column, value in where.items():
            query = query.where(getattr(ComplianceFlag, column) == value)
        return list(session.scalars(query))


def test_the_case_page_marks_the_flagged_entry_and_links_to_its_flags(app, app_org, client) -> None:
    """G2: a flagged note shows its mark on the case page, linked to /flags?case=."""
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    other = bring_case_to(svc, app_org, State.ASSIGNED)
    act(svc, app_org["dispatcher"], number, Action.ADD_NOTE, note="这个我不知道")
    act(svc, app_org["dispatcher"], number, Action.ADD_NOTE, note="已联系用户")
    act(svc, app_org["dispatcher"], other, Action.ADD_NOTE, note="这单办不了")
    assert [f.phrase for f in _flags(app)] == ["不知道", "办不了"]

    logged_in(client, "supervisor")
    html = text_of(client.get(f"/cases/{number}"))
    link = f'href="/flags?case={number}"'
    assert 'id="case-flags"' in html and link in html
    history = html.split('<ol class="history">', 1)[1]
    entries = history.split("</li>")
    flagged = [e for e in entries if "这个我不知道" in e]
    assert len(flagged) == 1 and "g2-mark" in flagged[0] and "「不知道」" in flagged[0]
    assert link in flagged[0]
    clean = [e for e in entries if "已联系用户" in e]
    assert len(clean) == 1 and "g2-mark" not in clean[0]
    assert "办不了" not in html  # the other case's flag is not here

    listing = _rows(text_of(client.get(f"/flags?case={number}")))
    assert len(listing) == 1 and "不知道" in listing[0]
    assert text_of(client.get("/flags?case=RX-00000000-0000")).count('class="flag-row"') == 0
    response = client.get("/flags?case=" + "9" * 41)
    assert response.status_code == 400 and "case" in text_of(response)


def test_the_mark_shows_to_the_writer_without_the_supervisors_link(app, app_org, client) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    act(svc, app_org["dispatcher"], number, Action.ADD_NOTE, note="这个我不知道")
    html = text_of(logged_in(client, "dispatcher").get(f"/cases/{number}"))
    assert "「不知道」" in html and 'class="g2-mark"' in html
    assert "/flags?case=" not in html
    assert client.get(f"/flags?case={number}").status_code in (302, 403)


def test_the_call_review_marks_the_flagged_turn_and_links_to_the_calls_flags(
    app, app_org, client
) -> None:
    """G2: a flagged transcript turn is marked on the call's review, linked to /flags?call=."""
    svc = app.extensions["hotline"]
    flows = make_flows()
    call_id = answered_call(svc, flows, app_org["operator"], sid="SIM-FLAGGED")
    other = answered_call(svc, flows, app_org["operator"], number="13905345555", sid="SIM-OTHER")
    turns = [
        {"speaker": "caller", "text": "不知道怎么办"},
        {"speaker": "staff", "text": "您好,请稍等"},
        {"speaker": "staff", "text": "等着,没看见正忙着"},
    ]
    assert calls.attach_transcript(svc, call_id=call_id, turns=turns) == 1
    calls.attach_transcript(svc, call_id=other, turns=[{"speaker": "staff", "text": "办不了"}])

    logged_in(client, "supervisor")
    html = text_of(client.get(f"/calls/{call_id}"))
    assert f'href="/flags?call={call_id}"' in html
    transcript = html.split('id="call-transcript"', 1)[1].split("</ol>", 1)[0]
    items = transcript.split("</li>")
    assert "g2-mark" not in items[0]  # the caller's words are not the staff's
    assert "g2-mark" not in items[1]
    assert "g2-mark" in items[2] and "「等着,没看见正忙着」" in items[2]

    listing = _rows(text_of(client.get(f"/flags?call={call_id}")))
    assert len(listing) == 1 and "等着" in listing[0]
    assert client.get("/flags?call=abc").status_code in (400, 422)
