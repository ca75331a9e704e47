"""Bookings: visits agreed with the customer (预约上门, F1), booked, moved, missed or cancelled.

A time the customer chose pauses the case's running clocks until the visit
starts, on record (``hotline.services.deadlines``); the statuses and the
window rules are ``hotline.domain.appointments``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain.appointments import AppointmentStatus, check_window
from hotline.domain.errors import Conflict, Invalid, NotFound
from hotline.models import Appointment, Case
from hotline.services import deadlines, promises
from hotline.services.access import Actor
from hotline.services.context import Services, publish_change
from hotline.services.milestones import MILESTONE_ROLES, lock_case_for, record_milestone
from hotline.services.queries import get_case


def _booked(session: Session, case: Case, appointment_id: Any) -> Appointment:
    appointment = (
        session.get(Appointment, appointment_id) if isinstance(appointment_id, int) else None
    )
    if appointment is None or appointment.case_id != case.id:
        raise NotFound(
            "no appointment %(appointment_id)r on case %(number)s",
            "appointment_id",
            appointment_id=appointment_id,
            number=case.number,
        )
    if appointment.status != AppointmentStatus.BOOKED:
        raise Conflict(
            "appointment %(appointment_id)s is already '%(status)s'",
            "appointment_id",
            appointment_id=appointment.id,
            status=AppointmentStatus(appointment.status),
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
    check_window(starts_at, ends_at, now)
    with svc.sessions() as session, session.begin():
        case = lock_case_for(session, actor, case_number, MILESTONE_ROLES)
        ahead = session.scalar(
            select(Appointment).where(
                Appointment.case_id == case.id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.starts_at > now,
            )
        )
        if ahead is not None:
            raise Conflict(
                "appointment %(appointment_id)s is booked and still ahead; reschedule it instead",
                "appointment_id",
                appointment_id=ahead.id,
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
        record_milestone(svc, session, case, actor, "appointment_booked", now, data)
    publish_change(svc, case, "appointment_booked")
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
    check_window(starts_at, ends_at, now)
    with svc.sessions() as session, session.begin():
        case = lock_case_for(session, actor, case_number, MILESTONE_ROLES)
        before = promises.Before.of(case)  # what the caller heard, before the visit moves (G7)
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
        # G7: the caller's promised time is stale; the first responder tells them.
        stale = promises.note_stale(
            svc,
            session,
            case,
            promises.PromiseCause.APPOINTMENT_RESCHEDULED,
            before=before,
            now=now,
            visit_starts_at=starts_at,
        )
        if stale is not None:
            data["caller_to_be_told"] = stale.new_promised_at
        record_milestone(
            svc, session, case, actor, "appointment_rescheduled", now, data, reason.strip()
        )
    publish_change(svc, case, "appointment_rescheduled")
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
        case = lock_case_for(session, actor, case_number, MILESTONE_ROLES)
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
        record_milestone(svc, session, case, actor, "appointment_no_show", now, data)
    publish_change(svc, case, "appointment_no_show")
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
        case = lock_case_for(session, actor, case_number, MILESTONE_ROLES)
        appointment = _booked(session, case, appointment_id)
        appointment.status = AppointmentStatus.CANCELLED
        session.flush()
        data = {"appointment_id": appointment.id, **_clock_data(svc, session, case, now, None)}
        record_milestone(
            svc, session, case, actor, "appointment_cancelled", now, data, reason.strip()
        )
    publish_change(svc, case, "appointment_cancelled")
    return appointment


def appointments(session: Session, actor: Actor, case_number: str) -> list[Appointment]:
    """The case's appointments, oldest first, kept whatever became of them (F1)."""
    case = get_case(session, actor, case_number)
    return list(
        session.scalars(
            select(Appointment).where(Appointment.case_id == case.id).order_by(Appointment.id)
        )
    )
