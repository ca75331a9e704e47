"""Suggestions for the console while a call is taken: category, priority, first judgement.

The operator hears "井盖冒水,水流很大" and must not have to remember that a
main spilling water is an emergency. :func:`suggest_priority` reads the
caller's words (the captured problem and need) with the category and
proposes one of the product's priorities (紧急 / 加急 / 一般), naming the
words that decided it; :func:`suggest_category` proposes a category from the
words when no answer of the script has set one; :func:`suggest_answer`
proposes the usual answer at the script's first judgement (P5) and handling
steps. Every suggestion is only that: the console shows it pre-selected and
the operator confirms or changes it; what the operator chose is what the
case gets.

The keyword tables below are the product's data: a word found anywhere in
the text counts (no word splitting is needed for Chinese). Pure: no clock,
no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hotline.domain.taxonomy import Category, Priority, TriageOutcome

__all__ = [
    "CATEGORY_WORDS",
    "DEFAULT_PRIORITY",
    "PRIORITY_WORDS",
    "CategorySuggestion",
    "PrioritySuggestion",
    "suggest_answer",
    "suggest_category",
    "suggest_priority",
]


@dataclass(frozen=True)
class PriorityRule:
    """Words that make a call of these categories (all, when empty) this urgent."""

    priority: Priority
    words: tuple[str, ...]
    categories: frozenset[Category] = frozenset()

    def applies_to(self, category: Category | None) -> bool:
        return not self.categories or (category is not None and category in self.categories)


_WATER_ON_THE_GROUND = frozenset({Category.LEAK, Category.METER_WELL})

#: Words that raise a call's priority, most urgent first. A leak spilling
#: water in volume (F12: go at once), a missing manhole cover, sick people
#: after drinking, a whole community without water.
PRIORITY_WORDS: tuple[PriorityRule, ...] = (
    PriorityRule(
        Priority.EMERGENCY,
        (
            "爆管",
            "喷水",
            "冒水",
            "水流很大",
            "水流大",
            "水很大",
            "涌水",
            "哗哗",
            "管子破",
            "管道破裂",
            "水管破裂",
            "水管爆",
            "淹",
            "塌陷",
            "塌了",
        ),
        _WATER_ON_THE_GROUND,
    ),
    PriorityRule(
        Priority.EMERGENCY,
        ("井盖丢", "井盖没了", "没有井盖", "井盖被偷", "井盖不见"),
        frozenset({Category.METER_WELL, Category.LEAK}),
    ),
    PriorityRule(
        Priority.EMERGENCY,
        ("中毒", "腹泻", "呕吐", "拉肚子"),
        frozenset({Category.WATER_QUALITY}),
    ),
    PriorityRule(
        Priority.EMERGENCY,
        ("整个小区", "全小区", "整栋楼", "全楼", "整个村", "全村", "大面积", "医院", "学校"),
        frozenset({Category.NO_WATER}),
    ),
    PriorityRule(Priority.EMERGENCY, ("有人受伤", "摔伤", "触电", "危险")),
    PriorityRule(
        Priority.HIGH,
        ("漏水", "跑水", "渗水", "井盖", "破损", "松动"),
        _WATER_ON_THE_GROUND,
    ),
    PriorityRule(
        Priority.HIGH,
        ("发黄", "发黑", "浑浊", "异味", "臭味", "有虫", "杂质"),
        frozenset({Category.WATER_QUALITY}),
    ),
    PriorityRule(
        Priority.HIGH,
        ("没水", "没有水", "停水", "断水", "水压低", "水很小", "水太小"),
        frozenset({Category.NO_WATER}),
    ),
    PriorityRule(Priority.HIGH, ("老人", "独居", "孕妇", "婴儿")),
)

#: The priority of a category when none of its words was said.
DEFAULT_PRIORITY: dict[Category, Priority] = {
    Category.LEAK: Priority.HIGH,
    Category.METER_WELL: Priority.HIGH,
}

#: Words that point to a category, in the order they are tried.
CATEGORY_WORDS: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (Category.COMPLAINT, ("投诉", "态度差", "态度不好", "乱收费")),
    (Category.LEAK, ("爆管", "喷水", "冒水", "漏水", "跑水", "渗水", "水管破", "管子破")),
    (Category.METER_WELL, ("井盖", "表井", "表箱", "水表井")),
    (Category.METER_FAULT, ("水表", "表不走", "表停", "表坏", "走字", "读数", "表盘")),
    (Category.WATER_QUALITY, ("水质", "发黄", "发黑", "浑浊", "异味", "臭味", "有虫", "杂质")),
    (Category.OUTAGE_ENQUIRY, ("什么时候来水", "停水通知", "计划停水", "几点来水")),
    (Category.NO_WATER, ("没水", "没有水", "停水", "断水", "水压", "水很小", "水太小")),
    (Category.BILLING, ("水费", "缴费", "交费", "欠费", "账单", "收费", "发票", "余额")),
    (Category.SUGGESTION, ("建议", "意见")),
    (Category.CONSULTATION, ("咨询", "请问", "怎么办理", "开户", "过户", "报装")),
)


@dataclass(frozen=True)
class PrioritySuggestion:
    """A proposed priority and the caller's words that decided it (empty: the default)."""

    priority: Priority
    words: tuple[str, ...]


@dataclass(frozen=True)
class CategorySuggestion:
    """A proposed category and the caller's words that pointed to it."""

    category: Category
    words: tuple[str, ...]


def _text(texts: Iterable[str | None]) -> str:
    return " ".join(t for t in texts if t)


def _category(value: Category | str | None) -> Category | None:
    if value is None or value == "":
        return None
    try:
        return Category(value)
    except ValueError:
        return None


def suggest_priority(category: Category | str | None, *texts: str | None) -> PrioritySuggestion:
    """The priority the caller's words suggest for a call of ``category``.

    The most urgent rule that applies to the category and whose word appears
    in ``texts`` wins, and every word of that priority found is named; with no
    word found, the category's default (a leak is 加急), else 一般.
    """
    said = _text(texts)
    chosen = _category(category)
    for priority in (Priority.EMERGENCY, Priority.HIGH):
        found = tuple(
            dict.fromkeys(
                word
                for rule in PRIORITY_WORDS
                if rule.priority is priority and rule.applies_to(chosen)
                for word in rule.words
                if word in said
            )
        )
        if found:
            return PrioritySuggestion(priority, found)
    default = DEFAULT_PRIORITY.get(chosen, Priority.NORMAL) if chosen else Priority.NORMAL
    return PrioritySuggestion(default, ())


def suggest_category(*texts: str | None) -> CategorySuggestion | None:
    """The category the caller's words point to, or ``None`` when none of the words is said."""
    said = _text(texts)
    if not said:
        return None
    for category, words in CATEGORY_WORDS:
        found = tuple(word for word in words if word in said)
        if found:
            return CategorySuggestion(category, found)
    return None


#: P5: the usual first judgement for a category (the operator still judges).
_TRIAGE: dict[Category, TriageOutcome] = {
    Category.LEAK: TriageOutcome.UTILITY,
    Category.METER_WELL: TriageOutcome.UTILITY,
    Category.METER_FAULT: TriageOutcome.UTILITY,
    Category.NO_WATER: TriageOutcome.UNDETERMINED,
    Category.WATER_QUALITY: TriageOutcome.UNDETERMINED,
    Category.BILLING: TriageOutcome.NOT_A_REPAIR,
    Category.CONSULTATION: TriageOutcome.NOT_A_REPAIR,
    Category.COMPLAINT: TriageOutcome.NOT_A_REPAIR,
    Category.SUGGESTION: TriageOutcome.NOT_A_REPAIR,
    Category.OUTAGE_ENQUIRY: TriageOutcome.NOT_A_REPAIR,
}

#: How a call that is not a repair is usually handled (G6: complaints go to dispatch).
_DISPOSITION: dict[Category, str] = {
    Category.COMPLAINT: "case_created",
    Category.SUGGESTION: "case_created",
    Category.BILLING: "answered",
    Category.CONSULTATION: "answered",
    Category.OUTAGE_ENQUIRY: "answered",
}


def suggest_answer(answer_field: str | None, category: Category | str | None) -> str | None:
    """The usual answer at a branching step that records ``answer_field``, or ``None``.

    ``triage`` (P5's first judgement) and ``disposition`` (how a call that
    is not a repair is handled) have one; other steps have none.
    """
    chosen = _category(category)
    if chosen is None:
        return None
    if answer_field == "triage":
        return str(_TRIAGE[chosen]) if chosen in _TRIAGE else None
    if answer_field == "disposition":
        return _DISPOSITION.get(chosen)
    return None
