"""Reads for the area map (片区地图): open cases and crews by service area.

An open case is one the board shows (:func:`dispatch.domain.board.board_states`).
A case's area is its ``area`` column; it is matched to an area of
``config/areas.toml`` by code or either name, any case, as the customers'
import does; a case without one, or naming no listed area, is counted as
unplaced. A crew is in an area when it holds an open case there: an active
crew member counts once in each area where a case in their hands lies, so a
member with work in two areas counts in both (crews have no home area). Reads
only; the caller owns the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.domain.area_map import Outline, load_outlines
from dispatch.domain.board import board_states
from hotline.domain.address_areas import AreaMap, UnknownArea
from hotline.domain.taxonomy import Role
from hotline.models import Case, Staff
from hotline.services.customers import shipped_areas
from hotline.settings import CONFIG_DIR

#: The areas' outlines shipped with the product.
DEFAULT_OUTLINES_FILE = CONFIG_DIR / "areas.geojson"


@dataclass(frozen=True)
class AreaCounts:
    """Open cases and crews at work, per area code, and the open cases placed in none."""

    cases: dict[str, int]
    crews: dict[str, int]
    unplaced: int


@cache
def shipped_outlines() -> tuple[Outline, ...]:
    """The outlines of ``config/areas.geojson``, one per area of ``config/areas.toml``
    (read once); raises :class:`dispatch.domain.area_map.MapFileError` naming the feature."""
    return load_outlines(DEFAULT_OUTLINES_FILE, [a.code for a in shipped_areas().areas])


def _code_of(areas: AreaMap, text: str) -> str | None:
    if not text or not text.strip():
        return None
    try:
        return areas.named(text).code
    except UnknownArea:
        return None


def _open_states() -> list[str]:
    return [str(s) for s in board_states()]


def counts(session: Session, areas: AreaMap) -> AreaCounts:
    """How many open cases lie in each area and how many crew members work there (two queries)."""
    by_code = dict.fromkeys((a.code for a in areas.areas), 0)
    unplaced = 0
    for text, number in session.execute(
        select(Case.area, func.count()).where(Case.state.in_(_open_states())).group_by(Case.area)
    ):
        code = _code_of(areas, text or "")
        if code is None:
            unplaced += number
        else:
            by_code[code] += number
    crews: dict[str, set[int]] = {code: set() for code in by_code}
    for text, staff_id in session.execute(
        select(Case.area, Case.handler_staff_id)
        .distinct()
        .join(Staff, Staff.id == Case.handler_staff_id)
        .where(
            Case.state.in_(_open_states()),
            Staff.role == Role.CREW,
            Staff.active.is_(True),
        )
    ):
        code = _code_of(areas, text or "")
        if code is not None:
            crews[code].add(staff_id)
    return AreaCounts(by_code, {code: len(ids) for code, ids in crews.items()}, unplaced)


def open_cases_in(session: Session, areas: AreaMap, code: str, limit: int = 200) -> list[Case]:
    """The open cases of area ``code``, the earliest deadline first (at most ``limit``)."""
    texts = [
        text
        for (text,) in session.execute(
            select(Case.area).distinct().where(Case.state.in_(_open_states()))
        )
        if _code_of(areas, text or "") == code
    ]
    if not texts:
        return []
    return list(
        session.scalars(
            select(Case)
            .where(Case.state.in_(_open_states()), Case.area.in_(texts))
            .order_by(Case.due_at.is_(None), Case.due_at, Case.id)
            .limit(limit)
        )
    )


__all__ = ["DEFAULT_OUTLINES_FILE", "AreaCounts", "counts", "open_cases_in", "shipped_outlines"]
