"""The two clocks a time limit can run on, and the working-day calendar.

Pure Python (no Flask, no database). A time limit runs on one of two clocks:

* **around the clock** (全天候): plain elapsed time; nights, weekends and public
  holidays do not stop it. Emergencies (leaks, bursts) run on it.
* **working days** (工作日): time counts only during business hours on working
  days. Working days are Monday to Friday, minus China's public holidays, plus
  the make-up working days (调休) that the State Council moves onto weekends.
  The national arrangement comes from the ``chinese_calendar`` package; the
  utility's own additions (a local holiday, a weekend it decides to work) come in
  as overrides.

How the working-days clock counts (the convention of most Chinese service
commitments, "非工作时间受理的, 自下一个工作时间起算"):

* One working day is one business day's worth of working time (08:30-17:30 by
  default, so nine working hours). Counting from a moment inside business hours,
  ``N`` working days therefore end at the same time of day ``N`` working days
  later: two working days from Friday 15:00 end on Tuesday 15:00 when the
  weekend is a normal one.
* A moment outside business hours (a night, a weekend, a holiday) starts the
  count at the next opening. One working day from Saturday 10:00 ends at the
  close of business on Monday; one from Monday 07:00 ends at Monday's close.
* A limit that runs out exactly at a close of business ends at that close, not
  at the next opening.

Datetimes must be timezone-aware; any zone is accepted and results come back
in the calendar's zone (Asia/Shanghai unless told otherwise). Naive datetimes
raise :class:`ValueError`: a time without a zone is ambiguous between the
server's zone, UTC and Beijing time.

Coverage: ``chinese_calendar`` only knows the years whose arrangement has been
published (it raises ``NotImplementedError`` for the others). For those years
the calendar falls back to Monday-Friday plus the local overrides and
:meth:`WorkCalendar.covered` says ``False``, so callers can mark a deadline as
provisional instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Beijing time, the zone every deadline is shown in."""

DEFAULT_OPENS = time(8, 30)
DEFAULT_CLOSES = time(17, 30)


class ClockKind(StrEnum):
    """Which clock a time limit runs on (计时方式)."""

    AROUND_THE_CLOCK = "around_the_clock"  # 全天候: holidays do not stop it
    WORKING_DAYS = "working_days"  # 工作日: business hours on working days only


@cache
def _library_covers_year(year: int) -> bool:
    # The package raises for every date of a year it has no data for, so one
    # probe per year tells coverage for the whole year.
    try:
        chinese_calendar.is_workday(date(year, 7, 1))
    except NotImplementedError:
        return False
    return True


def require_aware(moment: datetime, name: str = "datetime") -> None:
    """Raise :class:`ValueError` unless ``moment`` is timezone-aware.

    ``name`` is used in the message so the caller's argument is identified.
    Raises :class:`TypeError` when ``moment`` is not a ``datetime`` at all.
    """
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{name} must be timezone-aware (naive datetime refused): {moment!r}")


def add_elapsed(start: datetime, duration: timedelta, tz: ZoneInfo = SHANGHAI) -> datetime:
    """The around-the-clock clock: ``start`` plus ``duration`` of real time.

    The sum is done in UTC so that a zone with daylight saving would still add
    real hours, not wall-clock hours. The result is in ``tz``.

    Raises :class:`ValueError` for a naive ``start`` or a negative duration.
    """
    require_aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    return (start.astimezone(UTC) + duration).astimezone(tz)


class WorkCalendar:
    """Working days and business hours: the working-days clock.

    ``extra_holidays`` are dates the utility does not work although the national
    calendar says it does; ``extra_working_days`` are dates it works although
    the national calendar says it does not. Local overrides win over the
    national calendar. ``locally_covered_years`` lists years outside the
    library's data whose national arrangement has been entered by hand as
    overrides, so :meth:`covered` can say ``True`` for them.

    ``opens`` and ``closes`` bound the business day; a working day is the time
    between them.

    Raises :class:`ValueError` when ``opens`` is not before ``closes`` or a date
    is both an extra holiday and an extra working day.
    """

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        *,
        opens: time = DEFAULT_OPENS,
        closes: time = DEFAULT_CLOSES,
        tz: ZoneInfo = SHANGHAI,
        locally_covered_years: Iterable[int] = (),
    ) -> None:
        self.extra_holidays: frozenset[date] = frozenset(extra_holidays)
        self.extra_working_days: frozenset[date] = frozenset(extra_working_days)
        both = self.extra_holidays & self.extra_working_days
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates both extra holiday and extra working day: {listed}")
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("opens and closes are local wall-clock times without a zone")
        if not opens < closes:
            raise ValueError(f"opens ({opens}) must be before closes ({closes})")
        self.opens = opens
        self.closes = closes
        self.tz = tz
        self.locally_covered_years: frozenset[int] = frozenset(locally_covered_years)

    def __repr__(self) -> str:
        return (
            f"WorkCalendar(opens={self.opens:%H:%M}, closes={self.closes:%H:%M}, "
            f"extra_holidays={len(self.extra_holidays)}, "
            f"extra_working_days={len(self.extra_working_days)})"
        )

    @property
    def working_day_length(self) -> timedelta:
        """The working time in one working day (closes minus opens)."""
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    def covered(self, day: date) -> bool:
        """Whether the national holiday arrangement for ``day``'s year is known.

        ``True`` when ``chinese_calendar`` has data for the year, or the year is
        listed in ``locally_covered_years``. When ``False``,
        :meth:`is_working_day` is a Monday-Friday guess plus local overrides.
        A deadline is fully trustworthy when both its start date and its due
        date are covered (coverage is a run of whole years).
        """
        day = _as_date(day)
        return day.year in self.locally_covered_years or _library_covers_year(day.year)

    def is_working_day(self, day: date) -> bool:
        """Whether the utility works on ``day`` (a ``date``; a ``datetime``'s date is used).

        Order of precedence: local extra holidays, local extra working days, the
        national calendar, and for uncovered years Monday to Friday. Never
        raises for a year outside the library's data.
        """
        day = _as_date(day)
        if day in self.extra_holidays:
            return False
        if day in self.extra_working_days:
            return True
        if _library_covers_year(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day = _as_date(day) + timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: float) -> datetime:
        """The moment ``days`` working days after ``start`` (whole or fractional).

        One working day is :attr:`working_day_length` of working time, so from
        inside business hours the result is the same time of day ``days``
        working days later; from outside business hours counting starts at the
        next opening (see the module docstring). ``days == 0`` returns
        ``start`` unchanged (in the calendar's zone).

        Raises :class:`ValueError` for a naive ``start`` or a negative or
        non-finite ``days``.
        """
        _check_amount(days, "days")
        return self.add_working_hours(start, days * self.working_day_length / timedelta(hours=1))

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of working time after ``start``.

        Working time runs only between opens and closes on working days. A
        result that falls exactly on a close of business is that close.
        ``hours == 0`` returns ``start`` unchanged (in the calendar's zone).

        Raises :class:`ValueError` for a naive ``start`` or a negative or
        non-finite ``hours``.
        """
        require_aware(start, "start")
        _check_amount(hours, "hours")
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.tz)
        if remaining == timedelta(0):
            return cursor
        while True:
            day = cursor.date()
            if self.is_working_day(day):
                opens, closes = self._business_hours(day)
                cursor = max(cursor, opens)
                if cursor < closes:
                    available = closes - cursor
                    if remaining <= available:
                        return _wall(cursor + remaining, self.tz)
                    remaining -= available
            cursor = self._midnight(day + timedelta(days=1))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The working time from ``start`` to ``end`` (negative if ``end`` is earlier).

        Useful for figures ("answered in 1.5 working days": divide by
        :attr:`working_day_length`). Raises :class:`ValueError` for naive
        datetimes.
        """
        require_aware(start, "start")
        require_aware(end, "end")
        if end < start:
            return -self.working_time_between(end, start)
        a = start.astimezone(self.tz)
        b = end.astimezone(self.tz)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                opens, closes = self._business_hours(day)
                lo = max(opens, a)
                hi = min(closes, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def _business_hours(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.opens, tzinfo=self.tz),
            datetime.combine(day, self.closes, tzinfo=self.tz),
        )

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz)


def _as_date(day: date) -> date:
    if isinstance(day, datetime):
        return day.date()
    if not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def _check_amount(amount: float, name: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise TypeError(f"{name} must be a number, got {type(amount).__name__}")
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{name} must be a finite number not below zero, got {amount}")


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    # Same-zone arithmetic on aware datetimes is wall-clock arithmetic; a round
    # trip through UTC normalises the offset should the zone ever observe DST.
    return moment.astimezone(UTC).astimezone(tz)
