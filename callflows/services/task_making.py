"""Outbound tasks made where the work arises, in the transaction that makes the work.

Called explicitly, never from an ORM event: the case core calls
:func:`case_moved` through ``Services.case_moved`` (set by :func:`install`)
each time a case changes state; the call flows call :func:`call_missed` when
an incoming call ends unanswered and :func:`call_reached` when its caller was
reached. A follow-up task (P7) comes with a case entering a follow-up state
and leaves the queue when the case leaves it (closed, reopened); a call-back
task comes with each missed call and is done when the caller is reached.
Each task's ``subject_key`` is unique, so a retry never makes a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.domain.outbound_tasks import (
    ACTIVE_STATES,
    SCRIPT_OF,
    TaskKind,
    TaskState,
    subject_key,
)
from callflows.models import Call, CallStatus, Direction, OutboundTask
from hotline.domain.lifecycle import FOLLOW_UP_STATES, State
from hotline.models import Case
from hotline.services import Services

#: Calls whose caller waits for a call-back.
MISSED = frozenset({CallStatus.MISSED, CallStatus.ABANDONED})


def install(svc: Services) -> None:
    """Have ``svc``'s case moves make and settle follow-up tasks (sets ``case_moved``)."""
    svc.case_moved = case_moved


def active_task(session: Session, kind: TaskKind, **where: Any) -> OutboundTask | None:
    """The oldest task of ``kind`` still in the queue whose columns match ``where``."""
    query = select(OutboundTask).where(
        OutboundTask.kind == kind.value, OutboundTask.state.in_([s.value for s in ACTIVE_STATES])
    )
    for name, value in where.items():
        query = query.where(getattr(OutboundTask, name) == value)
    return session.scalars(query.order_by(OutboundTask.id)).first()


def new_task(kind: TaskKind, key: str, now: datetime, **values: Any) -> OutboundTask:
    """A task of ``kind`` for the subject ``key``, open, running its kind's script."""
    return OutboundTask(
        kind=kind.value,
        subject_key=key,
        state=TaskState.OPEN.value,
        script_id=SCRIPT_OF[kind],
        created_at=now,
        updated_at=now,
        **values,
    )


def close_task(task: OutboundTask, now: datetime, result: str) -> None:
    """The task leaves the queue, done, with what came of it."""
    task.state = TaskState.DONE.value
    task.closed_at = now
    task.updated_at = now
    task.result = task.result or result


def _follow_up_for(session: Session, case: Case, now: datetime) -> OutboundTask | None:
    """A follow-up task for ``case`` unless one is still open (one per round)."""
    if active_task(session, TaskKind.FOLLOW_UP, case_id=case.id) is not None:
        return None
    rounds = session.scalar(
        select(func.count(OutboundTask.id)).where(
            OutboundTask.kind == TaskKind.FOLLOW_UP.value, OutboundTask.case_id == case.id
        )
    )
    return new_task(
        TaskKind.FOLLOW_UP,
        subject_key(TaskKind.FOLLOW_UP, "case", case.id, (rounds or 0) + 1),
        now,
        # The call may be made at once; the follow-up stage's clock is its deadline
        # (the day after the work was done, from the time-limit policy).
        due_at=now,
        deadline_at=case.due_at or now + timedelta(days=1),
        case_id=case.id,
        phone=case.contact_phone or "",
        contact_name=case.contact_name or "",
        details=case.problem or "",
    )


def case_moved(session: Session, case: Case, left: State, now: datetime) -> None:
    """``case`` has just changed state, leaving ``left``: make its follow-up task,
    or settle it. A move that neither enters nor leaves follow-up reads nothing."""
    if State(case.state) not in FOLLOW_UP_STATES and left not in FOLLOW_UP_STATES:
        return
    with session.no_autoflush:
        if State(case.state) in FOLLOW_UP_STATES:
            task = _follow_up_for(session, case, now)
            if task is not None:
                session.add(task)
            return
        task = active_task(session, TaskKind.FOLLOW_UP, case_id=case.id)
    if task is not None:
        # The case left follow-up (closed, reopened): its task leaves the queue.
        close_task(task, now, str(case.state))


def call_missed(session: Session, call: Call, now: datetime) -> None:
    """An incoming ``call`` ended unanswered: its caller gets a call-back task."""
    if call.direction != Direction.INBOUND or call.status not in MISSED or not call.from_number:
        return
    key = subject_key(TaskKind.CALL_BACK, "call", call.id)
    if session.scalar(select(OutboundTask.id).where(OutboundTask.subject_key == key)):
        return
    session.add(
        new_task(
            TaskKind.CALL_BACK,
            key,
            now,
            due_at=call.ended_at or call.ringing_at or now,
            call_id=call.id,
            customer_id=call.customer_id,
            phone=call.from_number,
        )
    )


def call_reached(session: Session, call: Call, now: datetime) -> None:
    """The caller of a missed ``call`` was reached: its call-back task is done."""
    task = active_task(session, TaskKind.CALL_BACK, call_id=call.id)
    if task is not None:
        close_task(task, call.called_back_at or now, "reached")
