"""Customers' service areas (用户片区): the area an address lies in (``config/areas.toml``).

Pure Python. The file lists areas in order, each with a code, a Chinese and an
English name and the address keywords that place an address in it. A row of
the billing system's export that names its area gets that area (by code or
either name); one that does not gets the first area, in the file's order, one
of whose keywords appears in its address. The file is read strictly through
marshmallow (:mod:`hotline.domain.strict_schema`): an unknown or missing key,
an empty keyword, a duplicate code or name are refused naming the place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate

from hotline.domain.errors import Rejected
from hotline.domain.strict_schema import Items, Member, StrictTable, first_error, read_toml
from hotline.domain.taxonomy import Zone

#: How long a code may be (the customers' ``area`` column).
MAX_CODE = 32


class AreaFileError(ValueError):
    """The areas file cannot be used; the message names the place."""


class UnknownArea(Rejected):
    """A row names an area the file does not list."""


@dataclass(frozen=True)
class Area:
    """One service area: its code, its names and the keywords of its addresses."""

    code: str
    name_zh: str
    name_en: str
    keywords: tuple[str, ...]
    #: How far out the area lies; it sets, with a case's grade, the on-site limit.
    #: None (not given): the town's limits, the strictest.
    zone: Zone | None = None


class _AreaSchema(StrictTable):
    code = fields.String(
        required=True,
        validate=validate.Regexp(
            rf"^[A-Za-z0-9_-]{{1,{MAX_CODE}}}$",
            error=f"expected 1-{MAX_CODE} letters, digits, '-' or '_'",
        ),
    )
    name_zh = fields.String(required=True, validate=validate.Length(min=1, max=100))
    name_en = fields.String(required=True, validate=validate.Length(min=1, max=100))
    keywords = Items(
        fields.String(validate=validate.Length(min=1, max=100)),
        required=True,
        validate=validate.Length(min=1, error="list at least one keyword"),
    )
    zone = Member(Zone, "zone", load_default=None)


class _FileSchema(StrictTable):
    areas = Items(fields.Nested(_AreaSchema), load_default=list)


class AreaMap:
    """The areas of the file, in its order."""

    def __init__(self, areas: list[Area] | tuple[Area, ...] = ()) -> None:
        self.areas = tuple(areas)
        self._by_name: dict[str, Area] = {}
        for area in self.areas:
            for name in (area.code, area.name_zh, area.name_en):
                self._by_name[_folded(name)] = area

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> AreaMap:
        """The areas of a parsed file; raises :class:`AreaFileError` naming the place."""
        try:
            loaded = _FileSchema().load(data)
        except ValidationError as error:
            path, message = first_error(error.messages)
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
            raise AreaFileError(f"{where or 'file'}: {message}") from None
        areas: list[Area] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(loaded["areas"]):
            area = Area(
                raw["code"],
                raw["name_zh"].strip(),
                raw["name_en"].strip(),
                tuple(k.strip() for k in raw["keywords"]),
                raw["zone"],
            )
            if not all(area.keywords) or not area.name_zh or not area.name_en:
                raise AreaFileError(f"areas[{index}]: names and keywords may not be blank")
            for name in {_folded(area.code), _folded(area.name_zh), _folded(area.name_en)}:
                if name in seen:
                    raise AreaFileError(
                        f"areas[{index}]: '{name}' already names areas[{seen[name]}]"
                    )
                seen[name] = index
            areas.append(area)
        return cls(areas)

    @classmethod
    def load(cls, path: Path) -> AreaMap:
        """Read ``path``; raises :class:`AreaFileError` naming the file and the place."""
        data = read_toml(path, AreaFileError, "areas")
        try:
            return cls.from_toml(data)
        except AreaFileError as exc:
            raise AreaFileError(f"{path}: {exc}") from None

    def named(self, text: str) -> Area:
        """The area ``text`` names (code, Chinese or English name, any case)."""
        found = self._by_name.get(_folded(text))
        if found is None:
            if not self.areas:
                raise UnknownArea(
                    "unknown area '%(area)s'; known: none configured", area=text.strip()
                )
            known = ", ".join(a.code for a in self.areas)
            raise UnknownArea(
                "unknown area '%(area)s'; known: %(known)s", area=text.strip(), known=known
            )
        return found

    def for_address(self, address: str) -> Area | None:
        """The first area one of whose keywords appears in ``address``; None: no match."""
        for area in self.areas:
            if any(keyword in address for keyword in area.keywords):
                return area
        return None

    def zone_of(self, code: str) -> Zone | None:
        """The zone of the area ``code`` names; None: no such area, or it gives none."""
        area = self._by_name.get(_folded(code)) if code.strip() else None
        return area.zone if area else None

    def code_of(self, named: str, address: str) -> str:
        """The area code a customer gets: the named area, else the address's, else ""."""
        if named.strip():
            return self.named(named).code
        area = self.for_address(address)
        return area.code if area else ""


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


__all__ = ["MAX_CODE", "Area", "AreaFileError", "AreaMap", "UnknownArea"]
