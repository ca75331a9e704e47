"""The shape of the time-limit policy file (``config/time_limits.toml``).

One schema per table of the file. Types, ranges, defaults and the keys each
table allows are declared on the fields; the validators keep only what relates
values to each other: pipe-size bands from small pipes to large, closing after
opening, no date both a holiday and a working day, every category present,
priority-wide limits on the around-the-clock clock. :func:`read_policy` turns
the first fault into a :class:`PolicyError` naming its key path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time
from itertools import pairwise
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, missing, post_load, validates_schema
from marshmallow.validate import Equal, Length, Range, Regexp

from hotline.domain.gov12345 import Gov12345Limits
from hotline.domain.strict_schema import (
    Items,
    Member,
    Number,
    StrictTable,
    Table,
    Whole,
    first_error,
)
from hotline.domain.taxonomy import Category, Grade, Priority, Stage, Zone
from hotline.domain.timelimits import GradeTable, Limit, PipeSizeBand, PolicyEntry, PolicyError
from hotline.domain.workcalendar import DEFAULT_CLOSES, DEFAULT_OPENS, ClockKind, WorkCalendar

# -- values -------------------------------------------------------------------------


class Duration(fields.Field):
    """A limit written as text ("4h", "2 working days"), read by :meth:`Limit.parse`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Limit:
        try:
            return Limit.parse(value)
        except (TypeError, ValueError) as error:
            raise ValidationError(str(error)) from None


class LocalTime(fields.Field):
    """A time of day: a TOML local time or text like ``"08:30"``."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": 'expected a time like "08:30", got {input!r}',
        "zoned": "give a local time without a zone offset",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if isinstance(value, time):
            if value.tzinfo is not None:
                raise self.make_error("zoned")
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(part) for part in value.strip().split(":"))
            if hours <= 23 and minutes <= 59:
                return time(hours, minutes)
        raise self.make_error("invalid", input=value)


class Day(fields.Field):
    """A date: a TOML local date or text like ``"2026-10-01"``."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": 'expected a date like "2026-10-01", got {input!r}',
        "moment": "expected a date, got a date and time {input}",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if isinstance(value, datetime):
            raise self.make_error("moment", input=value)
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value.strip())
        except (AttributeError, ValueError):
            raise self.make_error("invalid", input=value) from None


class Year(fields.Field):
    """A year from 1901 to 2999."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "expected a year, got {input!r}"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1900 < value < 3000:
            raise self.make_error("invalid", input=value)
        return value


_SOURCE_HINT = "expected text naming where the limit comes from"


class GradeKey(fields.Field):
    """A severity grade written as a table key: ``"1"``, ``"2"`` or ``"3"``."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid": "unknown grade {input!r}; expected one of {choices}"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Grade:
        try:
            return Grade(int(value))
        except (TypeError, ValueError):
            choices = ", ".join(str(g.value) for g in Grade)
            raise self.make_error("invalid", input=value, choices=choices) from None


def _stages(entry: type[StrictTable], **kwargs: Any) -> Table:
    return Table(keys=Member(Stage, "stage"), values=fields.Nested(entry), **kwargs)


def _by_priority(section: type[StrictTable], **kwargs: Any) -> Table:
    return Table(keys=Member(Priority, "priority"), values=fields.Nested(section), **kwargs)


class Section(fields.Nested):
    """A sub-table that may be left out; then its own defaults apply."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any):
        return super().deserialize({} if value is missing else value, attr, data, **kwargs)


# -- tables -------------------------------------------------------------------------


class LimitSchema(StrictTable):
    """``{ duration = "4h", source = "..." }``: a limit and where it comes from."""

    duration = Duration(required=True)
    source = fields.String(
        required=True,
        validate=Regexp(r"\s*\S", error=_SOURCE_HINT),
        error_messages={"invalid": _SOURCE_HINT},
    )

    @post_load
    def _entry(self, data: dict[str, Any], **kwargs: Any) -> PolicyEntry:
        source = data["source"].strip()
        limit = replace(data["duration"], source=source)
        return PolicyEntry(limit, _labelled(data.get("bands", ()), source))


class BandSchema(StrictTable):
    """One pipe-size band: ``{ below_dn = 200, duration = "12h" }``."""

    below_dn = Whole(minimum=1)
    up_to_dn = Whole(minimum=1)
    duration = Duration(required=True)

    @validates_schema
    def _one_bound(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "below_dn" in data and "up_to_dn" in data:
            raise ValidationError("give either below_dn or up_to_dn, not both")


class BandedLimitSchema(LimitSchema):
    """A category's limit for a stage, optionally by pipe size."""

    bands = Items(
        fields.Nested(BandSchema), validate=Length(min=1, error="expected at least one band")
    )

    @validates_schema
    def _bands_from_small_to_large(self, data: dict[str, Any], **kwargs: Any) -> None:
        bands = data.get("bands", [])
        previous: tuple[str, int] | None = None
        for index, band in enumerate(bands):
            bound, last = _bound(band), index == len(bands) - 1
            if bound is None and not last:
                raise _band_fault(index, "only the last band may have no below_dn or up_to_dn")
            if bound is not None and last:
                raise _band_fault(
                    index, "the last band takes every larger pipe: leave out below_dn and up_to_dn"
                )
            if bound and previous and _band_top(*bound) <= _band_top(*previous):
                raise _band_fault(index, "bands must go from small pipes to large", bound[0])
            previous = bound or previous


class CategoryPrioritySchema(StrictTable):
    """``categories.<category>.priorities.<priority>``: limits for one priority."""

    stages = _stages(BandedLimitSchema, required=True)


class CategorySchema(StrictTable):
    """``categories.<category>``: the category's stages and its own priority limits."""

    stages = _stages(
        BandedLimitSchema,
        required=True,
        validate=Length(min=1, error="a category needs at least one stage"),
    )
    priorities = _by_priority(CategoryPrioritySchema, load_default=dict)


class PrioritySchema(StrictTable):
    """``priorities.<priority>``: its clock and its priority-wide limits."""

    clock = Member(
        ClockKind,
        "clock",
        validate=Equal(
            ClockKind.AROUND_THE_CLOCK,
            error='only "around_the_clock" can be set for a priority; leave clock out '
            "to keep each category's own clocks",
        ),
    )
    stages = _stages(LimitSchema, load_default=dict)


class ZoneLimitsSchema(StrictTable):
    """``grades.on_site.<grade>``: the grade's on-site limit in each zone, and its source."""

    town = Duration(required=True)
    outskirts = Duration(required=True)
    villages = Duration(required=True)
    source = fields.String(
        required=True,
        validate=Regexp(r"\s*\S", error=_SOURCE_HINT),
        error_messages={"invalid": _SOURCE_HINT},
    )

    @post_load
    def _limits(self, data: dict[str, Any], **kwargs: Any) -> dict[Zone, Limit]:
        source = data["source"].strip()
        return {zone: replace(data[str(zone)], source=source) for zone in Zone}


class GradesSchema(StrictTable):
    """``[grades]``: the graded categories and each grade's on-site limits by zone."""

    categories = Items(Member(Category, "category"), load_default=list)
    on_site = Table(keys=GradeKey(), values=fields.Nested(ZoneLimitsSchema), load_default=dict)

    @validates_schema
    def _complete_and_ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        table: dict[Grade, dict[Zone, Limit]] = data["on_site"]
        if data["categories"]:
            for grade in Grade:
                if grade not in table:
                    problem = (
                        "missing; every grade needs its on-site limits when categories are graded"
                    )
                    raise ValidationError({"on_site": {str(grade.value): [problem]}})
        grades = sorted(table)
        for zone in Zone:
            for severe, lesser in pairwise(grades):
                if _longer(table[severe][zone], table[lesser][zone]):
                    problem = (
                        f"longer than grade {lesser.value}'s {table[lesser][zone].text}; "
                        "a more severe grade never gets more time"
                    )
                    where = {str(severe.value): {str(zone): [problem]}}
                    raise ValidationError({"on_site": where})


def _longer(one: Limit, other: Limit) -> bool:
    # Only two around-the-clock durations compare without knowing the start.
    return one.duration is not None and other.duration is not None and one.duration > other.duration


class CalendarSchema(StrictTable):
    """``[calendar]``: business hours and local changes to the national calendar."""

    opens = LocalTime(load_default=DEFAULT_OPENS)
    closes = LocalTime(load_default=DEFAULT_CLOSES)
    extra_holidays = Items(Day(), load_default=list)
    extra_working_days = Items(Day(), load_default=list)
    locally_covered_years = Items(Year(), load_default=list)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data["opens"] < data["closes"]:
            raise ValidationError(f"must be after opens ({data['opens']:%H:%M})", "closes")
        both = sorted(set(data["extra_holidays"]) & set(data["extra_working_days"]))
        if both:
            raise ValidationError(
                f"{both[0].isoformat()} is also listed in extra_holidays", "extra_working_days"
            )


class Gov12345Schema(StrictTable):
    """``[gov12345]``: the limits of orders from the city's 12345 hotline (12345转办)."""

    acknowledge = fields.Nested(LimitSchema, required=True)
    return_ = fields.Nested(LimitSchema, required=True, data_key="return")
    reply = fields.Nested(LimitSchema, required=True)
    extension = fields.Nested(LimitSchema, required=True)

    @post_load
    def _limits(self, data: dict[str, Any], **kwargs: Any) -> Gov12345Limits:
        return Gov12345Limits(**{key: entry.limit for key, entry in data.items()})


class PolicySchema(StrictTable):
    """The whole file."""

    warning_share = Number(
        required=True,
        validate=Range(
            0,
            1,
            min_inclusive=False,
            max_inclusive=False,
            error="must be between 0 and 1, got {input}",
        ),
    )
    extension_max_working_days = Whole(minimum=1, required=True)
    follow_up_unreachable_attempts = Whole(minimum=1, required=True)
    follow_up_attempt_gap_minutes = Whole(minimum=0, load_default=120)
    calendar = Section(CalendarSchema)
    grades = Section(GradesSchema)
    gov12345 = fields.Nested(Gov12345Schema, load_default=None)
    priorities = _by_priority(PrioritySchema, load_default=dict)
    categories = Table(
        keys=Member(Category, "category"), values=fields.Nested(CategorySchema), required=True
    )

    @validates_schema
    def _cross_checks(self, data: dict[str, Any], **kwargs: Any) -> None:
        for priority, section in data["priorities"].items():
            for stage, entry in section["stages"].items():
                if entry.limit.clock is not ClockKind.AROUND_THE_CLOCK:
                    problem = (
                        "a priority-wide limit runs around the clock (minutes, hours, days); "
                        f"write a working-days limit under categories.<category>.priorities.{priority}"
                    )
                    where = {priority: {"stages": {stage: {"duration": [problem]}}}}
                    raise ValidationError({"priorities": where})
        absent = [c.value for c in Category if c not in data["categories"]]
        if absent:
            problem = (
                f"missing; every category needs at least one stage (missing: {', '.join(absent)})"
            )
            raise ValidationError({"categories": {absent[0]: [problem]}})
        for index, category in enumerate(data["grades"]["categories"]):
            if Stage.ON_SITE not in data["categories"][category]["stages"]:
                problem = (
                    f"category '{category}' has no on_site stage; only a category with "
                    "an on-site limit can be graded"
                )
                raise ValidationError({"grades": {"categories": {index: [problem]}}})


# -- pipe-size bands ------------------------------------------------------------------


def _bound(band: Mapping[str, Any]) -> tuple[str, int] | None:
    for key in ("below_dn", "up_to_dn"):
        if key in band:
            return key, band[key]
    return None


def _band_fault(index: int, message: str, key: str | None = None) -> ValidationError:
    return ValidationError({"bands": {index: {key: [message]} if key else [message]}})


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


def _labelled(bands: list[dict[str, Any]], source: str) -> tuple[PipeSizeBand, ...]:
    """The bands as loaded, each limit's source naming its sizes."""
    result = []
    previous = None
    for band in bands:
        bound = _bound(band)
        limit = replace(band["duration"], source=f"{source}, {_band_label(previous, bound)}")
        result.append(
            PipeSizeBand(limit, below_dn=band.get("below_dn"), up_to_dn=band.get("up_to_dn"))
        )
        previous = bound or previous
    return tuple(result)


# -- reading ----------------------------------------------------------------------------


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def read_policy(data: Any, tz: ZoneInfo) -> dict[str, Any]:
    """The keyword arguments of :class:`TimeLimitPolicy` for the parsed file ``data``.

    ``tz`` is the zone of the calendar. Raises :class:`PolicyError` naming the
    key path of the first fault.
    """
    try:
        loaded = PolicySchema().load(data)
    except ValidationError as error:
        path, message = first_error(error.messages)
        raise PolicyError(_dotted(path) or "(top level)", message) from None
    calendar = loaded["calendar"]
    return {
        "categories": {c: section["stages"] for c, section in loaded["categories"].items()},
        "category_priorities": {
            c: {p: s["stages"] for p, s in section["priorities"].items()}
            for c, section in loaded["categories"].items()
        },
        "priority_stages": {
            p: {stage: entry.limit for stage, entry in section["stages"].items()}
            for p, section in loaded["priorities"].items()
        },
        "priority_clocks": {
            p: section["clock"] for p, section in loaded["priorities"].items() if "clock" in section
        },
        "calendar": WorkCalendar(
            calendar["extra_holidays"],
            calendar["extra_working_days"],
            opens=calendar["opens"],
            closes=calendar["closes"],
            tz=tz,
            locally_covered_years=calendar["locally_covered_years"],
        ),
        "warning_share": float(loaded["warning_share"]),
        "extension_max_working_days": loaded["extension_max_working_days"],
        "follow_up_unreachable_attempts": loaded["follow_up_unreachable_attempts"],
        "follow_up_attempt_gap_minutes": loaded["follow_up_attempt_gap_minutes"],
        "grades": GradeTable(
            frozenset(loaded["grades"]["categories"]), dict(loaded["grades"]["on_site"])
        ),
        "gov12345": loaded["gov12345"],
    }


__all__ = ["PolicySchema", "read_policy"]
