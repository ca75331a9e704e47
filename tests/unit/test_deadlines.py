"""Stage-clock arithmetic: warnings, escalation tiers, catch-up and pauses (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain.deadlines import (
    SECOND_TIER_AFTER_SHARE,
    StageClock,
    Step,
    Tier,
    decide,
    effective_due,
    escalated,
    escalation_points,
    extend,
    met,
    next_check,
    paused_length,
    resumed,
    shifted_warning,
    warned,
)
from hotline.domain.taxonomy import Stage
from hotline.domain.workcalendar import ClockKind, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)  # a Thursday
CALENDAR = WorkCalendar()


def clock(stage: Stage = Stage.ACKNOWLEDGE, hours: float = 10, **changes) -> StageClock:
    """A stage clock of ``hours`` around the clock, started at START, warned at 80 %."""
    due = START + timedelta(hours=hours)
    base = StageClock(
        stage=stage,
        clock=ClockKind.AROUND_THE_CLOCK,
        started_at=START,
        due_at=due,
        warn_at=START + timedelta(hours=hours * 0.8),
    )
    return replace(base, **changes)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def apply(c: StageClock, now: datetime) -> tuple[StageClock, Step | None]:
    """What one sweep at ``now`` makes of ``c`` (as the sweep writes it)."""
    decision = decide(c, now)
    if decision is None:
        return c, None
    if decision.step is Step.RESUME:
        values = resumed(c, decision.at, CALENDAR)
    elif decision.step is Step.WARN:
        values = warned(c, now)
    else:
        values = escalated(c, decision, now)
    return replace(c, **{k: v for k, v in values.items() if k != "next_check_at"}), decision.step


# -- warnings --------------------------------------------------------------------


def test_nothing_happens_before_the_warning_share_of_the_time():
    assert decide(clock(), at(7.9)) is None


def test_the_warning_falls_due_at_the_configured_share_of_the_time():
    decision = decide(clock(), at(8))
    assert decision is not None and decision.step is Step.WARN and decision.at == at(8)


def test_a_warning_goes_out_once():
    warned_clock, step = apply(clock(), at(8.5))
    assert step is Step.WARN
    assert decide(warned_clock, at(9)) is None


# -- escalation tiers -----------------------------------------------------------------


def test_a_breach_escalates_one_tier_to_the_dispatch_center():
    warned_clock = replace(clock(), warned_at=at(8))
    decision = decide(warned_clock, at(10))
    assert decision is not None and decision.step is Step.ESCALATE
    assert decision.to_level == Tier.DISPATCH_CENTER and decision.tiers_skipped == 0


def test_a_dispatch_stage_breach_goes_to_the_supervisor_since_dispatch_holds_it():
    decision = decide(replace(clock(Stage.DISPATCH), warned_at=at(8)), at(10))
    assert decision is not None and decision.to_level == Tier.SUPERVISOR


def test_the_supervisor_is_alerted_when_the_limit_has_passed_again():
    at_center = replace(clock(), warned_at=at(8), escalation_level=1, escalated_at=at(10))
    assert decide(at_center, at(10 + 10 * SECOND_TIER_AFTER_SHARE) - timedelta(seconds=1)) is None
    decision = decide(at_center, at(10 + 10 * SECOND_TIER_AFTER_SHARE))
    assert decision is not None and decision.to_level == Tier.SUPERVISOR


def test_nothing_is_left_to_do_at_the_top_tier():
    top = replace(clock(), warned_at=at(8), escalation_level=2)
    assert decide(top, at(1000)) is None and next_check(top) is None


def test_a_late_sweep_escalates_straight_to_the_tier_reached_in_one_step():
    decision = decide(clock(), at(30))  # down across warning, breach and second tier
    assert decision is not None and decision.step is Step.ESCALATE
    assert decision.to_level == Tier.SUPERVISOR
    assert decision.tiers_skipped == 1 and decision.warning_skipped
    assert decision.at == at(20)  # when the supervisor's tier was reached


def test_no_warning_is_sent_after_the_breach_it_was_meant_to_prevent():
    escalated_clock, step = apply(clock(), at(10.5))
    assert step is Step.ESCALATE
    assert escalated_clock.warned_at is None
    assert decide(escalated_clock, at(11)) is None


def test_escalation_points_follow_the_limit():
    assert escalation_points(clock()) == [(Tier.DISPATCH_CENTER, at(10)), (Tier.SUPERVISOR, at(20))]


# -- next check --------------------------------------------------------------------------


def test_the_next_check_walks_warning_then_each_tier_then_nothing():
    c = clock()
    assert next_check(c) == at(8)
    c, _ = apply(c, at(8))
    assert next_check(c) == at(10)
    c, _ = apply(c, at(10))
    assert next_check(c) == at(20)
    c, _ = apply(c, at(20))
    assert next_check(c) is None


def test_an_ended_clock_needs_no_check_and_is_judged():
    done = replace(clock(), ended_at=at(9))
    assert next_check(done) is None and decide(done, at(50)) is None
    assert met(done) is True
    assert met(replace(clock(), ended_at=at(10.01))) is False
    assert met(clock()) is None


# -- pauses -----------------------------------------------------------------------------


def test_a_paused_clock_does_nothing_until_its_pause_ends_then_resumes_at_that_moment():
    paused = replace(clock(), paused_since=at(1), paused_until=at(5))
    assert decide(paused, at(4.9)) is None and next_check(paused) == at(5)
    decision = decide(paused, at(40))  # a late sweep resumes at the planned moment
    assert decision is not None and decision.step is Step.RESUME and decision.at == at(5)


def test_resuming_moves_the_due_time_and_warning_by_the_pause():
    paused = replace(clock(), paused_since=at(1), paused_until=at(5))
    values = resumed(paused, at(5), CALENDAR)
    assert values["due_at"] == at(14)
    assert values["warn_at"] == at(12)
    assert values["paused_seconds"] == 4 * 3600
    assert values["paused_since"] is None and values["next_check_at"] == at(12)


def test_a_warning_due_before_the_pause_is_not_moved():
    paused = replace(clock(), paused_since=at(8.5), paused_until=at(9))
    assert shifted_warning(paused, at(10.5)) == at(8)


def test_the_due_time_of_a_paused_clock_counts_the_planned_pause():
    paused = replace(clock(), paused_since=at(1), paused_until=at(5))
    assert effective_due(paused, CALENDAR) == at(14)


def test_a_pause_over_a_weekend_costs_a_working_days_clock_only_its_working_time():
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=SHANGHAI)
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)
    assert paused_length(ClockKind.WORKING_DAYS, friday, monday, CALENDAR) == timedelta(hours=2)
    assert paused_length(ClockKind.AROUND_THE_CLOCK, friday, monday, CALENDAR) == timedelta(
        hours=65
    )


def test_extending_a_working_days_due_time_skips_the_night():
    due = datetime(2026, 11, 26, 17, 0, tzinfo=SHANGHAI)
    moved = extend(due, timedelta(hours=1), ClockKind.WORKING_DAYS, CALENDAR)
    assert moved == datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)
    assert extend(due, timedelta(0), ClockKind.WORKING_DAYS, CALENDAR) == due


def test_resuming_an_unpaused_clock_is_refused():
    with pytest.raises(ValueError, match="not paused"):
        resumed(clock(), at(1), CALENDAR)


# -- exactly once, whatever the sweep times ---------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    stage=st.sampled_from(list(Stage)),
    offsets=st.lists(st.floats(min_value=0, max_value=40, allow_nan=False), max_size=12),
    pause=st.one_of(st.none(), st.tuples(st.floats(0, 9.5), st.floats(0.1, 6))),
)
def test_any_sweep_schedule_warns_at_most_once_and_climbs_each_tier_once(stage, offsets, pause):
    """However often (or rarely) sweeps run, each step happens at most once, tiers
    only climb, no warning follows an escalation, and the last sweep leaves the
    clock at the tier its time calls for."""
    c = clock(stage)
    if pause is not None:
        c = replace(c, paused_since=at(pause[0]), paused_until=at(pause[0] + pause[1]))
    steps: list[Step] = []
    levels = [c.escalation_level]
    for now in sorted(at(h) for h in offsets):
        for _ in range(3):  # a sweep takes every step due on a clock
            c, step = apply(c, now)
            if step is None:
                break
            steps.append(step)
            levels.append(c.escalation_level)
    assert steps.count(Step.WARN) <= 1
    assert steps.count(Step.RESUME) <= (1 if pause else 0)
    escalations = [i for i, s in enumerate(steps) if s is Step.ESCALATE]
    assert len(escalations) <= len(Tier) - 1
    assert levels == sorted(levels)
    assert not any(s is Step.WARN for s in steps[escalations[0] :]) if escalations else True
    if offsets:
        last = at(max(offsets))
        if c.paused_since is not None:  # still waiting on the customer: nothing may happen
            assert decide(c, last) is None and c.escalation_level == 0
        else:
            reached = [t for t, moment in escalation_points(c) if moment <= last]
            assert c.escalation_level == (max(reached) if reached else 0)
