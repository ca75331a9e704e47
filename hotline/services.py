"""Service layer: every change to a case goes through here, one transaction each.

A view, a CLI command or a webhook turns its input into a call of
:func:`intake` or :func:`perform`; these check the rules (``hotline.lifecycle``),
write the state, append exactly one event per change (``hotline.audit``), set
the next deadline from the time-limit policy, and commit. Errors are
:class:`ServiceError` subclasses carrying an HTTP status and the field at fault;
when one is raised nothing has been written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from hotline import lifecycle
from hotline.audit import append_event
from hotline.lifecycle import Action, State
from hotline.models import (
    Case,
    CaseEvent,
    CaseSeen,
    Contact,
    Customer,
    CustomerPhone,
    Department,
    FollowUp,
    Staff,
)
from hotline.numbering import next_case_number
from hotline.phones import InvalidPhoneNumber, normalise
from hotline.taxonomy import (
    Category,
    Channel,
    Disposition,
    FollowUpOutcome,
    Priority,
    Role,
    Stage,
    TriageOutcome,
)

# -- errors ------------------------------------------------------------------


class ServiceError(Exception):
    """A refusal shown to the user; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message, self.field, self.rule = message, field, rule

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.rule:
            body["rule"] = self.rule
        return body


class Invalid(ServiceError):
    """The input breaks a rule or lacks a field."""

    status = 422


class NotFound(ServiceError):
    """No such case, department, person or customer (or not visible to you)."""

    status = 404


class Forbidden(ServiceError):
    """Your role may not do this."""

    status = 403


class Conflict(ServiceError):
    """Someone else changed the case first; reload and try again."""

    status = 409


# -- wiring ------------------------------------------------------------------


class DeadlinePolicy(Protocol):
    """What the service needs of the time-limit policy (``hotline.timelimits``)."""

    follow_up_unreachable_attempts: int
    extension_max_working_days: int

    def due_at(
        self,
        start: datetime,
        category: Category,
        priority: Priority,
        stage: Stage,
        *,
        pipe_size_dn: int | None = None,
    ) -> datetime | None: ...


class WorkingDays(Protocol):
    """What the service needs of the working-day calendar."""

    def add_working_days(self, start: datetime, days: int) -> datetime: ...


Publisher = Callable[[Mapping[str, Any]], None]


@dataclass
class Services:
    """Everything the service functions use from outside, injected once at start-up."""

    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    policy: DeadlinePolicy
    calendar: WorkingDays
    case_prefix: str = "RY"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    phone_region: str = "CN"
    area_code: str = ""
    publish: Publisher | None = None
    #: Sessions for pages and reads; writes go through ``sessions``.
    readers: sessionmaker[Session] | None = None

    def read_session(self) -> Session:
        """A session for reading only (no write lock on SQLite)."""
        return (self.readers or self.sessions)()

    @property
    def rules(self) -> lifecycle.Settings:
        return lifecycle.Settings(
            follow_up_unreachable_attempts=self.policy.follow_up_unreachable_attempts,
            extension_max_working_days=self.policy.extension_max_working_days,
        )

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the clock must return timezone-aware times")
        return moment


@dataclass(frozen=True)
class Actor:
    """Who is acting: taken from the logged-in staff member or API token."""

    id: int
    role: Role
    department_id: int | None = None

    @classmethod
    def of(cls, staff: Staff) -> Actor:
        return cls(staff.id, Role(staff.role), staff.department_id)


# -- visibility --------------------------------------------------------------


def can_view(actor: Actor, case: Case) -> bool:
    """G7: the first responder always sees the case; crews see their own work.

    The hotline, dispatch and supervisors see every case (callers ring about
    any of them); department staff see what is assigned to their department,
    what they handle, and what they took in themselves.
    """
    if actor.role in (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        return True
    return (
        case.first_responder_id == actor.id
        or case.handler_staff_id == actor.id
        or (actor.department_id is not None and case.handler_department_id == actor.department_id)
    )


def _visible(query: Any, actor: Actor) -> Any:
    if actor.role in (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        return query
    conditions = [Case.first_responder_id == actor.id, Case.handler_staff_id == actor.id]
    if actor.department_id is not None:
        conditions.append(Case.handler_department_id == actor.department_id)
    return query.where(or_(*conditions))


# -- intake ------------------------------------------------------------------


class IntakeOutcome(StrEnum):
    """What the first responder does with a contact."""

    DISPATCH = "dispatch"  # 立案并专报调度中心
    ANSWER_ON_CALL = "answer_on_call"  # 立案,当场解答
    TRANSFER = "transfer"  # 立案,转办/引导至相关科室
    JOIN = "join"  # 并入已有工单(来电人询问已有工单)
    NO_CASE = "no_case"  # 不立案(打错、无声、挂断)


_CASE_OUTCOMES = {
    IntakeOutcome.DISPATCH: Action.DISPATCH,
    IntakeOutcome.ANSWER_ON_CALL: Action.ANSWER_ON_CALL,
    IntakeOutcome.TRANSFER: Action.TRANSFER,
}

#: P5: a repair judged to be the utility's, or not judged, goes to dispatch.
_TRIAGE_MUST_DISPATCH = {TriageOutcome.UTILITY, TriageOutcome.UNDETERMINED}


@dataclass
class IntakeCommand:
    """One contact as the first responder records it (P4: item by item)."""

    channel: Channel
    outcome: IntakeOutcome
    caller_number: str = ""
    caller_name: str = ""
    customer_account: str = ""
    category: Category | None = None
    priority: Priority = Priority.NORMAL
    problem: str = ""
    need: str = ""
    address: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    triage: TriageOutcome | None = None
    pipe_size_dn: int | None = None
    read_back_confirmed: bool = False
    answer: str = ""
    target_department_id: int | None = None
    told_caller: str = ""
    join_case_number: str = ""
    summary: str = ""
    started_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class IntakeResult:
    """What the operator reads to the caller: the case number and promised time."""

    contact_id: int
    case_number: str | None
    state: State | None
    promised_at: datetime | None
    due_at: datetime | None


def _required_text(value: str, name: str, rule: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(f"'{name}' is required", name, rule)
    return value


def _phone(svc: Services, raw: str, name: str) -> str:
    try:
        return normalise(raw, region=svc.phone_region, default_area_code=svc.area_code)
    except InvalidPhoneNumber as exc:
        raise Invalid(str(exc), name) from None


def _check_intake(cmd: IntakeCommand) -> None:
    """Field rules of a contact that becomes a case (P4, P5, G5, G6)."""
    if cmd.category is None:
        raise Invalid("'category' is required", "category")
    for name in ("problem", "need", "address", "contact_phone"):
        _required_text(getattr(cmd, name), name, "P4")
    if cmd.triage is None:
        raise Invalid("'triage' is required: judge the report first", "triage", "P5")
    if cmd.channel in (Channel.PHONE, Channel.COUNTER) and not cmd.read_back_confirmed:
        raise Invalid(
            "read the problem, need, address and contact back to the caller and "
            "confirm before submitting",
            "read_back_confirmed",
            "P4",
        )
    if cmd.triage in _TRIAGE_MUST_DISPATCH and cmd.outcome != IntakeOutcome.DISPATCH:
        raise Invalid(
            f"a report judged '{cmd.triage}' must be handed to dispatch",
            "outcome",
            "P5",
        )
    if cmd.pipe_size_dn is not None and not 15 <= cmd.pipe_size_dn <= 3000:
        raise Invalid("'pipe_size_dn' must be between 15 and 3000", "pipe_size_dn")


def _match_customer(session: Session, cmd: IntakeCommand, number: str | None) -> int | None:
    if cmd.customer_account:
        customer = session.scalar(
            select(Customer).where(Customer.account_number == cmd.customer_account.strip())
        )
        if customer is None:
            raise NotFound(f"no customer with account '{cmd.customer_account}'", "customer_account")
        return customer.id
    if number:
        ids = session.scalars(
            select(CustomerPhone.customer_id).where(CustomerPhone.number == number)
        ).all()
        if len(set(ids)) == 1:
            return ids[0]
    return None


def intake(svc: Services, actor: Actor, cmd: IntakeCommand) -> IntakeResult:
    """Record a contact and, where the outcome needs one, open its case.

    The actor becomes the case's first responder (G4). Raises :class:`Invalid`
    naming the field, :class:`NotFound` for an unknown account, department or
    case, :class:`Forbidden` when the role may not take contacts.
    """
    if actor.role not in lifecycle.ALLOWED_ROLES[Action.DISPATCH]:
        raise Forbidden(f"role '{actor.role}' does not take contacts")
    now = svc.now()
    # A withheld number still gets a record; a case needs a contact phone anyway.
    caller = _phone(svc, cmd.caller_number, "caller_number") if cmd.caller_number.strip() else None
    if cmd.outcome in _CASE_OUTCOMES:
        _check_intake(cmd)
    contact_phone = (
        _phone(svc, cmd.contact_phone, "contact_phone") if cmd.contact_phone.strip() else ""
    )
    with svc.sessions() as session, session.begin():
        customer_id = _match_customer(session, cmd, caller)
        contact = Contact(
            channel=cmd.channel,
            caller_number=caller,
            caller_name=cmd.caller_name.strip() or cmd.contact_name.strip(),
            customer_id=customer_id,
            started_at=cmd.started_at or now,
            answered_at=cmd.answered_at or (cmd.started_at or now),
            ended_at=None,
            handled_by_id=actor.id,
            summary=cmd.summary.strip(),
        )
        session.add(contact)
        if cmd.outcome == IntakeOutcome.NO_CASE:
            _required_text(cmd.summary, "summary", "P6")
            contact.disposition = Disposition.ANSWERED
            session.flush()
            return IntakeResult(contact.id, None, None, None, None)
        if cmd.outcome == IntakeOutcome.JOIN:
            number = _required_text(cmd.join_case_number, "join_case_number", "P6")
            case = _lock_case(session, number)
            contact.case_id = case.id
            contact.disposition = Disposition.JOINED_CASE
            append_event(
                session,
                case,
                action="contact",
                from_state=case.state,
                to_state=case.state,
                actor_id=actor.id,
                at=now,
                data={"contact_channel": cmd.channel, "summary": cmd.summary.strip()},
            )
            case.updated_at = now
            session.flush()
            return IntakeResult(
                contact.id, case.number, State(case.state), case.promised_at, case.due_at
            )

        assert cmd.category is not None and cmd.triage is not None
        if cmd.outcome == IntakeOutcome.TRANSFER and cmd.target_department_id:
            _department(session, cmd.target_department_id, "target_department_id")
        number = next_case_number(session, svc.case_prefix, now.astimezone(svc.timezone).date())
        case = Case(
            number=number,
            category=cmd.category,
            priority=cmd.priority,
            channel=cmd.channel,
            problem=cmd.problem.strip(),
            need=cmd.need.strip(),
            address=cmd.address.strip(),
            contact_name=cmd.contact_name.strip() or cmd.caller_name.strip(),
            contact_phone=contact_phone,
            triage=cmd.triage,
            pipe_size_dn=cmd.pipe_size_dn,
            customer_id=customer_id,
            first_responder_id=actor.id,
            state=State.REGISTERED,
            created_at=now,
            updated_at=now,
            version=1,
        )
        session.add(case)
        session.flush()
        append_event(
            session,
            case,
            action="register",
            from_state=None,
            to_state=State.REGISTERED,
            actor_id=actor.id,
            at=now,
            data={
                "channel": cmd.channel,
                "category": cmd.category,
                "priority": cmd.priority,
                "triage": cmd.triage,
                "first_responder_id": actor.id,
                "read_back_confirmed": cmd.read_back_confirmed,
            },
        )
        data = {
            "answer": cmd.answer,
            "target_department_id": cmd.target_department_id,
            "told_caller": cmd.told_caller,
        }
        _transition(svc, session, case, actor, _CASE_OUTCOMES[cmd.outcome], "", data, now)
        case.promised_at = _promised_time(svc, case, now)
        contact.case_id = case.id
        contact.disposition = {
            IntakeOutcome.DISPATCH: Disposition.CASE_CREATED,
            IntakeOutcome.ANSWER_ON_CALL: Disposition.ANSWERED,
            IntakeOutcome.TRANSFER: Disposition.TRANSFERRED,
        }[cmd.outcome]
        session.flush()
        result = IntakeResult(
            contact.id, case.number, State(case.state), case.promised_at, case.due_at
        )
    _publish(svc, case, "register")
    return result


# -- actions -----------------------------------------------------------------


def _lock_case(session: Session, number: str) -> Case:
    case = session.scalar(select(Case).where(Case.number == number).with_for_update())
    if case is None:
        raise NotFound(f"no case '{number}'", "case")
    return case


def _department(session: Session, department_id: Any, name: str) -> Department:
    department = session.get(Department, department_id) if isinstance(department_id, int) else None
    if department is None:
        raise NotFound(f"no department with id {department_id!r}", name)
    return department


def _staff(session: Session, staff_id: Any, name: str) -> Staff:
    staff = session.get(Staff, staff_id) if isinstance(staff_id, int) else None
    if staff is None or not staff.active:
        raise NotFound(f"no active staff member with id {staff_id!r}", name)
    return staff


def _dispatch_center(session: Session) -> Department | None:
    return session.scalar(select(Department).where(Department.is_dispatch_center.is_(True)))


def facts_of(case: Case) -> lifecycle.CaseFacts:
    """The lifecycle's view of a case row."""
    return lifecycle.CaseFacts(
        state=State(case.state),
        category=Category(case.category),
        first_responder_id=case.first_responder_id,
        handler_department_id=case.handler_department_id,
        handler_staff_id=case.handler_staff_id,
        passed_dispatch=case.passed_dispatch,
        extension_requests=case.extension_requests,
        due_at=case.due_at,
        follow_up_attempts=case.follow_up_attempts,
        case_id=case.id,
    )


def _resolve_references(session: Session, case: Case, action: Action, data: dict[str, Any]) -> None:
    """Check and turn what the request names (departments, people, cases) into ids."""
    if action == Action.ASSIGN and data.get("department_id") is not None:
        department = _department(session, data["department_id"], "department_id")
        if data.get("staff_id") is not None:
            staff = _staff(session, data["staff_id"], "staff_id")
            if staff.department_id != department.id:
                raise Invalid(f"{staff.display_name} is not in {department.name_zh}", "staff_id")
    elif action == Action.TRANSFER and data.get("target_department_id") is not None:
        _department(session, data["target_department_id"], "target_department_id")
    elif action == Action.REASSIGN_FIRST_RESPONDER and data.get("staff_id") is not None:
        _staff(session, data["staff_id"], "staff_id")
    elif action == Action.MERGE and data.get("parent_case_number"):
        parent = session.scalar(select(Case).where(Case.number == data["parent_case_number"]))
        if parent is None:
            raise NotFound(f"no case '{data['parent_case_number']}'", "parent_case_number")
        if parent.state in (State.CLOSED, State.MERGED):
            raise Invalid(
                f"case {parent.number} is '{parent.state}' and cannot take callers",
                "parent_case_number",
            )
        data["parent_case_id"] = parent.id


def _transition(
    svc: Services,
    session: Session,
    case: Case,
    actor: Actor,
    action: Action,
    reason: str,
    data: Mapping[str, Any],
    now: datetime,
) -> CaseEvent:
    """Apply one action to a locked case inside the caller's transaction."""
    data = {k: v for k, v in data.items() if v not in (None, "")}
    _resolve_references(session, case, action, data)
    request = lifecycle.Request(
        action=action,
        actor_id=actor.id,
        actor_role=actor.role,
        actor_department_id=actor.department_id,
        now=now,
        reason=reason or "",
        data=data,
    )
    try:
        outcome = lifecycle.apply(facts_of(case), request, svc.rules)
    except lifecycle.NotPermitted as exc:
        raise Forbidden(str(exc)) from None
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc), "action") from None
    except lifecycle.GuardRefused as exc:
        raise Invalid(str(exc), exc.field, exc.rule) from None

    changes = dict(outcome.changes)
    extra_days = changes.pop("extra_working_days", None)
    for name, value in changes.items():
        setattr(case, name, value)
    if extra_days is not None:
        case.extra_working_days = extra_days
    case.state = outcome.target
    case.updated_at = now
    if outcome.target in lifecycle.DISPATCH_QUEUE:
        center = _dispatch_center(session)
        case.handler_department_id = center.id if center else None
        case.handler_staff_id = None
    if action == Action.ARRIVE:
        case.arrived = True
    if action in (
        Action.CLOSE,
        Action.REOPEN,
        Action.FOLLOW_UP_UNREACHABLE,
        Action.CLOSE_UNREACHABLE,
    ):
        _record_follow_up(session, case, actor, action, data, now)
    if outcome.target == State.CLOSED:
        case.closed_at = now
    _set_deadline(svc, case, outcome, action, now)
    event_data = {k: v for k, v in data.items() if k != "parent_case_number"}
    if case.due_at is not None:
        event_data["due_at"] = case.due_at
    return append_event(
        session,
        case,
        action=action,
        from_state=outcome.source,
        to_state=outcome.target,
        actor_id=actor.id,
        at=now,
        reason=reason or "",
        data=event_data,
    )


def _record_follow_up(
    session: Session,
    case: Case,
    actor: Actor,
    action: Action,
    data: Mapping[str, Any],
    now: datetime,
) -> None:
    outcome = (
        FollowUpOutcome.UNREACHABLE
        if action in (Action.FOLLOW_UP_UNREACHABLE, Action.CLOSE_UNREACHABLE)
        else FollowUpOutcome(data["outcome"])
    )
    case.follow_up_outcome = outcome
    if action == Action.CLOSE_UNREACHABLE:
        return  # the supervisor's decision is the event; the attempts are already on file
    ratings = {}
    for name in ("attitude", "quality", "timeliness", "result"):
        value = data.get(name)
        if value is not None and (not isinstance(value, int) or not 1 <= value <= 5):
            raise Invalid(f"'{name}' must be a rating from 1 to 5", name, "P7")
        ratings[name] = value
    session.add(
        FollowUp(
            case_id=case.id,
            by_id=actor.id,
            at=now,
            outcome=outcome,
            note=str(data.get("note", "")),
            **ratings,
        )
    )


def _set_deadline(
    svc: Services, case: Case, outcome: lifecycle.Outcome, action: Action, now: datetime
) -> None:
    """Set ``due_at`` for the stage the case has entered (F11: every open case has one)."""
    if action == Action.APPROVE_EXTENSION:
        if case.due_at is not None and case.extra_working_days:
            case.due_at = svc.calendar.add_working_days(case.due_at, case.extra_working_days)
        return
    if outcome.target == outcome.source and action != Action.ASSIGN:
        return  # notes, owner changes and attempts do not restart the clock
    if outcome.target == State.EXTENSION_REQUESTED:
        return  # the clock keeps running while dispatch decides
    if action == Action.REJECT_EXTENSION:
        return
    for stage in lifecycle.stage_for(outcome.target, arrived=case.arrived):
        due = svc.policy.due_at(
            now,
            Category(case.category),
            Priority(case.priority),
            stage,
            pipe_size_dn=case.pipe_size_dn,
        )
        if due is not None:
            case.stage, case.stage_started_at, case.due_at = stage, now, due
            return
    case.stage, case.stage_started_at, case.due_at = None, None, None


def _promised_time(svc: Services, case: Case, now: datetime) -> datetime | None:
    """F11: the time limit the caller is told: when the matter will be resolved."""
    if case.state in (State.ANSWERED_ON_CALL, State.TRANSFERRED):
        return None  # answered now; the follow-up deadline is internal
    for stage in (Stage.RESOLVE, Stage.REPLY):
        due = svc.policy.due_at(
            now,
            Category(case.category),
            Priority(case.priority),
            stage,
            pipe_size_dn=case.pipe_size_dn,
        )
        if due is not None:
            return due
    return case.due_at


def perform(
    svc: Services,
    actor: Actor,
    case_number: str,
    action: Action | str,
    *,
    expected_version: int,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
) -> Case:
    """Apply ``action`` to the case, if it is still at ``expected_version``.

    Exactly one event is appended per case changed. Raises :class:`Conflict`
    when the case moved on (another person changed it first) or the action is
    not legal in its state, :class:`Invalid` when a rule refuses,
    :class:`Forbidden` when the role may not act, :class:`NotFound` for an
    unknown or invisible case. Nothing is written when any is raised.
    """
    try:
        action = Action(action)
    except ValueError:
        raise Invalid(f"unknown action '{action}'", "action") from None
    now = svc.now()
    children: list[Case] = []
    try:
        with svc.sessions() as session, session.begin():
            case = _lock_case(session, case_number)
            if not can_view(actor, case):
                raise NotFound(f"no case '{case_number}'", "case")
            if case.version != expected_version:
                raise Conflict(
                    f"case {case.number} was changed by someone else "
                    f"(version {case.version}, you had {expected_version}); reload it",
                    "version",
                )
            _transition(svc, session, case, actor, action, reason, data or {}, now)
            if action == Action.CONFIRM_DONE:
                children = _resolve_children(svc, session, case, actor, now)
            session.flush()
    except StaleDataError:
        raise Conflict(
            f"case {case_number} was changed by someone else; reload it", "version"
        ) from None
    except IntegrityError:
        raise Conflict(
            f"case {case_number} was changed by someone else; reload it", "version"
        ) from None
    _publish(svc, case, action)
    for child in children:
        _publish(svc, child, Action.INCIDENT_RESOLVED)
    return case


def _resolve_children(
    svc: Services, session: Session, parent: Case, actor: Actor, now: datetime
) -> list[Case]:
    """Callers merged into an incident move to their own follow-up when it is done."""
    children = session.scalars(
        select(Case)
        .where(Case.parent_case_id == parent.id, Case.state == State.MERGED)
        .with_for_update()
    ).all()
    for child in children:
        _transition(
            svc,
            session,
            child,
            actor,
            Action.INCIDENT_RESOLVED,
            "",
            {"incident": parent.number},
            now,
        )
    return list(children)


def _publish(svc: Services, case: Case, action: str) -> None:
    if svc.publish is None:
        return
    svc.publish(
        {
            "case": case.number,
            "action": str(action),
            "state": str(case.state),
            "category": str(case.category),
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "handler_department_id": case.handler_department_id,
            "first_responder_id": case.first_responder_id,
            "version": case.version,
        }
    )


# -- reading -----------------------------------------------------------------


@dataclass
class CaseFilter:
    """The filters of the case list; all optional."""

    states: Sequence[State] = ()
    category: Category | None = None
    first_responder_id: int | None = None
    handler_department_id: int | None = None
    handler_staff_id: int | None = None
    overdue: bool | None = None
    open_only: bool = False


def list_cases(
    session: Session,
    actor: Actor,
    flt: CaseFilter,
    *,
    now: datetime,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[Case], int]:
    """One page of the cases ``actor`` may see, most urgent first, and the total."""
    query = _visible(select(Case), actor)
    if flt.states:
        query = query.where(Case.state.in_([str(s) for s in flt.states]))
    if flt.open_only:
        query = query.where(Case.state != State.CLOSED)
    if flt.category:
        query = query.where(Case.category == flt.category)
    if flt.first_responder_id:
        query = query.where(Case.first_responder_id == flt.first_responder_id)
    if flt.handler_department_id:
        query = query.where(Case.handler_department_id == flt.handler_department_id)
    if flt.handler_staff_id:
        query = query.where(Case.handler_staff_id == flt.handler_staff_id)
    if flt.overdue is True:
        query = query.where(Case.due_at < now, Case.state.not_in([State.CLOSED, State.MERGED]))
    elif flt.overdue is False:
        query = query.where(or_(Case.due_at.is_(None), Case.due_at >= now))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Case.due_at.is_(None), Case.due_at, Case.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), total


def get_case(session: Session, actor: Actor, number: str) -> Case:
    """The case ``number`` if ``actor`` may see it; raises :class:`NotFound` otherwise."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_view(actor, case):
        raise NotFound(f"no case '{number}'", "case")
    return case


def history(session: Session, actor: Actor, number: str) -> list[CaseEvent]:
    """Every event of the case in order (G7: the owner sees every step)."""
    case = get_case(session, actor, number)
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    )


def mark_seen(session: Session, actor: Actor, case: Case) -> None:
    """Remember that ``actor`` has read ``case`` up to its latest event."""
    seen = session.get(CaseSeen, (actor.id, case.id))
    if seen is None:
        session.add(CaseSeen(staff_id=actor.id, case_id=case.id, seen_seq=case.last_event_seq))
    else:
        seen.seen_seq = case.last_event_seq


def unseen_changes(session: Session, actor: Actor, cases: Sequence[Case]) -> dict[int, int]:
    """For each case, how many events ``actor`` has not read yet."""
    if not cases:
        return {}
    seen = dict(
        session.execute(
            select(CaseSeen.case_id, CaseSeen.seen_seq).where(
                CaseSeen.staff_id == actor.id, CaseSeen.case_id.in_([c.id for c in cases])
            )
        ).all()
    )
    return {c.id: c.last_event_seq - seen.get(c.id, 0) for c in cases}


def overdue_seconds(case: Case, now: datetime) -> float | None:
    """Seconds past the deadline (negative: time left), or None without one."""
    if case.due_at is None:
        return None
    return (now - case.due_at) / timedelta(seconds=1)
