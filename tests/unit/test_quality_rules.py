"""Call quality, pure: the compliance score formula on known records, the trend
per operator, the seeded sample, the quality-check items' file and the
scoring of a check's items. Figures are worked out by hand in each test."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from callflows.domain.quality import (
    CallFacts,
    Check,
    Period,
    QualityStandard,
    QualityStandardError,
    call_score,
    draw_sample,
    period_start,
    score_items,
    trend,
)
from hotline.settings import PROJECT_ROOT

GOOD = {
    "missed_greeting": False,
    "missed_closing": False,
    "missed_required": [],
    "read_back_confirmed_at": "2026-11-26T01:02:03+00:00",
}
READ_BACK = frozenset({"read_back"})


def facts(record=GOOD, ring=8.0, banned=0) -> CallFacts:
    return CallFacts(record, ring, 15.0, banned, READ_BACK)


# -- the compliance score ------------------------------------------------------------


def test_a_call_that_does_everything_scores_100():
    score = call_score(facts())

    assert score.applicable == 5 and score.passed == 5
    assert score.score == 100


def test_p1_p3_g2_each_failed_check_costs_a_fifth():
    """P1, P3, G2: slow answer, no greeting and one banned phrase: 2 of 5 passed = 40."""
    record = {**GOOD, "missed_greeting": True}

    score = call_score(facts(record, ring=21.0, banned=1))

    passed = {c.check: c.passed for c in score.checks}
    assert passed == {
        Check.RINGS: False,
        Check.GREETING: False,
        Check.READ_BACK: True,
        Check.CLOSING: True,
        Check.NO_BANNED: False,
    }
    assert score.score == 40  # 100 × 2 / 5


def test_p4_a_missed_read_back_fails_and_a_call_without_one_leaves_it_out():
    """P4: read-back missed on a case call fails; a call with no read-back step owed
    counts four checks. 3 of 4 = 75; 4 of 4 = 100; 3 of 5 = 60."""
    no_read_back_owed = {**GOOD, "read_back_confirmed_at": None, "missed_closing": True}
    missed = {**GOOD, "read_back_confirmed_at": None, "missed_required": ["read_back"]}

    assert call_score(facts(no_read_back_owed)).score == 75
    assert call_score(facts({**no_read_back_owed, "missed_closing": False})).score == 100
    assert call_score(facts({**missed, "missed_closing": True})).score == 60


def test_p1_exactly_at_the_limit_passes_and_a_counter_visit_has_no_ring_check():
    """P1: 15 s against a 15 s limit passes; no ring time (a counter visit): 4 checks."""
    assert call_score(facts(ring=15.0)).score == 100
    counter = call_score(facts({**GOOD, "missed_greeting": True}, ring=None))
    assert counter.applicable == 4 and counter.score == 75


def test_a_call_never_answered_has_no_score():
    assert call_score(facts(record=None)).score is None
    assert call_score(facts(record={})).score is None


def test_two_of_three_rounds_to_67():
    # Rings not measured, no read-back owed: greeting passed, closing missed, no banned: 2/3.
    record = {**GOOD, "read_back_confirmed_at": None, "missed_closing": True}

    assert call_score(facts(record, ring=None)).score == 67


# -- the trend -----------------------------------------------------------------------


def test_weeks_start_on_monday():
    assert period_start(date(2026, 11, 26), Period.WEEK) == date(2026, 11, 23)  # a Thursday
    assert period_start(date(2026, 11, 23), Period.WEEK) == date(2026, 11, 23)
    assert period_start(date(2026, 11, 29), Period.WEEK) == date(2026, 11, 23)  # Sunday
    assert period_start(date(2026, 11, 26), Period.DAY) == date(2026, 11, 26)


def test_the_trend_averages_each_operators_scored_calls_per_period():
    scores = [
        (7, date(2026, 11, 24), 100),
        (7, date(2026, 11, 24), 60),
        (7, date(2026, 11, 26), 75),
        (7, date(2026, 11, 26), None),  # never answered: left out
        (9, date(2026, 11, 30), 40),
    ]

    by_day = trend(scores, Period.DAY)
    by_week = trend(scores, Period.WEEK)

    assert [(r.operator_id, r.starts, r.calls, r.mean) for r in by_day] == [
        (7, date(2026, 11, 24), 2, 80.0),  # (100 + 60) / 2
        (7, date(2026, 11, 26), 1, 75.0),
        (9, date(2026, 11, 30), 1, 40.0),
    ]
    assert [(r.operator_id, r.starts, r.calls, r.mean) for r in by_week] == [
        (7, date(2026, 11, 23), 3, 78.3),  # (100 + 60 + 75) / 3 = 78.33
        (9, date(2026, 11, 30), 1, 40.0),
    ]


# -- the sample ----------------------------------------------------------------------


def test_the_same_seed_draws_the_same_sample_and_another_seed_may_not():
    pool = {3: list(range(100, 140)), 5: list(range(200, 230))}

    first = draw_sample(pool, 4, seed=20261126)
    again = draw_sample({5: pool[5][::-1], 3: pool[3]}, 4, seed=20261126)
    others = [draw_sample(pool, 4, seed=s) for s in range(1, 6)]

    assert first == again
    assert all(len(ids) == 4 and set(ids) <= set(pool[op]) for op, ids in first.items())
    assert any(o != first for o in others)


def test_an_operators_draw_does_not_depend_on_the_others():
    alone = draw_sample({3: list(range(100, 140))}, 4, seed=7)
    together = draw_sample({3: list(range(100, 140)), 5: list(range(200, 230))}, 4, seed=7)

    assert alone[3] == together[3]


def test_an_operator_with_fewer_calls_gives_them_all_and_none_gives_nothing():
    assert draw_sample({3: [12, 10, 11], 4: []}, 5, seed=1) == {3: [10, 11, 12]}


# -- the items' file -----------------------------------------------------------------


def _shipped() -> QualityStandard:
    return QualityStandard.load(PROJECT_ROOT / "config/quality_checks.toml", company="润禹水务")


def test_the_shipped_items_cover_g1_p1_p3_p4_and_add_up_to_the_total():
    """G1, P1, P3, P4: each has an item; the P1 item is measured, not typed."""
    standard = _shipped()

    assert {item.rule for item in standard.items} == {"G1", "P1", "P3", "P4"}
    assert sum(item.weight for item in standard.items) == standard.total == 100
    assert [i.rule for i in standard.items if i.measured] == ["P1"]
    assert "P1" not in {item.rule for item in standard.form_items}
    greeting = next(i for i in standard.items if i.id == "greeting_closing")
    assert "「您好,这里是润禹水务,请问有什么可以帮您」" in greeting.zh
    assert "「感谢您的来电,再见」" in greeting.zh


ITEM = {"id": "manners", "rule": "G1", "zh": "礼貌", "en": "Manners", "weight": 100}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"total": 100, "items": [{**ITEM, "weight": 90}]}, "add up to 90, not the total 100"),
        ({"total": 100, "items": [{**ITEM, "colour": "red"}]}, "items[0].colour: unknown key"),
        ({"total": 100, "items": [{**ITEM, "rule": "W1"}]}, "items[0].rule: unknown rule 'W1'"),
        ({"total": 100, "items": [{**ITEM, "weight": "100"}]}, "items[0].weight: expected a whole"),
        (
            {"total": 100, "items": [{**ITEM, "weight": 50}, {**ITEM, "weight": 50}]},
            "items[1].id: duplicate id 'manners'",
        ),
        (
            {"total": 100, "items": [{**ITEM, "measured": "ring_to_answer"}]},
            "items[0].measured: ring_to_answer measures P1 only",
        ),
        ({"total": 100, "items": []}, "items"),
        ({"items": [ITEM]}, "total: missing"),
    ],
)
def test_a_malformed_items_file_is_refused_naming_the_place(data, message):
    with pytest.raises(QualityStandardError) as refused:
        QualityStandard.from_toml(data)

    assert message in str(refused.value)


def test_a_missing_items_file_is_refused_naming_it(tmp_path: Path):
    with pytest.raises(QualityStandardError, match="quality checks file not found"):
        QualityStandard.load(tmp_path / "nope.toml")


# -- scoring a check -----------------------------------------------------------------


def test_p1_the_ring_item_is_taken_from_the_call_and_the_total_adds_the_points():
    """P1: the measured item gives its full weight within three rings, 0 after."""
    standard = _shipped()
    given = {"manners": 18, "greeting_closing": 25, "registration": 20, "read_back": 10}

    items, total = score_items(standard, given, ring_seconds=9.0, ring_limit=15.0)
    _slow_items, slow_total = score_items(standard, given, ring_seconds=16.0, ring_limit=15.0)

    assert {i.id: i.points for i in items} == {**given, "three_rings": 15}
    assert total == 18 + 25 + 20 + 10 + 15 == 88
    assert slow_total == 73


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"manners": 21, "greeting_closing": 0, "registration": 0, "read_back": 0}, "manners"),
        ({"manners": -1, "greeting_closing": 0, "registration": 0, "read_back": 0}, "manners"),
        ({"manners": 1, "greeting_closing": 0, "registration": 0}, "read_back: missing"),
        (
            {
                "manners": 1,
                "greeting_closing": 0,
                "registration": 0,
                "read_back": 0,
                "three_rings": 15,
            },
            "three_rings: not an item scored on the form",
        ),
    ],
)
def test_points_outside_an_items_weight_or_a_missing_item_are_refused(given, message):
    with pytest.raises(ValueError, match=message):
        score_items(_shipped(), given, ring_seconds=1.0, ring_limit=15.0)
