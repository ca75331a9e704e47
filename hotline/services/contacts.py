"""Intake: :func:`intake` records a contact and, where its outcome needs one, opens its case.

The field rules are ``hotline.domain.intake``. The contact's first responder
becomes the case's (G4); a caller may instead join a case still being
worked (P6). The case number is drawn last, just before the commit
(``hotline.services.numbering``).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hotline.domain import lifecycle
from hotline.domain.address_areas import AreaMap, UnknownArea
from hotline.domain.errors import Forbidden, Invalid, NotFound
from hotline.domain.intake import (
    CASE_OUTCOMES,
    NO_JOIN_STATES,
    IntakeCommand,
    IntakeOutcome,
    IntakeResult,
    check_intake,
    required_text,
)
from hotline.domain.lifecycle import Action, State
from hotline.domain.phones import InvalidPhoneNumber, normalise
from hotline.domain.taxonomy import Category, Disposition
from hotline.models import Case, Contact, Customer, CustomerPhone
from hotline.services import deadlines
from hotline.services.access import Actor, find_department, lock_case
from hotline.services.actions import transition
from hotline.services.audit import append_event
from hotline.services.context import Services, check_text, publish_change
from hotline.services.customers import shipped_areas
from hotline.services.numbering import assign_case_number, placeholder_number


def _phone(svc: Services, raw: str, name: str) -> str:
    try:
        return normalise(raw, region=svc.phone_region, default_area_code=svc.area_code)
    except InvalidPhoneNumber as exc:
        raise Invalid.from_error(exc, name) from None


_customers = Customer.__table__
_customer_phones = CustomerPhone.__table__
#: Every intake with a caller's number runs one of these: built once, plain columns.
_CUSTOMER_BY_ACCOUNT = select(_customers.c.id).where(
    _customers.c.account_number == bindparam("account")
)
_CUSTOMERS_BY_PHONE = select(_customer_phones.c.customer_id).where(
    _customer_phones.c.number == bindparam("number")
)


def _match_customer(session: Session, cmd: IntakeCommand, number: str | None) -> int | None:
    """The customer the account names, else the one customer the caller's number
    belongs to (none when it belongs to several)."""
    if cmd.customer_account:
        found = session.connection().scalar(
            _CUSTOMER_BY_ACCOUNT, {"account": cmd.customer_account.strip()}
        )
        if found is None:
            raise NotFound(
                "no customer with account '%(account)s'",
                "customer_account",
                account=cmd.customer_account,
            )
        return int(found)
    if number:
        ids = set(session.connection().scalars(_CUSTOMERS_BY_PHONE, {"number": number}))
        if len(ids) == 1:
            return ids.pop()
    return None


def areas_of(svc: Services | None) -> AreaMap:
    """The service areas the services were given, else the shipped ``config/areas.toml``."""
    areas = getattr(svc, "areas", None)
    return areas if isinstance(areas, AreaMap) else shipped_areas()


def _place(svc: Services, cmd: IntakeCommand) -> tuple[str, str]:
    """The case's area code and its zone: the area the intake names, else the
    one the address lies in; ``("", "")`` when neither places it. An area the
    file does not list is refused naming ``area``."""
    areas = areas_of(svc)
    try:
        area = areas.named(cmd.area) if cmd.area.strip() else areas.for_address(cmd.address)
    except UnknownArea as exc:
        raise Invalid.from_error(exc, "area") from None
    if area is None:
        return "", ""
    return area.code, str(area.zone or "")


def _check_grade(svc: Services, cmd: IntakeCommand) -> None:
    """F12: a grade only for a category the policy grades (``[grades]``)."""
    grades = getattr(svc.policy, "grades", None)
    if cmd.grade is None or grades is None or cmd.category is None:
        return
    if not grades.grades(cmd.category):
        graded = ", ".join(sorted(str(c) for c in grades.categories)) or "none"
        raise Invalid(
            "category '%(category)s' has no severity grade (graded: %(graded)s)",
            "grade",
            "F12",
            category=cmd.category,
            graded=graded,
        )


def _promised_time(svc: Services, case: Case, now: datetime) -> datetime | None:
    """F11: the time limit the caller is told: when the matter will be resolved."""
    return deadlines.promised_time(cast(deadlines.StagePolicy, svc.policy), case, now)


def intake(svc: Services, actor: Actor, cmd: IntakeCommand) -> IntakeResult:
    """Record a contact and, where the outcome needs one, open its case.

    The actor becomes the case's first responder (G4). Raises :class:`Invalid`
    naming the field, :class:`NotFound` for an unknown account, department or
    case, :class:`Forbidden` when the role may not take contacts.
    """
    if actor.role not in lifecycle.ALLOWED_ROLES[Action.DISPATCH]:
        raise Forbidden("role '%(role)s' does not take contacts", role=actor.role)
    now = svc.now()
    # A withheld number still gets a record; a case needs a contact phone anyway.
    caller = _phone(svc, cmd.caller_number, "caller_number") if cmd.caller_number.strip() else None
    if cmd.outcome in CASE_OUTCOMES:
        check_intake(cmd)
        _check_grade(svc, cmd)
        area, zone = _place(svc, cmd)
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
            required_text(cmd.summary, "summary", "P6")
            contact.disposition = Disposition.ANSWERED
            session.flush()
            return IntakeResult(contact.id, None, None, None, None)
        if cmd.outcome == IntakeOutcome.JOIN:
            number = required_text(cmd.join_case_number, "join_case_number", "P6")
            case = lock_case(session, number)
            if State(case.state) in NO_JOIN_STATES:
                raise Invalid(
                    "case %(number)s is '%(state)s' and takes no more callers; "
                    "register the report as a new case (name this one as the case it repeats)",
                    "join_case_number",
                    "P6",
                    number=case.number,
                    state=State(case.state),
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
            check_text(svc, session, case, event)
            case.updated_at = now
            session.flush()
            return IntakeResult(
                contact.id, case.number, State(case.state), case.promised_at, case.due_at
            )

        assert cmd.category is not None and cmd.triage is not None
        if cmd.outcome == IntakeOutcome.TRANSFER and cmd.target_department_id:
            find_department(session, cmd.target_department_id, "target_department_id")
        repeats = cmd.repeats_case_number.strip()
        if repeats and session.scalar(select(Case.id).where(Case.number == repeats)) is None:
            raise NotFound("no case '%(number)s'", "repeats_case_number", number=repeats)
        case = Case(
            number=placeholder_number(),  # the real one is drawn last, just before the commit
            category=cmd.category,
            priority=cmd.priority,
            channel=cmd.channel,
            problem=cmd.problem.strip(),
            need=cmd.need.strip(),
            address=cmd.address.strip(),
            area=area,
            zone=zone,
            grade=cmd.grade,
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
        registered = append_event(
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
                **({"area": area} if area else {}),
                **({"zone": zone} if zone else {}),
                **({"grade": cmd.grade} if cmd.grade is not None else {}),
            },
        )
        data = {
            "answer": cmd.answer,
            "target_department_id": cmd.target_department_id,
            "told_caller": cmd.told_caller,
        }
        if cmd.outcome == IntakeOutcome.JOIN_INCIDENT:
            # The caller's own case (own number, own follow-up) joins the incident.
            data["parent_case_number"] = required_text(
                cmd.join_case_number, "join_case_number", "P6"
            )
        transition(
            svc, session, case, actor, CASE_OUTCOMES[cmd.outcome], "", data, now, new_case=True
        )
        if svc.text_checker is not None and cmd.summary.strip():
            # G2: the contact's summary (a field report's problem) is kept on the contact,
            # not on an event, so it is checked here, on the case's first event.
            svc.text_checker(
                session, case, registered, [("summary", cmd.summary.strip())], actor.id
            )
        case.promised_at = _promised_time(svc, case, now)
        contact.case_id = case.id
        contact.disposition = {
            IntakeOutcome.DISPATCH: Disposition.CASE_CREATED,
            IntakeOutcome.ANSWER_ON_CALL: Disposition.ANSWERED,
            IntakeOutcome.TRANSFER: Disposition.TRANSFERRED,
            IntakeOutcome.JOIN_INCIDENT: Disposition.JOINED_CASE,
        }[cmd.outcome]
        session.flush()
        number = assign_case_number(
            session, case.id, svc.case_prefix, now.astimezone(svc.timezone).date()
        )
        set_committed_value(case, "number", number)
        result = IntakeResult(contact.id, number, State(case.state), case.promised_at, case.due_at)
    publish_change(svc, case, "register")
    return result
