"""The countdowns on the pages carry the deadline sweep's own warning instant.

The board row and the case page show ``data-warn`` (seconds since the epoch)
and ``data-due``; both must be the instants ``hotline.services.deadlines`` works out
for the case's open clock (pauses and extensions included), and the sweep
must warn at that very instant.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from dispatch.services.sweep import sweep
from hotline import services
from hotline.domain.lifecycle import State
from hotline.models import Case, CaseDeadline
from hotline.services.deadlines import StageClock, effective_due, next_check, resumed
from tests.integration.pagehelp import logged_in, text_of
from tests.support import bring_case_to

SECOND = timedelta(seconds=1)


def _open_clock(svc, number: str) -> StageClock:
    """The case's open clock due first, as the sweep reads it."""
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        rows = session.scalars(
            select(CaseDeadline)
            .where(CaseDeadline.case_id == case.id, CaseDeadline.ended_at.is_(None))
            .order_by(CaseDeadline.id)
        )
        clocks = [StageClock.of(row) for row in rows]
    return min(clocks, key=lambda c: effective_due(c, svc.policy.calendar))


def _mark(html: str, anchor: str) -> dict[str, str]:
    """The attributes of the first countdown after ``anchor`` in ``html``."""
    rest = html.split(anchor, 1)[1]
    tag = re.search(r'<span class="due[^"]*"[^>]*>', rest)
    assert tag, rest[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))
    return attrs


def _board_mark(client, number: str) -> dict[str, str]:
    return _mark(text_of(client.get("/dispatch")), f">{number}</a>")


def _case_mark(client, number: str) -> dict[str, str]:
    response = client.get(f"/cases/{number}")
    assert response.status_code == 200
    return _mark(text_of(response), "当前时限")


def _ts(moment: datetime) -> str:
    return str(moment.timestamp())


def _warned(svc, number: str) -> bool:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return any(
            row.warned_at is not None
            for row in session.scalars(select(CaseDeadline).where(CaseDeadline.case_id == case.id))
        )


def test_the_board_row_carries_the_sweeps_warning_instant(app, app_org, client, clock):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    c = _open_clock(svc, number)
    warn = next_check(c)  # a running clock not yet warned is next looked at for its warning
    assert warn == c.warn_at
    logged_in(client, "dispatcher")
    mark = _board_mark(client, number)
    assert mark["data-warn"] == _ts(warn)
    assert datetime.fromisoformat(mark["data-due"]) == c.due_at
    assert mark["data-state"] == "ok" and mark["class"].split() == ["due"]

    clock.now = warn - SECOND
    sweep(svc, check_duty=False)
    assert not _warned(svc, number)
    assert _board_mark(client, number)["data-state"] == "ok"
    clock.now = warn
    sweep(svc, check_duty=False)
    assert _warned(svc, number)
    assert _board_mark(client, number)["class"].split() == ["due", "warn"]
    clock.now = c.due_at + SECOND
    assert _board_mark(client, number)["class"].split() == ["due", "breach"]


def test_the_dispatch_card_route_renders_the_same_countdown(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    card = client.get(f"/dispatch/cards/{number}").get_json()
    assert _mark(card["html"], f">{number}</a>") == _board_mark(client, number)


def test_a_paused_case_shows_paused_and_the_warning_where_the_sweep_will_put_it(
    app, app_org, client, clock
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    visit = (clock.now + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    services.book_appointment(
        svc,
        app_org["crew"],
        number,
        starts_at=visit,
        ends_at=visit + timedelta(hours=2),
        requested_by_customer=True,
    )
    c = _open_clock(svc, number)
    assert c.paused_since is not None and c.paused_until is not None
    after = resumed(c, c.paused_until, svc.policy.calendar)  # what the sweep writes on resuming

    logged_in(client, "crew")
    mark = _case_mark(client, number)
    assert mark["data-state"] == "paused"
    assert mark["data-resume"] == _ts(c.paused_until)
    assert mark["data-warn"] == _ts(after["warn_at"])
    assert datetime.fromisoformat(mark["data-due"]) == after["due_at"]
    assert after["warn_at"] != c.warn_at  # the pause moved it

    clock.now = c.paused_until
    sweep(svc, check_duty=False)  # resumes the clock
    resumed_clock = _open_clock(svc, number)
    assert resumed_clock.paused_since is None
    assert resumed_clock.warn_at == after["warn_at"]
    mark = _case_mark(client, number)
    assert mark["data-state"] in ("ok", "warn") and mark["data-resume"] == ""
    assert mark["data-warn"] == _ts(resumed_clock.warn_at)


def test_an_extended_case_warns_on_the_page_when_the_sweep_does(app, app_org, client, clock):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.EXTENSION_APPROVED)
    c = _open_clock(svc, number)
    logged_in(client, "dispatcher")
    mark = _case_mark(client, number)
    assert mark["data-warn"] == _ts(c.warn_at)
    assert datetime.fromisoformat(mark["data-due"]) == c.due_at
    if c.warned_at is None:
        clock.now = c.warn_at - SECOND
        sweep(svc, check_duty=False)
        assert not _warned(svc, number)
        assert _case_mark(client, number)["data-state"] == "ok"
        clock.now = c.warn_at
        sweep(svc, check_duty=False)
        assert _warned(svc, number)
    assert _case_mark(client, number)["data-state"] == "warn"
