"""Call quality: the compliance score of a call, its trend per operator, and the
quality check (质检) a supervisor makes of a recorded call.

Pure Python. Three parts:

* **Compliance score** (合规得分) of one call, from what the call left on
  record. Five checks, each worth the same: answered within three rings (P1),
  the greeting said (P3), the read-back confirmed (P4), the closing words said
  (P3), no banned phrase (G2). A check that does not apply to the call is left
  out (no ring time for a counter visit; no read-back on a call whose branch
  has none), so the score is ``round(100 × passed / applicable)``. A call with
  no compliance record (never answered) has no score.
* **Trend**: per operator, the mean score of their scored calls per day or
  per week (weeks start on Monday, local time).
* **Quality check**: the items and weights of ``config/quality_checks.toml``
  (read strictly, :class:`QualityStandard`), the points a supervisor gives each
  item (0 to the item's weight; the P1 item is taken from the call's ring
  time, never typed), their total, and the seeded sample of calls to check.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from hotline.domain.errors import Rejected, words
from hotline.domain.strict_schema import (
    Flag,
    Items,
    Member,
    StrictTable,
    Whole,
    first_error,
    read_toml,
)

__all__ = [
    "CHECK_RULES",
    "CallFacts",
    "CallScore",
    "Check",
    "CheckResult",
    "ItemScore",
    "Period",
    "QualityItem",
    "QualityStandard",
    "QualityStandardError",
    "ScoreRefused",
    "TrendRow",
    "call_score",
    "draw_sample",
    "measured_points",
    "period_start",
    "score_items",
    "step_words",
    "trend",
]


# -- the compliance score of one call ---------------------------------------------------


class Check(StrEnum):
    """One of the five compliance checks a call's score counts."""

    RINGS = "rings"  # 三声内接听 (P1)
    GREETING = "greeting"  # 开场问候 (P3)
    READ_BACK = "read_back"  # 复述确认 (P4)
    CLOSING = "closing"  # 结束语 (P3)
    NO_BANNED = "no_banned"  # 无禁语 (G2)


#: The rule of the standard each check measures.
CHECK_RULES: Mapping[Check, str] = {
    Check.RINGS: "P1",
    Check.GREETING: "P3",
    Check.READ_BACK: "P4",
    Check.CLOSING: "P3",
    Check.NO_BANNED: "G2",
}


@dataclass(frozen=True)
class CallFacts:
    """What the score of a call is computed from.

    ``compliance`` is the call's compliance record as stored (``None``: the
    call was never measured); ``read_back_steps`` the ids of the script's
    read-back steps, so a missed read-back is told from a call that needed none.
    """

    compliance: Mapping[str, Any] | None
    ring_seconds: float | None
    ring_limit_seconds: float
    banned_phrases: int
    read_back_steps: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CheckResult:
    """One check of a call: passed, failed, or ``None`` when it does not apply."""

    check: Check
    passed: bool | None

    @property
    def rule(self) -> str:
        return CHECK_RULES[self.check]


@dataclass(frozen=True)
class CallScore:
    """A call's checks and its score (0–100), ``None`` when nothing applies."""

    checks: tuple[CheckResult, ...]

    @property
    def applicable(self) -> int:
        return sum(1 for c in self.checks if c.passed is not None)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checks if c.passed)

    @property
    def score(self) -> int | None:
        if not self.applicable:
            return None
        return round(100 * self.passed / self.applicable)


def _read_back(record: Mapping[str, Any], steps: frozenset[str]) -> bool | None:
    if record.get("read_back_confirmed_at"):
        return True
    if steps & frozenset(record.get("missed_required") or ()):
        return False
    return None


def call_score(facts: CallFacts) -> CallScore:
    """The five checks of a call and its score (see the module's formula)."""
    record = facts.compliance
    if not record:
        return CallScore(())
    rings = None if facts.ring_seconds is None else facts.ring_seconds <= facts.ring_limit_seconds
    return CallScore(
        (
            CheckResult(Check.RINGS, rings),
            CheckResult(Check.GREETING, not record.get("missed_greeting")),
            CheckResult(Check.READ_BACK, _read_back(record, facts.read_back_steps)),
            CheckResult(Check.CLOSING, not record.get("missed_closing")),
            CheckResult(Check.NO_BANNED, facts.banned_phrases == 0),
        )
    )


# -- the trend per operator -------------------------------------------------------------


class Period(StrEnum):
    """How the trend groups calls."""

    DAY = "day"
    WEEK = "week"


def period_start(day: date, period: Period) -> date:
    """The first day of the day or (Monday-based) week ``day`` falls in."""
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day


@dataclass(frozen=True)
class TrendRow:
    """One operator's scored calls in one period and their mean score."""

    operator_id: int
    starts: date
    calls: int
    total: int

    @property
    def mean(self) -> float:
        return round(self.total / self.calls, 1) if self.calls else 0.0


def trend(scores: Iterable[tuple[int, date, int | None]], period: Period) -> list[TrendRow]:
    """``(operator, local day, score)`` triples as one row per operator and period.

    Calls without a score are left out. Rows are ordered by operator, then period.
    """
    sums: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for operator_id, day, score in scores:
        if score is None:
            continue
        cell = sums[(operator_id, period_start(day, period))]
        cell[0] += 1
        cell[1] += score
    return [
        TrendRow(operator_id, starts, calls, total)
        for (operator_id, starts), (calls, total) in sorted(sums.items())
    ]


# -- the sample to check ----------------------------------------------------------------


def draw_sample(
    candidates: Mapping[int, Collection[int]], per_operator: int, seed: int
) -> dict[int, list[int]]:
    """Up to ``per_operator`` call ids per operator, drawn at random from ``candidates``.

    Each operator's draw has its own generator seeded with ``seed`` and the
    operator's id, so the same seed over the same calls draws the same sample,
    and one operator's calls never change another's draw. The ids come back
    in ascending order; operators with no candidates are left out.
    """
    sample: dict[int, list[int]] = {}
    for operator_id in sorted(candidates):
        pool = sorted(set(candidates[operator_id]))
        if not pool:
            continue
        rng = random.Random(f"{seed}:{operator_id}")
        sample[operator_id] = sorted(rng.sample(pool, min(per_operator, len(pool))))
    return sample


# -- the quality-check standard (config/quality_checks.toml) ------------------------------


class QualityStandardError(ValueError):
    """The quality-check file cannot be used; the message names the place."""


#: The rules of the standard a quality check may score.
CHECK_RULE_IDS = ("G1", "P1", "P3", "P4")
#: What a measured item is measured from.
MEASURED_FROM = ("ring_to_answer",)


@dataclass(frozen=True)
class QualityItem:
    """One item of the quality-check form: its id, rule, words and weight.

    ``measured`` names what the item is taken from instead of the form
    (``ring_to_answer``: full weight when answered within the ring limit).
    """

    id: str
    rule: str
    zh: str
    en: str
    weight: int
    measured: str = ""


class _ItemSchema(StrictTable):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$"))
    rule = Member(CHECK_RULE_IDS, "rule", required=True)
    zh = fields.String(required=True, validate=validate.Length(min=1, max=200))
    en = fields.String(required=True, validate=validate.Length(min=1, max=200))
    weight = Whole(minimum=1, required=True)
    measured = Member(MEASURED_FROM, "measurement", load_default="")


class _SampleSchema(StrictTable):
    per_operator = Whole(minimum=1, load_default=3)
    max_per_operator = Whole(minimum=1, load_default=20)
    recorded_only = Flag(load_default=True)


class _StandardSchema(StrictTable):
    total = Whole(minimum=1, required=True)
    items = Items(fields.Nested(_ItemSchema), required=True, validate=validate.Length(min=1))
    sample = fields.Nested(_SampleSchema, load_default=lambda: _SampleSchema().load({}))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        ids = [item["id"] for item in data["items"]]
        for index, item_id in enumerate(ids):
            if item_id in ids[:index]:
                raise ValidationError({"items": {index: {"id": [f"duplicate id {item_id!r}"]}}})
        weights = sum(item["weight"] for item in data["items"])
        if weights != data["total"]:
            raise ValidationError(
                {"items": [f"the weights add up to {weights}, not the total {data['total']}"]}
            )
        for index, item in enumerate(data["items"]):
            if item["measured"] == "ring_to_answer" and item["rule"] != "P1":
                raise ValidationError(
                    {"items": {index: {"measured": ["ring_to_answer measures P1 only"]}}}
                )
        sample = data["sample"]
        if sample["per_operator"] > sample["max_per_operator"]:
            raise ValidationError({"sample": {"per_operator": ["more than max_per_operator"]}})


@dataclass(frozen=True)
class QualityStandard:
    """The quality-check file, read: its items, their total, the sample's defaults."""

    items: tuple[QualityItem, ...]
    total: int
    per_operator: int = 3
    max_per_operator: int = 20
    recorded_only: bool = True

    @property
    def form_items(self) -> tuple[QualityItem, ...]:
        """The items the supervisor scores on the form."""
        return tuple(item for item in self.items if not item.measured)

    def item(self, item_id: str) -> QualityItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any], *, company: str = "") -> QualityStandard:
        """Read the file's contents, ``{company}`` in the wording filled with ``company``;
        raises :class:`QualityStandardError` naming the place."""
        try:
            loaded = _StandardSchema().load(data)
        except ValidationError as error:
            where, message = first_error(error.messages)
            place = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in where)
            text = f"{place.replace('.[', '[')}: {message}" if place else message
            raise QualityStandardError(text) from None
        sample = loaded["sample"]
        return cls(
            items=tuple(
                QualityItem(
                    **{
                        **raw,
                        "zh": raw["zh"].replace("{company}", company or "××"),
                        "en": raw["en"].replace("{company}", company or "××"),
                    }
                )
                for raw in loaded["items"]
            ),
            total=loaded["total"],
            per_operator=sample["per_operator"],
            max_per_operator=sample["max_per_operator"],
            recorded_only=sample["recorded_only"],
        )

    @classmethod
    def load(cls, path: Path, *, company: str = "") -> QualityStandard:
        """Read ``path``; raises :class:`QualityStandardError` naming the file and place."""
        data = read_toml(path, QualityStandardError, "quality checks")
        try:
            return cls.from_toml(data, company=company)
        except QualityStandardError as exc:
            raise QualityStandardError(f"{path}: {exc}") from None


# -- scoring a check ----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemScore:
    """The points one item got, out of its weight, and whether they were measured."""

    id: str
    rule: str
    weight: int
    points: int
    measured: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "weight": self.weight,
            "points": self.points,
            "measured": self.measured,
        }


def measured_points(item: QualityItem, ring_seconds: float | None, ring_limit: float) -> int:
    """A measured item's points: its full weight when answered within the limit, else 0."""
    if item.measured == "ring_to_answer":
        return item.weight if ring_seconds is not None and ring_seconds <= ring_limit else 0
    raise ValueError(f"item {item.id!r} is not measured")


class ScoreRefused(Rejected):
    """Points :func:`score_items` refuses; ``item`` names the form item at fault."""

    def __init__(self, message: str, item: str, **params: Any) -> None:
        super().__init__(message, item=item, **params)
        self.item = item


#: How :func:`score_items` refuses an item's points (``item`` is filled in).
NOT_ON_FORM = words("%(item)s: not an item scored on the form")
MISSING = words("%(item)s: missing")
NOT_WHOLE = words("%(item)s: expected a whole number")
OUT_OF_RANGE = words("%(item)s: must be between 0 and %(weight)s")


def score_items(
    standard: QualityStandard,
    given: Mapping[str, int],
    *,
    ring_seconds: float | None,
    ring_limit: float,
) -> tuple[list[ItemScore], int]:
    """Every item's points (form items from ``given``, measured ones from the call)
    and their total. Raises :class:`ScoreRefused` (a ``ValueError``) naming the
    item for a missing form item, an unknown or measured one, or points outside
    0 to the item's weight."""
    known = {item.id for item in standard.form_items}
    for item_id in given:
        if item_id not in known:
            raise ScoreRefused(NOT_ON_FORM, item_id)
    scores: list[ItemScore] = []
    for item in standard.items:
        if item.measured:
            points = measured_points(item, ring_seconds, ring_limit)
            scores.append(ItemScore(item.id, item.rule, item.weight, points, True))
            continue
        if item.id not in given:
            raise ScoreRefused(MISSING, item.id)
        points = given[item.id]
        if isinstance(points, bool) or not isinstance(points, int):
            raise ScoreRefused(NOT_WHOLE, item.id)
        if not 0 <= points <= item.weight:
            raise ScoreRefused(OUT_OF_RANGE, item.id, weight=item.weight)
        scores.append(ItemScore(item.id, item.rule, item.weight, points))
    return scores, sum(s.points for s in scores)


def step_words(steps: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> list[str]:
    """The done steps of a compliance record in words (``names``: step id to words)."""
    return [names.get(str(s.get("step_id")), str(s.get("step_id"))) for s in steps]
