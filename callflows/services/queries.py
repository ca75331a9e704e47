"""Reading calls for the console: who is ringing, who to call back, the last attempts,
one call with its flags, attempts and case, the departments to send a case to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.models import (
    ENDED_STATUSES,
    AttemptKind,
    Call,
    CallStatus,
    ComplianceFlag,
    Direction,
    OutboundAttempt,
    Provider,
)
from hotline.models import Case, Department
from hotline.services import NotFound

__all__ = [
    "call_attempts",
    "call_case",
    "call_flags",
    "departments",
    "find_call",
    "is_ended",
    "last_attempts",
    "live_call_id",
    "missed_calls",
    "outbound_call_attempt",
    "simulated_call",
    "waiting_calls",
]


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


def find_call(session: Session, call_id: int) -> Call:
    """The call ``call_id`` (from the session if already loaded); :class:`NotFound` if none."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("no call %(call_id)s", "call", call_id=call_id)
    return call


def simulated_call(session: Session, call_id: int) -> Call:
    """The simulator's call ``call_id``; :class:`NotFound` if none or not simulated."""
    call = session.get(Call, call_id)
    if call is None or call.provider != Provider.SIMULATOR:
        raise NotFound("no simulated call %(call_id)s", "call", call_id=call_id)
    return call


def live_call_id(session: Session, staff_id: int) -> int | None:
    """The id of the latest call ``staff_id`` answered that has not ended, if any."""
    return session.scalar(
        select(Call.id)
        .where(Call.answered_by_id == staff_id, Call.ended_at.is_(None))
        .order_by(Call.id.desc())
    )


def call_flags(session: Session, call_id: int) -> Sequence[ComplianceFlag]:
    """The call's G2 flags, in the order they were raised."""
    return session.scalars(
        select(ComplianceFlag).where(ComplianceFlag.call_id == call_id).order_by(ComplianceFlag.id)
    ).all()


def call_attempts(session: Session, call_id: int) -> Sequence[OutboundAttempt]:
    """The call's outbound attempts (call-backs, SMS), oldest first."""
    return session.scalars(
        select(OutboundAttempt)
        .where(OutboundAttempt.call_id == call_id)
        .order_by(OutboundAttempt.id)
    ).all()


def call_case(session: Session, call: Call) -> Case | None:
    """The case the call opened or joined, if any."""
    if call.case_id:
        return session.get(Case, call.case_id)
    return None


def outbound_call_attempt(session: Session, attempt_id: int) -> OutboundAttempt | None:
    """The outbound call attempt ``attempt_id``; ``None`` if none or it is an SMS."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.kind != AttemptKind.CALL:
        return None
    return attempt


def departments(session: Session) -> list[Department]:
    """Every department, in id order."""
    return list(session.scalars(select(Department).order_by(Department.id)))
