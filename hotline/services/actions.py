"""Actions on a case: :func:`perform` applies one lifecycle move in its own transaction.

:func:`transition` is the step every move shares (intake's first move too):
check the request against the lifecycle (``hotline.domain.lifecycle``), write
the new state, record a follow-up (P7), move the stage clocks
(``hotline.services.deadlines``) and append exactly one event
(``hotline.services.audit``). Callers merged into an incident move on with it
once it is settled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from hotline.domain import lifecycle
from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, FollowUpOutcome, Role
from hotline.models import Case, CaseEvent, Department, FollowUp, Staff
from hotline.services import deadlines, promises, site_checks
from hotline.services.access import Actor, can_view, find_department, lock_case
from hotline.services.audit import append_event
from hotline.services.context import Services, check_text, publish_change

#: An incident (parent case) takes callers while dispatch holds it or crews work it.
_INCIDENT_STATES = lifecycle.DISPATCH_QUEUE | {
    State.ASSIGNED,
    State.ACCEPTED,
    State.WORKER_ASSIGNED,
    State.ACKNOWLEDGED,
    State.IN_PROGRESS,
    State.ON_SITE,
    State.EXTENSION_REQUESTED,
    State.EXTENSION_APPROVED,
}
#: Once the incident reaches one of these, its callers' cases go to their own follow-up.
_INCIDENT_SETTLED = frozenset({State.AWAITING_FOLLOW_UP, State.CLOSED})


def _staff(session: Session, staff_id: Any, name: str) -> Staff:
    staff = session.get(Staff, staff_id) if isinstance(staff_id, int) else None
    if staff is None or not staff.active:
        raise NotFound("no active staff member with id %(staff_id)r", name, staff_id=staff_id)
    return staff


def _worker(session: Session, staff_id: Any, department: Department) -> Staff:
    """The active crew member ``staff_id`` of ``department``, who can take a case (派工)."""
    staff = _staff(session, staff_id, "staff_id")
    if staff.department_id != department.id:
        raise Invalid(
            "%(staff)s is not in %(department)s",
            "staff_id",
            "G7",
            staff=staff.display_name,
            department=department.name_zh,
        )
    if Role(staff.role) != Role.CREW:
        raise Invalid(
            "%(staff)s (%(role)s) does not take field work; name a crew member",
            "staff_id",
            "G7",
            staff=staff.display_name,
            role=Role(staff.role),
        )
    return staff


_DISPATCH_CENTER = select(Department.__table__.c.id).where(
    Department.__table__.c.is_dispatch_center.is_(True)
)


def _dispatch_center_id(session: Session) -> int | None:
    """The dispatch center's id (one column read, no row object)."""
    return session.connection().scalar(_DISPATCH_CENTER)


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
    if action in (Action.ASSIGN, Action.ASSIGN_DIRECT) and data.get("department_id") is not None:
        department = find_department(session, data["department_id"], "department_id")
        if action == Action.ASSIGN_DIRECT and data.get("staff_id") is not None:
            _worker(session, data["staff_id"], department)
    elif action == Action.ASSIGN_WORKER and data.get("staff_id") is not None:
        department = case.handler_department
        if department is not None:
            _worker(session, data["staff_id"], department)
    elif action == Action.TRANSFER and data.get("target_department_id") is not None:
        find_department(session, data["target_department_id"], "target_department_id")
    elif action == Action.REASSIGN_FIRST_RESPONDER and data.get("staff_id") is not None:
        staff = _staff(session, data["staff_id"], "staff_id")
        if Role(staff.role) not in lifecycle.ALLOWED_ROLES[Action.DISPATCH]:
            raise Invalid(
                "%(staff)s (%(role)s) cannot act on cases and cannot own one",
                "staff_id",
                "G4",
                staff=staff.display_name,
                role=Role(staff.role),
            )
        data["previous_first_responder_id"] = case.first_responder_id
    elif action in (Action.MERGE, Action.JOIN_INCIDENT) and data.get("parent_case_number"):
        query = select(Case).where(Case.number == data["parent_case_number"])
        if action == Action.JOIN_INCIDENT:
            # The caller's case is new, so nobody else holds it: lock the incident
            # too, so it cannot settle while this caller joins and leave them behind.
            query = query.with_for_update()
        parent = session.scalar(query)
        if parent is None:
            raise NotFound(
                "no case '%(number)s'", "parent_case_number", number=data["parent_case_number"]
            )
        if State(parent.state) not in _INCIDENT_STATES:
            raise Invalid(
                "case %(number)s is '%(state)s': only a case still with dispatch "
                "or being worked can take callers as an incident",
                "parent_case_number",
                number=parent.number,
                state=State(parent.state),
            )
        data["parent_case_id"] = parent.id


def transition(
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
        before = promises.Before.of(case)  # what the caller heard, before this move (G7)
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
            elif action == Action.ASSIGN_DIRECT:
                facts = replace(facts, dispatch_center_id=_dispatch_center_id(session))
            outcome = lifecycle.apply(facts, request, svc.rules)
        except lifecycle.NotPermitted as exc:
            raise Forbidden.from_error(exc) from None
        except lifecycle.IllegalTransition as exc:
            raise Conflict.from_error(exc, "action") from None
        except lifecycle.GuardRefused as exc:
            raise Invalid.from_error(exc, exc.field, exc.rule) from None

        changes = dict(outcome.changes)
        extra_days = changes.pop("extra_working_days", None)
        for name, value in changes.items():
            setattr(case, name, value)
        if extra_days is not None:
            case.extra_working_days = extra_days
        case.state = outcome.target
        case.updated_at = now
        if outcome.target in lifecycle.DISPATCH_QUEUE:
            case.handler_department_id = _dispatch_center_id(session)
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
        if action == Action.APPROVE_EXTENSION:
            # G7: the caller's promised time is stale; the first responder tells them.
            stale = promises.note_stale(
                svc, session, case, promises.PromiseCause.EXTENSION_APPROVED, before=before, now=now
            )
            if stale is not None:
                event_data["caller_to_be_told"] = stale.new_promised_at
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
        site_checks.open_if_needed(session, case, action, now)  # F10
        if svc.case_moved is not None and outcome.target != outcome.source:
            svc.case_moved(session, case, outcome.source, now)  # e.g. the follow-up's task (P7)
        return check_text(svc, session, case, event)


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
            raise Invalid("'%(name)s' must be a rating from 1 to 5", name, "P7", name=name)
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
        raise Invalid("unknown action '%(action)s'", "action", action=action) from None
    now = svc.now()
    children: list[Case] = []
    try:
        with svc.sessions() as session, session.begin():
            case = lock_case(session, case_number)
            if not can_view(actor, case):
                raise NotFound("no case '%(number)s'", "case", number=case_number)
            if case.version != expected_version:
                raise Conflict(
                    "case %(number)s was changed by someone else "
                    "(version %(version)s, you had %(expected)s); reload it",
                    "version",
                    number=case.number,
                    version=case.version,
                    expected=expected_version,
                )
            before = case.state
            transition(svc, session, case, actor, action, reason, data or {}, now)
            if case.state != before and State(case.state) in _INCIDENT_SETTLED:
                children = _resolve_children(svc, session, case, actor, now)
            session.flush()
    except StaleDataError:
        raise Conflict(
            "case %(number)s was changed by someone else; reload it", "version", number=case_number
        ) from None
    except IntegrityError:
        raise Conflict(
            "case %(number)s was changed by someone else; reload it", "version", number=case_number
        ) from None
    publish_change(svc, case, action)
    for child in children:
        publish_change(svc, child, Action.INCIDENT_RESOLVED)
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
        transition(
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
