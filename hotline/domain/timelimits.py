"""The time-limit policy: category x priority x stage -> a limit on a clock.

Pure Python (no Flask, no database). The policy is data, read from
``config/time_limits.toml`` (see ``docs/time-limits.md`` for the file's layout
and every default's source), which :mod:`hotline.domain.policy_schema`
validates strictly. This module answers "what is the limit for this stage of
this case" and turns a limit and a start moment into a due time on the right
clock.

Which limit applies, most specific first:

1. ``categories.<category>.priorities.<priority>.stages.<stage>``: a limit
   written for this category at this priority, taken as written;
2. ``priorities.<priority>.stages.<stage>``: a priority-wide limit; it runs
   around the clock, applies only to stages the category has, and never
   loosens: a category limit that is already as short on the around-the-clock
   clock is kept;
3. ``categories.<category>.stages.<stage>``: the category's own limit. When the
   priority sets ``clock = "around_the_clock"``, a working-days limit inherited
   this way is counted around the clock instead (a working day becomes 24
   hours, a working hour one hour), so holidays do not stop it. For the on-site
   stage of a graded category (``[grades]``) whose case has a grade, the
   limit of that grade in the zone of the case's area stands in for the
   category's own.

A limit counts from the moment its stage starts; the caller passes that moment
to :meth:`TimeLimitPolicy.due_at`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.domain.taxonomy import Category, Grade, Priority, Stage, Zone
from hotline.domain.workcalendar import (
    SHANGHAI,
    ClockKind,
    WorkCalendar,
    add_elapsed,
    require_aware,
)

POLICY_PATH_ENV = "HOTLINE_TIME_LIMITS_PATH"
"""Environment variable naming a policy file to use instead of the shipped one."""


def _shipped_policy() -> Path:
    """The shipped ``time_limits.toml``: in the installed ``hotline._defaults``
    package (setup.cfg ships ``config/`` so), else in the checkout's ``config/``."""
    try:
        folder = resources.files("hotline._defaults")
    except ModuleNotFoundError:
        folder = None
    if not isinstance(folder, Path):
        folder = Path(__file__).resolve().parents[2] / "config"
    return folder / "time_limits.toml"


SHIPPED_POLICY_PATH: Path = _shipped_policy()
"""The time-limit policy the product ships."""

DEFAULT_POLICY_PATH: Path = Path(os.environ.get(POLICY_PATH_ENV, SHIPPED_POLICY_PATH))
"""The policy file :meth:`TimeLimitPolicy.load` reads when given no path.

``config/time_limits.toml`` beside the package, unless the environment variable
``HOTLINE_TIME_LIMITS_PATH`` names another file (the same variable that
overrides ``time_limits_path`` in ``config/hotline.toml``). Assign a new ``Path`` to this
attribute to change it at run time (it is looked up on every call).
"""

DURATION_HINT = 'expected a duration like "4h", "30min" or "2 working days"'


class PolicyError(ValueError):
    """The policy file is malformed or incomplete.

    ``path`` is the dotted key path of the offending value (for example
    ``categories.leak.stages.resolve.duration``), or the file's path when the
    file itself cannot be read; the message starts with it.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


# -- limits and the two clocks ------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One time limit: how long, on which clock, and where the figure comes from.

    Exactly one of ``duration`` (around the clock), ``working_days`` or
    ``working_hours`` (both on the working-days clock) is set. ``text`` is the
    limit in words for screens ("2 working days"); ``source`` names the rule or
    commitment it comes from.

    Raises :class:`ValueError` when the amounts and the clock disagree.
    """

    clock: ClockKind
    text: str
    source: str
    duration: timedelta | None = None
    working_days: float | None = None
    working_hours: float | None = None

    def __post_init__(self) -> None:
        amounts = [
            a for a in (self.duration, self.working_days, self.working_hours) if a is not None
        ]
        if len(amounts) != 1:
            raise ValueError("a limit has exactly one of duration, working_days, working_hours")
        if (self.duration is not None) != (self.clock is ClockKind.AROUND_THE_CLOCK):
            raise ValueError("a duration runs around the clock; working days and hours do not")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("a limit must be longer than zero")
        if self.duration is None and not amounts[0] > 0:
            raise ValueError("a limit must be longer than zero")

    @classmethod
    def parse(cls, text: str, source: str = "") -> Limit:
        """Read a limit written like ``"30min"``, ``"4h"``, ``"3 days"``,
        ``"2 working days"`` or ``"4 working hours"`` (Chinese units such as
        ``"2个工作日"``, ``"4小时"``, ``"30分钟"`` and ``"3天"`` work too).

        Minutes, hours and days run around the clock; working days and working
        hours run on the working-days clock. Raises :class:`ValueError` with
        :data:`DURATION_HINT` for anything else, including zero, and
        :class:`TypeError` when ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise TypeError(f"{DURATION_HINT}, got {text!r}")
        match = _DURATION_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{DURATION_HINT}, got {text!r}")
        amount = float(match["amount"])
        unit = _UNITS[re.sub(r"\s+", " ", match["unit"].lower())]
        if amount <= 0:
            raise ValueError(f"{DURATION_HINT} and longer than zero, got {text!r}")
        written = text.strip()
        if unit == "working_days":
            return cls(ClockKind.WORKING_DAYS, written, source, working_days=amount)
        if unit == "working_hours":
            return cls(ClockKind.WORKING_DAYS, written, source, working_hours=amount)
        return cls(
            ClockKind.AROUND_THE_CLOCK,
            written,
            source,
            duration=_UNIT_STEP[unit] * amount,
        )

    def counted_around_the_clock(self, why: str) -> Limit:
        """This limit moved onto the around-the-clock clock.

        A working day becomes 24 hours and a working hour one hour; ``why`` is
        added to the source. An around-the-clock limit is returned unchanged.
        """
        if self.clock is ClockKind.AROUND_THE_CLOCK:
            return self
        if self.working_days is not None:
            duration = timedelta(days=self.working_days)
        else:
            duration = timedelta(hours=self.working_hours or 0)
        return Limit(
            ClockKind.AROUND_THE_CLOCK,
            f"{format_duration(duration)} ({self.text} counted around the clock)",
            f"{self.source}; {why}",
            duration=duration,
        )


_UNITS = {
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "分钟": "minutes",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "小时": "hours",
    "个小时": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "天": "days",
    "日": "days",
    "working day": "working_days",
    "working days": "working_days",
    "工作日": "working_days",
    "个工作日": "working_days",
    "working hour": "working_hours",
    "working hours": "working_hours",
    "工作小时": "working_hours",
    "个工作小时": "working_hours",
}
_UNIT_STEP = {
    "minutes": timedelta(minutes=1),
    "hours": timedelta(hours=1),
    "days": timedelta(days=1),
}
_DURATION_RE = re.compile(
    r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>"
    + "|".join(re.escape(u).replace(r"\ ", r"\s+") for u in sorted(_UNITS, key=len, reverse=True))
    + r")",
    re.IGNORECASE,
)


def format_duration(duration: timedelta) -> str:
    """A duration in the policy's own words: ``"30min"``, ``"4h"``, ``"3 days"``."""
    minutes = duration / timedelta(minutes=1)
    if minutes >= 24 * 60 and minutes % (24 * 60) == 0:
        days = int(minutes // (24 * 60))
        return f"{days} day" if days == 1 else f"{days} days"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{int(minutes // 60)}h"
    return f"{minutes:g}min"


def deadline(start: datetime, limit: Limit, calendar: WorkCalendar) -> datetime:
    """When ``limit`` runs out if counting starts at ``start``, on the limit's clock.

    Around the clock: ``start`` plus the duration of real time. Working days:
    :meth:`WorkCalendar.add_working_days` or
    :meth:`WorkCalendar.add_working_hours`. The result is in the calendar's
    zone. Raises :class:`ValueError` for a naive ``start``.
    """
    require_aware(start, "start")
    if limit.duration is not None:
        return add_elapsed(start, limit.duration, calendar.tz)
    if limit.working_days is not None:
        return calendar.add_working_days(start, limit.working_days)
    return calendar.add_working_hours(start, limit.working_hours or 0)


# -- the policy -----------------------------------------------------------------


@dataclass(frozen=True)
class PipeSizeBand:
    """One pipe-size band of a limit: pipes below ``below_dn``, or up to and
    including ``up_to_dn``, or (neither set) every larger pipe."""

    limit: Limit
    below_dn: int | None = None
    up_to_dn: int | None = None

    def contains(self, dn: int) -> bool:
        """Whether a pipe of nominal size ``dn`` falls in this band."""
        if self.below_dn is not None:
            return dn < self.below_dn
        if self.up_to_dn is not None:
            return dn <= self.up_to_dn
        return True


@dataclass(frozen=True)
class PolicyEntry:
    """A stage's limit as written: the limit and, optionally, pipe-size bands.

    ``limit`` applies when the pipe size is unknown or there are no bands.
    """

    limit: Limit
    bands: tuple[PipeSizeBand, ...] = ()

    def resolve(self, pipe_size_dn: int | None) -> Limit:
        """The limit for a pipe of size ``pipe_size_dn`` (``None``: unknown)."""
        if pipe_size_dn is not None:
            for band in self.bands:
                if band.contains(pipe_size_dn):
                    return band.limit
        return self.limit


@dataclass(frozen=True)
class GradeTable:
    """Severity grades (事件分级): the on-site limit of each grade in each zone.

    ``categories`` are the categories whose cases carry a grade; ``on_site``
    gives, per grade, the limit in each :class:`Zone`. An area with no zone is
    held to the town's limit, the strictest.
    """

    categories: frozenset[Category] = frozenset()
    on_site: Mapping[Grade, Mapping[Zone, Limit]] = field(default_factory=dict)

    def grades(self, category: Category | str) -> bool:
        """Whether cases of ``category`` carry a grade."""
        return Category(category) in self.categories

    def limit(self, grade: Grade | int, zone: Zone | str | None) -> Limit:
        """The on-site limit of ``grade`` in ``zone`` (None: the town's)."""
        return self.on_site[Grade(grade)][Zone(zone) if zone else Zone.TOWN]


class TimeLimitPolicy:
    """The utility's time limits, as loaded and validated from the policy file.

    Build one with :meth:`load` or :meth:`from_dict`. Attributes:
    ``warning_share`` (warn after this share of the time), ``calendar`` (the
    :class:`WorkCalendar` with the local overrides),
    ``extension_max_working_days``, ``follow_up_unreachable_attempts`` and
    ``source_path`` (the file read, if any).
    """

    def __init__(
        self,
        *,
        categories: Mapping[Category, Mapping[Stage, PolicyEntry]],
        category_priorities: Mapping[Category, Mapping[Priority, Mapping[Stage, PolicyEntry]]],
        priority_stages: Mapping[Priority, Mapping[Stage, Limit]],
        priority_clocks: Mapping[Priority, ClockKind],
        calendar: WorkCalendar,
        warning_share: float,
        extension_max_working_days: int,
        follow_up_unreachable_attempts: int,
        follow_up_attempt_gap_minutes: int = 120,
        grades: GradeTable | None = None,
        gov12345: Any = None,
        source_path: Path | None = None,
    ) -> None:
        self._categories = {c: dict(s) for c, s in categories.items()}
        self._category_priorities = {
            c: {p: dict(s) for p, s in ps.items()} for c, ps in category_priorities.items()
        }
        self._priority_stages = {p: dict(s) for p, s in priority_stages.items()}
        self._priority_clocks = dict(priority_clocks)
        self.calendar = calendar
        self.warning_share = warning_share
        self.extension_max_working_days = extension_max_working_days
        self.follow_up_unreachable_attempts = follow_up_unreachable_attempts
        self.follow_up_attempt_gap_minutes = follow_up_attempt_gap_minutes
        self.grades = grades or GradeTable()
        #: ``[gov12345]``: the 12345 orders' limits (``hotline.domain.gov12345``), or None.
        self.gov12345 = gov12345
        self.source_path = source_path

    def __repr__(self) -> str:
        where = self.source_path or "dict"
        return f"TimeLimitPolicy({where}, {len(self._categories)} categories)"

    # -- building ---------------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, tz: ZoneInfo = SHANGHAI
    ) -> TimeLimitPolicy:
        """Read and validate a policy file (:data:`DEFAULT_POLICY_PATH` if ``path`` is None).

        ``tz`` is the zone days are counted and due times given in.

        Raises :class:`PolicyError` when the file cannot be read, is not valid
        TOML, or breaks any rule of :meth:`from_dict`.
        """
        file = Path(path) if path is not None else DEFAULT_POLICY_PATH
        try:
            with file.open("rb") as handle:
                data = tomllib.load(handle)
        except OSError as error:
            raise PolicyError(str(file), f"cannot read the policy file: {error}") from error
        except tomllib.TOMLDecodeError as error:
            raise PolicyError(str(file), f"not valid TOML: {error}") from error
        return cls.from_dict(data, source_path=file, tz=tz)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source_path: Path | None = None,
        tz: ZoneInfo = SHANGHAI,
    ) -> TimeLimitPolicy:
        """Validate ``data`` (the parsed TOML) and build the policy.

        ``tz`` is the zone days are counted and due times given in.

        Raises :class:`PolicyError` naming the key path of the first problem:
        a missing or unknown key, an unknown category, priority, stage or
        clock, a malformed duration, a category with no stage, a badly ordered
        pipe-size band, or a setting out of range.
        """
        # The schema builds this module's limits, so it is imported on first use.
        from hotline.domain.policy_schema import read_policy

        return cls(**read_policy(data, tz), source_path=source_path)

    # -- answering --------------------------------------------------------------

    def stages_for(self, category: Category | str, priority: Priority | str) -> list[Stage]:
        """The stages that carry a limit for this category at this priority, in
        the order work goes through them. Raises :class:`ValueError` for an
        unknown category or priority."""
        category, priority = Category(category), Priority(priority)
        stages = set(self._categories[category])
        stages.update(self._category_priorities.get(category, {}).get(priority, {}))
        return [stage for stage in Stage if stage in stages]

    def limit_for(
        self,
        category: Category | str,
        priority: Priority | str,
        stage: Stage | str,
        *,
        pipe_size_dn: int | None = None,
        grade: Grade | int | None = None,
        zone: Zone | str | None = None,
    ) -> Limit | None:
        """The limit for ``stage`` of a case, or ``None`` if the stage has none.

        ``pipe_size_dn`` (nominal pipe size, e.g. 300 for DN300) picks a
        pipe-size band where the entry has bands; unknown (``None``) takes the
        entry's own limit. ``grade`` and the ``zone`` of the case's area pick
        the on-site limit of a graded category (``[grades]``) in place of the
        category's own; an unknown grade keeps the category's own, an unknown
        zone takes the town's. See the module docstring for which entry wins.
        Raises :class:`ValueError` for an unknown category, priority, stage,
        grade or zone or a pipe size that is not a positive whole number.
        """
        category, priority, stage = Category(category), Priority(priority), Stage(stage)
        grade = Grade(grade) if grade is not None else None
        if pipe_size_dn is not None and (
            isinstance(pipe_size_dn, bool) or not isinstance(pipe_size_dn, int) or pipe_size_dn <= 0
        ):
            raise ValueError(f"pipe_size_dn must be a positive whole number, got {pipe_size_dn!r}")
        specific = self._category_priorities.get(category, {}).get(priority, {}).get(stage)
        if specific is not None:
            return specific.resolve(pipe_size_dn)
        entry = self._categories[category].get(stage)
        if entry is None:
            return None
        own = entry.resolve(pipe_size_dn)
        if stage is Stage.ON_SITE and grade is not None and self.grades.grades(category):
            own = self.grades.limit(grade, zone)
        wide = self._priority_stages.get(priority, {}).get(stage)
        if wide is not None and not _as_short(own, wide):
            return wide
        if self._priority_clocks.get(priority) is ClockKind.AROUND_THE_CLOCK:
            return own.counted_around_the_clock(f"{priority} priority runs around the clock")
        return own

    def due_at(
        self,
        start: datetime,
        category: Category | str,
        priority: Priority | str,
        stage: Stage | str,
        *,
        pipe_size_dn: int | None = None,
        grade: Grade | int | None = None,
        zone: Zone | str | None = None,
    ) -> datetime | None:
        """When ``stage`` is due if it started at ``start``; ``None`` if it has no limit.

        The result is in the calendar's zone (Beijing time). Raises
        :class:`ValueError` for a naive ``start`` and as :meth:`limit_for`.
        """
        require_aware(start, "start")
        limit = self.limit_for(
            category, priority, stage, pipe_size_dn=pipe_size_dn, grade=grade, zone=zone
        )
        if limit is None:
            return None
        return deadline(start, limit, self.calendar)

    def warn_at(self, start: datetime, due: datetime) -> datetime:
        """When to warn that the limit from ``start`` to ``due`` is running out.

        ``start + warning_share * (due - start)`` in real elapsed time, on both
        clocks: on the working-days clock the span includes nights and
        holidays, so the warning may fall outside business hours and then
        greets the handler at the next opening, early rather than late.
        Raises :class:`ValueError` for naive datetimes or ``due`` before
        ``start``.
        """
        require_aware(start, "start")
        require_aware(due, "due")
        if due < start:
            raise ValueError(f"due ({due.isoformat()}) is before start ({start.isoformat()})")
        return add_elapsed(start, (due - start) * self.warning_share, self.calendar.tz)

    def latest_extended_due(self, due: datetime) -> datetime:
        """The latest due time an extension (延期) of ``due`` may grant:
        ``extension_max_working_days`` working days later.

        Raises :class:`ValueError` for a naive ``due``.
        """
        return self.calendar.add_working_days(due, self.extension_max_working_days)


def _as_short(own: Limit, wide: Limit) -> bool:
    # Only two around-the-clock durations compare without knowing the start;
    # a working-days limit can always stretch over a holiday, so the
    # priority-wide one, which never stops, is the stricter.
    return own.duration is not None and wide.duration is not None and own.duration <= wide.duration


__all__ = [
    "DEFAULT_POLICY_PATH",
    "DURATION_HINT",
    "POLICY_PATH_ENV",
    "SHIPPED_POLICY_PATH",
    "ClockKind",
    "GradeTable",
    "Limit",
    "PipeSizeBand",
    "PolicyEntry",
    "PolicyError",
    "TimeLimitPolicy",
    "deadline",
    "format_duration",
]
