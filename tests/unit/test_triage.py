"""The console's suggestions from the caller's words: priority, category, first judgement."""

from __future__ import annotations

import pytest

from callflows.domain.triage import (
    CATEGORY_WORDS,
    PRIORITY_WORDS,
    suggest_answer,
    suggest_category,
    suggest_priority,
)
from hotline.domain.taxonomy import Category, Priority, TriageOutcome


@pytest.mark.parametrize(
    "words",
    ["井盖冒水,水流很大", "路边爆管了", "水管喷水", "马路上冒水", "水流很大,快来人"],
)
def test_f12_a_leak_spilling_water_is_suggested_as_an_emergency(words: str) -> None:
    """F12 (a leak: go at once): the caller's words make a leak 紧急, and say which words."""
    suggestion = suggest_priority(Category.LEAK, words)

    assert suggestion.priority is Priority.EMERGENCY
    assert suggestion.words
    assert all(word in words for word in suggestion.words)


def test_the_night_operators_report_names_both_deciding_words() -> None:
    suggestion = suggest_priority("leak", "井盖冒水,水流很大")

    assert suggestion.priority is Priority.EMERGENCY
    assert set(suggestion.words) == {"冒水", "水流很大"}


def test_a_leak_without_alarming_words_is_high_not_normal() -> None:
    assert suggest_priority(Category.LEAK, "楼下有点漏水").priority is Priority.HIGH
    assert suggest_priority(Category.LEAK, "").priority is Priority.HIGH


def test_words_count_only_for_the_categories_they_belong_to() -> None:
    # "冒水" on a bill query is no emergency; "整栋楼" matters for no water only.
    assert suggest_priority(Category.BILLING, "水表冒水的钱谁出").priority is Priority.NORMAL
    assert suggest_priority(Category.NO_WATER, "整栋楼都没水").priority is Priority.EMERGENCY
    assert suggest_priority(Category.COMPLAINT, "整栋楼的人都投诉").priority is Priority.NORMAL


def test_danger_to_people_is_an_emergency_in_any_category() -> None:
    assert suggest_priority(Category.COMPLAINT, "井边有人受伤").priority is Priority.EMERGENCY


def test_problem_and_need_are_both_read_and_unknown_categories_are_ignored() -> None:
    assert suggest_priority("leak", "路边有水", "水流很大快来").priority is Priority.EMERGENCY
    assert suggest_priority("no-such-category", "水流很大").priority is Priority.NORMAL
    assert suggest_priority(None, None, "").priority is Priority.NORMAL


@pytest.mark.parametrize(
    ("words", "category"),
    [
        ("井盖冒水,水流很大", Category.LEAK),
        ("家里没水了", Category.NO_WATER),
        ("想查一下这个月的水费", Category.BILLING),
        ("抄表员态度差,我要投诉", Category.COMPLAINT),
        ("水表不走字了", Category.METER_FAULT),
        ("自来水发黄", Category.WATER_QUALITY),
        ("表井的井盖坏了", Category.METER_WELL),
    ],
)
def test_the_category_is_suggested_from_the_callers_words(words: str, category: Category) -> None:
    suggestion = suggest_category(words)

    assert suggestion is not None
    assert suggestion.category is category
    assert all(word in words for word in suggestion.words)


def test_no_category_is_suggested_without_a_telling_word() -> None:
    assert suggest_category("你好") is None
    assert suggest_category(None, "") is None


def test_p5_the_first_judgement_is_suggested_for_each_category() -> None:
    """P5: the judgement is proposed (a leak is the utility's), the operator still decides."""
    assert suggest_answer("triage", "leak") == TriageOutcome.UTILITY
    assert suggest_answer("triage", Category.NO_WATER) == TriageOutcome.UNDETERMINED
    assert suggest_answer("triage", "billing") == TriageOutcome.NOT_A_REPAIR
    assert suggest_answer("triage", None) is None
    assert suggest_answer("purpose", "leak") is None


def test_g6_a_complaint_is_suggested_as_a_case_for_dispatch_not_an_answer() -> None:
    """G6: complaints go to the dispatch center, so the usual handling is a case."""
    assert suggest_answer("disposition", "complaint") == "case_created"
    assert suggest_answer("disposition", "billing") == "answered"


def test_the_keyword_tables_use_real_categories_and_no_empty_words() -> None:
    for rule in PRIORITY_WORDS:
        assert rule.words and all(rule.words)
        assert rule.priority in (Priority.EMERGENCY, Priority.HIGH)
    for category, words in CATEGORY_WORDS:
        assert isinstance(category, Category)
        assert words and all(words)
