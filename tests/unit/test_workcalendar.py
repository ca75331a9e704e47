"""The working-days calendar and the two clocks: holidays, make-up days,
local overrides, coverage and the counting convention."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain.workcalendar import SHANGHAI, WorkCalendar, add_elapsed

CAL = WorkCalendar()


def bj(*args: int) -> datetime:
    """A moment in Beijing time."""
    return datetime(*args, tzinfo=SHANGHAI)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


# -- the national calendar ----------------------------------------------------


def test_national_day_2025_week_is_not_worked() -> None:
    for day in days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not CAL.is_working_day(day), day


@pytest.mark.parametrize(
    "make_up_day",
    [date(2025, 9, 28), date(2025, 10, 11)],
    ids=["sunday-2025-09-28", "saturday-2025-10-11"],
)
def test_national_day_make_up_weekend_days_are_working_days(make_up_day: date) -> None:
    assert make_up_day.weekday() >= 5
    assert CAL.is_working_day(make_up_day)


def test_spring_festival_2026_matches_the_library_data() -> None:
    holiday = days(date(2026, 2, 15), date(2026, 2, 23))
    for day in holiday:
        assert chinese_calendar.get_holiday_detail(day) == (True, "Spring Festival")
        assert not CAL.is_working_day(day), day
    for make_up in (date(2026, 2, 14), date(2026, 2, 28)):
        assert make_up.weekday() == 5
        assert chinese_calendar.get_holiday_detail(make_up) == (False, "Spring Festival")
        assert CAL.is_working_day(make_up), make_up
    assert CAL.is_working_day(date(2026, 2, 24))


def test_ordinary_weekend_is_not_worked_and_weekdays_are() -> None:
    assert [CAL.is_working_day(d) for d in days(date(2025, 11, 10), date(2025, 11, 16))] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


# -- the counting convention ----------------------------------------------------


def test_two_working_days_from_friday_afternoon_end_tuesday_same_time() -> None:
    assert CAL.add_working_days(bj(2025, 11, 14, 15, 0), 2) == bj(2025, 11, 18, 15, 0)


def test_working_days_skip_the_whole_national_day_holiday() -> None:
    start = bj(2025, 9, 30, 15, 0)
    assert CAL.add_working_days(start, 1) == bj(2025, 10, 9, 15, 0)
    assert CAL.add_working_days(start, 2) == bj(2025, 10, 10, 15, 0)


def test_a_make_up_saturday_counts_as_a_working_day() -> None:
    # Friday 10 October, then the make-up Saturday 11 October.
    assert CAL.add_working_days(bj(2025, 10, 10, 15, 0), 1) == bj(2025, 10, 11, 15, 0)
    # Friday 26 September, then the make-up Sunday 28 September.
    assert CAL.add_working_days(bj(2025, 9, 26, 15, 0), 1) == bj(2025, 9, 28, 15, 0)


def test_spring_festival_2026_stops_the_working_days_clock() -> None:
    start = bj(2026, 2, 13, 15, 0)  # Friday before the make-up Saturday
    assert CAL.add_working_days(start, 1) == bj(2026, 2, 14, 15, 0)
    assert CAL.add_working_days(start, 2) == bj(2026, 2, 24, 15, 0)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (bj(2025, 11, 15, 10, 0), bj(2025, 11, 17, 17, 30)),  # Saturday
        (bj(2025, 11, 16, 23, 59), bj(2025, 11, 17, 17, 30)),  # Sunday night
        (bj(2025, 11, 17, 7, 0), bj(2025, 11, 17, 17, 30)),  # before opening
        (bj(2025, 11, 14, 20, 0), bj(2025, 11, 17, 17, 30)),  # Friday after closing
        (bj(2025, 10, 3, 9, 0), bj(2025, 10, 9, 17, 30)),  # during National Day
    ],
    ids=["saturday", "sunday-night", "before-opening", "after-closing", "holiday"],
)
def test_outside_business_hours_counting_starts_at_the_next_opening(
    start: datetime, due: datetime
) -> None:
    assert CAL.add_working_days(start, 1) == due


def test_a_limit_running_out_at_closing_ends_at_the_close_not_the_next_opening() -> None:
    assert CAL.add_working_days(bj(2025, 11, 17, 8, 30), 1) == bj(2025, 11, 17, 17, 30)
    assert CAL.add_working_hours(bj(2025, 11, 17, 15, 30), 2) == bj(2025, 11, 17, 17, 30)


def test_working_hours_carry_over_the_weekend() -> None:
    assert CAL.add_working_hours(bj(2025, 11, 14, 16, 30), 2) == bj(2025, 11, 17, 9, 30)


def test_fractional_working_days_are_shares_of_the_business_day() -> None:
    # Half of a nine-hour day is 4.5 working hours.
    assert CAL.add_working_days(bj(2025, 11, 17, 8, 30), 0.5) == bj(2025, 11, 17, 13, 0)


def test_zero_returns_the_start_in_beijing_time() -> None:
    start = datetime(2025, 11, 15, 2, 0, tzinfo=UTC)
    assert CAL.add_working_days(start, 0) == start
    assert CAL.add_working_days(start, 0).tzinfo is SHANGHAI


def test_other_zones_are_accepted_and_the_result_is_in_beijing_time() -> None:
    start = datetime(2025, 11, 14, 7, 0, tzinfo=UTC)  # 15:00 in Beijing
    due = CAL.add_working_days(start, 2)
    assert due == bj(2025, 11, 18, 15, 0)
    assert due.tzinfo is SHANGHAI
    assert due.utcoffset() == timedelta(hours=8)


def test_business_hours_are_configurable() -> None:
    cal = WorkCalendar(opens=time(8, 0), closes=time(18, 0))
    assert cal.working_day_length == timedelta(hours=10)
    assert cal.add_working_days(bj(2025, 11, 14, 15, 0), 2) == bj(2025, 11, 18, 15, 0)
    assert cal.add_working_days(bj(2025, 11, 15, 10, 0), 1) == bj(2025, 11, 17, 18, 0)


def test_working_time_between_counts_only_business_hours_on_working_days() -> None:
    a, b = bj(2025, 11, 14, 15, 0), bj(2025, 11, 18, 15, 0)
    assert CAL.working_time_between(a, b) == timedelta(hours=18)
    assert CAL.working_time_between(b, a) == -timedelta(hours=18)
    holiday = CAL.working_time_between(bj(2025, 10, 1, 0, 0), bj(2025, 10, 8, 23, 59))
    assert holiday == timedelta(0)


def test_next_working_day_skips_holidays() -> None:
    assert CAL.next_working_day(date(2025, 9, 30)) == date(2025, 10, 9)
    assert CAL.next_working_day(date(2025, 10, 10)) == date(2025, 10, 11)


# -- the around-the-clock clock ---------------------------------------------------


def test_around_the_clock_does_not_stop_for_holidays() -> None:
    assert add_elapsed(bj(2025, 9, 30, 15, 0), timedelta(hours=48)) == bj(2025, 10, 2, 15, 0)


def test_around_the_clock_refuses_negative_durations() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_elapsed(bj(2025, 9, 30, 15, 0), timedelta(hours=-1))


# -- local overrides ------------------------------------------------------------------


def test_an_extra_local_holiday_stops_the_working_days_clock() -> None:
    wednesday = date(2025, 11, 19)
    cal = WorkCalendar(extra_holidays={wednesday})
    assert not cal.is_working_day(wednesday)
    assert cal.add_working_days(bj(2025, 11, 18, 15, 0), 1) == bj(2025, 11, 20, 15, 0)


def test_an_extra_local_working_day_counts() -> None:
    saturday = date(2025, 11, 15)
    cal = WorkCalendar(extra_working_days={saturday})
    assert cal.is_working_day(saturday)
    assert cal.add_working_days(bj(2025, 11, 14, 15, 0), 1) == bj(2025, 11, 15, 15, 0)


def test_local_overrides_win_over_the_national_calendar() -> None:
    cal = WorkCalendar(
        extra_holidays={date(2025, 10, 11)},  # a national make-up Saturday
        extra_working_days={date(2025, 10, 3)},  # a national holiday
    )
    assert not cal.is_working_day(date(2025, 10, 11))
    assert cal.is_working_day(date(2025, 10, 3))


def test_a_date_both_holiday_and_working_day_is_refused() -> None:
    day = date(2025, 11, 19)
    with pytest.raises(ValueError, match="2025-11-19"):
        WorkCalendar(extra_holidays=[day], extra_working_days=[day])


def test_opening_after_closing_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        WorkCalendar(opens=time(17, 30), closes=time(8, 30))


# -- coverage --------------------------------------------------------------------------


def test_years_the_library_knows_are_covered() -> None:
    assert CAL.covered(date(2025, 10, 1))
    assert CAL.covered(date(2026, 2, 17))


@pytest.mark.parametrize("year", [2003, 2099])
def test_outside_coverage_falls_back_to_monday_to_friday(year: int) -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(year, 1, 1))
    assert not CAL.covered(date(year, 1, 1))
    monday = date(year, 6, 1) - timedelta(days=date(year, 6, 1).weekday())
    week = [CAL.is_working_day(monday + timedelta(n)) for n in range(7)]
    assert week == [True] * 5 + [False] * 2


def test_counting_across_the_end_of_coverage_does_not_fail() -> None:
    last = max(y for y in range(2004, 2200) if CAL.covered(date(y, 1, 1)))
    start = bj(last, 12, 30, 15, 0)
    due = CAL.add_working_days(start, 5)
    assert due > start
    assert not CAL.covered(due.date())


def test_local_overrides_apply_outside_coverage_and_can_declare_a_year_covered() -> None:
    year = 2099
    new_year = date(year, 1, 1)
    cal = WorkCalendar(extra_holidays={new_year}, locally_covered_years={year})
    assert not cal.is_working_day(new_year)
    assert cal.covered(new_year)


# -- refusals ---------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 11, 14, 15, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_working_days(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_working_hours(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.working_time_between(naive, bj(2025, 11, 14, 15, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        add_elapsed(naive, timedelta(hours=1))


@pytest.mark.parametrize("amount", [-1, float("nan"), float("inf")])
def test_negative_or_non_finite_amounts_are_refused(amount: float) -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(bj(2025, 11, 14, 15, 0), amount)


# -- properties ---------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(SHANGHAI)
)
amounts = st.one_of(st.integers(0, 25), st.floats(0, 25, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(start=moments, other=moments, first=amounts, second=amounts)
def test_add_working_days_is_never_before_start_and_is_monotonic(
    start: datetime, other: datetime, first: float, second: float
) -> None:
    due = CAL.add_working_days(start, first)
    assert due >= start
    low, high = sorted((first, second))
    assert CAL.add_working_days(start, low) <= CAL.add_working_days(start, high)
    early, late = sorted((start, other))
    assert CAL.add_working_days(early, first) <= CAL.add_working_days(late, first)
    # The working time actually counted is what was asked for.
    counted = CAL.working_time_between(start, due)
    assert abs(counted - first * CAL.working_day_length) <= timedelta(milliseconds=1)
