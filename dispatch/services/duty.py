"""The dispatch center's duty roster (调度值班表) and the alarm when nobody is on duty.

P1: the dispatch center is staffed 24 hours and never unattended. Dispatchers
and supervisors enter shifts; every sweep checks the current clock hour
(Beijing time) and, when the dispatchers' shifts leave any part of it
uncovered, raises one alarm for that hour: a ``duty_alarms`` row, unique per
hour, so however many sweeps notice the gap the alarm is recorded once.
Past hours are not alarmed after the fact: the alarm is for the people on
duty now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.models import DutyAlarm, DutyShift
from hotline.domain.errors import words
from hotline.domain.taxonomy import Role
from hotline.domain.workcalendar import add_elapsed
from hotline.models import Staff
from hotline.services import Actor, Conflict, Forbidden, Invalid, NotFound, Services

#: Who keeps the roster.
ROSTER_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})
#: A shift longer than a day is a typing mistake (product default).
MAX_SHIFT = timedelta(hours=24)

Span = tuple[datetime, datetime]


# -- pure ------------------------------------------------------------------------


def clock_hour(now: datetime, tz: ZoneInfo) -> Span:
    """The clock hour (in ``tz``) that contains ``now``: its start and its end."""
    start = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    return start, add_elapsed(start, timedelta(hours=1), tz)


def uncovered(start: datetime, end: datetime, shifts: Iterable[Span]) -> list[Span]:
    """The stretches of ``[start, end)`` that no shift covers, in order."""
    gaps: list[Span] = []
    cursor = start
    for shift_start, shift_end in sorted(shifts):
        if shift_end <= cursor:
            continue
        if shift_start > cursor:
            gaps.append((cursor, min(shift_start, end)))
        cursor = max(cursor, shift_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if a < b]


# -- reading -------------------------------------------------------------------------


def shifts_between(session: Session, start: datetime, end: datetime) -> list[DutyShift]:
    """Dispatchers' shifts (not cancelled) that overlap ``[start, end)``, by start."""
    return list(
        session.scalars(
            select(DutyShift)
            .join(Staff, Staff.id == DutyShift.staff_id)
            .where(
                DutyShift.starts_at < end,
                DutyShift.ends_at > start,
                DutyShift.cancelled_at.is_(None),
                Staff.role == Role.DISPATCHER,
                Staff.active.is_(True),
            )
            .order_by(DutyShift.starts_at, DutyShift.id)
        )
    )


def active_dispatchers(session: Session) -> list[Staff]:
    """Every active dispatcher, by name (those a shift can be entered for)."""
    return list(
        session.scalars(
            select(Staff)
            .where(Staff.role == Role.DISPATCHER, Staff.active.is_(True))
            .order_by(Staff.display_name, Staff.id)
        )
    )


def owner_of_new_work(session: Session, at: datetime) -> tuple[Staff, bool] | None:
    """G4: who owns work that arrives with nobody to take it (a public app's request,
    a WeChat report, a 12345 order): the first active dispatcher on duty at ``at``
    (``True``: on the roster), else, in a gap of the roster, the first active
    dispatcher by name (``False``); ``None`` when no dispatcher is active."""
    people = [person for person in on_duty(session, at) if person.active]
    if people:
        return people[0], True
    others = active_dispatchers(session)
    return (others[0], False) if others else None


def on_duty(session: Session, at: datetime) -> list[Staff]:
    """The dispatchers on duty at ``at``."""
    return [shift.staff for shift in shifts_between(session, at, at + timedelta(microseconds=1))]


def alarms_between(session: Session, start: datetime, end: datetime) -> list[DutyAlarm]:
    """Duty alarms for hours starting in ``[start, end)``, oldest first."""
    return list(
        session.scalars(
            select(DutyAlarm)
            .where(DutyAlarm.hour_starts_at >= start, DutyAlarm.hour_starts_at < end)
            .order_by(DutyAlarm.hour_starts_at)
        )
    )


# -- changing the roster -----------------------------------------------------------------


#: A time without a zone, refused naming the field.
_NEEDS_ZONE = {
    "starts_at": words("'starts_at' needs a time zone"),
    "ends_at": words("'ends_at' needs a time zone"),
}


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(_NEEDS_ZONE[name], name)


def add_shift(
    svc: Services,
    actor: Actor,
    *,
    staff_id: int,
    starts_at: datetime,
    ends_at: datetime,
    note: str = "",
) -> DutyShift:
    """Put a dispatcher on duty from ``starts_at`` to ``ends_at`` (排班).

    Raises :class:`Forbidden` unless a dispatcher or supervisor asks,
    :class:`NotFound` for an unknown or inactive person, :class:`Invalid`
    naming the field for someone who is not a dispatcher, a time without a
    zone, a shift that ends before it starts, lasts over 24 hours, has
    already ended, or overlaps another shift of the same person.
    """
    if actor.role not in ROSTER_ROLES:
        raise Forbidden("role '%(role)s' may not change the duty roster", role=actor.role)
    _aware(starts_at, "starts_at")
    _aware(ends_at, "ends_at")
    if ends_at <= starts_at:
        raise Invalid("a shift ends after it starts", "ends_at", "P1")
    if ends_at - starts_at > MAX_SHIFT:
        raise Invalid("a shift lasts at most 24 hours", "ends_at", "P1")
    now = svc.now()
    if ends_at <= now:
        raise Invalid("that shift has already ended", "ends_at", "P1")
    with svc.sessions() as session, session.begin():
        staff = session.get(Staff, staff_id)
        if staff is None or not staff.active:
            raise NotFound(
                "no active staff member with id %(staff_id)r", "staff_id", staff_id=staff_id
            )
        if staff.role != Role.DISPATCHER:
            raise Invalid("%(name)s is not a dispatcher", "staff_id", "P1", name=staff.display_name)
        clash = session.scalar(
            select(DutyShift).where(
                DutyShift.staff_id == staff_id,
                DutyShift.cancelled_at.is_(None),
                DutyShift.starts_at < ends_at,
                DutyShift.ends_at > starts_at,
            )
        )
        if clash is not None:
            raise Invalid(
                "%(name)s already has shift %(shift_id)s at that time",
                "starts_at",
                "P1",
                name=staff.display_name,
                shift_id=clash.id,
            )
        shift = DutyShift(
            staff_id=staff_id,
            starts_at=starts_at,
            ends_at=ends_at,
            note=note.strip()[:200],
            created_by_id=actor.id,
            created_at=now,
        )
        session.add(shift)
        session.flush()
        session.refresh(shift)
    return shift


def cancel_shift(svc: Services, actor: Actor, shift_id: int) -> DutyShift:
    """Cancel a shift entered by mistake; it stays on file (``cancelled_at``).

    Raises :class:`Forbidden` unless a dispatcher or supervisor asks,
    :class:`NotFound` for an unknown shift and :class:`Conflict` for one
    already cancelled or already over.
    """
    if actor.role not in ROSTER_ROLES:
        raise Forbidden("role '%(role)s' may not change the duty roster", role=actor.role)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        shift = session.get(DutyShift, shift_id)
        if shift is None:
            raise NotFound("no shift %(shift_id)s", "shift_id", shift_id=shift_id)
        if shift.cancelled_at is not None:
            raise Conflict("shift %(shift_id)s is already cancelled", "shift_id", shift_id=shift_id)
        if shift.ends_at <= now:
            raise Conflict("shift %(shift_id)s is already over", "shift_id", shift_id=shift_id)
        shift.cancelled_at = now
    return shift


# -- the check the sweep runs -----------------------------------------------------------


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat()


def check_duty(svc: Services, now: datetime) -> DutyAlarm | None:
    """P1: raise the alarm for the current hour if no dispatcher covers all of it.

    Returns the new alarm, or ``None`` when the hour is covered or its alarm
    was already raised (by this or another sweep: the hour is unique).
    """
    start, end = clock_hour(now, svc.timezone)
    try:
        with svc.sessions() as session, session.begin():
            if session.scalar(select(DutyAlarm.id).where(DutyAlarm.hour_starts_at == start)):
                return None
            shifts = shifts_between(session, start, end)
            gaps = uncovered(start, end, [(s.starts_at, s.ends_at) for s in shifts])
            if not gaps:
                return None
            alarm = DutyAlarm(
                hour_starts_at=start,
                raised_at=now,
                gaps=[[_local(a, svc.timezone), _local(b, svc.timezone)] for a, b in gaps],
            )
            session.add(alarm)
    except IntegrityError:
        return None  # another sweep raised this hour's alarm first
    return alarm


def fill_rota(
    svc: Services,
    actor: Actor,
    staff_ids: Sequence[int],
    *,
    start: datetime,
    days: int,
    shift_hours: int = 12,
) -> list[DutyShift]:
    """Cover ``days`` days from ``start`` with back-to-back shifts taken in turn (轮班).

    Shifts that would already have ended are left out. Raises what
    :func:`add_shift` raises, for the first shift it refuses; shifts added
    before that stay.
    """
    if not staff_ids:
        raise Invalid("name at least one dispatcher for the rota", "staff_ids", "P1")
    if not 1 <= shift_hours <= 24:
        raise Invalid("a shift lasts 1 to 24 hours", "shift_hours", "P1")
    now = svc.now()
    shifts: list[DutyShift] = []
    length = timedelta(hours=shift_hours)
    for turn in range(days * 24 // shift_hours):
        starts_at = start + turn * length
        if starts_at + length <= now:
            continue
        staff_id = staff_ids[turn % len(staff_ids)]
        shifts.append(
            add_shift(
                svc, actor, staff_id=staff_id, starts_at=starts_at, ends_at=starts_at + length
            )
        )
    return shifts
