"""Stage deadlines (环节时限): the ``case_deadlines`` rows, one clock per stage, and the pauses.

The service layer calls these inside its own transaction, with the case row
already locked: :func:`follow_transition` opens and ends stage rows as the
case moves, :func:`pause` and :func:`resume` stop and restart the clocks
around an appointment the customer chose, :func:`refresh_case` keeps
``cases.due_at`` (the earliest open due time), ``cases.stage`` and
``cases.escalation_level`` in step. The arithmetic of one clock (warnings,
escalation tiers, pauses) is ``hotline.domain.deadlines``; its names are
importable from here too.

Which clocks run (see ``docs/time-limits.md``):

* the **work clock**: one stage at a time, the first stage of
  :func:`hotline.domain.lifecycle.stage_for` that the policy gives a limit. A move
  that stays in the same stage (starting work after acknowledging, arriving
  when the repair clock already runs) keeps its clock; sending the case to a
  department (``assign``) always starts a new acknowledge (签收) clock for the
  department that receives it, and sending it straight to the dispatch
  center's own crew (``assign_direct``) a new work clock. The department's
  signature starts the work clock, which runs on through naming the worker
  (派工) and the worker taking it (接单). A completion dispatch refuses
  (``reject_completion``, 销单不合格) reopens the clocks the completion
  stopped: same start, same due time, the wait counted. A leak's
  shut-off stage (关阀止水) ends when the crew reports the water shut off, and
  the repair clock starts then;
* the **set-out clock** (出发): for categories whose policy has a set-out
  stage, from the department's signature (or a direct assignment to a
  worker) until the crew sets out (``start_work``) or arrives, beside the
  on-site clock that counts from the same start. It ends too when the work
  leaves the crew (returned, sent elsewhere); a new handler gets a new one;
* the **reply clock** (答复): the caller's answer, for categories whose policy
  has a reply stage. It starts when the case goes to dispatch (and again when
  a dissatisfied caller reopens it) and ends when the work is done.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain import lifecycle
from hotline.domain.deadlines import (
    SECOND_TIER_AFTER_SHARE,
    CaseTerms,
    Decision,
    StageClock,
    StagePolicy,
    Step,
    Tier,
    decide,
    effective_due,
    escalated,
    escalation_points,
    extend,
    limit_of,
    met,
    next_check,
    paused_length,
    promise_after_pause,
    promise_limit,
    promised_time,
    resumed,
    shifted_warning,
    tiers_for,
    warned,
)
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Stage
from hotline.domain.timelimits import deadline
from hotline.domain.workcalendar import WorkCalendar
from hotline.models import Case, CaseDeadline

__all__ = [
    "LIMIT_TEXT_LENGTH",
    "SECOND_TIER_AFTER_SHARE",
    "CaseTerms",
    "Decision",
    "Interval",
    "StageClock",
    "StagePolicy",
    "Step",
    "Tier",
    "advance_stage",
    "close_pause",
    "decide",
    "effective_due",
    "end_row",
    "escalated",
    "escalation_points",
    "extend",
    "follow_transition",
    "limit_of",
    "met",
    "next_check",
    "open_rows",
    "open_stage",
    "pause",
    "paused_length",
    "promise_after_pause",
    "promise_limit",
    "promised_time",
    "refresh_case",
    "resume",
    "resumed",
    "shifted_warning",
    "tiers_for",
    "warned",
]

LIMIT_TEXT_LENGTH = 120

# -- bookkeeping inside the caller's transaction --------------------------------------

#: Clocks that run beside the work clock rather than being it.
SIDE_STAGES = frozenset({Stage.REPLY, Stage.SET_OUT})
#: The crew has the work and has not set out yet: the set-out clock runs.
_BEFORE_SET_OUT = frozenset({State.ACCEPTED, State.WORKER_ASSIGNED, State.ACKNOWLEDGED})

_REPLY_OPENERS = frozenset({Action.DISPATCH, Action.REOPEN})
#: Moves that give the case a new handler, who gets a clock of its own.
_NEW_HANDLER = frozenset({Action.ASSIGN, Action.ASSIGN_DIRECT})
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
    work = [clock for clock in open_ if clock.stage not in SIDE_STAGES]
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
    if outcome.target == outcome.source and action not in _NEW_HANDLER:
        return
    if action == Action.REJECT_COMPLETION:
        _reopen_completed(session, policy, case, rows, action, now)
        return
    if outcome.target == State.EXTENSION_REQUESTED or action == Action.REJECT_EXTENSION:
        return  # the clock keeps running while dispatch decides
    settled: Interval | None = None
    work = [row for row in rows if row.stage not in SIDE_STAGES]
    candidates = [
        stage
        for stage in lifecycle.stage_for(outcome.target, arrived=case.arrived)
        if limit_of(policy, case, stage) is not None
    ]
    keeps = action not in _NEW_HANDLER and any(Stage(row.stage) in candidates for row in work)
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
    settled = _follow_set_out(session, policy, case, outcome, action, now, rows) or settled
    close_pause(policy, case, rows, settled)
    refresh_case(case, rows, calendar)


def _follow_set_out(
    session: Session,
    policy: StagePolicy,
    case: Case,
    outcome: lifecycle.Outcome,
    action: Action,
    now: datetime,
    rows: list[CaseDeadline],
) -> Interval | None:
    """Open the set-out clock (出发) when the crew gets the work; end it when they leave.

    Runs while the case waits for its crew to set out (signed, worker named,
    worker took it) and the crew has not arrived; any other move ends it,
    setting out and arriving among them. A new handler starts a new one.
    """
    settled: Interval | None = None
    running = [row for row in rows if row.stage == Stage.SET_OUT and row.ended_at is None]
    waiting = outcome.target in _BEFORE_SET_OUT and not case.arrived
    if running and (not waiting or action in _NEW_HANDLER):
        for row in running:
            settled = end_row(row, now, action, policy.calendar) or settled
        running = []
    if waiting and not running:
        new = open_stage(session, policy, case, Stage.SET_OUT, now)
        if new is not None:
            rows.append(new)
    return settled


def _reopen_completed(
    session: Session,
    policy: StagePolicy,
    case: Case,
    rows: list[CaseDeadline],
    action: Action,
    now: datetime,
) -> None:
    """销单不合格: the completion did not pass, so the stage it ended was never done.

    The clocks the last completion stopped (the work clock and the reply
    clock) run on as if never stopped: same start, same due time, warnings
    and escalations already sent stand, and the time the result waited for
    dispatch's check counts against the limit. The follow-up clock the
    completion started ends here.
    """
    calendar = policy.calendar
    with session.no_autoflush:
        completed = list(
            session.scalars(
                select(CaseDeadline)
                .where(
                    CaseDeadline.case_id == case.id,
                    CaseDeadline.ended_by == str(Action.COMPLETE),
                )
                .order_by(CaseDeadline.ended_at.desc(), CaseDeadline.id)
            )
        )
    last = [row for row in completed if row.ended_at == completed[0].ended_at] if completed else []
    settled: Interval | None = None
    for row in rows:
        settled = end_row(row, now, action, calendar) or settled
    close_pause(policy, case, rows, settled)
    for row in last:
        row.ended_at = None
        row.ended_by = ""
        row.next_check_at = next_check(StageClock.of(row))
        rows.append(row)
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
