"""Stage deadlines (环节时限): every stage of a case on its own clock, and the pauses.

Two halves:

* **Pure arithmetic** over :class:`StageClock`, a plain view of one
  ``case_deadlines`` row: when the warning is due, when each escalation tier
  is reached, what the deadline sweep must do next (:func:`decide`,
  :func:`next_check`), and how waiting on the customer moves a due time on the
  stage's own clock (:func:`paused_length`, :func:`extend`). No Flask, no
  database.
* **Bookkeeping** the service layer calls inside its own transaction, with the
  case row already locked: :func:`follow_transition` opens and ends stage rows
  as the case moves, :func:`pause` and :func:`resume` stop and restart the
  clocks around an appointment the customer chose, :func:`refresh_case` keeps
  ``cases.due_at`` (the earliest open due time), ``cases.stage`` and
  ``cases.escalation_level`` in step.

Which clocks run (see ``docs/time-limits.md``):

* the **work clock**: one stage at a time, the first stage of
  :func:`hotline.domain.lifecycle.stage_for` that the policy gives a limit. A move
  that stays in the same stage (starting work after acknowledging, arriving
  when the repair clock already runs) keeps its clock; assigning always starts
  a new acknowledge clock for the department that receives the case. A leak's
  shut-off stage (关阀止水) ends when the crew reports the water shut off, and
  the repair clock starts then;
* the **reply clock** (答复): the caller's answer, for categories whose policy
  has a reply stage. It starts when the case goes to dispatch (and again when
  a dissatisfied caller reopens it) and ends when the work is done.

Escalation tiers: a breach alerts one tier up, once. The first tier is the
dispatch center, or the supervisor when the dispatch center itself holds the
stage (dispatch); a stage still open after :data:`SECOND_TIER_AFTER_SHARE`
more of its limit reaches the supervisor. A sweep that comes late (the
process was down) raises the case straight to the tier it should have
reached, in one escalation, and records how late it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Priority, Stage
from hotline.domain.timelimits import Limit, deadline
from hotline.domain.workcalendar import ClockKind, WorkCalendar, add_elapsed
from hotline.models import Case, CaseDeadline

SECOND_TIER_AFTER_SHARE = 1.0
"""After a breach, the next tier is alerted once this share of the limit has
passed again with the stage still open (1.0: at twice the limit)."""

LIMIT_TEXT_LENGTH = 120


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
    """What the bookkeeping needs of the time-limit policy (``hotline.domain.timelimits``)."""

    calendar: WorkCalendar

    def limit_for(
        self,
        category: Category | str,
        priority: Priority | str,
        stage: Stage | str,
        *,
        pipe_size_dn: int | None = None,
    ) -> Limit | None: ...

    def warn_at(self, start: datetime, due: datetime) -> datetime: ...


def limit_of(policy: StagePolicy, case: Case, stage: Stage) -> Limit | None:
    """The policy's limit for ``stage`` of ``case`` (category, priority, pipe size)."""
    return policy.limit_for(
        Category(case.category), Priority(case.priority), stage, pipe_size_dn=case.pipe_size_dn
    )


def promise_limit(policy: StagePolicy, case: Case) -> Limit | None:
    """F11: the limit behind the time the caller is promised: resolve, else reply."""
    for stage in (Stage.RESOLVE, Stage.REPLY):
        limit = limit_of(policy, case, stage)
        if limit is not None:
            return limit
    return None


def promised_time(policy: StagePolicy, case: Case, now: datetime) -> datetime | None:
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
    policy: StagePolicy, case: Case, since: datetime, until: datetime
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


# -- bookkeeping inside the caller's transaction --------------------------------------

_REPLY_OPENERS = frozenset({Action.DISPATCH, Action.REOPEN})
#: The caller has had the answer (or the case ended): the reply clock stops.
_REPLY_ENDS = frozenset(
    {
        State.DONE,
        State.AWAITING_FOLLOW_UP,
        State.CLOSED,
        State.MERGED,
        State.ANSWERED_ON_CALL,
        State.TRANSFERRED,
    }
)


def open_rows(session: Session, case_id: int) -> list[CaseDeadline]:
    """The case's open stage clocks, oldest first.

    The session is not flushed first: a flush would write the case row in
    the middle of its change and move its version twice for one action.
    """
    with session.no_autoflush:
        return list(
            session.scalars(
                select(CaseDeadline)
                .where(CaseDeadline.case_id == case_id, CaseDeadline.ended_at.is_(None))
                .order_by(CaseDeadline.id)
            )
        )


def open_stage(
    session: Session, policy: StagePolicy, case: Case, stage: Stage, now: datetime
) -> CaseDeadline | None:
    """Start ``stage``'s clock at ``now``; ``None`` when the policy gives it no limit."""
    limit = limit_of(policy, case, stage)
    if limit is None:
        return None
    due = deadline(now, limit, policy.calendar)
    row = CaseDeadline(
        case_id=case.id,
        stage=str(stage),
        clock=str(limit.clock),
        limit_text=limit.text[:LIMIT_TEXT_LENGTH],
        started_at=now,
        limit_due_at=due,
        due_at=due,
        warn_at=policy.warn_at(now, due),
        warned_at=None,
        escalation_level=int(Tier.HANDLER),
        paused_seconds=0,
        ended_by="",
    )
    row.next_check_at = next_check(StageClock.of(row))
    session.add(row)
    return row


def _apply(row: CaseDeadline, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


Interval = tuple[datetime, datetime]


def _settle(row: CaseDeadline, at: datetime, calendar: WorkCalendar) -> Interval:
    """End ``row``'s pause at ``at`` (never after its planned end); returns the pause."""
    since = row.paused_since
    assert since is not None
    if row.paused_until is not None:
        at = min(at, row.paused_until)
    _apply(row, resumed(StageClock.of(row), at, calendar))
    return since, at


def close_pause(
    policy: StagePolicy, case: Case, rows: Iterable[Any], pause: Interval | None
) -> None:
    """Move the promised time (F11) once the case's last paused clock has restarted.

    ``pause`` is the stretch just settled; while another open clock of the
    case is still paused, the customer is still being waited for and the
    promise waits too. ``rows`` may be ORM rows or :class:`StageClock` views.
    """
    if pause is None:
        return
    if any(row.paused_since is not None and row.ended_at is None for row in rows):
        return
    case.promised_at = promise_after_pause(policy, case, *pause)


def end_row(
    row: CaseDeadline, now: datetime, action: str, calendar: WorkCalendar
) -> Interval | None:
    """Stop ``row``'s clock at ``now`` because of ``action``.

    A running pause is settled first (at ``now`` or its planned end, whichever
    is earlier) and returned, so the caller can close the case's pause.
    """
    pause = _settle(row, now, calendar) if row.paused_since is not None else None
    row.ended_at = now
    row.ended_by = str(action)
    row.next_check_at = None
    return pause


def refresh_case(case: Case, rows: Iterable[Any], calendar: WorkCalendar) -> None:
    """Set the case's stage, earliest due time and escalation level from its open clocks.

    ``rows`` are the case's clocks (ORM rows or :class:`StageClock` views);
    ended ones are skipped.
    """
    clocks = [row if isinstance(row, StageClock) else StageClock.of(row) for row in rows]
    open_ = [clock for clock in clocks if clock.ended_at is None]
    work = [clock for clock in open_ if clock.stage != Stage.REPLY]
    case.stage = str(work[-1].stage) if work else None
    case.stage_started_at = work[-1].started_at if work else None
    dues = [effective_due(clock, calendar) for clock in open_]
    case.due_at = min(dues) if dues else None
    case.escalation_level = max((clock.escalation_level for clock in open_), default=0)


def follow_transition(
    session: Session,
    policy: StagePolicy,
    case: Case,
    outcome: lifecycle.Outcome,
    action: Action,
    now: datetime,
    *,
    rows: list[CaseDeadline] | None = None,
) -> None:
    """Open, continue, extend or end the case's clocks for a lifecycle move (F11).

    ``rows``: the case's open clocks when the caller knows them (``[]`` for a
    case created in this transaction); read from the database otherwise.

    Called by the service layer after the case row took the new state, in the
    same transaction. An approved extension (延期) moves every open clock on by
    the approved working days; notes, owner changes, follow-up attempts and an
    extension request leave the clocks as they are.
    """
    calendar = policy.calendar
    rows = open_rows(session, case.id) if rows is None else rows
    if action == Action.APPROVE_EXTENSION:
        if case.extra_working_days:
            for row in rows:
                _extend_by_working_days(row, case.extra_working_days, calendar, policy)
        refresh_case(case, rows, calendar)
        return
    if outcome.target == outcome.source and action != Action.ASSIGN:
        return
    if outcome.target == State.EXTENSION_REQUESTED or action == Action.REJECT_EXTENSION:
        return  # the clock keeps running while dispatch decides
    settled: Interval | None = None
    work = [row for row in rows if row.stage != Stage.REPLY]
    candidates = [
        stage
        for stage in lifecycle.stage_for(outcome.target, arrived=case.arrived)
        if limit_of(policy, case, stage) is not None
    ]
    keeps = action != Action.ASSIGN and any(Stage(row.stage) in candidates for row in work)
    if not keeps:
        for row in work:
            settled = end_row(row, now, action, calendar) or settled
        if candidates:
            new = open_stage(session, policy, case, candidates[0], now)
            if new is not None:
                rows.append(new)
    replies = [row for row in rows if row.stage == Stage.REPLY and row.ended_at is None]
    if outcome.target in _REPLY_ENDS:
        for row in replies:
            settled = end_row(row, now, action, calendar) or settled
    elif action in _REPLY_OPENERS and not replies:
        new = open_stage(session, policy, case, Stage.REPLY, now)
        if new is not None:
            rows.append(new)
    close_pause(policy, case, rows, settled)
    refresh_case(case, rows, calendar)


def _extend_by_working_days(
    row: CaseDeadline, days: int, calendar: WorkCalendar, policy: StagePolicy
) -> None:
    clock = StageClock.of(row)
    row.due_at = calendar.add_working_days(row.due_at, days)
    if clock.warned_at is None:
        row.warn_at = policy.warn_at(row.started_at, row.due_at)
    row.next_check_at = next_check(StageClock.of(row))


def advance_stage(
    session: Session,
    policy: StagePolicy,
    case: Case,
    finished: Stage,
    action: str,
    now: datetime,
) -> tuple[CaseDeadline, CaseDeadline | None]:
    """End the open work stage ``finished`` and start the next one the state allows.

    Used for milestones that are not lifecycle moves, such as a leak's water
    shut off (关阀止水): the repair clock starts when the shut-off is reported.
    Returns the ended row and the new one (``None`` when no later stage has a
    limit). Raises :class:`LookupError` when ``finished`` is not the open
    work stage.
    """
    rows = open_rows(session, case.id)
    current = next((row for row in rows if row.stage == finished), None)
    if current is None or finished == Stage.REPLY:
        raise LookupError(f"the case has no open '{finished}' stage")
    close_pause(policy, case, rows, end_row(current, now, action, policy.calendar))
    order = list(Stage)
    later = [
        stage
        for stage in lifecycle.stage_for(State(case.state), arrived=case.arrived)
        if order.index(stage) > order.index(finished) and limit_of(policy, case, stage) is not None
    ]
    new = open_stage(session, policy, case, later[0], now) if later else None
    if new is not None:
        rows.append(new)
    refresh_case(case, rows, policy.calendar)
    return current, new


def pause(
    session: Session, policy: StagePolicy, case: Case, now: datetime, until: datetime
) -> list[CaseDeadline]:
    """Stop the case's open clocks from ``now`` until ``until`` (the customer's chosen time).

    A clock already paused keeps its start and takes the new end; one whose
    pause ended before ``now`` is settled first and paused again. Returns the
    paused rows (none when ``until`` is not after ``now``).
    """
    if until <= now:
        return []
    rows = open_rows(session, case.id)
    settled: Interval | None = None
    for row in rows:
        if row.paused_since is not None and (row.paused_until is None or row.paused_until <= now):
            settled = _settle(row, now, policy.calendar)
    close_pause(policy, case, rows, settled)
    for row in rows:
        if row.paused_since is None:
            row.paused_since = now
        row.paused_until = until
        row.next_check_at = until
    refresh_case(case, rows, policy.calendar)
    return rows


def resume(
    session: Session, policy: StagePolicy, case: Case, at: datetime
) -> list[tuple[CaseDeadline, int]]:
    """Restart the case's paused clocks at ``at`` (or at their planned end, if earlier).

    Each due time moves on by the paused time on its own clock, and so does
    the promised time (F11). Returns each resumed row with the seconds it
    was paused this time.
    """
    rows = open_rows(session, case.id)
    done = []
    settled: Interval | None = None
    for row in rows:
        if row.paused_since is None:
            continue
        before = row.paused_seconds
        settled = _settle(row, at, policy.calendar)
        done.append((row, row.paused_seconds - before))
    close_pause(policy, case, rows, settled)
    refresh_case(case, rows, policy.calendar)
    return done
