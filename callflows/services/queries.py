"""Reading calls for the console: who is ringing, who to call back, the last attempts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.models import ENDED_STATUSES, Call, CallStatus, Direction, OutboundAttempt

__all__ = ["is_ended", "last_attempts", "missed_calls", "waiting_calls"]


def waiting_calls(session: Session, *, limit: int = 20) -> list[Call]:
    """Incoming calls ringing now, longest waiting first."""
    return list(
        session.scalars(
            select(Call)
            .where(
                Call.status == CallStatus.RINGING,
                Call.direction == Direction.INBOUND,
                Call.ended_at.is_(None),
            )
            .order_by(Call.ringing_at)
            .limit(limit)
        )
    )


def missed_calls(session: Session, *, limit: int = 50) -> list[Call]:
    """Missed and abandoned calls nobody has called back yet, newest first."""
    return list(
        session.scalars(
            select(Call)
            .where(
                Call.status.in_([CallStatus.ABANDONED, CallStatus.MISSED]),
                Call.direction == Direction.INBOUND,
                Call.called_back_at.is_(None),
            )
            .order_by(Call.ringing_at.desc())
            .limit(limit)
        )
    )


def last_attempts(session: Session, call_ids: Sequence[int]) -> dict[int, OutboundAttempt]:
    """The latest outbound attempt for each call id that has one."""
    if not call_ids:
        return {}
    latest: dict[int, OutboundAttempt] = {}
    for attempt in session.scalars(
        select(OutboundAttempt)
        .where(OutboundAttempt.call_id.in_(call_ids))
        .order_by(OutboundAttempt.id)
    ):
        assert attempt.call_id is not None
        latest[attempt.call_id] = attempt
    return latest


def is_ended(call: Call) -> bool:
    """True when the call has ended (by status or end time)."""
    return call.ended_at is not None or call.status in ENDED_STATUSES
