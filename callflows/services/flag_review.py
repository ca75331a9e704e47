"""The supervisors' list of G2 flags (禁语标记): every stored flag, newest first.

Reads only. A flag shows the banned phrase, the excerpt it was found in with
the phrase's place in that excerpt, who wrote the text, when, and where: the
case (by number) or the call. Filters: a range of days (local midnights), the
writer, the phrase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.models import ComplianceFlag
from hotline.models import Case, Staff

__all__ = ["FlagFilter", "FlagPage", "FlagRow", "flag_page", "split_excerpt"]

# How callflows.services.flags.excerpt cuts the text: this many characters either side.
_CONTEXT = 20


@dataclass(frozen=True)
class FlagFilter:
    """Which flags the list shows: from a local midnight, before another, by writer, by phrase."""

    start: datetime | None = None
    end: datetime | None = None
    staff_id: int | None = None
    phrase: str | None = None


@dataclass(frozen=True)
class FlagRow:
    """One line of the list: the flag, its excerpt cut around the phrase, its case number."""

    flag: ComplianceFlag
    before: str
    matched: str
    after: str
    case_number: str | None


@dataclass(frozen=True)
class FlagPage:
    """One page of flags, with the total, the writers and phrases to filter by."""

    total: int
    rows: Sequence[FlagRow]
    authors: list[Staff]
    phrases: list[str]


def split_excerpt(flag: ComplianceFlag) -> tuple[str, str, str]:
    """The excerpt as (before, phrase as written, after); the whole excerpt before when
    the phrase's place cannot be found in it."""
    text = flag.excerpt or ""
    head = max(0, flag.start - _CONTEXT)
    at = flag.start - head + (1 if head else 0)  # "…" opens an excerpt that does not
    length = flag.end - flag.start
    if at >= 0 and at + length <= len(text) and length > 0:
        return text[:at], text[at : at + length], text[at + length :]
    return text, "", ""


def flag_page(session: Session, flt: FlagFilter, *, page: int, per_page: int) -> FlagPage:
    """The flags matching ``flt``, newest first, page ``page`` of ``per_page``."""
    query = select(ComplianceFlag)
    if flt.start is not None:
        query = query.where(ComplianceFlag.at >= flt.start)
    if flt.end is not None:
        query = query.where(ComplianceFlag.at < flt.end)
    if flt.staff_id:
        query = query.where(ComplianceFlag.staff_id == flt.staff_id)
    if flt.phrase:
        query = query.where(ComplianceFlag.phrase == flt.phrase)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    flags = session.scalars(
        query.order_by(ComplianceFlag.at.desc(), ComplianceFlag.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    case_ids = {f.case_id for f in flags if f.case_id is not None}
    numbers = (
        dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())
        if case_ids
        else {}
    )
    rows = [FlagRow(f, *split_excerpt(f), numbers.get(f.case_id)) for f in flags]
    authors = list(
        session.scalars(
            select(Staff)
            .where(Staff.id.in_(select(ComplianceFlag.staff_id).distinct()))
            .order_by(Staff.display_name)
        )
    )
    phrases = list(
        session.scalars(select(ComplianceFlag.phrase).distinct().order_by(ComplianceFlag.phrase))
    )
    return FlagPage(total=total, rows=rows, authors=authors, phrases=phrases)
