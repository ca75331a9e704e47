"""Field milestones: steps recorded on a case outside the lifecycle, its state unchanged.

:func:`lock_case_for` finds and locks an open case the actor may act on this
way; :func:`record_milestone` appends the event. :func:`record_shut_off` is the
leak's water shut off (关阀止水, F12), which starts the repair clock; the
appointments booked with the customer (F1) are ``hotline.services.bookings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy.orm import Session

from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role, Stage
from hotline.models import Case
from hotline.services import deadlines
from hotline.services.access import Actor, can_view, lock_case
from hotline.services.audit import append_event
from hotline.services.context import Services, check_text, publish_change

#: Who may book visits with the customer and record field milestones.
MILESTONE_ROLES = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.CREW, Role.SUPERVISOR})


def lock_case_for(session: Session, actor: Actor, case_number: str, roles: frozenset[Role]) -> Case:
    """The open case ``case_number``, locked, if ``actor`` may act on it outside the lifecycle.

    Crews act only on work their department (or they) handle, as in the
    lifecycle. Raises :class:`NotFound`, :class:`Forbidden` or :class:`Conflict`
    (closed or merged case).
    """
    case = lock_case(session, case_number)
    if not can_view(actor, case):
        raise NotFound("no case '%(number)s'", "case", number=case_number)
    if actor.role not in roles:
        raise Forbidden("role '%(role)s' may not do this", role=actor.role)
    if actor.role == Role.CREW and not (
        case.handler_staff_id == actor.id
        or (actor.department_id is not None and case.handler_department_id == actor.department_id)
    ):
        raise Forbidden("this case is not assigned to your department")
    if case.state in (State.CLOSED, State.MERGED):
        raise Conflict(
            "case %(number)s is '%(state)s'", "case", number=case.number, state=State(case.state)
        )
    return case


def record_milestone(
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
    check_text(svc, session, case, event)
    case.updated_at = now


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
        case = lock_case_for(
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
                "case %(number)s is not waiting for the water to be shut off",
                "stage",
                number=case.number,
            ) from None
        record_milestone(
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
    publish_change(svc, case, "water_shut_off")
    return case
