"""The time-limit policy: the shipped defaults, which limit wins, due and warning
times on both clocks, and strict validation of the policy file."""

from __future__ import annotations

import copy
import re
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain import timelimits
from hotline.domain.taxonomy import Category, Priority, Stage
from hotline.domain.timelimits import (
    DEFAULT_POLICY_PATH,
    DURATION_HINT,
    Limit,
    PolicyError,
    TimeLimitPolicy,
    deadline,
)
from hotline.domain.workcalendar import SHANGHAI, ClockKind, WorkCalendar

POLICY = TimeLimitPolicy.load()
RAW: dict[str, Any] = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))

EVERY_LIMIT = [
    (category, priority, stage)
    for category in Category
    for priority in Priority
    for stage in POLICY.stages_for(category, priority)
]


def bj(*args: int) -> datetime:
    """A moment in Beijing time."""
    return datetime(*args, tzinfo=SHANGHAI)


def raw_copy() -> dict[str, Any]:
    return copy.deepcopy(RAW)


def policy_error(data: dict[str, Any]) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        TimeLimitPolicy.from_dict(data)
    return caught.value


# -- the shipped policy ---------------------------------------------------------


def test_default_policy_path_is_the_shipped_config_file() -> None:
    assert DEFAULT_POLICY_PATH.name == "time_limits.toml"
    assert DEFAULT_POLICY_PATH.parent.name == "config"
    assert DEFAULT_POLICY_PATH.is_file()


def test_top_level_settings_are_loaded() -> None:
    assert POLICY.warning_share == 0.8
    assert POLICY.extension_max_working_days == 10
    assert POLICY.follow_up_unreachable_attempts == 3
    assert POLICY.calendar.opens.isoformat("minutes") == "08:30"
    assert POLICY.calendar.closes.isoformat("minutes") == "17:30"
    assert POLICY.source_path == DEFAULT_POLICY_PATH


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("priority", list(Priority))
def test_every_category_has_stages_at_every_priority(
    category: Category, priority: Priority
) -> None:
    assert POLICY.stages_for(category, priority)


# Late on the last working afternoon before National Day 2025 (1-8 October),
# so every working-days limit must jump the whole holiday.
BEFORE_HOLIDAY = bj(2025, 9, 30, 17, 0)


@pytest.mark.parametrize(
    ("category", "priority", "stage"),
    EVERY_LIMIT,
    ids=[f"{c}-{p}-{s}" for c, p, s in EVERY_LIMIT],
)
def test_every_default_limit_gives_a_due_time_on_its_clock(
    category: Category, priority: Priority, stage: Stage
) -> None:
    limit = POLICY.limit_for(category, priority, stage)
    assert limit is not None
    assert limit.source
    due = POLICY.due_at(BEFORE_HOLIDAY, category, priority, stage)
    assert due is not None
    assert due > BEFORE_HOLIDAY
    assert due.tzinfo is SHANGHAI
    if limit.clock is ClockKind.AROUND_THE_CLOCK:
        assert limit.duration is not None
        assert due - BEFORE_HOLIDAY == limit.duration  # the holiday does not stop it
    else:
        assert due.date() >= date(2025, 10, 9)  # the holiday stops it
        if limit.working_days is not None:
            asked = limit.working_days * POLICY.calendar.working_day_length
        else:
            asked = timedelta(hours=limit.working_hours or 0)
        assert POLICY.calendar.working_time_between(BEFORE_HOLIDAY, due) == asked


def test_emergencies_run_around_the_clock_for_every_category() -> None:
    for category in Category:
        for stage in POLICY.stages_for(category, Priority.EMERGENCY):
            limit = POLICY.limit_for(category, Priority.EMERGENCY, stage)
            assert limit is not None
            assert limit.clock is ClockKind.AROUND_THE_CLOCK, (category, stage)


def test_leaks_run_around_the_clock_at_every_priority_f12() -> None:
    for priority in Priority:
        for stage in POLICY.stages_for(Category.LEAK, priority):
            limit = POLICY.limit_for(Category.LEAK, priority, stage)
            assert limit is not None
            assert limit.clock is ClockKind.AROUND_THE_CLOCK


@pytest.mark.parametrize(
    ("category", "stage", "text"),
    [
        (Category.LEAK, Stage.ON_SITE, "30min"),
        (Category.LEAK, Stage.SHUT_OFF, "4h"),
        (Category.COMPLAINT, Stage.ACKNOWLEDGE, "2 working hours"),
        (Category.COMPLAINT, Stage.ON_SITE, "2 working days"),
        (Category.COMPLAINT, Stage.RESOLVE, "5 working days"),
        (Category.COMPLAINT, Stage.REPLY, "5 working days"),
        (Category.CONSULTATION, Stage.REPLY, "2 working days"),
        (Category.WATER_QUALITY, Stage.ACKNOWLEDGE, "2h"),
        (Category.WATER_QUALITY, Stage.REPLY, "24h"),
        (Category.METER_FAULT, Stage.ACKNOWLEDGE, "1 working day"),
        (Category.METER_FAULT, Stage.RESOLVE, "3 days"),
        (Category.METER_WELL, Stage.ON_SITE, "2 days"),
        (Category.NO_WATER, Stage.RESOLVE, "24h"),
        (Category.BILLING, Stage.FOLLOW_UP, "1 day"),
    ],
)
def test_normal_priority_defaults_follow_the_published_commitments(
    category: Category, stage: Stage, text: str
) -> None:
    limit = POLICY.limit_for(category, Priority.NORMAL, stage)
    assert limit is not None
    assert limit.text == text


def test_meter_well_on_site_check_is_two_days_f10() -> None:
    limit = POLICY.limit_for(Category.METER_WELL, Priority.NORMAL, Stage.ON_SITE)
    assert limit is not None
    assert limit.duration == timedelta(days=2)
    assert "F10" in limit.source


def test_every_entry_of_the_shipped_file_has_a_comment() -> None:
    lines = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").splitlines()
    entry = re.compile(r"^[a-z_]+ = \{ *duration")
    for number, line in enumerate(lines):
        if entry.match(line):
            assert lines[number - 1].startswith("#"), f"line {number + 1}: {line}"
        if re.match(r"^\[categories\.\w+\.stages\.\w+\]", line):
            assert lines[number + 1].startswith("#"), f"line {number + 1}: {line}"


# -- which limit wins -------------------------------------------------------------


def test_a_stage_the_category_does_not_have_has_no_limit() -> None:
    assert POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.REPLY) is None
    assert POLICY.limit_for(Category.CONSULTATION, Priority.EMERGENCY, Stage.SHUT_OFF) is None
    assert POLICY.due_at(BEFORE_HOLIDAY, Category.LEAK, Priority.NORMAL, Stage.REPLY) is None


def test_stages_come_in_the_order_work_goes_through_them() -> None:
    assert POLICY.stages_for(Category.LEAK, Priority.NORMAL) == [
        Stage.DISPATCH,
        Stage.ACKNOWLEDGE,
        Stage.SET_OUT,
        Stage.ON_SITE,
        Stage.SHUT_OFF,
        Stage.RESOLVE,
        Stage.FOLLOW_UP,
    ]


def test_plain_strings_are_accepted_for_the_vocabulary() -> None:
    assert POLICY.limit_for("complaint", "normal", "reply") == POLICY.limit_for(
        Category.COMPLAINT, Priority.NORMAL, Stage.REPLY
    )
    with pytest.raises(ValueError):
        POLICY.limit_for("leek", "normal", "reply")


def test_emergency_priority_shortens_acknowledgement_to_30_minutes() -> None:
    limit = POLICY.limit_for(Category.COMPLAINT, Priority.EMERGENCY, Stage.ACKNOWLEDGE)
    assert limit is not None
    assert limit.duration == timedelta(minutes=30)


def test_emergency_priority_counts_working_day_limits_around_the_clock() -> None:
    limit = POLICY.limit_for(Category.COMPLAINT, Priority.EMERGENCY, Stage.RESOLVE)
    assert limit is not None
    assert limit.clock is ClockKind.AROUND_THE_CLOCK
    assert limit.duration == timedelta(days=5)
    assert "emergency" in limit.source
    due = POLICY.due_at(BEFORE_HOLIDAY, Category.COMPLAINT, Priority.EMERGENCY, Stage.RESOLVE)
    assert due == bj(2025, 10, 5, 17, 0)


def test_high_priority_is_not_held_up_by_holidays() -> None:
    limit = POLICY.limit_for(Category.CONSULTATION, Priority.HIGH, Stage.REPLY)
    assert limit is not None
    assert limit.clock is ClockKind.AROUND_THE_CLOCK
    assert limit.duration == timedelta(days=2)


def test_a_category_priority_entry_beats_everything() -> None:
    limit = POLICY.limit_for(Category.METER_WELL, Priority.EMERGENCY, Stage.RESOLVE)
    assert limit is not None
    assert limit.duration == timedelta(hours=24)
    normal = POLICY.limit_for(Category.METER_WELL, Priority.NORMAL, Stage.RESOLVE)
    assert normal is not None
    assert normal.duration == timedelta(days=3)


def test_a_priority_wide_limit_never_loosens_a_shorter_category_limit() -> None:
    data = raw_copy()
    data["priorities"]["emergency"]["stages"]["on_site"] = {
        "duration": "1h",
        "source": "test",
    }
    policy = TimeLimitPolicy.from_dict(data)
    leak = policy.limit_for(Category.LEAK, Priority.EMERGENCY, Stage.ON_SITE)
    assert leak is not None
    assert leak.duration == timedelta(minutes=30)
    quality = policy.limit_for(Category.WATER_QUALITY, Priority.EMERGENCY, Stage.ON_SITE)
    assert quality is not None
    assert quality.duration == timedelta(hours=1)


def test_a_priority_wide_limit_applies_only_to_stages_the_category_has() -> None:
    assert Stage.DISPATCH in POLICY.stages_for(Category.BILLING, Priority.EMERGENCY)
    assert Stage.ON_SITE not in POLICY.stages_for(Category.BILLING, Priority.EMERGENCY)


# -- pipe-size bands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dn", "hours"),
    [
        (100, 12),
        (199, 12),
        (200, 24),
        (300, 24),
        (400, 24),
        (401, 36),
        (600, 36),
        (800, 36),
        (801, 48),
        (1200, 48),
    ],
)
def test_leak_repair_limit_follows_the_pipe_size(dn: int, hours: int) -> None:
    limit = POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.RESOLVE, pipe_size_dn=dn)
    assert limit is not None
    assert limit.duration == timedelta(hours=hours)
    assert "DN" in limit.source
    due = POLICY.due_at(
        BEFORE_HOLIDAY, Category.LEAK, Priority.NORMAL, Stage.RESOLVE, pipe_size_dn=dn
    )
    assert due == BEFORE_HOLIDAY + timedelta(hours=hours)


def test_unknown_pipe_size_takes_the_shortest_band() -> None:
    limit = POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.RESOLVE)
    assert limit is not None
    assert limit.duration == timedelta(hours=12)


def test_pipe_size_is_ignored_where_a_stage_has_no_bands() -> None:
    plain = POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.SHUT_OFF)
    sized = POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.SHUT_OFF, pipe_size_dn=900)
    assert plain == sized


@pytest.mark.parametrize("dn", [0, -100, True, 2.5])
def test_a_pipe_size_must_be_a_positive_whole_number(dn: Any) -> None:
    with pytest.raises(ValueError, match="pipe_size_dn"):
        POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.RESOLVE, pipe_size_dn=dn)


# -- due, warning and extension times ---------------------------------------------


def test_working_days_due_time_from_friday_afternoon() -> None:
    due = POLICY.due_at(
        bj(2025, 11, 14, 15, 0), Category.CONSULTATION, Priority.NORMAL, Stage.REPLY
    )
    assert due == bj(2025, 11, 18, 15, 0)


def test_due_at_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.due_at(datetime(2025, 11, 14), Category.LEAK, Priority.NORMAL, Stage.SHUT_OFF)


def test_warning_comes_at_80_percent_around_the_clock() -> None:
    start = bj(2025, 11, 14, 15, 0)
    assert POLICY.warn_at(start, start + timedelta(hours=4)) == bj(2025, 11, 14, 18, 12)


def test_warning_on_the_working_days_clock_is_a_share_of_real_elapsed_time() -> None:
    start, due = bj(2025, 11, 14, 15, 0), bj(2025, 11, 18, 15, 0)  # 96 hours apart
    assert POLICY.warn_at(start, due) == start + timedelta(hours=96 * 0.8)


def test_warning_refuses_a_due_time_before_the_start() -> None:
    with pytest.raises(ValueError, match="before start"):
        POLICY.warn_at(bj(2025, 11, 14, 15, 0), bj(2025, 11, 14, 14, 0))


def test_an_extension_reaches_at_most_ten_working_days_past_the_due_time() -> None:
    # After 30 September come 9, 10, 11 (make-up Saturday), 13-17, 20, 21 October.
    assert POLICY.latest_extended_due(bj(2025, 9, 30, 15, 0)) == bj(2025, 10, 21, 15, 0)


def test_deadline_dispatches_on_the_limit_clock() -> None:
    cal = WorkCalendar()
    start = bj(2025, 11, 14, 16, 30)
    assert deadline(start, Limit.parse("2h"), cal) == bj(2025, 11, 14, 18, 30)
    assert deadline(start, Limit.parse("2 working hours"), cal) == bj(2025, 11, 17, 9, 30)
    assert deadline(start, Limit.parse("1 working day"), cal) == bj(2025, 11, 17, 16, 30)


# -- reading limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clock", "amount"),
    [
        ("30min", ClockKind.AROUND_THE_CLOCK, timedelta(minutes=30)),
        ("30 minutes", ClockKind.AROUND_THE_CLOCK, timedelta(minutes=30)),
        ("4h", ClockKind.AROUND_THE_CLOCK, timedelta(hours=4)),
        ("1.5 hours", ClockKind.AROUND_THE_CLOCK, timedelta(hours=1.5)),
        ("3 days", ClockKind.AROUND_THE_CLOCK, timedelta(days=3)),
        ("30分钟", ClockKind.AROUND_THE_CLOCK, timedelta(minutes=30)),
        ("4小时", ClockKind.AROUND_THE_CLOCK, timedelta(hours=4)),
        ("3天", ClockKind.AROUND_THE_CLOCK, timedelta(days=3)),
        ("2 working days", ClockKind.WORKING_DAYS, 2),
        ("1 Working  Day", ClockKind.WORKING_DAYS, 1),
        ("2个工作日", ClockKind.WORKING_DAYS, 2),
        ("2 working hours", ClockKind.WORKING_DAYS, 2),
    ],
)
def test_limits_are_read_in_english_or_chinese_units(
    text: str, clock: ClockKind, amount: timedelta | int
) -> None:
    limit = Limit.parse(text, "test")
    assert limit.clock is clock
    if isinstance(amount, timedelta):
        assert limit.duration == amount
    elif "hour" in text:
        assert limit.working_hours == amount
    else:
        assert limit.working_days == amount


@pytest.mark.parametrize("text", ["", "soon", "4", "h", "0h", "-1h", "2 weeks", "4 hours please"])
def test_unreadable_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        Limit.parse(text)


# -- strict validation of the file --------------------------------------------------------


def test_a_malformed_duration_is_named_by_its_key_path() -> None:
    data = raw_copy()
    data["categories"]["leak"]["stages"]["resolve"]["duration"] = "soon"
    error = policy_error(data)
    assert error.path == "categories.leak.stages.resolve.duration"
    assert str(error).startswith(f"categories.leak.stages.resolve.duration: {DURATION_HINT}")


def test_a_duration_that_is_not_text_is_named() -> None:
    data = raw_copy()
    data["categories"]["billing"]["stages"]["reply"]["duration"] = 5
    assert policy_error(data).path == "categories.billing.stages.reply.duration"


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


def _delete(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    del data[last]


@pytest.mark.parametrize(
    ("path", "value", "named", "words"),
    [
        ("categories.leek", {"stages": {}}, "categories.leek", "unknown category"),
        (
            "categories.leak.stages.repair",
            {"duration": "4h", "source": "x"},
            "categories.leak.stages.repair",
            "unknown stage",
        ),
        ("priorities.urgent", {}, "priorities.urgent", "unknown priority"),
        ("priorities.emergency.clock", "24/7", "priorities.emergency.clock", "unknown clock"),
        (
            "priorities.emergency.clock",
            "working_days",
            "priorities.emergency.clock",
            "around_the_clock",
        ),
        (
            "priorities.emergency.stages.acknowledge",
            {"duration": "1 working day", "source": "x"},
            "priorities.emergency.stages.acknowledge.duration",
            "around the clock",
        ),
        (
            "priorities.emergency.stages.acknowledge",
            {"duration": "30min", "source": "x", "bands": []},
            "priorities.emergency.stages.acknowledge.bands",
            "unknown key",
        ),
        (
            "categories.leak.stages.dispatch.clock",
            "around_the_clock",
            "categories.leak.stages.dispatch.clock",
            "unknown key",
        ),
        ("categories.billing.stages", {}, "categories.billing.stages", "at least one stage"),
        ("categories.leak", "fast", "categories.leak", "expected a table"),
        (
            "categories.meter_well.priorities",
            "fast",
            "categories.meter_well.priorities",
            "expected a table",
        ),
        ("warn_share", 0.8, "warn_share", "unknown key"),
        ("warning_share", 1.5, "warning_share", "between 0 and 1"),
        ("warning_share", "80%", "warning_share", "expected a number"),
        ("extension_max_working_days", 0, "extension_max_working_days", "at least 1"),
        ("follow_up_unreachable_attempts", True, "follow_up_unreachable_attempts", "whole"),
        ("calendar.opens", "8.30", "calendar.opens", "08:30"),
        ("calendar.closes", "07:00", "calendar.closes", "after opens"),
        ("calendar.extra_holidays", ["2026-13-01"], "calendar.extra_holidays[0]", "date"),
        ("calendar.extra_holidays", "2026-10-01", "calendar.extra_holidays", "list"),
        ("calendar.locally_covered_years", ["2027"], "calendar.locally_covered_years[0]", "year"),
        ("calendar.weekend", [], "calendar.weekend", "unknown key"),
        (
            "categories.complaint.stages.reply.source",
            "  ",
            "categories.complaint.stages.reply.source",
            "where the limit comes from",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(
    path: str, value: Any, named: str, words: str
) -> None:
    data = raw_copy()
    _set(data, path, value)
    error = policy_error(data)
    assert error.path == named
    assert words in str(error)
    assert str(error).startswith(f"{named}: ")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("warning_share", "warning_share"),
        ("categories", "categories"),
        ("categories.suggestion", "categories.suggestion"),
        ("categories.complaint.stages", "categories.complaint.stages"),
        ("categories.complaint.stages.reply.source", "categories.complaint.stages.reply.source"),
        ("categories.leak.stages.shut_off.duration", "categories.leak.stages.shut_off.duration"),
    ],
)
def test_missing_keys_are_named(path: str, named: str) -> None:
    data = raw_copy()
    _delete(data, path)
    error = policy_error(data)
    assert error.path == named
    assert "missing" in str(error)


def test_a_date_both_extra_holiday_and_extra_working_day_is_refused() -> None:
    data = raw_copy()
    data["calendar"]["extra_holidays"] = ["2026-07-15"]
    data["calendar"]["extra_working_days"] = [date(2026, 7, 15)]
    error = policy_error(data)
    assert error.path == "calendar.extra_working_days"
    assert "2026-07-15" in str(error)


def test_calendar_overrides_reach_the_calendar() -> None:
    data = raw_copy()
    data["calendar"].update(
        extra_holidays=["2025-11-19"],
        extra_working_days=[date(2025, 11, 15)],
        locally_covered_years=[2099],
        opens="08:00",
        closes="18:00",
    )
    cal = TimeLimitPolicy.from_dict(data).calendar
    assert not cal.is_working_day(date(2025, 11, 19))
    assert cal.is_working_day(date(2025, 11, 15))
    assert cal.covered(date(2099, 1, 1))
    assert cal.working_day_length == timedelta(hours=10)


BANDS = "categories.leak.stages.resolve.bands"


@pytest.mark.parametrize(
    ("bands", "named", "words"),
    [
        ([], BANDS, "at least one band"),
        (
            [{"below_dn": 200, "up_to_dn": 400, "duration": "12h"}, {"duration": "48h"}],
            f"{BANDS}[0]",
            "not both",
        ),
        (
            [{"up_to_dn": 400, "duration": "24h"}, {"below_dn": 200, "duration": "12h"}],
            f"{BANDS}[1]",
            "the last band",
        ),
        (
            [{"duration": "12h"}, {"up_to_dn": 400, "duration": "24h"}, {"duration": "48h"}],
            f"{BANDS}[0]",
            "only the last band",
        ),
        (
            [
                {"up_to_dn": 400, "duration": "24h"},
                {"below_dn": 300, "duration": "12h"},
                {"duration": "48h"},
            ],
            f"{BANDS}[1].below_dn",
            "small pipes to large",
        ),
        (
            [{"below_dn": 200, "duration": "quick"}, {"duration": "48h"}],
            f"{BANDS}[0].duration",
            "expected a duration",
        ),
        (
            [{"below_dn": "DN200", "duration": "12h"}, {"duration": "48h"}],
            f"{BANDS}[0].below_dn",
            "whole number",
        ),
        (
            [{"below_dn": 200, "duration": "12h", "material": "cast iron"}, {"duration": "48h"}],
            f"{BANDS}[0].material",
            "unknown key",
        ),
    ],
)
def test_badly_formed_pipe_size_bands_are_refused(
    bands: list[dict[str, Any]], named: str, words: str
) -> None:
    data = raw_copy()
    data["categories"]["leak"]["stages"]["resolve"]["bands"] = bands
    error = policy_error(data)
    assert error.path == named
    assert words in str(error)


def test_an_unreadable_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "time_limits.toml"
    broken.write_text('warning_share = 0.8\n[categories\nleak = "x"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML") as caught:
        TimeLimitPolicy.load(broken)
    assert caught.value.path == str(broken)
    with pytest.raises(PolicyError, match="cannot read"):
        TimeLimitPolicy.load(tmp_path / "missing.toml")


def test_the_default_path_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        "warning_share = 0.8", "warning_share = 0.75"
    )
    local = tmp_path / "local_time_limits.toml"
    local.write_text(text, encoding="utf-8")
    monkeypatch.setattr(timelimits, "DEFAULT_POLICY_PATH", local)
    policy = TimeLimitPolicy.load()
    assert policy.warning_share == 0.75
    assert policy.source_path == local


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2027, 12, 31),
        timezones=st.just(SHANGHAI),
    ),
    case=st.sampled_from(EVERY_LIMIT),
    dn=st.one_of(st.none(), st.integers(1, 2000)),
)
def test_a_due_time_is_never_before_its_start_and_the_warning_falls_between(
    start: datetime, case: tuple[Category, Priority, Stage], dn: int | None
) -> None:
    due = POLICY.due_at(start, *case, pipe_size_dn=dn)
    assert due is not None
    assert due > start
    assert start <= POLICY.warn_at(start, due) <= due
