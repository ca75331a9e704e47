"""Routing rules (派单规则): which department a case is proposed to, by category and area.

Pure Python. The rules come from ``config/routing.toml``, read strictly (an
unknown key, category or a rule that matches nothing is refused naming the
place). The dispatch center's board preselects the proposal; the dispatcher
confirms it or picks another department, so a rule never sends a case by
itself.

Which rule applies, most specific first: the one naming the case's category
and its area; then the one naming the category only; then the one naming the
area only; then ``default``. Two rules naming the same category and area are
refused: the file would not say which one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate

from hotline.domain.strict_schema import Items, Member, StrictTable, first_error, read_toml
from hotline.domain.taxonomy import Category


class RoutingError(ValueError):
    """The routing file cannot be used; the message names the place."""


@dataclass(frozen=True)
class Rule:
    """One line of the file: cases of ``category`` in ``area`` go to ``department``."""

    department: str
    category: Category | None = None
    area: str | None = None
    note: str = ""

    @property
    def specificity(self) -> int:
        """3 category and area, 2 category only, 1 area only."""
        return (2 if self.category is not None else 0) + (1 if self.area is not None else 0)


@dataclass(frozen=True)
class Proposal:
    """The department proposed for a case (its code) and the rule that chose it."""

    department: str
    rule: Rule | None  # None: the file's default

    @property
    def why(self) -> str:
        """Which rule chose it, as the board shows it."""
        if self.rule is None:
            return "default"
        parts = [str(self.rule.category)] if self.rule.category else []
        if self.rule.area:
            parts.append(self.rule.area)
        return " / ".join(parts)


class _RuleSchema(StrictTable):
    category = Member(Category, "category", load_default=None)
    area = fields.String(validate=validate.Length(min=1, max=100), load_default=None)
    department = fields.String(required=True, validate=validate.Length(min=1, max=32))
    note = fields.String(load_default="")


class _RoutingSchema(StrictTable):
    default = fields.String(validate=validate.Length(max=32), load_default="")
    rules = Items(fields.Nested(_RuleSchema), load_default=list)


@dataclass(frozen=True)
class RoutingRules:
    """The routing file, read: its rules and the default department (may be none)."""

    rules: tuple[Rule, ...] = ()
    default: str = ""

    def propose(self, category: Category | str, area: str | None = "") -> Proposal | None:
        """The department proposed for a case of ``category`` in ``area``; None: no rule."""
        category = Category(category)
        area = (area or "").strip() or None
        best: Rule | None = None
        for rule in self.rules:
            if rule.category is not None and rule.category != category:
                continue
            if rule.area is not None and rule.area != area:
                continue
            if best is None or rule.specificity > best.specificity:
                best = rule
        if best is not None:
            return Proposal(best.department, best)
        return Proposal(self.default, None) if self.default else None

    @property
    def departments(self) -> frozenset[str]:
        """Every department code the file names (to check against the departments)."""
        codes = {rule.department for rule in self.rules}
        return frozenset(codes | ({self.default} if self.default else set()))

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> RoutingRules:
        """Read the file's contents; raises :class:`RoutingError` naming the place."""
        try:
            loaded = _RoutingSchema().load(data)
        except ValidationError as error:
            where, message = first_error(error.messages)
            place = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in where)
            text = f"{place.replace('.[', '[')}: {message}" if place else message
            raise RoutingError(text) from None
        rules: list[Rule] = []
        seen: dict[tuple[Category | None, str | None], int] = {}
        for index, raw in enumerate(loaded["rules"]):
            area = raw["area"].strip() if raw["area"] else None
            rule = Rule(raw["department"].strip(), raw["category"], area, raw["note"])
            if rule.category is None and rule.area is None:
                raise RoutingError(f"rules[{index}]: a rule names a category, an area or both")
            key = (rule.category, rule.area)
            if key in seen:
                raise RoutingError(
                    f"rules[{index}]: the same category and area as rules[{seen[key]}]; "
                    "say once which department takes them"
                )
            seen[key] = index
            rules.append(rule)
        return cls(tuple(rules), loaded["default"].strip())

    @classmethod
    def load(cls, path: Path) -> RoutingRules:
        """Read ``path``; raises :class:`RoutingError` naming the file and the place."""
        data = read_toml(path, RoutingError, "routing")
        try:
            return cls.from_toml(data)
        except RoutingError as exc:
            raise RoutingError(f"{path}: {exc}") from None
