"""The supervisors' call log: calls filtered and paged, and one call with its review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callflows.models import Call, CallStatusEvent, ComplianceFlag, OutboundAttempt
from callflows.services.queries import call_attempts, call_case, call_flags
from hotline.domain.taxonomy import Role
from hotline.models import Case, Staff

__all__ = ["CallLogFilter", "CallLogPage", "CallReview", "call_log_page", "call_review"]


@dataclass(frozen=True)
class CallLogFilter:
    """Which calls the log lists: a day (its local midnight), an operator, flagged, slow."""

    day_start: datetime | None = None
    operator_id: int | None = None
    flagged: bool = False
    slower_than_seconds: float | None = None


@dataclass(frozen=True)
class CallLogPage:
    """One page of the call log, with each call's flag count and the operators to filter by."""

    total: int
    calls: Sequence[Call]
    flag_counts: dict[int, int]
    operators: list[Staff]


@dataclass(frozen=True)
class CallReview:
    """What the review of one call shows besides the call itself."""

    flags: Sequence[ComplianceFlag]
    events: Sequence[CallStatusEvent]
    attempts: Sequence[OutboundAttempt]
    case: Case | None


def call_log_page(session: Session, flt: CallLogFilter, *, page: int, per_page: int) -> CallLogPage:
    """The calls matching ``flt``, newest first, page ``page`` of ``per_page``."""
    query = select(Call).order_by(Call.ringing_at.desc())
    if flt.day_start is not None:
        query = query.where(
            Call.ringing_at >= flt.day_start, Call.ringing_at < flt.day_start + timedelta(days=1)
        )
    if flt.operator_id:
        query = query.where(Call.answered_by_id == flt.operator_id)
    if flt.flagged:
        query = query.where(Call.id.in_(select(ComplianceFlag.call_id)))
    if flt.slower_than_seconds is not None:
        query = query.where(Call.ring_to_answer_seconds > flt.slower_than_seconds)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.offset((page - 1) * per_page).limit(per_page)).all()
    flag_counts = dict(
        session.execute(
            select(ComplianceFlag.call_id, func.count())
            .where(ComplianceFlag.call_id.in_([c.id for c in rows]))
            .group_by(ComplianceFlag.call_id)
        ).all()
    )
    operators = list(
        session.scalars(
            select(Staff)
            .where(Staff.role.in_([str(Role.OPERATOR), str(Role.SUPERVISOR)]))
            .order_by(Staff.display_name)
        )
    )
    return CallLogPage(total=total, calls=rows, flag_counts=flag_counts, operators=operators)


def call_review(session: Session, call: Call) -> CallReview:
    """The call's G2 flags, provider status events, outbound attempts and case."""
    flags = call_flags(session, call.id)
    events = session.scalars(
        select(CallStatusEvent)
        .where(
            or_(
                CallStatusEvent.call_sid == call.provider_call_sid,
                CallStatusEvent.parent_call_sid == call.provider_call_sid,
            )
        )
        .order_by(CallStatusEvent.at, CallStatusEvent.sequence_number)
    ).all()
    attempts = call_attempts(session, call.id)
    return CallReview(flags=flags, events=events, attempts=attempts, case=call_case(session, call))
