"""The published figures' arithmetic on a small data set counted by hand
(dispatch.domain.figures): one test per figure, plus the period rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.domain.figures import (
    CallRow,
    ContactRow,
    Figure,
    FollowUpRow,
    Frame,
    Group,
    Grouping,
    PeriodError,
    Ratio,
    Rows,
    StageRow,
    all_figures,
    answer_rate,
    buckets,
    first_contact_rate,
    follow_up_rate,
    on_time_rate,
    parse_grouping,
    parse_period,
    repeat_rate,
    repeated_contacts,
    satisfaction_rate,
    three_ring_rate,
)
from hotline.domain.taxonomy import Disposition, FollowUpOutcome

TZ = ZoneInfo("Asia/Shanghai")
DAY1 = datetime(2026, 11, 26, 9, 0, tzinfo=TZ)  # a Thursday
DAY2 = DAY1 + timedelta(days=1)
WANG = Group("s1", "王")
LI = Group("s2", "李")
HOTLINE = Group("d1", "热线")
REPAIR = Group("d2", "维修")
BY_DAY = Frame(date(2026, 11, 26), date(2026, 11, 27), Grouping.DAY, TZ)
BY_OPERATOR = Frame(date(2026, 11, 26), date(2026, 11, 27), Grouping.OPERATOR, TZ)


def _by_key(table):
    return {row.key: (row.ratio.numerator, row.ratio.denominator) for row in table.rows}


# Day 1: four calls — answered in 5 s (王), in 15 s (王, exactly the limit), in 40 s (李),
# one abandoned. Day 2: one answered in 3 s (李, the time measured from the two moments).
CALLS = [
    CallRow(DAY1, DAY1 + timedelta(seconds=5), 5.0, WANG, HOTLINE),
    CallRow(DAY1, DAY1 + timedelta(seconds=15), 15.0, WANG, HOTLINE),
    CallRow(DAY1, DAY1 + timedelta(seconds=40), 40.0, LI, HOTLINE),
    CallRow(DAY1, None),
    CallRow(DAY2, DAY2 + timedelta(seconds=3), None, LI, HOTLINE),
]


def test_answer_rate_counts_answered_over_offered_calls() -> None:
    table = answer_rate(BY_DAY, CALLS)
    assert _by_key(table) == {"2026-11-26": (3, 4), "2026-11-27": (1, 1)}
    assert table.total == Ratio(4, 5) and table.total.percent == 80.0
    by_op = answer_rate(BY_OPERATOR, CALLS)
    assert _by_key(by_op) == {"s1": (2, 2), "s2": (2, 2), "": (0, 1)}  # nobody last


def test_three_ring_rate_counts_answered_within_the_limit_over_answered() -> None:
    table = three_ring_rate(BY_DAY, CALLS, 15.0)
    assert _by_key(table) == {"2026-11-26": (2, 3), "2026-11-27": (1, 1)}
    assert table.total == Ratio(3, 4)
    assert _by_key(three_ring_rate(BY_OPERATOR, CALLS, 15.0)) == {"s1": (2, 2), "s2": (1, 2)}
    assert three_ring_rate(BY_DAY, CALLS, 4.0).total == Ratio(1, 4)


STAGES = [
    StageRow(DAY1, "dispatch", True, WANG, REPAIR),
    StageRow(DAY1, "dispatch", False, WANG, REPAIR),
    StageRow(DAY1, "acknowledge", True, LI, REPAIR),
    StageRow(DAY1, "acknowledge", None, LI, REPAIR),  # not judged yet: left out
    StageRow(DAY2, "on_site", False, LI, None),
]


def test_on_time_rate_counts_stages_met_over_stages_judged_per_stage() -> None:
    table = on_time_rate(BY_DAY, STAGES)
    assert _by_key(table) == {"2026-11-26": (2, 3), "2026-11-27": (0, 1)}
    assert table.total == Ratio(2, 4) and table.total.percent == 50.0
    details = [(d.key, d.detail, d.ratio) for d in table.details]
    assert details == [
        ("2026-11-26", "dispatch", Ratio(1, 2)),
        ("2026-11-26", "acknowledge", Ratio(1, 1)),
        ("2026-11-27", "on_site", Ratio(0, 1)),
    ]
    by_dept = on_time_rate(Frame(BY_DAY.start, BY_DAY.end, Grouping.DEPARTMENT, TZ), STAGES)
    assert _by_key(by_dept) == {"d2": (2, 3), "": (0, 1)}


FOLLOW_UPS = [
    FollowUpRow(DAY1, FollowUpOutcome.SATISFIED, WANG, REPAIR),
    FollowUpRow(DAY1, FollowUpOutcome.BASICALLY_SATISFIED, WANG, REPAIR),
    FollowUpRow(DAY1, FollowUpOutcome.DISSATISFIED, LI, REPAIR),
    FollowUpRow(DAY1, None, LI, REPAIR),  # reached follow-up, nobody reached yet
    FollowUpRow(DAY2, None, LI, REPAIR),
]


def test_follow_up_rate_counts_cases_followed_up_over_cases_reaching_follow_up() -> None:
    table = follow_up_rate(BY_DAY, FOLLOW_UPS)
    assert _by_key(table) == {"2026-11-26": (3, 4), "2026-11-27": (0, 1)}
    assert table.total == Ratio(3, 5) and table.total.percent == 60.0
    assert _by_key(follow_up_rate(BY_OPERATOR, FOLLOW_UPS)) == {"s1": (2, 2), "s2": (1, 3)}


def test_satisfaction_rate_counts_satisfied_over_followed_up() -> None:
    table = satisfaction_rate(BY_DAY, FOLLOW_UPS)
    assert _by_key(table) == {"2026-11-26": (2, 3), "2026-11-27": (0, 0)}
    assert table.total == Ratio(2, 3) and table.total.percent == 66.7
    assert table.rows[1].ratio.rate is None  # nothing followed up on day 2: no rate


def _contact(id_, at, disposition, number=None, case=None, repeats=None, closed=False, who=WANG):
    return ContactRow(id_, at, disposition, number, case, repeats, closed, who, HOTLINE)


A, B, C = "+8613800000001", "+8613800000002", "+8613800000003"
CONTACTS = [
    # 1: answered on the call; A calls again 10 h later (contact 2): repeated
    _contact(1, DAY1, Disposition.ANSWERED, A),
    _contact(2, DAY1 + timedelta(hours=10), Disposition.ANSWERED, A, who=LI),
    # 3: a case (9) opened and since closed, nobody called again: resolved
    _contact(3, DAY1, Disposition.CASE_CREATED, B, case=9, closed=True),
    # 4: a case (7) still open: not resolved (yet), not repeated
    _contact(4, DAY1, Disposition.CASE_CREATED, None, case=7),
    # 5: transferred case (8), closed; 80 h later a new case names 8 as repeated:
    #    outside 72 h, so not a repeat; resolved
    _contact(5, DAY1, Disposition.TRANSFERRED, C, case=8, closed=True),
    _contact(6, DAY1 + timedelta(hours=80), Disposition.CASE_CREATED, None, case=10, repeats=8),
    # 7: an abandoned call: not a contact with the caller at all
    _contact(7, DAY1, Disposition.ABANDONED, B),
    # 8: joined case 7 on day 2 (a repeat of contact 4, within 72 h); not a new matter
    _contact(8, DAY2, Disposition.JOINED_CASE, None, case=7, who=LI),
]


def test_repeated_contacts_match_number_or_case_within_72_hours() -> None:
    assert repeated_contacts(CONTACTS) == {1, 4}


def test_repeat_rate_counts_contacts_repeated_within_72_hours_over_answered_contacts() -> None:
    table = repeat_rate(BY_DAY, CONTACTS)
    # day 1: contacts 1, 2, 3, 4, 5 answered (6 is after the period); 1 and 4 repeated
    assert _by_key(table) == {"2026-11-26": (2, 5), "2026-11-27": (0, 1)}
    assert table.total == Ratio(2, 6)


def test_first_contact_rate_counts_new_matters_settled_without_a_repeat() -> None:
    table = first_contact_rate(BY_DAY, CONTACTS)
    # new matters on day 1: 1 (repeated), 2 (answered, no repeat), 3 (closed),
    # 4 (open), 5 (closed; the repeat came after 72 h) -> 2, 3, 5 resolved
    assert _by_key(table) == {"2026-11-26": (3, 5), "2026-11-27": (0, 0)}
    assert table.total == Ratio(3, 5) and table.total.percent == 60.0
    assert _by_key(first_contact_rate(BY_OPERATOR, CONTACTS)) == {"s1": (2, 4), "s2": (1, 1)}


def test_all_figures_builds_every_table_in_order() -> None:
    tables = all_figures(BY_DAY, Rows(CALLS, STAGES, FOLLOW_UPS, CONTACTS), 15.0)
    assert list(tables) == list(Figure)
    assert tables[Figure.ANSWERED].total == Ratio(4, 5)


def test_buckets_cover_every_day_week_and_month_of_the_period() -> None:
    start, end = date(2026, 11, 26), date(2026, 12, 8)
    assert len(buckets(start, end, Grouping.DAY)) == 13
    assert buckets(start, end, Grouping.WEEK) == ["2026-11-23", "2026-11-30", "2026-12-07"]
    assert buckets(start, end, Grouping.MONTH) == ["2026-11", "2026-12"]
    late_evening = datetime(2026, 11, 30, 23, 30, tzinfo=TZ)  # 15:30 UTC, still Monday here
    frame = Frame(start, end, Grouping.WEEK, TZ)
    assert _by_key(answer_rate(frame, [CallRow(late_evening, None)]))["2026-11-30"] == (0, 1)


def test_a_period_names_the_field_at_fault() -> None:
    today = date(2026, 11, 26)
    assert parse_period(None, None, today) == (date(2026, 10, 28), today)
    assert parse_period("2026-01-01", "2026-12-31", today) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    for start, end, field in [
        ("2026-11-27", "2026-11-26", "to"),
        ("2025-01-01", "2026-11-26", "to"),
        ("26-11-2026", None, "from"),
        ("2026-02-30", None, "from"),
        (None, "yesterday", "to"),
        ("1999-12-31", "2000-01-01", "from"),
    ]:
        with pytest.raises(PeriodError) as caught:
            parse_period(start, end, today)
        assert caught.value.field == field, (start, end)
    with pytest.raises(PeriodError) as caught:
        parse_grouping("year")
    assert caught.value.field == "by"
    assert parse_grouping(None) == Grouping.DAY
