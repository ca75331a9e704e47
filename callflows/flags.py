"""G2 flags kept for supervisors: banned phrases found in staff text as it is saved.

Every piece of staff text a case takes (notes, answers given on the call, result
notes, what the caller was told on a transfer, contact summaries, reasons) is
saved through hotline's service layer as a case event. :func:`install` hooks
the insertion of case events, so each banned phrase in that text is stored as
a :class:`~callflows.models.ComplianceFlag` in the same transaction: the text
and its flags are written together or not at all. Text that belongs to a call
rather than a case (a contact summary without a case, a transcript's staff
turns) is flagged with :func:`flag_text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from callflows.compliance import Flag, PhraseChecker
from callflows.models import ComplianceFlag
from hotline.models import CaseEvent

__all__ = ["CASE_TEXT_KEYS", "excerpt", "flag_rows", "flag_text", "install"]

#: Keys of case event data that hold text staff typed.
CASE_TEXT_KEYS: tuple[str, ...] = ("note", "answer", "result_note", "told_caller", "summary")

_EXCERPT_CONTEXT = 20
_EXCERPT_LIMIT = 200

_checker = PhraseChecker()


def excerpt(text: str, flag: Flag) -> str:
    """The flagged words with a little context either side, for a review list."""
    head = max(0, flag.start - _EXCERPT_CONTEXT)
    tail = min(len(text), flag.end + _EXCERPT_CONTEXT)
    shown = ("…" if head else "") + text[head:tail] + ("…" if tail < len(text) else "")
    return shown[:_EXCERPT_LIMIT]


def flag_rows(
    text: str,
    *,
    source: str,
    at: datetime,
    staff_id: int | None,
    call_id: int | None = None,
    case_id: int | None = None,
    checker: PhraseChecker | None = None,
) -> list[dict[str, Any]]:
    """One row (as column values) per banned phrase in ``text``; empty if none.

    Raises ``ValueError`` when neither ``call_id`` nor ``case_id`` is given.
    """
    if call_id is None and case_id is None:
        raise ValueError("a flag belongs to a call or a case; give call_id or case_id")
    if not isinstance(text, str) or not text.strip():
        return []
    return [
        {
            "call_id": call_id,
            "case_id": case_id,
            "rule": flag.rule,
            "source": source,
            "phrase": flag.phrase,
            "start": flag.start,
            "end": flag.end,
            "excerpt": excerpt(text, flag),
            "staff_id": staff_id,
            "at": at,
        }
        for flag in (checker or _checker).find(text)
    ]


def flag_text(
    session: Session,
    text: str,
    *,
    source: str,
    at: datetime,
    staff_id: int | None,
    call_id: int | None = None,
    case_id: int | None = None,
) -> list[ComplianceFlag]:
    """Add a flag row to ``session`` per banned phrase in ``text`` (the caller commits)."""
    rows = [
        ComplianceFlag(**values)
        for values in flag_rows(
            text, source=source, at=at, staff_id=staff_id, call_id=call_id, case_id=case_id
        )
    ]
    session.add_all(rows)
    return rows


def _event_texts(target: CaseEvent) -> Iterable[tuple[str, str]]:
    data = target.data or {}
    for key in CASE_TEXT_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            yield key, value
    if target.reason:
        yield "reason", target.reason


def _after_case_event_insert(
    mapper: Mapper[Any], connection: Connection, target: CaseEvent
) -> None:
    rows = [
        row
        for source, text in _event_texts(target)
        for row in flag_rows(
            text, source=source, at=target.at, staff_id=target.actor_id, case_id=target.case_id
        )
    ]
    if rows:
        # Inside the flush: only the connection may be used, and the flags go
        # into the same transaction as the event that carries the text.
        connection.execute(insert(ComplianceFlag.__table__), rows)


def install() -> None:
    """Flag staff text in every case event saved from now on (safe to call twice)."""
    if not event.contains(CaseEvent, "after_insert", _after_case_event_insert):
        event.listen(CaseEvent, "after_insert", _after_case_event_insert)
