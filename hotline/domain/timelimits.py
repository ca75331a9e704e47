"""The time-limit policy: category x priority x stage -> a limit on a clock.

Pure Python (no Flask, no database). The policy is data, read from
``config/time_limits.toml`` (see ``docs/time-limits.md`` for the file's layout
and every default's source). This module validates that file strictly, answers
"what is the limit for this stage of this case" and turns a limit and a start
moment into a due time on the right clock.

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
   hours, a working hour one hour), so holidays do not stop it.

A limit counts from the moment its stage starts; the caller passes that moment
to :meth:`TimeLimitPolicy.due_at`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.domain.taxonomy import Category, Priority, Stage
from hotline.domain.workcalendar import (
    DEFAULT_CLOSES,
    DEFAULT_OPENS,
    SHANGHAI,
    ClockKind,
    WorkCalendar,
    add_elapsed,
    require_aware,
)
from hotline.settings import DEFAULT_TIME_LIMITS

POLICY_PATH_ENV = "HOTLINE_TIME_LIMITS_PATH"
"""Environment variable naming a policy file to use instead of the shipped one."""

DEFAULT_POLICY_PATH: Path = Path(os.environ.get(POLICY_PATH_ENV, DEFAULT_TIME_LIMITS))
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
        return _PolicyReader(data, tz).build(cls, source_path)

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
    ) -> Limit | None:
        """The limit for ``stage`` of a case, or ``None`` if the stage has none.

        ``pipe_size_dn`` (nominal pipe size, e.g. 300 for DN300) picks a
        pipe-size band where the entry has bands; unknown (``None``) takes the
        entry's own limit. See the module docstring for which entry wins.
        Raises :class:`ValueError` for an unknown category, priority or stage
        or a pipe size that is not a positive whole number.
        """
        category, priority, stage = Category(category), Priority(priority), Stage(stage)
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
    ) -> datetime | None:
        """When ``stage`` is due if it started at ``start``; ``None`` if it has no limit.

        The result is in the calendar's zone (Beijing time). Raises
        :class:`ValueError` for a naive ``start`` and as :meth:`limit_for`.
        """
        require_aware(start, "start")
        limit = self.limit_for(category, priority, stage, pipe_size_dn=pipe_size_dn)
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


# -- reading the file -----------------------------------------------------------

_TOP_KEYS = {
    "warning_share",
    "extension_max_working_days",
    "follow_up_unreachable_attempts",
    "follow_up_attempt_gap_minutes",
    "calendar",
    "priorities",
    "categories",
}
_CALENDAR_KEYS = {
    "opens",
    "closes",
    "extra_holidays",
    "extra_working_days",
    "locally_covered_years",
}


def _choices(enum: type[Category | Priority | Stage | ClockKind]) -> str:
    return ", ".join(member.value for member in enum)


class _PolicyReader:
    """Walks the parsed file once, raising :class:`PolicyError` at the first fault."""

    def __init__(self, data: Mapping[str, Any], tz: ZoneInfo) -> None:
        self.data = data
        self.tz = tz

    def build(self, cls: type[TimeLimitPolicy], source_path: Path | None) -> TimeLimitPolicy:
        data = self._table(self.data, "")
        self._known_keys(data, _TOP_KEYS, "")
        warning_share = self._number(data, "warning_share", "")
        if not 0 < warning_share < 1:
            raise PolicyError("warning_share", f"must be between 0 and 1, got {warning_share}")
        extension = self._whole(data, "extension_max_working_days", "", minimum=1)
        attempts = self._whole(data, "follow_up_unreachable_attempts", "", minimum=1)
        gap = (
            self._whole(data, "follow_up_attempt_gap_minutes", "", minimum=0)
            if "follow_up_attempt_gap_minutes" in data
            else 120
        )
        calendar = self._calendar(data.get("calendar", {}))
        priority_stages, priority_clocks = self._priorities(data.get("priorities", {}))
        categories, category_priorities = self._categories(self._require(data, "categories", ""))
        return cls(
            categories=categories,
            category_priorities=category_priorities,
            priority_stages=priority_stages,
            priority_clocks=priority_clocks,
            calendar=calendar,
            warning_share=float(warning_share),
            extension_max_working_days=extension,
            follow_up_unreachable_attempts=attempts,
            follow_up_attempt_gap_minutes=gap,
            source_path=source_path,
        )

    # -- sections --

    def _calendar(self, raw: Any) -> WorkCalendar:
        table = self._table(raw, "calendar")
        self._known_keys(table, _CALENDAR_KEYS, "calendar")
        opens = self._time(table.get("opens", DEFAULT_OPENS), "calendar.opens")
        closes = self._time(table.get("closes", DEFAULT_CLOSES), "calendar.closes")
        if not opens < closes:
            raise PolicyError("calendar.closes", f"must be after opens ({opens:%H:%M})")
        holidays = self._dates(table.get("extra_holidays", []), "calendar.extra_holidays")
        working = self._dates(table.get("extra_working_days", []), "calendar.extra_working_days")
        both = sorted(set(holidays) & set(working))
        if both:
            raise PolicyError(
                "calendar.extra_working_days",
                f"{both[0].isoformat()} is also listed in extra_holidays",
            )
        years_path = "calendar.locally_covered_years"
        years = self._list(table.get("locally_covered_years", []), years_path)
        for index, year in enumerate(years):
            if isinstance(year, bool) or not isinstance(year, int) or not 1900 < year < 3000:
                raise PolicyError(f"{years_path}[{index}]", f"expected a year, got {year!r}")
        return WorkCalendar(
            holidays,
            working,
            opens=opens,
            closes=closes,
            tz=self.tz,
            locally_covered_years=years,
        )

    def _priorities(
        self, raw: Any
    ) -> tuple[dict[Priority, dict[Stage, Limit]], dict[Priority, ClockKind]]:
        table = self._table(raw, "priorities")
        stages: dict[Priority, dict[Stage, Limit]] = {}
        clocks: dict[Priority, ClockKind] = {}
        for key, value in table.items():
            path = f"priorities.{key}"
            priority = self._member(Priority, key, path, "priority")
            section = self._table(value, path)
            self._known_keys(section, {"clock", "stages"}, path)
            if "clock" in section:
                clock = self._member(ClockKind, section["clock"], f"{path}.clock", "clock")
                if clock is not ClockKind.AROUND_THE_CLOCK:
                    raise PolicyError(
                        f"{path}.clock",
                        'only "around_the_clock" can be set for a priority; leave clock out '
                        "to keep each category's own clocks",
                    )
                clocks[priority] = clock
            limits: dict[Stage, Limit] = {}
            for stage, entry in self._stages(section.get("stages", {}), f"{path}.stages", False):
                if entry.limit.clock is not ClockKind.AROUND_THE_CLOCK:
                    raise PolicyError(
                        f"{path}.stages.{stage}.duration",
                        "a priority-wide limit runs around the clock (minutes, hours, days); "
                        f"write a working-days limit under categories.<category>.priorities.{key}",
                    )
                limits[stage] = entry.limit
            stages[priority] = limits
        return stages, clocks

    def _categories(
        self, raw: Any
    ) -> tuple[
        dict[Category, dict[Stage, PolicyEntry]],
        dict[Category, dict[Priority, dict[Stage, PolicyEntry]]],
    ]:
        table = self._table(raw, "categories")
        categories: dict[Category, dict[Stage, PolicyEntry]] = {}
        overrides: dict[Category, dict[Priority, dict[Stage, PolicyEntry]]] = {}
        for key, value in table.items():
            path = f"categories.{key}"
            category = self._member(Category, key, path, "category")
            section = self._table(value, path)
            self._known_keys(section, {"stages", "priorities"}, path)
            stages = dict(self._stages(self._require(section, "stages", path), f"{path}.stages"))
            if not stages:
                raise PolicyError(f"{path}.stages", "a category needs at least one stage")
            categories[category] = stages
            by_priority: dict[Priority, dict[Stage, PolicyEntry]] = {}
            for pkey, pvalue in self._table(section.get("priorities", {}), path).items():
                ppath = f"{path}.priorities.{pkey}"
                priority = self._member(Priority, pkey, ppath, "priority")
                psection = self._table(pvalue, ppath)
                self._known_keys(psection, {"stages"}, ppath)
                pstages = self._require(psection, "stages", ppath)
                by_priority[priority] = dict(self._stages(pstages, f"{ppath}.stages"))
            overrides[category] = by_priority
        missing = [c.value for c in Category if c not in categories]
        if missing:
            raise PolicyError(
                f"categories.{missing[0]}",
                f"missing; every category needs at least one stage (missing: {', '.join(missing)})",
            )
        return categories, overrides

    def _stages(
        self, raw: Any, path: str, allow_bands: bool = True
    ) -> list[tuple[Stage, PolicyEntry]]:
        table = self._table(raw, path)
        entries = []
        for key, value in table.items():
            stage = self._member(Stage, key, f"{path}.{key}", "stage")
            entries.append((stage, self._entry(value, f"{path}.{key}", allow_bands)))
        return entries

    def _entry(self, raw: Any, path: str, allow_bands: bool) -> PolicyEntry:
        table = self._table(raw, path)
        allowed = {"duration", "source", "bands"} if allow_bands else {"duration", "source"}
        self._known_keys(table, allowed, path)
        source = self._require(table, "source", path)
        if not isinstance(source, str) or not source.strip():
            raise PolicyError(f"{path}.source", "expected text naming where the limit comes from")
        source = source.strip()
        limit = self._limit(self._require(table, "duration", path), f"{path}.duration", source)
        if "bands" not in table:
            return PolicyEntry(limit)
        return PolicyEntry(limit, self._bands(table["bands"], f"{path}.bands", source))

    def _bands(self, raw: Any, path: str, source: str) -> tuple[PipeSizeBand, ...]:
        items = self._list(raw, path)
        if not items:
            raise PolicyError(path, "expected at least one band")
        bands: list[PipeSizeBand] = []
        previous: tuple[str, int] | None = None  # the bound key and size of the band before
        for index, item in enumerate(items):
            bpath = f"{path}[{index}]"
            band = self._table(item, bpath)
            self._known_keys(band, {"duration", "below_dn", "up_to_dn"}, bpath)
            is_last = index == len(items) - 1
            bound_keys = [k for k in ("below_dn", "up_to_dn") if k in band]
            if len(bound_keys) > 1:
                raise PolicyError(bpath, "give either below_dn or up_to_dn, not both")
            if not bound_keys and not is_last:
                raise PolicyError(bpath, "only the last band may have no below_dn or up_to_dn")
            if bound_keys and is_last:
                raise PolicyError(
                    bpath,
                    "the last band takes every larger pipe: leave out below_dn and up_to_dn",
                )
            below = up_to = None
            if bound_keys:
                key = bound_keys[0]
                bound = self._whole(band, key, bpath, minimum=1)
                if previous is not None and _band_top(key, bound) <= _band_top(*previous):
                    raise PolicyError(f"{bpath}.{key}", "bands must go from small pipes to large")
                if key == "below_dn":
                    below = bound
                else:
                    up_to = bound
                label = _band_label(previous, (key, bound))
                previous = (key, bound)
            else:
                label = _band_label(previous, None)
            limit = self._limit(
                self._require(band, "duration", bpath),
                f"{bpath}.duration",
                f"{source}, {label}",
            )
            bands.append(PipeSizeBand(limit, below_dn=below, up_to_dn=up_to))
        return tuple(bands)

    # -- values --

    @staticmethod
    def _limit(raw: Any, path: str, source: str) -> Limit:
        try:
            return Limit.parse(raw, source)
        except (TypeError, ValueError) as error:
            raise PolicyError(path, str(error)) from None

    @staticmethod
    def _table(raw: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise PolicyError(path or "(top level)", f"expected a table, got {raw!r}")
        return raw

    @staticmethod
    def _list(raw: Any, path: str) -> list[Any]:
        if not isinstance(raw, list):
            raise PolicyError(path, f"expected a list, got {raw!r}")
        return raw

    @staticmethod
    def _require(table: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in table:
            raise PolicyError(_join(path, key), "missing")
        return table[key]

    @staticmethod
    def _known_keys(table: Mapping[str, Any], allowed: set[str], path: str) -> None:
        for key in table:
            if key not in allowed:
                raise PolicyError(
                    _join(path, key),
                    f"unknown key; expected one of {', '.join(sorted(allowed))}",
                )

    @staticmethod
    def _member(enum: Any, key: Any, path: str, what: str) -> Any:
        try:
            return enum(key)
        except ValueError:
            raise PolicyError(
                path, f"unknown {what} {key!r}; expected one of {_choices(enum)}"
            ) from None

    def _number(self, table: Mapping[str, Any], key: str, path: str) -> float:
        value = self._require(table, key, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(_join(path, key), f"expected a number, got {value!r}")
        return value

    def _whole(self, table: Mapping[str, Any], key: str, path: str, *, minimum: int) -> int:
        value = self._require(table, key, path)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise PolicyError(
                _join(path, key),
                f"expected a whole number of at least {minimum}, got {value!r}",
            )
        return value

    @staticmethod
    def _time(raw: Any, path: str) -> time:
        if isinstance(raw, time):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"\d{1,2}:\d{2}", raw.strip()):
            hours, minutes = (int(part) for part in raw.strip().split(":"))
            if hours > 23 or minutes > 59:
                raise PolicyError(path, f'expected a time like "08:30", got {raw!r}')
            value = time(hours, minutes)
        else:
            raise PolicyError(path, f'expected a time like "08:30", got {raw!r}')
        if value.tzinfo is not None:
            raise PolicyError(path, "give a local time without a zone offset")
        return value

    def _dates(self, raw: Any, path: str) -> list[date]:
        days = []
        for index, item in enumerate(self._list(raw, path)):
            if isinstance(item, datetime):
                raise PolicyError(
                    f"{path}[{index}]", f"expected a date, got a date and time {item}"
                )
            if isinstance(item, date):
                days.append(item)
                continue
            try:
                days.append(date.fromisoformat(item.strip()))
            except (AttributeError, ValueError):
                raise PolicyError(
                    f"{path}[{index}]",
                    f'expected a date like "2026-10-01", got {item!r}',
                ) from None
        return days


def _band_top(key: str, bound: int) -> int:
    # The smallest pipe size above the band, so both kinds of bound compare.
    return bound if key == "below_dn" else bound + 1


def _band_label(previous: tuple[str, int] | None, bound: tuple[str, int] | None) -> str:
    """Words for a band's sizes, e.g. "DN200 to DN400", for the limit's source."""
    if previous is None:
        if bound is None:
            return "every pipe size"
        return f"below DN{bound[1]}" if bound[0] == "below_dn" else f"up to DN{bound[1]}"
    starts_at = previous[0] == "below_dn"
    lower = f"DN{previous[1]}" if starts_at else f"above DN{previous[1]}"
    if bound is None:
        return f"{lower} and larger" if starts_at else lower
    if bound[0] == "below_dn":
        return f"{lower} to below DN{bound[1]}"
    return f"{lower} to DN{bound[1]}" if starts_at else f"{lower} up to DN{bound[1]}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


__all__ = [
    "DEFAULT_POLICY_PATH",
    "DURATION_HINT",
    "POLICY_PATH_ENV",
    "ClockKind",
    "Limit",
    "PipeSizeBand",
    "PolicyEntry",
    "PolicyError",
    "TimeLimitPolicy",
    "deadline",
    "format_duration",
]
