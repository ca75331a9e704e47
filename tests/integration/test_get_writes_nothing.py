"""Reading writes nothing: no GET request changes the database, on SQLite and PostgreSQL.

The one exception is the access log (W7): a GET that shows a customer's whole
personal data, or an export, writes its one ``access_log`` row first, alone in
its transaction.

Every GET route of the app is requested by every role (and by nobody logged
in; the API's routes also with each role's token) over a seeded database:
cases in several states, a booked visit, a call recorded as a case, a live
call, a ringing and a missed simulated call, a duty shift and an outage. A
listener on the engine notes every INSERT, UPDATE or DELETE (and, on SQLite,
every write transaction) issued while a GET is being answered; there must be
none. Routes with arguments are requested with every seeded value, so a new
GET route is checked as soon as it exists.

Reading a case marks nothing as read: the case page's script posts the last
change it showed to ``/cases/<number>/seen`` once the page is on screen, and
the "unread changes" counts of the operator's lists follow that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import has_request_context, request
from sqlalchemy import event, select

from callflows import services as calls
from callflows.models import OutboundTask, Provider
from callflows.services import SubmitForm, outbound_tasks
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, CaseSeen
from hotline.services import IntakeOutcome, knowledge
from tests.integration.callhelp import confirm_and_triage, walk_to_read_back
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.integration.seedhelp import shift_outage_and_field_case
from tests.support import STAFF, Org, act, bring_case_to

#: A statement that changes rows.
_CHANGE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|REPLACE|UPSERT)\b", re.I)
_CTE_CHANGE = re.compile(
    r"^\s*WITH\b.*\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\S+\s+SET)\b", re.I | re.S
)
#: The one write a GET may make: the access log's row of a view of whole personal data (W7).
_ACCESS_LOG_ROW = re.compile(r"^\s*INSERT\s+INTO\s+access_log\b", re.I)
#: SQLite's write transaction: it holds the one write lock, even if nothing is written.
_WRITE_TRANSACTION = re.compile(r"^\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.I)
#: GETs that may open a write transaction without writing (none).
_WRITE_TRANSACTION_ALLOWED: set[str] = set()
_READING = ("GET", "HEAD")
#: Route arguments that name files, not rows: nothing of the database is read.
_FILE_ARGUMENTS = {"filename"}
ROLES = [None, *(username for username, _role, _dept in STAFF)]


def writes(statement: str) -> bool:
    """Whether ``statement`` changes rows."""
    return bool(_CHANGE.match(statement) or _CTE_CHANGE.match(statement))


def opens_write_transaction(statement: str) -> bool:
    return bool(_WRITE_TRANSACTION.match(statement))


@dataclass
class Watch:
    """What the engine was asked while answering GET requests."""

    statements: int = 0
    writes: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not has_request_context() or request.method not in _READING:
            return
        self.statements += 1
        path = request.full_path.rstrip("?")
        if _ACCESS_LOG_ROW.match(statement):
            # W7: a view of whole personal data writes its access log row, alone in
            # its write transaction (test_access_log_routes counts them).
            if (
                self.writes
                and self.writes[-1][0] == path
                and opens_write_transaction(self.writes[-1][1])
            ):
                self.writes.pop()
            return
        if writes(statement) or (
            opens_write_transaction(statement) and request.path not in _WRITE_TRANSACTION_ALLOWED
        ):
            self.writes.append((path, " ".join(statement.split())[:160]))


@pytest.fixture
def watch(app) -> Iterator[Watch]:
    engine = app.extensions["hotline.engine"]
    watch = Watch()
    event.listen(engine, "before_cursor_execute", watch)
    yield watch
    event.remove(engine, "before_cursor_execute", watch)


@dataclass
class Seeded:
    org: Org
    cases: dict[str, str]
    calls: dict[str, int]
    photos: list[int] = field(default_factory=list)
    articles: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)

    def values(self) -> dict[str, list[Any]]:
        """Every seeded value of each route argument."""
        return {
            "number": list(self.cases.values()),
            "call_id": list(self.calls.values()),
            "photo_id": self.photos,
            "operator_id": [self.org["operator"].id],
            "article_id": self.articles,
            "task_id": self.tasks,
        }


@pytest.fixture
def seeded(app, app_org, clock) -> Seeded:
    """Something on every page: cases, a visit, calls of every kind, a shift, an outage."""
    svc = app.extensions["hotline"]
    flows = app.extensions["callflows"]
    org = app_org
    states = (
        State.WITH_DISPATCH,
        State.ASSIGNED,
        State.ACKNOWLEDGED,
        State.EXTENSION_REQUESTED,
        State.AWAITING_FOLLOW_UP,
        State.ANSWERED_ON_CALL,
    )
    cases = {state.value: bring_case_to(svc, org, state) for state in states}
    services.book_appointment(
        svc,
        org["crew"],
        cases[State.ACKNOWLEDGED.value],
        starts_at=clock.now + timedelta(hours=3),
        ends_at=clock.now + timedelta(hours=5),
        requested_by_customer=True,
        note="检查户外管道",
    )
    operator = org["operator"]
    recorded, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-RECORDED", from_raw="13805341234"
    )
    calls.answer(svc, flows, operator, recorded)
    walk_to_read_back(svc, flows, operator, recorded)
    confirm_and_triage(svc, flows, operator, recorded)
    result = calls.submit(
        svc, flows, operator, recorded, SubmitForm(outcome=IntakeOutcome.DISPATCH)
    )
    assert result.case_number
    cases["from_call"] = result.case_number
    live, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-LIVE", from_raw="13905341111"
    )
    calls.answer(svc, flows, operator, live)
    ringing, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-RINGING", from_raw="13905342222"
    )
    missed, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-MISSED", from_raw="13905343333"
    )
    calls.end_call(svc, flows, call_id=missed, hung_up_by="caller")
    dispatcher = org["dispatcher"]
    # A shift, an outage under way, and a crew's field report with a photo (F8).
    cases["field"], photos = shift_outage_and_field_case(app, svc, org, clock)
    # The knowledge base's articles (G3).
    knowledge.load_seed_file(svc)
    with svc.sessions() as session:
        articles = [hit.id for hit in knowledge.search(session, "", limit=3)]
    # Outbound tasks: the follow-up and the missed call's call-back; one taken,
    # so its page shows the script.
    outbound_tasks.take_next(svc, operator)
    with svc.sessions() as session:
        task_ids = list(session.scalars(select(OutboundTask.id)).all())
    # Someone else's change the first responder has not read yet.
    act(svc, dispatcher, cases[State.WITH_DISPATCH.value], Action.ADD_NOTE, note="已联系用户")
    return Seeded(
        org=org,
        cases=cases,
        calls={"recorded": recorded, "live": live, "ringing": ringing, "missed": missed},
        photos=photos,
        articles=articles,
        tasks=task_ids,
    )


def every_get_path(app, seeded: Seeded) -> list[str]:
    """A path for every GET route with every seeded value of its arguments."""
    adapter = app.url_map.bind("localhost")
    values = seeded.values()
    paths: list[str] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments & _FILE_ARGUMENTS:
            continue
        unknown = rule.arguments - values.keys() - set(rule.defaults or {})
        assert not unknown, f"{rule.rule}: no seeded value for {sorted(unknown)}; add one here"
        combos: list[dict[str, Any]] = [{}]
        for name in sorted(rule.arguments):
            combos = [{**combo, name: value} for combo in combos for value in values[name]]
        for combo in combos:
            paths.append(adapter.build(rule.endpoint, combo, method="GET"))
    return sorted(set(paths))


def test_no_get_request_writes_for_any_role(app, seeded, watch) -> None:
    paths = every_get_path(app, seeded)
    assert "/" in paths and "/console" in paths
    assert f"/cases/{seeded.cases['with_dispatch']}" in paths
    assert f"/console/calls/{seeded.calls['live']}" in paths
    answered: dict[int, int] = {}
    for username in ROLES:
        client = app.test_client()
        if username is not None:
            logged_in(client, username)
        for path in paths:
            response = client.get(path)
            assert response.status_code < 500, (username, path, response.status_code)
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
        if username is not None:
            bearer = {"Authorization": f"Bearer {seeded.org.tokens[username]}"}
            api = app.test_client()
            for path in (p for p in paths if p.startswith("/api/")):
                response = api.get(path, headers=bearer)
                assert response.status_code < 500, (username, path, response.status_code)
    assert answered.get(200, 0) > len(paths)  # the pages really were shown, not just refused
    assert watch.statements > 0  # the listener hears the requests' statements
    assert watch.writes == [], "GET requests wrote:\n" + "\n".join(
        f"  {path}: {statement}" for path, statement in watch.writes
    )


def test_the_watch_sees_a_write() -> None:
    assert writes("INSERT INTO case_seen (staff_id) VALUES (?)")
    assert writes("  update case_seen SET seen_seq=?")
    assert writes("DELETE FROM x")
    assert writes("WITH moved AS (SELECT 1) UPDATE cases SET version = 2")
    assert not writes("SELECT cases.id FROM cases FOR UPDATE")
    assert not writes("SELECT updated_at, deleted FROM t")
    assert opens_write_transaction("BEGIN IMMEDIATE")
    assert not opens_write_transaction("BEGIN DEFERRED")


# -- marking a case as read ------------------------------------------------------------


class _SeenMark(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.mark: dict[str, str] | None = None
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if values.get("id") == "case-seen":
            self.mark = values
        if tag == "script" and values.get("src"):
            self.scripts.append(values["src"])


def seen_mark(html: str) -> tuple[dict[str, str], list[str]]:
    parser = _SeenMark()
    parser.feed(html)
    assert parser.mark is not None, "the case page has no #case-seen mark"
    return parser.mark, parser.scripts


def _unread(client, number: str) -> int:
    """The unread count the operator's list shows for ``number`` (0: no badge)."""
    html = text_of(client.get("/operator"))
    row = re.search(
        rf'<tr class="[^"]*">\s*<td[^>]*><a href="/cases/{re.escape(number)}">.*?</tr>', html, re.S
    )
    assert row, f"{number} is not on the operator's list"
    badge = re.search(r'<span class="badge"[^>]*>(\d+)</span>', row.group(0))
    return int(badge.group(1)) if badge else 0


def _seen_seq(app, username: str, number: str, org: Org) -> int | None:
    with app.extensions["hotline"].sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        seen = session.get(CaseSeen, (org[username].id, case.id))
        return None if seen is None else seen.seen_seq


def _post_seen(client, html: str, seq: Any | None = None, **extra: Any):
    mark, _scripts = seen_mark(html)
    data = {"seq": mark["data-seq"] if seq is None else seq, **extra}
    return client.post(mark["data-url"], data=data, headers={"X-CSRFToken": csrf_from(html)})


def test_the_case_page_names_what_it_showed_and_loads_the_script(app, app_org, client) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    html = text_of(logged_in(client, "operator").get(f"/cases/{number}"))
    mark, scripts = seen_mark(html)
    with svc.sessions() as session:
        last = session.scalar(select(Case.last_event_seq).where(Case.number == number))
    assert mark["data-url"] == f"/cases/{number}/seen"
    assert mark["data-seq"] == str(last)
    assert "/static/seen.js" in scripts


def test_unread_changes_count_until_the_page_says_they_were_shown(app, app_org, client) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)  # opened by 'operator'
    act(svc, app_org["dispatcher"], number, Action.ADD_NOTE, note="已联系用户")
    logged_in(client, "operator")
    assert _unread(client, number) == 1

    html = text_of(client.get(f"/cases/{number}"))
    assert _unread(client, number) == 1  # reading the page wrote nothing
    response = _post_seen(client, html)
    assert response.status_code == 204, text_of(response)
    assert _unread(client, number) == 0

    act(svc, app_org["dispatcher"], number, Action.ADD_NOTE, note="用户不在家")
    assert _unread(client, number) == 1  # a change after the page was shown is still new
    assert _post_seen(client, html).status_code == 204  # the old page again: still unread
    assert _unread(client, number) == 1


def test_seen_never_goes_back_and_never_past_the_last_change(app, app_org, client) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    logged_in(client, "operator")
    html = text_of(client.get(f"/cases/{number}"))
    last = int(seen_mark(html)[0]["data-seq"])
    assert _post_seen(client, html, seq=last + 50).status_code == 204
    assert _seen_seq(app, "operator", number, app_org) == last
    assert _post_seen(client, html, seq=1).status_code == 204
    assert _seen_seq(app, "operator", number, app_org) == last


@pytest.mark.parametrize("seq", ["", "x", "-1", "1.5", "99999999999999999999"])
def test_seen_with_a_bad_number_is_refused_naming_it(app, app_org, client, seq) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    logged_in(client, "operator")
    html = text_of(client.get(f"/cases/{number}"))
    response = _post_seen(client, html, seq=seq)
    assert response.status_code in (400, 422), (seq, response.status_code)
    assert "seq" in text_of(response)
    assert _seen_seq(app, "operator", number, app_org) is None


def test_seen_needs_the_csrf_token_and_a_login(app, app_org, client) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    assert client.post(f"/cases/{number}/seen", data={"seq": "1"}).status_code in (302, 400, 401)
    logged_in(client, "operator")
    response = client.post(f"/cases/{number}/seen", data={"seq": "1"})
    assert response.status_code == 400
    assert _seen_seq(app, "operator", number, app_org) is None


def test_seen_for_an_unknown_case_is_404(app, app_org, client) -> None:
    logged_in(client, "operator")
    html = text_of(client.get("/operator"))
    response = client.post(
        "/cases/RY-20000101-9999/seen", data={"seq": "1"}, headers={"X-CSRFToken": csrf_from(html)}
    )
    assert response.status_code == 404
