"""Promises stay true (G7): "tell the caller" tasks (告知来电人) and marking them done.

:func:`note_stale` runs inside the transaction that moves a case's deadline
(an approved extension in ``hotline.services.actions``, a moved visit in
``hotline.services.bookings``): when the new deadline is not the time the
caller was told, it puts a task in the first responder's list, or brings the
open one up to date. :func:`mark_told` is the first responder's "done, caller
told": one transaction that closes the task, makes the new time the case's
promise and appends one history event. The rules are
``hotline.domain.promises``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain.errors import NotFound
from hotline.domain.lifecycle import State
from hotline.domain.promises import (
    PromiseCause,
    TaskFacts,
    check_mark_told,
    heard,
    is_stale,
    new_promise,
)
from hotline.domain.taxonomy import Stage
from hotline.models import Case, CaseDeadline, PromiseUpdate
from hotline.services import deadlines
from hotline.services.access import Actor, can_view, lock_case
from hotline.services.audit import append_event
from hotline.services.context import Services, check_text, publish_change

#: The history event of "done, caller told".
TOLD_ACTION = "caller_told"
#: The stages whose due time is the promise, most telling first (F11: resolve, else reply).
_PROMISE_STAGES = (Stage.RESOLVE, Stage.REPLY)


@dataclass(frozen=True)
class Before:
    """A case's promise and deadline before a change, taken under its lock."""

    promised_at: datetime | None
    due_at: datetime | None

    @classmethod
    def of(cls, case: Case) -> Before:
        return cls(case.promised_at, case.due_at)


def promise_clock_due(session: Session, policy: Any, case: Case) -> datetime | None:
    """The open resolve (else reply) clock's due time, a pause still running counted
    as planned; None when neither runs.

    Reads the case's clock rows as this transaction changed them (no flush needed).
    """
    rows = session.scalars(
        select(CaseDeadline).where(CaseDeadline.case_id == case.id, CaseDeadline.ended_at.is_(None))
    ).all()
    calendar = cast(deadlines.StagePolicy, policy).calendar
    by_stage = {str(row.stage): row for row in rows if row.ended_at is None}
    for stage in _PROMISE_STAGES:
        row = by_stage.get(str(stage))
        if row is not None:
            return deadlines.effective_due(deadlines.StageClock.of(row), calendar)
    return None


def _open_task(session: Session, case: Case) -> PromiseUpdate | None:
    return session.scalar(
        select(PromiseUpdate)
        .where(PromiseUpdate.case_id == case.id, PromiseUpdate.done_at.is_(None))
        .order_by(PromiseUpdate.id.desc())
        .limit(1)
    )


def note_stale(
    svc: Services,
    session: Session,
    case: Case,
    cause: PromiseCause,
    *,
    before: Before,
    now: datetime,
    visit_starts_at: datetime | None = None,
) -> PromiseUpdate | None:
    """Inside the caller's transaction, after the deadline moved: the task, if one is due.

    ``before`` is the case's promise and deadline before this change. A case already
    waiting for the caller to be told keeps one task, brought up to date (the
    caller still holds the time they heard). Returns the task, or None when
    the new deadline is the promise the caller heard.
    """
    with session.no_autoflush:  # the case row is written once, with its event
        task = _open_task(session, case)
        clock_due = promise_clock_due(session, svc.policy, case)
    told = before.promised_at
    new = new_promise(told, clock_due, before.due_at, case.due_at)
    heard_time = heard(told, task.old_promised_at if task else None, task is not None)
    if not is_stale(heard_time, new):
        return None
    if task is None:
        task = PromiseUpdate(
            case_id=case.id,
            owner_id=case.first_responder_id,
            old_promised_at=heard_time,
            created_at=now,
            note="",
        )
        session.add(task)
    task.cause = str(cause)
    task.new_promised_at = new
    task.visit_starts_at = visit_starts_at
    return task


def mark_told(svc: Services, actor: Actor, update_id: int, *, note: str) -> PromiseUpdate:
    """G7: the first responder told the caller the new time ("done, caller told").

    One transaction: the task is done (when, by whom, what was said), the new
    time becomes the case's promise, and one history event records it.
    Raises :class:`Forbidden` (rule G7) for anyone but the case's first
    responder, :class:`Invalid` naming ``note`` when it is blank,
    :class:`Conflict` when the task is already done, :class:`NotFound` for
    an unknown task.
    """
    now = svc.now()
    with svc.sessions() as session, session.begin():
        task = session.get(PromiseUpdate, update_id) if isinstance(update_id, int) else None
        if task is None:
            raise NotFound(
                "no task %(update_id)r to tell a caller", "promise_update_id", update_id=update_id
            )
        case = lock_case(session, task.case.number)
        session.refresh(task)  # read again under the case's lock
        if not can_view(actor, case):
            raise NotFound(
                "no task %(update_id)r to tell a caller", "promise_update_id", update_id=update_id
            )
        text = check_mark_told(
            actor.id, TaskFacts(task.owner_id, case.first_responder_id, task.done_at), note
        )
        task.done_at = now
        task.done_by_id = actor.id
        task.note = text
        previous = case.promised_at
        if task.new_promised_at is not None:
            case.promised_at = task.new_promised_at
        case.updated_at = now
        event = append_event(
            session,
            case,
            action=TOLD_ACTION,
            from_state=case.state,
            to_state=case.state,
            actor_id=actor.id,
            at=now,
            data={
                "promise_update_id": task.id,
                "cause": task.cause,
                "previous_promised_at": previous,
                "promised_at": task.new_promised_at,
                "note": text,
            },
        )
        check_text(svc, session, case, event)
        session.flush()
    publish_change(svc, case, TOLD_ACTION)
    return task


def for_case(session: Session, case: Case) -> list[PromiseUpdate]:
    """The case's "tell the caller" tasks, open ones first, then the newest."""
    rows = session.scalars(select(PromiseUpdate).where(PromiseUpdate.case_id == case.id)).all()
    return sorted(rows, key=lambda t: (t.done_at is not None, -t.id))


def open_for(session: Session, actor: Actor, limit: int = 100) -> list[PromiseUpdate]:
    """The open tasks on cases ``actor`` is first responder of, oldest first (their home list)."""
    return list(
        session.scalars(
            select(PromiseUpdate)
            .join(Case, Case.id == PromiseUpdate.case_id)
            .where(
                PromiseUpdate.done_at.is_(None),
                Case.first_responder_id == actor.id,
                Case.state != State.MERGED,
            )
            .order_by(PromiseUpdate.created_at, PromiseUpdate.id)
            .limit(limit)
        )
    )


def open_counts(session: Session, cases: Iterable[Case]) -> dict[int, int]:
    """Open tasks per case id, for lists that mark the cases waiting for a call."""
    ids = [case.id for case in cases]
    if not ids:
        return {}
    counts: dict[int, int] = {}
    for case_id in session.scalars(
        select(PromiseUpdate.case_id).where(
            PromiseUpdate.case_id.in_(ids), PromiseUpdate.done_at.is_(None)
        )
    ):
        counts[case_id] = counts.get(case_id, 0) + 1
    return counts
