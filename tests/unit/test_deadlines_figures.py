"""Time-limit figures from stage clocks (pure): met, missed, shares, the promise kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.services.figures import PromiseVerdict, Tally, promise_verdict, tally, verdict
from hotline.domain.taxonomy import Stage
from hotline.models import CaseDeadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)


def row(stage: Stage = Stage.ACKNOWLEDGE, *, ended: float | None = None, **changes) -> CaseDeadline:
    """A stage clock started at T0, due an hour later, ended ``ended`` hours after T0."""
    values = {
        "stage": str(stage),
        "clock": "around_the_clock",
        "limit_text": "1h",
        "started_at": T0,
        "limit_due_at": T0 + timedelta(hours=1),
        "due_at": T0 + timedelta(hours=1),
        "warn_at": T0 + timedelta(minutes=48),
        "escalation_level": 0,
        "paused_seconds": 0,
        "ended_by": "",
        "ended_at": None if ended is None else T0 + timedelta(hours=ended),
    }
    values.update(changes)
    return CaseDeadline(**values)


def test_a_stage_ended_by_its_due_time_met_its_limit():
    assert verdict(row(ended=1), T0).met is True
    assert verdict(row(ended=1.01), T0).met is False


def test_an_open_stage_is_not_judged_but_shows_overdue():
    late = verdict(row(), T0 + timedelta(hours=2))
    assert late.met is None and late.overdue is True
    assert verdict(row(), T0 + timedelta(minutes=30)).overdue is False


def test_a_paused_stage_is_not_overdue_while_the_customer_is_waited_for():
    paused = row(paused_since=T0, paused_until=T0 + timedelta(hours=5))
    judged = verdict(paused, T0 + timedelta(hours=2))
    assert judged.overdue is False and judged.paused_until == T0 + timedelta(hours=5)


def test_the_promise_is_kept_when_the_work_was_done_by_then():
    done = [verdict(row(Stage.FOLLOW_UP, started_at=T0 + timedelta(hours=3)), T0)]
    assert promise_verdict(T0 + timedelta(hours=4), done, T0).kept is True
    assert promise_verdict(T0 + timedelta(hours=2), done, T0).kept is False
    open_ = [verdict(row(), T0)]
    assert promise_verdict(T0 + timedelta(hours=4), open_, T0) == PromiseVerdict(
        T0 + timedelta(hours=4), None, None
    )
    assert promise_verdict(T0 + timedelta(hours=4), open_, T0 + timedelta(hours=5)).kept is False
    assert promise_verdict(None, open_, T0).kept is None


def test_tally_gives_each_category_its_share_met_overall_and_by_stage():
    figures = tally(
        [
            ("complaint", "acknowledge", 3, 1),
            ("leak", "resolve", 1, 1),
            ("leak", "dispatch", 4, 0),
            ("billing", "reply", 0, 0),
        ]
    )
    assert [f.category for f in figures] == ["leak", "complaint"]  # taxonomy order
    leak = figures[0]
    assert (leak.total.met, leak.total.missed, leak.total.share_met) == (5, 1, 5 / 6)
    assert list(leak.stages) == ["dispatch", "resolve"]  # the order work goes through
    assert leak.stages["resolve"].share_met == 0.5
    assert figures[1].total.share_met == 0.75


def test_nothing_judged_has_no_share():
    assert Tally().share_met is None
