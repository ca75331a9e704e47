"""The countdown the pages show follows the sweep's own clocks (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.domain.deadlines import StageClock, Step, decide, resumed
from hotline.domain.taxonomy import Role, Stage
from hotline.domain.workcalendar import ClockKind, WorkCalendar
from hotline.web.viewmodels import (
    BREACH,
    NONE,
    OK,
    PAUSED,
    WARN,
    case_due,
    clock_due,
    clock_rows,
    nav_endpoints,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)  # a Thursday
CALENDAR = WorkCalendar()
SECOND = timedelta(seconds=1)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def clock(hours: float = 10, **changes) -> StageClock:
    """A clock of ``hours`` around the clock from START, warned at 80 %."""
    base = StageClock(
        stage=Stage.ACKNOWLEDGE,
        clock=ClockKind.AROUND_THE_CLOCK,
        started_at=START,
        due_at=at(hours),
        warn_at=at(hours * 0.8),
    )
    return replace(base, **changes)


def sweep_warns_at(c: StageClock, start: datetime, end: datetime) -> datetime | None:
    """The first minute from ``start`` to ``end`` at which the sweep would warn ``c``."""
    now = start
    while now <= end:
        decision = decide(c, now)
        if decision is not None and decision.step is Step.RESUME:
            values = resumed(c, decision.at, CALENDAR)
            c = replace(c, **{k: v for k, v in values.items() if k != "next_check_at"})
            continue
        if decision is not None and decision.step is Step.WARN:
            return now
        now += timedelta(minutes=1)
    return None


def test_a_running_clock_is_ok_then_warn_then_breach():
    c = clock()
    assert clock_due(c, at(1), CALENDAR).state == OK
    assert clock_due(c, at(8) - SECOND, CALENDAR).state == OK
    view = clock_due(c, at(8), CALENDAR)
    assert view.state == WARN and view.warn_at == at(8) and view.due_at == at(10)
    assert clock_due(c, at(10), CALENDAR).state == BREACH
    assert clock_due(c, at(11), CALENDAR).state == BREACH
    assert view.warn_ts == at(8).timestamp() and view.due_ts == at(10).timestamp()


def test_the_warning_instant_is_the_one_the_sweep_acts_on():
    c = clock()
    view = clock_due(c, START, CALENDAR)
    assert sweep_warns_at(c, START, at(12)) == view.warn_at


def test_a_paused_clock_is_paused_and_its_warning_moves_by_the_pause():
    c = clock(paused_since=at(2), paused_until=at(5))
    view = clock_due(c, at(3), CALENDAR)
    assert view.state == PAUSED
    assert view.paused_until == at(5) and view.resume_ts == int(at(5).timestamp())
    assert view.due_at == at(13) and view.warn_at == at(11)  # both moved by the 3 h pause
    # ... which is where the sweep puts them when it resumes the clock.
    assert sweep_warns_at(c, at(3), at(20)) == view.warn_at
    # Even in the warning window of the clock as it was, a paused clock stays paused.
    assert clock_due(c, at(4.9), CALENDAR).state == PAUSED


def test_a_pause_that_has_ended_counts_as_running_from_its_end():
    c = clock(paused_since=at(2), paused_until=at(5))
    view = clock_due(c, at(11), CALENDAR)
    assert view.state == WARN and view.resume_ts is None
    assert clock_due(c, at(13), CALENDAR).state == BREACH


def test_an_extended_deadline_warns_at_the_sweeps_moment(policy):
    # An approved extension moves the due time by working days and the
    # warning with it (hotline.services.deadlines._extend_by_working_days).
    c = clock(hours=48)
    due = CALENDAR.add_working_days(c.due_at, 3)
    extended = replace(c, due_at=due, warn_at=policy.warn_at(c.started_at, due))
    view = clock_due(extended, at(1), CALENDAR)
    assert view.due_at == due and view.warn_at == extended.warn_at
    assert view.warn_at != c.warn_at
    decision = decide(extended, view.warn_at)
    assert decision is not None and decision.step is Step.WARN and decision.at == view.warn_at
    assert decide(extended, view.warn_at - SECOND) is None
    assert clock_due(extended, view.warn_at - SECOND, CALENDAR).state == OK
    assert clock_due(extended, view.warn_at, CALENDAR).state == WARN
    assert clock_due(extended, due + SECOND, CALENDAR).state == BREACH


def test_a_warning_already_sent_keeps_the_countdown_amber():
    c = clock(warned_at=at(8), due_at=at(30))  # warned, then given more time
    assert clock_due(c, at(9), CALENDAR).state == WARN


def test_the_case_shows_its_clock_due_first_and_none_without_clocks():
    work = clock(hours=10)
    reply = replace(clock(hours=5), stage=Stage.REPLY)
    ended = replace(clock(hours=1), ended_at=at(0.5))
    view = case_due([work, reply, ended], at(1), CALENDAR)
    assert view.due_at == at(5) and view.warn_at == at(4)
    assert case_due([ended], at(1), CALENDAR).state == NONE
    assert case_due([], at(1), CALENDAR, fallback_due=at(0.5)).state == BREACH


def test_the_clock_table_says_met_missed_overdue_or_running():
    class Row:
        def __init__(self, c: StageClock) -> None:
            self.__dict__.update(c.__dict__, limit_text="10 小时")

    rows = [
        Row(replace(clock(), ended_at=at(9))),
        Row(replace(clock(), ended_at=at(11))),
        Row(clock()),
        Row(clock(paused_since=at(2), paused_until=at(30))),
    ]
    outcomes = [(r.outcome, r.paused) for r in clock_rows(rows, at(12), CALENDAR)]
    assert outcomes == [("met", False), ("missed", False), ("overdue", False), ("running", True)]


def test_the_top_bar_links_follow_the_role():
    assert nav_endpoints(Role.CREW) == ["crew.home"]
    assert "console.call_log" in nav_endpoints(Role.SUPERVISOR)
    assert "console.call_log" not in nav_endpoints(Role.OPERATOR)
    assert nav_endpoints(None) == [] and nav_endpoints("nobody") == []
