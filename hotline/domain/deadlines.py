"""Stage-deadline rules (环节时限): the arithmetic of one stage's clock, and the promise.

Pure arithmetic over :class:`StageClock`, a plain view of one
``case_deadlines`` row: when the warning is due, when each escalation tier
is reached, what the deadline sweep must do next (:func:`decide`,
:func:`next_check`), and how waiting on the customer moves a due time on the
stage's own clock (:func:`paused_length`, :func:`extend`). The policy side
(:func:`limit_of`, :func:`promised_time`) reads the limits of a case's
category, priority and pipe size. No Flask, no database: the rows are kept by
``hotline.services.deadlines``.

Escalation tiers: a breach alerts one tier up, once. The first tier is the
dispatch center, or the supervisor when the dispatch center itself holds the
stage (dispatch); a stage still open after :data:`SECOND_TIER_AFTER_SHARE`
more of its limit reaches the supervisor. A sweep that comes late (the
process was down) raises the case straight to the tier it should have
reached, in one escalation, and records how late it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any, Protocol

from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category, Priority, Stage
from hotline.domain.timelimits import Limit, deadline
from hotline.domain.workcalendar import ClockKind, WorkCalendar, add_elapsed

SECOND_TIER_AFTER_SHARE = 1.0
"""After a breach, the next tier is alerted once this share of the limit has
passed again with the stage still open (1.0: at twice the limit)."""


class Tier(IntEnum):
    """Who has been alerted about a stage (``escalation_level``)."""

    HANDLER = 0  # 承办人(承办科室/班组)
    DISPATCH_CENTER = 1  # 调度中心
    SUPERVISOR = 2  # 主管


class Step(StrEnum):
    """What the deadline sweep does to a stage clock."""

    RESUME = "resume"  # 恢复计时(预约时间已到)
    WARN = "warn"  # 临期预警
    ESCALATE = "escalate"  # 超时升级


# -- pure arithmetic -------------------------------------------------------------


@dataclass(frozen=True)
class StageClock:
    """What the rules need to know about one stage's clock (a ``case_deadlines`` row)."""

    stage: Stage
    clock: ClockKind
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    warned_at: datetime | None = None
    escalation_level: int = 0
    escalated_at: datetime | None = None
    paused_since: datetime | None = None
    paused_until: datetime | None = None
    paused_seconds: int = 0
    ended_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> StageClock:
        """The clock of a row (an ORM ``CaseDeadline`` or a mapping of its columns)."""
        get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
        return cls(
            stage=Stage(get("stage")),
            clock=ClockKind(get("clock")),
            started_at=get("started_at"),
            due_at=get("due_at"),
            warn_at=get("warn_at"),
            warned_at=get("warned_at"),
            escalation_level=get("escalation_level") or 0,
            escalated_at=get("escalated_at"),
            paused_since=get("paused_since"),
            paused_until=get("paused_until"),
            paused_seconds=get("paused_seconds") or 0,
            ended_at=get("ended_at"),
        )


@dataclass(frozen=True)
class Decision:
    """One thing the sweep must do now to a stage clock, and when it fell due.

    ``at`` is the moment the step was due: the appointment start for a
    resume, the warning time, or the moment the tier was reached.
    ``tiers_skipped`` counts tiers passed over by a late sweep;
    ``warning_skipped`` says the breach came before any warning went out.
    """

    step: Step
    at: datetime
    to_level: int = 0
    tiers_skipped: int = 0
    warning_skipped: bool = False


def tiers_for(stage: Stage) -> tuple[Tier, ...]:
    """The tiers a breach of ``stage`` climbs, in order.

    The dispatch center holds the dispatch stage itself, so its breach goes
    straight to the supervisor; every other stage goes to the dispatch
    center first.
    """
    if stage == Stage.DISPATCH:
        return (Tier.SUPERVISOR,)
    return (Tier.DISPATCH_CENTER, Tier.SUPERVISOR)


def escalation_points(clock: StageClock) -> list[tuple[Tier, datetime]]:
    """When each tier is reached: the first at the due time, each next one
    :data:`SECOND_TIER_AFTER_SHARE` of the limit later."""
    span = clock.due_at - clock.started_at
    return [
        (tier, clock.due_at + span * SECOND_TIER_AFTER_SHARE * index)
        for index, tier in enumerate(tiers_for(clock.stage))
    ]


def decide(clock: StageClock, now: datetime) -> Decision | None:
    """The one step the sweep must take on ``clock`` at ``now``, or ``None``.

    Order: a pause whose end has come is settled first; then a breach (to the
    highest tier already reached, one step however late the sweep is); a
    warning only while the stage is not yet due: a late sweep does not send a
    warning after the breach it was meant to prevent.
    """
    if clock.ended_at is not None:
        return None
    if clock.paused_since is not None:
        if clock.paused_until is not None and clock.paused_until <= now:
            return Decision(Step.RESUME, clock.paused_until)
        return None
    reached = [
        (tier, at)
        for tier, at in escalation_points(clock)
        if tier > clock.escalation_level and at <= now
    ]
    if reached:
        tier, at = reached[-1]
        return Decision(
            Step.ESCALATE,
            at,
            to_level=int(tier),
            tiers_skipped=len(reached) - 1,
            warning_skipped=clock.warned_at is None and clock.escalation_level == Tier.HANDLER,
        )
    if clock.warned_at is None and clock.escalation_level == Tier.HANDLER and clock.warn_at <= now:
        return Decision(Step.WARN, clock.warn_at)
    return None


def next_check(clock: StageClock) -> datetime | None:
    """The next moment the sweep must look at ``clock``; ``None`` when nothing can happen.

    Ended clocks and clocks already at the top tier need no look; a paused
    clock is looked at when its pause ends.
    """
    if clock.ended_at is not None:
        return None
    if clock.paused_since is not None:
        return clock.paused_until
    if clock.warned_at is None and clock.escalation_level == Tier.HANDLER:
        return clock.warn_at
    for tier, at in escalation_points(clock):
        if tier > clock.escalation_level:
            return at
    return None


def paused_length(
    kind: ClockKind, start: datetime, end: datetime, calendar: WorkCalendar
) -> timedelta:
    """How much of ``kind``'s clock ran from ``start`` to ``end`` (whole seconds).

    Around the clock: the real time between them. Working days: only the
    working time between them, so a pause over a weekend costs nothing
    there. Zero when ``end`` is not after ``start``.
    """
    if end <= start:
        return timedelta(0)
    if kind is ClockKind.AROUND_THE_CLOCK:
        length = end - start
    else:
        length = calendar.working_time_between(start, end)
    return timedelta(seconds=round(length.total_seconds()))


def extend(due: datetime, length: timedelta, kind: ClockKind, calendar: WorkCalendar) -> datetime:
    """``due`` moved on by ``length`` of ``kind``'s clock.

    Raises :class:`ValueError` for a naive ``due``.
    """
    if length <= timedelta(0):
        return due
    if kind is ClockKind.AROUND_THE_CLOCK:
        return add_elapsed(due, length, calendar.tz)
    return calendar.add_working_hours(due, length / timedelta(hours=1))


def effective_due(clock: StageClock, calendar: WorkCalendar) -> datetime:
    """The due time counting a pause still running as if it ends when planned."""
    if clock.paused_since is None or clock.paused_until is None:
        return clock.due_at
    length = paused_length(clock.clock, clock.paused_since, clock.paused_until, calendar)
    return extend(clock.due_at, length, clock.clock, calendar)


def shifted_warning(clock: StageClock, new_due: datetime) -> datetime:
    """The warning time after the due time moves from ``clock.due_at`` to ``new_due``.

    A warning already sent, or one that fell due before the pause began,
    stays where it was; otherwise it moves by as much as the due time, so the
    handler still hears it with the same time left.
    """
    if clock.warned_at is not None:
        return clock.warn_at
    if clock.paused_since is not None and clock.warn_at <= clock.paused_since:
        return clock.warn_at
    return min(new_due, clock.warn_at + (new_due - clock.due_at))


def resumed(clock: StageClock, at: datetime, calendar: WorkCalendar) -> dict[str, Any]:
    """The column values of ``clock`` once its pause ends at ``at``.

    The due time moves on by the paused time on the stage's own clock; the
    warning moves with it (:func:`shifted_warning`). Raises
    :class:`ValueError` when the clock is not paused.
    """
    if clock.paused_since is None:
        raise ValueError("the clock is not paused")
    length = paused_length(clock.clock, clock.paused_since, at, calendar)
    new_due = extend(clock.due_at, length, clock.clock, calendar)
    values: dict[str, Any] = {
        "due_at": new_due,
        "warn_at": shifted_warning(clock, new_due),
        "paused_seconds": clock.paused_seconds + int(length.total_seconds()),
        "paused_since": None,
        "paused_until": None,
    }
    values["next_check_at"] = next_check(replace(clock, **values))
    return values


def warned(clock: StageClock, now: datetime) -> dict[str, Any]:
    """The column values of ``clock`` once its warning has gone out at ``now``."""
    values: dict[str, Any] = {"warned_at": now}
    values["next_check_at"] = next_check(replace(clock, **values))
    return values


def escalated(clock: StageClock, decision: Decision, now: datetime) -> dict[str, Any]:
    """The column values of ``clock`` once escalated as ``decision`` says, at ``now``."""
    values: dict[str, Any] = {"escalation_level": decision.to_level, "escalated_at": now}
    values["next_check_at"] = next_check(replace(clock, **values))
    return values


def met(clock: StageClock) -> bool | None:
    """Whether the stage met its limit; ``None`` while it is still open."""
    if clock.ended_at is None:
        return None
    return clock.ended_at <= clock.due_at


# -- the policy side ------------------------------------------------------------------


class StagePolicy(Protocol):
    """What the stage clocks need of the time-limit policy (``hotline.domain.timelimits``)."""

    calendar: WorkCalendar

    def limit_for(
        self,
        category: Category | str,
        priority: Priority | str,
        stage: Stage | str,
        *,
        pipe_size_dn: int | None = None,
        grade: int | None = None,
        zone: str | None = None,
    ) -> Limit | None: ...

    def warn_at(self, start: datetime, due: datetime) -> datetime: ...


class CaseTerms(Protocol):
    """What the policy side reads of a case (a ``cases`` row)."""

    category: str
    priority: str
    pipe_size_dn: int | None
    grade: int | None
    zone: str
    state: str
    due_at: datetime | None
    promised_at: datetime | None


def limit_of(policy: StagePolicy, case: CaseTerms, stage: Stage) -> Limit | None:
    """The policy's limit for ``stage`` of ``case`` (category, priority, pipe size,
    severity grade and the zone of its area)."""
    return policy.limit_for(
        Category(case.category),
        Priority(case.priority),
        stage,
        pipe_size_dn=case.pipe_size_dn,
        grade=case.grade,
        zone=case.zone or None,
    )


def promise_limit(policy: StagePolicy, case: CaseTerms) -> Limit | None:
    """F11: the limit behind the time the caller is promised: resolve, else reply."""
    for stage in (Stage.RESOLVE, Stage.REPLY):
        limit = limit_of(policy, case, stage)
        if limit is not None:
            return limit
    return None


def promised_time(policy: StagePolicy, case: CaseTerms, now: datetime) -> datetime | None:
    """F11: the time limit the caller is told at intake: when the matter will be resolved.

    ``None`` when it was answered or transferred on the call (the follow-up
    deadline is internal); the case's own due time where the policy has no
    resolve or reply limit for it.
    """
    if case.state in (State.ANSWERED_ON_CALL, State.TRANSFERRED):
        return None
    limit = promise_limit(policy, case)
    if limit is None:
        return case.due_at
    return deadline(now, limit, policy.calendar)


def promise_after_pause(
    policy: StagePolicy, case: CaseTerms, since: datetime, until: datetime
) -> datetime | None:
    """The promised time once a pause from ``since`` to ``until`` is settled.

    The promise moves by the paused time on its own clock when it was still
    ahead when the pause began; a promise already past stays as it was.
    """
    promised = case.promised_at
    limit = promise_limit(policy, case)
    if promised is None or limit is None or promised <= since:
        return promised
    length = paused_length(limit.clock, since, until, policy.calendar)
    return extend(promised, length, limit.clock, policy.calendar)
