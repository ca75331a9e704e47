"""Service layer: every change to a case goes through here, one transaction each.

A view, a CLI command or a webhook turns its input into a call of
:func:`intake` or :func:`perform`; these check the rules (``hotline.domain.lifecycle``),
write the state, append exactly one event per change (``hotline.services.audit``), set
the next deadline from the time-limit policy, and commit. Errors are
:class:`ServiceError` subclasses carrying an HTTP status and the field at fault;
when one is raised nothing has been written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from hotline.db import UnitSession, run_guarded
from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.phones import InvalidPhoneNumber, normalise
from hotline.domain.taxonomy import (
    Category,
    Channel,
    Disposition,
    FollowUpOutcome,
    Priority,
    Role,
    Stage,
    TriageOutcome,
)
from hotline.models import (
    Appointment,
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
from hotline.services import deadlines
from hotline.services.audit import append_event
from hotline.services.numbering import assign_case_number, placeholder_number

# -- errors ------------------------------------------------------------------


class ServiceError(Exception):
    """A refusal shown to the user; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message, self.field, self.rule = message, field, rule

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body (``hotline.web.api.ErrorSchema``): code, error, message, field, rule."""
        body: dict[str, Any] = {
            "code": self.status,
            "error": type(self).__name__,
            "message": self.message,
        }
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
    """What the service needs of the time-limit policy (``hotline.domain.timelimits``)."""

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

#: Checks staff text as it is stored (G2), called with the session, the case,
#: the event that carries the text, the ``(field, text)`` pairs and who wrote
#: them; whatever it records it adds to the session, so it is written in the
#: same transaction as the text or not at all.
TextChecker = Callable[[Session, Case, CaseEvent, Sequence[tuple[str, str]], int | None], Any]

#: Keys of event data that hold text staff typed; an event's reason is staff text too.
STAFF_TEXT_KEYS: tuple[str, ...] = ("note", "answer", "result_note", "told_caller", "summary")


@dataclass
class Services:
    """Everything the service functions use from outside, injected once at start-up."""

    sessions: Callable[[], Session]
    clock: Callable[[], datetime]
    policy: DeadlinePolicy
    calendar: WorkingDays
    case_prefix: str = "RY"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    phone_region: str = "CN"
    area_code: str = ""
    publish: Publisher | None = None
    #: Sessions for pages and reads; writes go through ``sessions``. In a web
    #: request both hand out the request's one session (``hotline.db.ScopedSessions``).
    readers: Callable[[], Session] | None = None
    #: Called right after an event carrying staff text is appended (None: not checked).
    text_checker: TextChecker | None = None

    def read_session(self) -> Session:
        """A session for reading only (no write lock on SQLite)."""
        return (self.readers or self.sessions)()

    @property
    def rules(self) -> lifecycle.Settings:
        return lifecycle.Settings(
            follow_up_unreachable_attempts=self.policy.follow_up_unreachable_attempts,
            extension_max_working_days=self.policy.extension_max_working_days,
            follow_up_attempt_gap=timedelta(
                minutes=getattr(self.policy, "follow_up_attempt_gap_minutes", 120)
            ),
        )

    def after_commit(self, kind: str, work: Callable[[], Any]) -> None:
        """Run ``work`` (a push, an SMS, a call) once the open unit of work has
        committed, or now when none is open; a failure is logged and counted,
        never raised: the change it follows is saved."""
        current = getattr(self.sessions, "current", None)
        session = current() if current is not None else None
        if isinstance(session, UnitSession):
            session.after_commit(kind, work)
        else:
            run_guarded(kind, work)

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the clock must return timezone-aware times")
        return moment


def staff_texts(event: CaseEvent) -> list[tuple[str, str]]:
    """The ``(field, text)`` pairs of text staff typed that ``event`` carries."""
    data = event.data or {}
    texts = [
        (key, value)
        for key in STAFF_TEXT_KEYS
        if isinstance(value := data.get(key), str) and value.strip()
    ]
    if event.reason:
        texts.append(("reason", event.reason))
    return texts


def _check_text(svc: Services, session: Session, case: Case, event: CaseEvent) -> CaseEvent:
    """Hand the staff text ``event`` carries to ``svc.text_checker``; returns ``event``."""
    if svc.text_checker is not None and (texts := staff_texts(event)):
        svc.text_checker(session, case, event, texts, event.actor_id)
    return event


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
    what was transferred to it (G5), what they handle, and what they took in
    themselves.
    """
    if actor.role in (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        return True
    return (
        case.first_responder_id == actor.id
        or case.handler_staff_id == actor.id
        or (
            actor.department_id is not None
            and actor.department_id in (case.handler_department_id, case.transfer_department_id)
        )
    )


def _visible(query: Any, actor: Actor) -> Any:
    if actor.role in (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        return query
    conditions = [Case.first_responder_id == actor.id, Case.handler_staff_id == actor.id]
    if actor.department_id is not None:
        conditions.append(Case.handler_department_id == actor.department_id)
        # G5: the department a case was transferred (guided) to sees it too.
        conditions.append(Case.transfer_department_id == actor.department_id)
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

#: A caller joins only a case that is still being worked: what they say about a
#: closed, answered, transferred or merged case is a new report (P6: nothing
#: the caller said is dropped into a case nobody works any more).
_NO_JOIN_STATES = frozenset(
    {State.CLOSED, State.MERGED, State.ANSWERED_ON_CALL, State.TRANSFERRED}
)

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
    #: A new report about a case that is closed or answered: the case it repeats.
    repeats_case_number: str = ""
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
        if cmd.outcome in (IntakeOutcome.NO_CASE, IntakeOutcome.JOIN):
            session.add(contact)
        if cmd.outcome == IntakeOutcome.NO_CASE:
            if cmd.category == Category.COMPLAINT:
                raise Invalid(
                    "a complaint always gets a case: hand it to the dispatch center",
                    "outcome",
                    "G6",
                )
            _required_text(cmd.summary, "summary", "P6")
            contact.disposition = Disposition.ANSWERED
            session.flush()
            return IntakeResult(contact.id, None, None, None, None)
        if cmd.outcome == IntakeOutcome.JOIN:
            number = _required_text(cmd.join_case_number, "join_case_number", "P6")
            case = _lock_case(session, number)
            if State(case.state) in _NO_JOIN_STATES:
                raise Invalid(
                    f"case {case.number} is '{case.state}' and takes no more callers; "
                    "register the report as a new case (name this one as the case it repeats)",
                    "join_case_number",
                    "P6",
                )
            contact.case_id = case.id
            contact.disposition = Disposition.JOINED_CASE
            event = append_event(
                session,
                case,
                action="contact",
                from_state=case.state,
                to_state=case.state,
                actor_id=actor.id,
                at=now,
                data={"contact_channel": cmd.channel, "summary": cmd.summary.strip()},
            )
            _check_text(svc, session, case, event)
            case.updated_at = now
            session.flush()
            return IntakeResult(
                contact.id, case.number, State(case.state), case.promised_at, case.due_at
            )

        assert cmd.category is not None and cmd.triage is not None
        if cmd.outcome == IntakeOutcome.TRANSFER and cmd.target_department_id:
            _department(session, cmd.target_department_id, "target_department_id")
        repeats = cmd.repeats_case_number.strip()
        if repeats and session.scalar(select(Case.id).where(Case.number == repeats)) is None:
            raise NotFound(f"no case '{repeats}'", "repeats_case_number")
        case = Case(
            number=placeholder_number(),  # the real one is drawn last, just before the commit
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
        session.flush()  # the case's id, which its events' hashes cover
        session.add(contact)  # written once, with its case, in the flush below
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
                "repeats": repeats or None,
            },
        )
        data = {
            "answer": cmd.answer,
            "target_department_id": cmd.target_department_id,
            "told_caller": cmd.told_caller,
        }
        _transition(
            svc, session, case, actor, _CASE_OUTCOMES[cmd.outcome], "", data, now, new_case=True
        )
        case.promised_at = _promised_time(svc, case, now)
        contact.case_id = case.id
        contact.disposition = {
            IntakeOutcome.DISPATCH: Disposition.CASE_CREATED,
            IntakeOutcome.ANSWER_ON_CALL: Disposition.ANSWERED,
            IntakeOutcome.TRANSFER: Disposition.TRANSFERRED,
        }[cmd.outcome]
        session.flush()
        number = assign_case_number(
            session, case.id, svc.case_prefix, now.astimezone(svc.timezone).date()
        )
        set_committed_value(case, "number", number)
        result = IntakeResult(contact.id, number, State(case.state), case.promised_at, case.due_at)
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


#: An incident (parent case) takes callers while dispatch holds it or crews work it.
_INCIDENT_STATES = lifecycle.DISPATCH_QUEUE | {
    State.ASSIGNED,
    State.ACKNOWLEDGED,
    State.IN_PROGRESS,
    State.ON_SITE,
    State.EXTENSION_REQUESTED,
    State.EXTENSION_APPROVED,
}
#: Once the incident reaches one of these, its callers' cases go to their own follow-up.
_INCIDENT_SETTLED = frozenset({State.AWAITING_FOLLOW_UP, State.CLOSED})


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
        staff = _staff(session, data["staff_id"], "staff_id")
        if Role(staff.role) not in lifecycle.ALLOWED_ROLES[Action.DISPATCH]:
            raise Invalid(
                f"{staff.display_name} ({staff.role}) cannot act on cases and cannot own one",
                "staff_id",
                "G4",
            )
        data["previous_first_responder_id"] = case.first_responder_id
    elif action == Action.MERGE and data.get("parent_case_number"):
        parent = session.scalar(select(Case).where(Case.number == data["parent_case_number"]))
        if parent is None:
            raise NotFound(f"no case '{data['parent_case_number']}'", "parent_case_number")
        if State(parent.state) not in _INCIDENT_STATES:
            raise Invalid(
                f"case {parent.number} is '{parent.state}': only a case still with dispatch "
                "or being worked can take callers as an incident",
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
    *,
    new_case: bool = False,
) -> CaseEvent:
    """Apply one action to a locked case inside the caller's transaction.

    ``new_case``: the case was created in this transaction, so it has no stage
    clocks to read back yet.

    Autoflush is off while the case changes, so the row is written once and its
    version moves by exactly one per action.
    """
    with session.no_autoflush:
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
            facts = facts_of(case)
            if action == Action.FOLLOW_UP_UNREACHABLE:
                facts = replace(facts, last_follow_up_attempt_at=_last_unreachable(session, case))
            outcome = lifecycle.apply(facts, request, svc.rules)
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
        _set_deadline(svc, session, case, outcome, action, now, new_case=new_case)
        event_data = {k: v for k, v in data.items() if k != "parent_case_number"}
        if case.due_at is not None:
            event_data["due_at"] = case.due_at
        event = append_event(
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
        return _check_text(svc, session, case, event)


def _last_unreachable(session: Session, case: Case) -> datetime | None:
    """When the case's last "unreachable" follow-up attempt was recorded (P7)."""
    return session.scalar(
        select(func.max(FollowUp.at)).where(
            FollowUp.case_id == case.id, FollowUp.outcome == FollowUpOutcome.UNREACHABLE
        )
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
    svc: Services,
    session: Session,
    case: Case,
    outcome: lifecycle.Outcome,
    action: Action,
    now: datetime,
    *,
    new_case: bool = False,
) -> None:
    """Start, keep or end the case's stage clocks for this move (F11: every open case
    has a deadline); ``hotline.services.deadlines`` keeps one row per stage and sets ``due_at``."""
    policy = cast(deadlines.StagePolicy, svc.policy)
    deadlines.follow_transition(
        session, policy, case, outcome, action, now, rows=[] if new_case else None
    )


def _promised_time(svc: Services, case: Case, now: datetime) -> datetime | None:
    """F11: the time limit the caller is told: when the matter will be resolved."""
    return deadlines.promised_time(cast(deadlines.StagePolicy, svc.policy), case, now)


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
            before = case.state
            _transition(svc, session, case, actor, action, reason, data or {}, now)
            if case.state != before and State(case.state) in _INCIDENT_SETTLED:
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
    """Callers merged into an incident move to their own follow-up once it is settled
    (done and confirmed, or closed by any path): no merged case is left behind."""
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
    """Tell browsers about the change once it is committed; a failed push never
    turns the saved change into an error."""
    publish = svc.publish
    if publish is None:
        return
    payload = {
        "case": case.number,
        "action": str(action),
        "state": str(case.state),
        "category": str(case.category),
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "handler_department_id": case.handler_department_id,
        "first_responder_id": case.first_responder_id,
        "version": case.version,
    }
    svc.after_commit("live update", lambda: publish(payload))


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


def mark_seen(session: Session, actor: Actor, case: Case, seq: int | None = None) -> None:
    """Remember that ``actor`` has read ``case`` up to event ``seq`` (default: its latest).

    ``seq`` is what a page showed: it never counts past the case's latest
    event, and what was read stays read (an older page shown again changes nothing).
    """
    upto = case.last_event_seq if seq is None else min(seq, case.last_event_seq)
    seen = session.get(CaseSeen, (actor.id, case.id))
    if seen is None:
        session.add(CaseSeen(staff_id=actor.id, case_id=case.id, seen_seq=upto))
    elif upto > seen.seen_seq:
        seen.seen_seq = upto


def unseen_changes(session: Session, actor: Actor, cases: Sequence[Case]) -> dict[int, int]:
    """For each case, how many changes by others ``actor`` has not read yet."""
    if not cases:
        return {}
    seen = (
        select(CaseSeen.case_id, CaseSeen.seen_seq).where(CaseSeen.staff_id == actor.id).subquery()
    )
    rows = session.execute(
        select(CaseEvent.case_id, func.count())
        .outerjoin(seen, seen.c.case_id == CaseEvent.case_id)
        .where(
            CaseEvent.case_id.in_([c.id for c in cases]),
            CaseEvent.seq > func.coalesce(seen.c.seen_seq, 0),
            or_(CaseEvent.actor_id.is_(None), CaseEvent.actor_id != actor.id),
        )
        .group_by(CaseEvent.case_id)
    ).all()
    counts = {case.id: 0 for case in cases}
    counts.update({case_id: count for case_id, count in rows})
    return counts


def overdue_seconds(case: Case, now: datetime) -> float | None:
    """Seconds past the deadline (negative: time left), or None without one."""
    if case.due_at is None:
        return None
    return (now - case.due_at) / timedelta(seconds=1)


# -- appointments (F1) and field milestones (F12) ------------------------------------


class AppointmentStatus(StrEnum):
    """Where a visit booked with the customer stands (预约状态, F1)."""

    BOOKED = "booked"  # 已预约
    RESCHEDULED = "rescheduled"  # 已改约(另有新预约)
    NO_SHOW = "no_show"  # 用户未在场
    CANCELLED = "cancelled"  # 已取消


#: Longest visit window and how far ahead a visit may be booked (product defaults:
#: a half-day window; a month keeps a forgotten appointment from stopping a clock for long).
MAX_APPOINTMENT_WINDOW = timedelta(hours=12)
MAX_APPOINTMENT_AHEAD = timedelta(days=30)

_MILESTONE_ROLES = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.CREW, Role.SUPERVISOR})


def _lock_case_for(
    session: Session, actor: Actor, case_number: str, roles: frozenset[Role]
) -> Case:
    """The open case ``case_number``, locked, if ``actor`` may act on it outside the lifecycle.

    Crews act only on work their department (or they) handle, as in the
    lifecycle. Raises :class:`NotFound`, :class:`Forbidden` or :class:`Conflict`
    (closed or merged case).
    """
    case = _lock_case(session, case_number)
    if not can_view(actor, case):
        raise NotFound(f"no case '{case_number}'", "case")
    if actor.role not in roles:
        raise Forbidden(f"role '{actor.role}' may not do this")
    if actor.role == Role.CREW and not (
        case.handler_staff_id == actor.id
        or (actor.department_id is not None and case.handler_department_id == actor.department_id)
    ):
        raise Forbidden("this case is not assigned to your department")
    if case.state in (State.CLOSED, State.MERGED):
        raise Conflict(f"case {case.number} is '{case.state}'", "case")
    return case


def _check_window(svc: Services, starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Invalid(f"'{name}' needs a time zone", name)
    if starts_at <= now:
        raise Invalid("an appointment is booked for a time still ahead", "starts_at", "F1")
    if starts_at - now > MAX_APPOINTMENT_AHEAD:
        raise Invalid(
            f"an appointment is booked at most {MAX_APPOINTMENT_AHEAD.days} days ahead",
            "starts_at",
            "F1",
        )
    if not timedelta(0) < ends_at - starts_at <= MAX_APPOINTMENT_WINDOW:
        hours = MAX_APPOINTMENT_WINDOW / timedelta(hours=1)
        raise Invalid(
            f"the visit window ends after it starts and lasts at most {hours:g} hours",
            "ends_at",
            "F1",
        )


def _booked(session: Session, case: Case, appointment_id: Any) -> Appointment:
    appointment = (
        session.get(Appointment, appointment_id) if isinstance(appointment_id, int) else None
    )
    if appointment is None or appointment.case_id != case.id:
        raise NotFound(f"no appointment {appointment_id!r} on case {case.number}", "appointment_id")
    if appointment.status != AppointmentStatus.BOOKED:
        raise Conflict(
            f"appointment {appointment.id} is already '{appointment.status}'", "appointment_id"
        )
    return appointment


def _clock_data(
    svc: Services, session: Session, case: Case, now: datetime, until: datetime | None
) -> dict[str, Any]:
    """Pause the case's clocks until ``until`` (None: restart them now); what to record."""
    policy = cast(deadlines.StagePolicy, svc.policy)
    if until is not None:
        rows = deadlines.pause(session, policy, case, now, until)
        return {
            "clock_paused_until": until if rows else None,
            "stages_paused": [row.stage for row in rows],
        }
    resumed = deadlines.resume(session, policy, case, now)
    return {
        "clock_paused_until": None,
        "stages_resumed": [row.stage for row, _seconds in resumed],
        "paused_seconds": {row.stage: seconds for row, seconds in resumed},
    }


def _record_milestone(
    svc: Services,
    session: Session,
    case: Case,
    actor: Actor,
    action: str,
    now: datetime,
    data: Mapping[str, Any],
    reason: str = "",
) -> None:
    """Append an event that records a step outside the lifecycle (the state stays)."""
    event = append_event(
        session,
        case,
        action=action,
        from_state=case.state,
        to_state=case.state,
        actor_id=actor.id,
        at=now,
        reason=reason,
        data=data,
    )
    _check_text(svc, session, case, event)
    case.updated_at = now


def book_appointment(
    svc: Services,
    actor: Actor,
    case_number: str,
    *,
    starts_at: datetime,
    ends_at: datetime,
    requested_by_customer: bool,
    note: str = "",
) -> Appointment:
    """F1: book a visit with the customer (预约上门): time, work and place agreed.

    When the customer chose the time (``requested_by_customer``), the case's
    running clocks pause from now until the visit starts, on record; the due
    times move on by the wait when they restart. A time the utility chose
    stops nothing. Raises :class:`Invalid` naming the field (a time without a
    zone, in the past, too far ahead, a window that ends before it starts),
    :class:`Conflict` when a booked visit is still ahead (reschedule it
    instead), :class:`Forbidden` and :class:`NotFound` as for actions.
    """
    now = svc.now()
    _check_window(svc, starts_at, ends_at, now)
    with svc.sessions() as session, session.begin():
        case = _lock_case_for(session, actor, case_number, _MILESTONE_ROLES)
        ahead = session.scalar(
            select(Appointment).where(
                Appointment.case_id == case.id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.starts_at > now,
            )
        )
        if ahead is not None:
            raise Conflict(
                f"appointment {ahead.id} is booked and still ahead; reschedule it instead",
                "appointment_id",
            )
        appointment = Appointment(
            case_id=case.id,
            starts_at=starts_at,
            ends_at=ends_at,
            status=AppointmentStatus.BOOKED,
            note=note.strip(),
            created_by_id=actor.id,
            created_at=now,
        )
        session.add(appointment)
        session.flush()  # the appointment's id for the record; the case row is not touched yet
        data = {
            "appointment_id": appointment.id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "requested_by_customer": requested_by_customer,
            "note": appointment.note,
            **_clock_data(svc, session, case, now, starts_at if requested_by_customer else None),
        }
        _record_milestone(svc, session, case, actor, "appointment_booked", now, data)
    _publish(svc, case, "appointment_booked")
    return appointment


def reschedule_appointment(
    svc: Services,
    actor: Actor,
    case_number: str,
    appointment_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    requested_by_customer: bool,
    reason: str,
) -> Appointment:
    """F1: move a booked visit (改约), explaining why; returns the new appointment.

    The old appointment is kept as ``rescheduled``. When the customer asked
    for the new time, the clocks stay paused (or pause again) until it
    starts; when the utility moved it, the delay is the utility's and the
    clocks run again from now. Raises :class:`Invalid` (``reason`` missing, or
    the new window as for :func:`book_appointment`), :class:`NotFound` or
    :class:`Conflict` for an appointment that is not booked.
    """
    if not (reason or "").strip():
        raise Invalid("say why the visit moves", "reason", "F1")
    now = svc.now()
    _check_window(svc, starts_at, ends_at, now)
    with svc.sessions() as session, session.begin():
        case = _lock_case_for(session, actor, case_number, _MILESTONE_ROLES)
        old = _booked(session, case, appointment_id)
        old.status = AppointmentStatus.RESCHEDULED
        new = Appointment(
            case_id=case.id,
            starts_at=starts_at,
            ends_at=ends_at,
            status=AppointmentStatus.BOOKED,
            note=old.note,
            created_by_id=actor.id,
            created_at=now,
        )
        session.add(new)
        session.flush()
        data = {
            "appointment_id": new.id,
            "previous_appointment_id": old.id,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "requested_by_customer": requested_by_customer,
            **_clock_data(svc, session, case, now, starts_at if requested_by_customer else None),
        }
        _record_milestone(
            svc, session, case, actor, "appointment_rescheduled", now, data, reason.strip()
        )
    _publish(svc, case, "appointment_rescheduled")
    return new


def record_no_show(
    svc: Services, actor: Actor, case_number: str, appointment_id: int, *, told_customer: str
) -> Appointment:
    """F1: the customer was not there at the booked time (用户未在场): say how they were told.

    The clocks run again from the visit's start. Raises :class:`Invalid`
    (``told_customer`` missing, or the visit has not started yet),
    :class:`NotFound` or :class:`Conflict` for an appointment that is not booked.
    """
    if not (told_customer or "").strip():
        raise Invalid("record how the absent customer was told", "told_customer", "F1")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        case = _lock_case_for(session, actor, case_number, _MILESTONE_ROLES)
        appointment = _booked(session, case, appointment_id)
        if appointment.starts_at > now:
            raise Invalid("the visit has not started yet", "appointment_id", "F1")
        appointment.status = AppointmentStatus.NO_SHOW
        session.flush()
        data = {
            "appointment_id": appointment.id,
            "told_customer": told_customer.strip(),
            **_clock_data(svc, session, case, now, None),
        }
        _record_milestone(svc, session, case, actor, "appointment_no_show", now, data)
    _publish(svc, case, "appointment_no_show")
    return appointment


def cancel_appointment(
    svc: Services, actor: Actor, case_number: str, appointment_id: int, *, reason: str
) -> Appointment:
    """Cancel a booked visit, saying why; the clocks run again from now.

    Raises :class:`Invalid` (``reason`` missing), :class:`NotFound` or
    :class:`Conflict` for an appointment that is not booked.
    """
    if not (reason or "").strip():
        raise Invalid("say why the visit is cancelled", "reason", "F1")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        case = _lock_case_for(session, actor, case_number, _MILESTONE_ROLES)
        appointment = _booked(session, case, appointment_id)
        appointment.status = AppointmentStatus.CANCELLED
        session.flush()
        data = {"appointment_id": appointment.id, **_clock_data(svc, session, case, now, None)}
        _record_milestone(
            svc, session, case, actor, "appointment_cancelled", now, data, reason.strip()
        )
    _publish(svc, case, "appointment_cancelled")
    return appointment


def appointments(session: Session, actor: Actor, case_number: str) -> list[Appointment]:
    """The case's appointments, oldest first, kept whatever became of them (F1)."""
    case = get_case(session, actor, case_number)
    return list(
        session.scalars(
            select(Appointment).where(Appointment.case_id == case.id).order_by(Appointment.id)
        )
    )


def record_shut_off(
    svc: Services,
    actor: Actor,
    case_number: str,
    *,
    pipe_size_dn: int | None = None,
    note: str = "",
) -> Case:
    """F12: the crew reports the leak's water shut off (关阀止水); the repair clock starts.

    ``pipe_size_dn`` (the pipe size seen on site) picks the repair limit's
    pipe-size band. Raises :class:`Conflict` when the case is not waiting for
    a shut-off, :class:`Invalid` for a pipe size outside 15-3000,
    :class:`Forbidden` and :class:`NotFound` as for actions.
    """
    if pipe_size_dn is not None and (
        isinstance(pipe_size_dn, bool)
        or not isinstance(pipe_size_dn, int)
        or not 15 <= pipe_size_dn <= 3000
    ):
        raise Invalid("'pipe_size_dn' must be between 15 and 3000", "pipe_size_dn")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        case = _lock_case_for(
            session, actor, case_number, frozenset({Role.CREW, Role.DISPATCHER, Role.SUPERVISOR})
        )
        if pipe_size_dn is not None:
            case.pipe_size_dn = pipe_size_dn
        policy = cast(deadlines.StagePolicy, svc.policy)
        try:
            ended, started = deadlines.advance_stage(
                session, policy, case, Stage.SHUT_OFF, "water_shut_off", now
            )
        except LookupError:
            raise Conflict(
                f"case {case.number} is not waiting for the water to be shut off", "stage"
            ) from None
        _record_milestone(
            svc,
            session,
            case,
            actor,
            "water_shut_off",
            now,
            {
                "pipe_size_dn": pipe_size_dn,
                "note": note.strip(),
                "shut_off_met": ended.ended_at is not None and ended.ended_at <= ended.due_at,
                "next_stage": started.stage if started else None,
                "due_at": case.due_at,
            },
        )
    _publish(svc, case, "water_shut_off")
    return case
