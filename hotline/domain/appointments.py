"""Appointments (预约, F1): where a booked visit stands and which visit windows may be booked.

The service that books, moves and ends visits, and pauses the case's clocks
around them, is ``hotline.services.bookings``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from hotline.domain.errors import Invalid


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


def check_window(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """A visit window that may be booked at ``now``; raises :class:`Invalid` naming the field.

    Both ends carry a time zone; the visit starts ahead of ``now`` and at most
    :data:`MAX_APPOINTMENT_AHEAD` ahead; it ends after it starts and lasts at
    most :data:`MAX_APPOINTMENT_WINDOW`.
    """
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Invalid("'%(name)s' needs a time zone", name, name=name)
    if starts_at <= now:
        raise Invalid("an appointment is booked for a time still ahead", "starts_at", "F1")
    if starts_at - now > MAX_APPOINTMENT_AHEAD:
        raise Invalid(
            "an appointment is booked at most %(days)s days ahead",
            "starts_at",
            "F1",
            days=MAX_APPOINTMENT_AHEAD.days,
        )
    if not timedelta(0) < ends_at - starts_at <= MAX_APPOINTMENT_WINDOW:
        hours = MAX_APPOINTMENT_WINDOW / timedelta(hours=1)
        raise Invalid(
            "the visit window ends after it starts and lasts at most %(hours)g hours",
            "ends_at",
            "F1",
            hours=hours,
        )
