"""The supervisors' list of G2 flags (禁语标记): every stored flag, newest first.

Reads only. A flag shows the banned phrase, the excerpt it was found in with
the phrase's place in that excerpt, who wrote the text, when, and where: the
case (by number) or the call. Filters: a range of days (local midnights), the
writer, the phrase, one case (by number), one call.

:func:`case_marks` gives the case page its flags, each with the history entry
whose text it was found in, so the page marks the flagged text where it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.domain.compliance import PhraseChecker
from callflows.models import ComplianceFlag
from hotline.models import Case, CaseEvent, Staff
from hotline.services.context import staff_texts

__all__ = [
    "CaseMarks",
    "FlagFilter",
    "FlagPage",
    "FlagRow",
    "case_marks",
    "flag_page",
    "split_excerpt",
    "transcript_marks",
]

_checker = PhraseChecker()

# How callflows.services.flags.excerpt cuts the text: this many characters either side.
_CONTEXT = 20


@dataclass(frozen=True)
class FlagFilter:
    """Which flags the list shows: from a local midnight, before another, by writer, by
    phrase, of one case (its number), of one call."""

    start: datetime | None = None
    end: datetime | None = None
    staff_id: int | None = None
    phrase: str | None = None
    case_number: str | None = None
    call_id: int | None = None


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
    if flt.case_number:
        case_id = select(Case.id).where(Case.number == flt.case_number).scalar_subquery()
        query = query.where(ComplianceFlag.case_id == case_id)
    if flt.call_id:
        query = query.where(ComplianceFlag.call_id == flt.call_id)
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


@dataclass(frozen=True)
class CaseMarks:
    """A case's flags, oldest first, and which history entry's text each was found in.

    ``by_event`` maps a :class:`~hotline.models.CaseEvent` id to the flags of
    its text; a flag whose text is not in the history given (a supervision
    order, a transcript...) is only in ``rows``.
    """

    rows: Sequence[FlagRow]
    by_event: dict[int, list[ComplianceFlag]]


def _found_in(flag: ComplianceFlag, event: CaseEvent) -> bool:
    """Whether ``flag`` was raised on a text ``event`` carries: same moment, same field,
    the phrase where the flag says."""
    if flag.at != event.at:
        return False
    for source, text in staff_texts(event):
        if source == flag.source and any(
            hit.start == flag.start and hit.phrase == flag.phrase for hit in _checker.find(text)
        ):
            return True
    return False


def case_marks(session: Session, case_id: int, events: Iterable[CaseEvent]) -> CaseMarks:
    """The flags of case ``case_id``, each placed on the entry of ``events`` it came from."""
    flags = list(
        session.scalars(
            select(ComplianceFlag)
            .where(ComplianceFlag.case_id == case_id)
            .order_by(ComplianceFlag.at, ComplianceFlag.id)
        )
    )
    by_event: dict[int, list[ComplianceFlag]] = {}
    if flags:
        shown = list(events)
        for flag in flags:
            for event in shown:
                if _found_in(flag, event):
                    by_event.setdefault(event.id, []).append(flag)
                    break
    number = session.scalar(select(Case.number).where(Case.id == case_id))
    rows = [FlagRow(f, *split_excerpt(f), number) for f in flags]
    return CaseMarks(rows=rows, by_event=by_event)


def transcript_marks(
    turns: Sequence[dict[str, object]] | None, flags: Iterable[ComplianceFlag]
) -> dict[int, list[ComplianceFlag]]:
    """The transcript flags of a call by the index of the staff turn each was found in.

    A flag goes to the first staff turn, not yet given that same hit, whose
    text has the flag's phrase at the flag's offset.
    """
    marks: dict[int, list[ComplianceFlag]] = {}
    hits = {
        index: [(hit.phrase, hit.start) for hit in _checker.find(str(turn.get("text") or ""))]
        for index, turn in enumerate(turns or [])
        if turn.get("speaker") == "staff"
    }
    for flag in flags:
        if flag.source != "transcript":
            continue
        for index, found in hits.items():
            if (flag.phrase, flag.start) in found:
                found.remove((flag.phrase, flag.start))
                marks.setdefault(index, []).append(flag)
                break
    return marks
