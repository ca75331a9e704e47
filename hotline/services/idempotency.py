"""The answers kept for commands sent with an ``Idempotency-Key``.

A command's answer is stored in ``idempotent_requests`` in the same unit of
work as the change it answers, and replayed when the same person sends the
same key again. The caller owns the session and commits. The HTTP side (the
header, the fingerprint of the request, the replayed response) is
``hotline.web.idempotency``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hotline.models import IdempotentRequest

#: How long answers are kept: far longer than any client retries.
KEEP_FOR = timedelta(days=7)


def stored_answer(session: Session, staff_id: int, key: str) -> IdempotentRequest | None:
    """The answer kept for ``staff_id``'s command sent with ``key``, if any."""
    return session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.staff_id == staff_id, IdempotentRequest.key == key
        )
    )


def keep_answer(
    session: Session,
    *,
    staff_id: int,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    status: int,
    content_type: str,
    location: str,
    body: str,
    now: datetime,
) -> IdempotentRequest:
    """Keep the answer to ``staff_id``'s command sent with ``key`` (in the caller's unit of work).

    A twin that kept its answer first makes the commit fail on the unique
    (staff, key) constraint.
    """
    row = IdempotentRequest(
        staff_id=staff_id,
        key=key,
        method=method,
        path=path[:500],
        fingerprint=fingerprint,
        status=status,
        content_type=content_type,
        location=location[:500],
        body=body,
        created_at=now,
    )
    session.add(row)
    return row


def prune(session: Session, now: datetime) -> int:
    """Forget answers older than :data:`KEEP_FOR`; returns how many (the caller commits)."""
    result = session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < now - KEEP_FOR)
    )
    return int(result.rowcount or 0)
