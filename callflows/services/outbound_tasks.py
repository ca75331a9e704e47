"""The outbound task queue (外呼任务): tasks made where the work arises, pulled by
operators one at a time, worked with their script, every attempt recorded.

Where tasks come from:

* a follow-up (P7) when a case reaches a follow-up state (awaiting
  follow-up, answered on the call, transferred), in the transaction that
  moves it, and a call-back for each missed or abandoned call, in the
  transaction that records it (:mod:`callflows.services.task_making`,
  called explicitly by the case core and the call flows);
* a booked call-back (W11) from the form (:func:`book_call_back`);
* one abnormal-usage task per anomaly (W14) from a list
  (:func:`import_anomalies`);
* dunning calls (W15) for the customers in arrears (:func:`create_dunning`).

Each task's ``subject_key`` is unique: a retry, or two processes, never make
a second task for the same thing. :func:`take_next` gives an operator the
most urgent due task, claimed with one conditional update, so two operators
never get the same one. A follow-up's script decides the case's next move
(:func:`finish_follow_up`), taken through the lifecycle in the same
transaction as the task's attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, selectinload

from callflows.domain import live
from callflows.domain.engine import CallFlowError
from callflows.domain.outbound_tasks import (
    ABNORMAL_USAGE_DEADLINE,
    ACTIVE_STATES,
    Anomaly,
    AnomalyError,
    AttemptOutcome,
    FollowUpIncomplete,
    TaskKind,
    TaskState,
    arrears_period,
    follow_up_decision,
    parse_anomalies,
    subject_key,
)
from callflows.models import (
    AttemptKind,
    Call,
    OutboundAttempt,
    OutboundTask,
    OutboundTaskAttempt,
)
from callflows.services.context import CallFlows, require_taker
from callflows.services.outbound import _send, _write_attempt, mark_reached
from callflows.services.script import engine_refusal
from callflows.services.task_making import (
    FOLLOW_UP_STATES,
    active_task,
    close_task,
    new_task,
)
from callflows.telephony import OutboundCall
from hotline.domain.errors import words
from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import Role
from hotline.models import Case, Customer, CustomerPhone
from hotline.services import Actor, Conflict, Forbidden, Invalid, NotFound, Services, perform
from hotline.services.context import in_unit

__all__ = [
    "FOLLOW_UP_STATES",
    "QueueRow",
    "book_call_back",
    "case_of",
    "create_dunning",
    "decide_unreachable",
    "finish_follow_up",
    "import_anomalies",
    "place_call",
    "queue",
    "record_attempt",
    "script_op",
    "take_next",
    "task_for_case",
]

#: The purpose of a telephony attempt placed from a task.
PURPOSE = "outbound_task"


# -- reading the queue ---------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One task as the queue shows it."""

    id: int
    kind: str
    state: str
    due_at: datetime
    deadline_at: datetime | None
    overdue: bool
    due: bool
    owner_id: int | None
    owner_name: str
    phone: str
    contact_name: str
    details: str
    case_number: str | None
    attempts: int


def _row(task: OutboundTask, now: datetime, case_numbers: Mapping[int, str]) -> QueueRow:
    return QueueRow(
        id=task.id,
        kind=task.kind,
        state=task.state,
        due_at=task.due_at,
        deadline_at=task.deadline_at,
        overdue=task.deadline_at is not None and task.deadline_at <= now,
        due=task.due_at <= now,
        owner_id=task.owner_id,
        owner_name=task.owner.display_name if task.owner else "",
        phone=task.phone,
        contact_name=task.contact_name,
        details=task.details,
        case_number=case_numbers.get(task.case_id) if task.case_id else None,
        attempts=len(task.attempts),
    )


def _urgent_first(query: Any) -> Any:
    return query.order_by(
        OutboundTask.deadline_at.is_(None),
        func.coalesce(OutboundTask.deadline_at, OutboundTask.due_at),
        OutboundTask.due_at,
        OutboundTask.id,
    )


def queue(
    session: Session, actor: Actor, now: datetime, *, mine_only: bool = False, limit: int = 500
) -> list[QueueRow]:
    """The active tasks, most urgent first; an operator's own when ``mine_only``."""
    require_taker(actor)
    query = select(OutboundTask).where(OutboundTask.state.in_([s.value for s in ACTIVE_STATES]))
    if mine_only:
        query = query.where(OutboundTask.owner_id == actor.id)
    query = query.options(selectinload(OutboundTask.owner), selectinload(OutboundTask.attempts))
    tasks = session.scalars(_urgent_first(query).limit(limit)).all()
    ids = {t.case_id for t in tasks if t.case_id}
    numbers = dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(ids))).all())
    return [_row(task, now, numbers) for task in tasks]


def get_task(session: Session, task_id: int, *, lock: bool = False) -> OutboundTask:
    """The task ``task_id``; raises :class:`NotFound`."""
    query = select(OutboundTask).where(OutboundTask.id == task_id)
    if lock:
        query = query.with_for_update()
    task = session.scalar(query)
    if task is None:
        raise NotFound("no outbound task %(task_id)s", "task", task_id=task_id)
    return task


def case_of(session: Session, task: OutboundTask) -> Case | None:
    """The case a task is about (a follow-up's), if any."""
    return session.get(Case, task.case_id) if task.case_id else None


def task_for_case(session: Session, case_id: int) -> OutboundTask | None:
    """The case's follow-up task still to do, if any."""
    return active_task(session, TaskKind.FOLLOW_UP, case_id=case_id)


# -- pulling a task ------------------------------------------------------------


def take_next(svc: Services, actor: Actor) -> int | None:
    """Give ``actor`` the most urgent due task nobody holds; returns its id (None: none due).

    The claim is one conditional update (only while the task is open and has no
    owner), so two operators pulling at once never get the same task.
    """
    require_taker(actor)
    now = svc.now()
    for _round in range(5):
        with svc.sessions() as session, session.begin():
            ids = session.scalars(
                _urgent_first(
                    select(OutboundTask.id).where(
                        OutboundTask.state == TaskState.OPEN.value,
                        OutboundTask.owner_id.is_(None),
                        OutboundTask.due_at <= now,
                    )
                ).limit(20)
            ).all()
            if not ids:
                return None
            for task_id in ids:
                claimed = session.execute(
                    update(OutboundTask)
                    .where(
                        and_(
                            OutboundTask.id == task_id,
                            OutboundTask.owner_id.is_(None),
                            OutboundTask.state == TaskState.OPEN.value,
                        )
                    )
                    .values(owner_id=actor.id, taken_at=now, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount == 1:
                    return task_id
    return None


#: How a task that left the queue is refused, by its state.
_NO_LONGER_QUEUED = {
    TaskState.DONE.value: words("task %(task_id)s is done; it is no longer in the queue"),
    TaskState.CANCELLED.value: words("task %(task_id)s is cancelled; it is no longer in the queue"),
}
_NO_LONGER_QUEUED_AS_IT_IS = words("task %(task_id)s is %(state)s; it is no longer in the queue")


def _owned(session: Session, actor: Actor, task_id: int) -> OutboundTask:
    task = get_task(session, task_id, lock=True)
    if task.state not in {s.value for s in ACTIVE_STATES}:
        raise Conflict(
            _NO_LONGER_QUEUED.get(task.state, _NO_LONGER_QUEUED_AS_IT_IS),
            "task",
            task_id=task_id,
            state=task.state,
        )
    if task.owner_id != actor.id:
        raise Forbidden("only the operator who took this task can work it; take it first")
    return task


def release(svc: Services, actor: Actor, task_id: int) -> None:
    """Put a task one holds back in the queue for someone else."""
    require_taker(actor)
    with svc.sessions() as session, session.begin():
        task = _owned(session, actor, task_id)
        task.owner_id = None
        task.taken_at = None
        task.updated_at = svc.now()


# -- the script ----------------------------------------------------------------


def _known(session: Session, task: OutboundTask, svc: Services) -> dict[str, str]:
    if task.kind == TaskKind.FOLLOW_UP.value and task.case_id:
        case = session.get(Case, task.case_id)
        return {"problem": (case.problem if case else task.details)[:200] or "××"}
    if task.kind == TaskKind.DUNNING.value and task.customer_id:
        customer = session.get(Customer, task.customer_id)
        if customer is not None:
            today = svc.now().astimezone(svc.timezone).date()
            return {
                "customer_name": customer.name or "××",
                "community": customer.area or customer.address[:40] or "××",
                "arrears_period": arrears_period(customer.arrears_since, today),
            }
    return {}


def script_of(
    flows: CallFlows, session: Session, task: OutboundTask, svc: Services
) -> live.LiveScript | None:
    """The task's live script (started on first use); ``None`` for a task without one."""
    if not task.script_id:
        return None
    if task.script_state:
        try:
            return live.restore(flows.scripts, task.script_state, svc.now)
        except live.StateError as exc:
            raise Conflict.from_error(exc, "script") from None
    script = flows.scripts.get(task.script_id)
    if script is None:
        raise Conflict(
            "the call script '%(script_id)s' is not loaded", "script", script_id=task.script_id
        )
    return live.start(script, svc.now, known=_known(session, task, svc))


def script_op(
    svc: Services, flows: CallFlows, actor: Actor, task_id: int, op: str, args: Mapping[str, Any]
) -> None:
    """Apply one script step to the task's call; the engine decides, a refusal is not stored."""
    require_taker(actor)
    with svc.sessions() as session, session.begin():
        task = _owned(session, actor, task_id)
        script = script_of(flows, session, task, svc)
        if script is None:
            raise Invalid("this task has no script; record the call's outcome", "op")
        if op == "end":
            raise Invalid("finish the task with its outcome", "op")
        try:
            script.apply(op, dict(args))
        except ValueError as exc:
            raise Invalid.from_error(exc, "op") from None
        except CallFlowError as exc:
            raise engine_refusal(exc) from None
        task.script_state = script.to_state()
        task.updated_at = svc.now()


def restart_script(svc: Services, flows: CallFlows, actor: Actor, task_id: int) -> None:
    """Start the task's script again (a new attempt after the last one ended)."""
    require_taker(actor)
    with svc.sessions() as session, session.begin():
        task = _owned(session, actor, task_id)
        task.script_state = None
        task.updated_at = svc.now()


# -- calling -------------------------------------------------------------------


def place_call(svc: Services, flows: CallFlows, actor: Actor, task_id: int) -> int:
    """Click-to-call: ask the phone system to bridge the operator and the customer.

    The telephony attempt is written and committed first, then the provider
    is asked once (:mod:`callflows.services.outbound`). Returns the attempt's
    id; raises :class:`TelephonyFailed` when the call was not placed.
    """
    require_taker(actor)
    with svc.sessions() as session:
        task = _owned(session, actor, task_id)
        number = task.phone
        if not number:
            raise Invalid("the task has no phone number to call", "phone")
        case_id = task.case_id
    attempt_id = _write_attempt(
        svc,
        flows,
        kind=AttemptKind.CALL,
        purpose=PURPOSE,
        to_number=number,
        case_id=case_id,
        requested_by_id=actor.id,
    )
    _send(
        svc, flows, attempt_id, lambda: flows.telephony.place_call(OutboundCall(attempt_id, number))
    )
    return attempt_id


def _attempt(
    session: Session,
    task: OutboundTask,
    actor: Actor,
    now: datetime,
    outcome: AttemptOutcome,
    note: str,
) -> OutboundTaskAttempt:
    placed = session.scalar(
        select(OutboundAttempt.id)
        .where(OutboundAttempt.purpose == PURPOSE, OutboundAttempt.requested_by_id == actor.id)
        .where(
            OutboundAttempt.to_number == task.phone,
            OutboundAttempt.created_at >= (task.taken_at or now),
        )
        .order_by(OutboundAttempt.id.desc())
    )
    row = OutboundTaskAttempt(
        task_id=task.id,
        by_id=actor.id,
        at=now,
        outcome=outcome.value,
        note=note[:2000],
        outbound_attempt_id=placed,
    )
    session.add(row)
    return row


def _gap(svc: Services) -> timedelta:
    return svc.rules.follow_up_attempt_gap


def record_attempt(
    svc: Services, actor: Actor, task_id: int, outcome: AttemptOutcome, note: str
) -> OutboundTask:
    """Record how a call of a task without a follow-up decision went (one transaction).

    Reached: the task is done (a missed call leaves the call-back list).
    Not reached or call later: the task goes back to the queue, due again
    after the attempt gap. A follow-up is finished with its script instead.
    """
    require_taker(actor)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        task = _owned(session, actor, task_id)
        if task.kind == TaskKind.FOLLOW_UP.value:
            raise Invalid("a follow-up is finished from its script (P7)", "outcome", "P7")
        if outcome == AttemptOutcome.REACHED and not note.strip():
            raise Invalid("say what was agreed with the customer", "note")
        _attempt(session, task, actor, now, outcome, note)
        if outcome == AttemptOutcome.REACHED:
            close_task(task, now, note.strip())
            if task.call_id is not None:
                call = session.get(Call, task.call_id)
                if call is not None:
                    mark_reached(session, call, actor.id, now)
        else:
            task.owner_id = None
            task.taken_at = None
            task.due_at = now + _gap(svc)
        task.script_state = None
        task.updated_at = now
        return task


def _lock_case_first(session: Session, task_id: int) -> None:
    """Lock the task's case before the task: every path that moves a case locks
    the case first and its task after, so two of them never wait on each other."""
    case_id = session.scalar(select(OutboundTask.case_id).where(OutboundTask.id == task_id))
    if case_id is not None:
        session.scalar(select(Case.id).where(Case.id == case_id).with_for_update())


def finish_follow_up(svc: Services, flows: CallFlows, actor: Actor, task_id: int) -> OutboundTask:
    """P7: the follow-up's script is answered; the case moves, in one transaction.

    Satisfied: the case closes with the four ratings. Dissatisfied: it is
    reopened to dispatch with the customer's words. Not reached: one
    unreachable attempt is counted (spaced by the configured gap); after the
    configured number the task waits for a supervisor's decision. Not a good
    time: the task comes back at the next gap. Raises :class:`Invalid` naming
    the script's missing answer, and the lifecycle's refusals.
    """
    require_taker(actor)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        _lock_case_first(session, task_id)
        task = _owned(session, actor, task_id)
        if task.kind != TaskKind.FOLLOW_UP.value or task.case_id is None:
            raise Invalid("only a follow-up task is finished from its script", "task")
        script = script_of(flows, session, task, svc)
        assert script is not None
        try:
            decision = follow_up_decision(script.session.fields, script.session.answers)
        except FollowUpIncomplete as exc:
            raise Invalid.from_error(exc, exc.field, "P7") from None
        case = session.get(Case, task.case_id)
        assert case is not None
        if decision.action is not None:
            perform(
                in_unit(svc, session),
                actor,
                case.number,
                decision.action,
                expected_version=case.version,
                data=dict(decision.data),
            )
        _attempt(session, task, actor, now, decision.attempt, decision.note)
        task.script_state = None
        task.updated_at = now
        if decision.action in (Action.CLOSE, Action.REOPEN):
            close_task(task, now, f"{decision.action.value}: {decision.note}".strip(": "))
            return task
        task.owner_id = None
        task.taken_at = None
        task.due_at = now + _gap(svc)
        if case.follow_up_attempts >= svc.rules.follow_up_unreachable_attempts:
            task.state = TaskState.NEEDS_DECISION.value
        return task


def decide_unreachable(
    svc: Services, actor: Actor, task_id: int, *, close: bool, reason: str
) -> OutboundTask:
    """A supervisor decides a follow-up whose customer could not be reached (P7).

    ``close``: the case closes as unreachable with ``reason`` (the lifecycle's
    ``close_unreachable``); otherwise the task goes back to the queue, due now.
    """
    if actor.role != Role.SUPERVISOR:
        raise Forbidden("only a supervisor decides a follow-up nobody could reach")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        _lock_case_first(session, task_id)
        task = get_task(session, task_id, lock=True)
        if task.state != TaskState.NEEDS_DECISION.value:
            raise Conflict(
                "task %(task_id)s is not waiting for a decision", "task", task_id=task_id
            )
        if close:
            if not reason.strip():
                raise Invalid("say why the case closes without a follow-up", "reason", "P7")
            case = session.get(Case, task.case_id) if task.case_id else None
            if case is None:
                raise Conflict("the task has no case", "task")
            perform(
                in_unit(svc, session),
                actor,
                case.number,
                Action.CLOSE_UNREACHABLE,
                expected_version=case.version,
                reason=reason.strip(),
            )
            close_task(task, now, reason.strip())
        else:
            task.state = TaskState.OPEN.value
            task.due_at = now
            task.updated_at = now
        return task


# -- tasks from forms and lists -------------------------------------------------


def _customer_phone(session: Session, customer: Customer) -> str:
    return (
        session.scalar(
            select(CustomerPhone.number)
            .where(CustomerPhone.customer_id == customer.id)
            .order_by(CustomerPhone.id)
        )
        or ""
    )


def _add_once(session: Session, task: OutboundTask) -> bool:
    """Add ``task`` unless its subject already has one; True when added."""
    if session.scalar(select(OutboundTask.id).where(OutboundTask.subject_key == task.subject_key)):
        return False
    session.add(task)
    return True


def book_call_back(
    svc: Services, actor: Actor, *, phone: str, name: str, note: str, due_at: datetime
) -> tuple[int, bool]:
    """W11: book a call-back (the systems were down); returns (task id, created)."""
    require_taker(actor)
    now = svc.now()
    key = subject_key(TaskKind.BOOKED_CALL_BACK, phone, due_at.isoformat(timespec="minutes"))
    with svc.sessions() as session, session.begin():
        task = new_task(
            TaskKind.BOOKED_CALL_BACK,
            key,
            now,
            due_at=due_at,
            deadline_at=due_at + timedelta(hours=1),
            phone=phone,
            contact_name=name,
            details=note,
            created_by_id=actor.id,
        )
        created = _add_once(session, task)
        session.flush()
        existing = session.scalar(select(OutboundTask.id).where(OutboundTask.subject_key == key))
        assert existing is not None
        return existing, created


def _supervisor(actor: Actor) -> None:
    if actor.role != Role.SUPERVISOR:
        raise Forbidden("only a supervisor fills the outbound queue from a list")


def import_anomalies(svc: Services, actor: Actor, anomalies: str | Iterable[Anomaly]) -> int:
    """W14: one abnormal-usage task per anomaly, with a deadline; returns how many were new.

    ``anomalies`` is the CSV text (``account,reading,expected``) or rows read
    already. Every account must be a known customer; a bad row refuses the
    whole list, naming the line, and nothing is written. Rows already on file
    change nothing.
    """
    _supervisor(actor)
    try:
        rows = parse_anomalies(anomalies) if isinstance(anomalies, str) else list(anomalies)
    except AnomalyError as exc:
        raise Invalid.from_error(exc, exc.field, "W14") from None
    now = svc.now()
    created = 0
    with svc.sessions() as session, session.begin():
        for line, row in enumerate(rows, start=2):
            customer = session.scalar(
                select(Customer).where(Customer.account_number == row.account_number)
            )
            if customer is None:
                raise Invalid(
                    "line %(line)s: no customer with account '%(account)s'",
                    "account",
                    "W14",
                    line=line,
                    account=row.account_number,
                )
            task = new_task(
                TaskKind.ABNORMAL_USAGE,
                subject_key(TaskKind.ABNORMAL_USAGE, row.account_number, row.reading, row.expected),
                now,
                due_at=now,
                deadline_at=now + ABNORMAL_USAGE_DEADLINE,
                customer_id=customer.id,
                phone=_customer_phone(session, customer),
                contact_name=customer.name,
                details=f"读数 {row.reading},预计 {row.expected}",
                created_by_id=actor.id,
            )
            if _add_once(session, task):
                created += 1
                session.flush()
    return created


def create_dunning(svc: Services, actor: Actor) -> int:
    """W15: a dunning call for each imported customer in arrears, once a month; returns how many."""
    _supervisor(actor)
    now = svc.now()
    month = now.astimezone(svc.timezone).strftime("%Y-%m")
    created = 0
    with svc.sessions() as session, session.begin():
        customers = session.scalars(
            select(Customer)
            .where(Customer.arrears_cents > 0)
            .order_by(Customer.arrears_since, Customer.id)
        ).all()
        for customer in customers:
            yuan = f"{customer.arrears_cents / 100:.2f}"
            task = new_task(
                TaskKind.DUNNING,
                subject_key(TaskKind.DUNNING, customer.account_number, month),
                now,
                due_at=now,
                customer_id=customer.id,
                phone=_customer_phone(session, customer),
                contact_name=customer.name,
                details=f"欠费 {yuan} 元",
                created_by_id=actor.id,
            )
            if _add_once(session, task):
                created += 1
                session.flush()
    return created
