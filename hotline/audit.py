"""The case history as a hash chain (P6: records archived and complete).

Each event's hash covers its content and the previous event's hash; the case
row keeps the head (last sequence number and hash). Editing an event breaks its
hash, deleting one breaks the sequence or the link, deleting the last one
disagrees with the head. :func:`verify` finds all three.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import Case, CaseEvent

GENESIS = "0" * 64


def _plain(value: Any) -> Any:
    """JSON-ready form of event data (times as ISO text in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def plain_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Event data as stored: plain JSON types only."""
    return _plain(dict(data))


def event_hash(
    *,
    case_id: int,
    seq: int,
    action: str,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    at: datetime,
    reason: str,
    data: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The SHA-256 of an event's content and its predecessor's hash."""
    body = json.dumps(
        {
            "case_id": case_id,
            "seq": seq,
            "action": action,
            "from": from_state,
            "to": to_state,
            "actor": actor_id,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "reason": reason,
            "data": plain_data(data),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def hash_of(event: CaseEvent) -> str:
    """The hash ``event`` should carry, from its content and ``prev_hash``."""
    return event_hash(
        case_id=event.case_id,
        seq=event.seq,
        action=event.action,
        from_state=event.from_state,
        to_state=event.to_state,
        actor_id=event.actor_id,
        at=event.at,
        reason=event.reason,
        data=event.data,
        prev_hash=event.prev_hash,
    )


def append_event(
    session: Session,
    case: Case,
    *,
    action: str,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    at: datetime,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
) -> CaseEvent:
    """Add the next event of ``case`` to the session and move the case's chain head.

    The caller owns the transaction (and holds the case row, so sequence numbers
    cannot collide).
    """
    event = CaseEvent(
        case_id=case.id,
        seq=case.last_event_seq + 1,
        action=action,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor_id,
        at=at.astimezone(UTC),
        reason=reason,
        data=plain_data(data or {}),
        prev_hash=case.last_event_hash or GENESIS,
    )
    event.hash = hash_of(event)
    session.add(event)
    case.last_event_seq = event.seq
    case.last_event_hash = event.hash
    return event


@dataclass(frozen=True)
class Problem:
    """One break in a case's chain."""

    case_number: str
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else "head"
        return f"{self.case_number} {where}: {self.message}"


def check_chain(case: Case, events: Iterable[CaseEvent]) -> list[Problem]:
    """Every break in the chain of ``case`` given its events in sequence order."""
    problems: list[Problem] = []
    prev, expected_seq = GENESIS, 1
    for event in events:
        if event.seq != expected_seq:
            problems.append(
                Problem(
                    case.number, event.seq, f"expected event {expected_seq}: an event is missing"
                )
            )
        if event.prev_hash != prev:
            problems.append(Problem(case.number, event.seq, "does not link to the event before it"))
        if hash_of(event) != event.hash:
            problems.append(
                Problem(case.number, event.seq, "content was changed after it was written")
            )
        prev, expected_seq = event.hash, event.seq + 1
    if expected_seq - 1 != case.last_event_seq or prev != (case.last_event_hash or GENESIS):
        problems.append(
            Problem(
                case.number,
                None,
                f"the case records {case.last_event_seq} events but the chain ends at "
                f"{expected_seq - 1}: events were removed or added outside the product",
            )
        )
    return problems


def verify(session: Session, *, case_number: str | None = None) -> tuple[int, list[Problem]]:
    """Check the chains of all cases (or one); returns (cases checked, problems)."""
    query = select(Case).order_by(Case.id)
    if case_number:
        query = query.where(Case.number == case_number)
    checked, problems = 0, []
    for case in session.scalars(query):
        events = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
        problems.extend(check_chain(case, events))
        checked += 1
    return checked, problems
