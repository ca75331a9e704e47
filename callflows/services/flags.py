"""G2 flags kept for supervisors: banned phrases found in staff text as it is saved.

The service that stores staff text calls :func:`check_staff_text` with it,
inside the transaction that stores it, so each banned phrase becomes a
:class:`~callflows.models.ComplianceFlag` written together with the text or
not at all. Hotline's services store case text (notes, answers given on the
call, result notes, what the caller was told on a transfer, contact summaries,
reasons) and call ``Services.text_checker`` right after appending the event
that carries it; :func:`install` sets that to :func:`check_staff_text`.
:mod:`callflows.services` calls :func:`check_staff_text` itself for the text it
stores (a contact summary without a case, a transcript's staff turns).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from callflows.domain.compliance import Flag, PhraseChecker
from callflows.models import ComplianceFlag
from hotline.models import Case, CaseEvent
from hotline.services import Services

__all__ = ["check_staff_text", "excerpt", "flag_rows", "flag_text", "install"]

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


def check_staff_text(
    session: Session,
    case: Case | None,
    event: CaseEvent | None,
    texts: Iterable[tuple[str, str]],
    actor_id: int | None,
    *,
    at: datetime | None = None,
    call_id: int | None = None,
) -> list[ComplianceFlag]:
    """Flag the banned phrases in staff text just stored; returns the flags added.

    ``texts`` are ``(field, text)`` pairs; the field becomes the flag's
    ``source`` and ``actor_id`` who wrote it. The flags belong to ``case``
    and/or the call ``call_id`` and are added to ``session``: the caller's
    transaction writes them with the text. ``at`` defaults to the time of
    ``event``. Raises ``ValueError`` when there is neither a case nor a call,
    or neither ``at`` nor an event.
    """
    when = at if at is not None else (event.at if event is not None else None)
    if when is None:
        raise ValueError("say when the text was stored: give at or the event")
    case_id = case.id if case is not None else None
    return [
        flag
        for source, text in texts
        for flag in flag_text(
            session,
            text,
            source=source,
            at=when,
            staff_id=actor_id,
            call_id=call_id,
            case_id=case_id,
        )
    ]


def install(svc: Services) -> None:
    """Have ``svc``'s services flag the staff text they store (sets its ``text_checker``)."""
    svc.text_checker = check_staff_text
