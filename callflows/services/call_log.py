"""The supervisors' call log: calls filtered and paged, and one call with its review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from callflows.models import Call, CallStatus, CallStatusEvent, ComplianceFlag, OutboundAttempt
from callflows.services.queries import call_attempts, call_case, call_flags
from hotline.domain.taxonomy import Disposition, Role
from hotline.models import Case, Contact, Staff

__all__ = [
    "LOG_FLAGS",
    "CallLogFilter",
    "CallLogPage",
    "CallReview",
    "call_log_page",
    "call_review",
]

#: What the log's ``flag`` filter may ask for: a banned phrase (G2), a call
#: answered after three rings (P1), a missing greeting or closing (P3), a
#: required step left out or no read-back (P4).
LOG_FLAGS = ("banned", "slow", "missed_greeting", "missed_closing", "missed_required")


@dataclass(frozen=True)
class CallLogFilter:
    """Which calls the log lists: from a day (its local midnight) up to ``day_end``
    (exclusive; one day when not given), an operator, flagged, slow, one of
    :data:`LOG_FLAGS` and an outcome (the contact's disposition)."""

    day_start: datetime | None = None
    operator_id: int | None = None
    flagged: bool = False
    slower_than_seconds: float | None = None
    day_end: datetime | None = None
    flag: str | None = None
    outcome: Disposition | None = None


@dataclass(frozen=True)
class CallLogPage:
    """One page of the call log, with each call's flag count and the operators to filter by."""

    total: int
    calls: Sequence[Call]
    flag_counts: dict[int, int]
    operators: list[Staff]
    #: The disposition of each listed call's contact (calls not yet submitted are left out).
    outcomes: dict[int, Disposition] = field(default_factory=dict)


@dataclass(frozen=True)
class CallReview:
    """What the review of one call shows besides the call itself."""

    flags: Sequence[ComplianceFlag]
    events: Sequence[CallStatusEvent]
    attempts: Sequence[OutboundAttempt]
    case: Case | None


def call_log_page(session: Session, flt: CallLogFilter, *, page: int, per_page: int) -> CallLogPage:
    """The calls matching ``flt``, newest first, page ``page`` of ``per_page``."""
    query = select(Call).order_by(Call.ringing_at.desc(), Call.id.desc())
    if flt.day_start is not None:
        query = query.where(Call.ringing_at >= flt.day_start)
        if flt.day_end is None:
            query = query.where(Call.ringing_at < flt.day_start + timedelta(days=1))
    if flt.day_end is not None:
        query = query.where(Call.ringing_at < flt.day_end)
    if flt.operator_id:
        query = query.where(Call.answered_by_id == flt.operator_id)
    if flt.flagged:
        query = query.where(Call.id.in_(select(ComplianceFlag.call_id)))
    if flt.slower_than_seconds is not None:
        query = query.where(Call.ring_to_answer_seconds > flt.slower_than_seconds)
    query = _flag_filter(query, flt)
    if flt.outcome is not None:
        by_contact = Call.contact_id.in_(
            select(Contact.id).where(Contact.disposition == flt.outcome)
        )
        if flt.outcome in (Disposition.ABANDONED, Disposition.MISSED):
            # A call nobody answered has no contact; its own status says the same.
            by_contact = or_(
                by_contact, and_(Call.contact_id.is_(None), Call.status == CallStatus(flt.outcome))
            )
        query = query.where(by_contact)
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
    contact_ids = [c.contact_id for c in rows if c.contact_id is not None]
    by_contact = dict(
        session.execute(
            select(Contact.id, Contact.disposition).where(Contact.id.in_(contact_ids))
        ).all()
    )
    outcomes = {
        c.id: by_contact[c.contact_id]
        for c in rows
        if c.contact_id is not None and by_contact.get(c.contact_id) is not None
    }
    return CallLogPage(
        total=total, calls=rows, flag_counts=flag_counts, operators=operators, outcomes=outcomes
    )


def _flag_filter(query, flt: CallLogFilter):  # type: ignore[no-untyped-def]
    """``query`` narrowed to calls with the ``flt.flag`` finding."""
    if flt.flag is None:
        return query
    if flt.flag == "banned":
        return query.where(Call.id.in_(select(ComplianceFlag.call_id)))
    if flt.flag == "slow":
        if flt.slower_than_seconds is None:
            raise ValueError("the 'slow' flag needs the ring limit")
        return query.where(Call.ring_to_answer_seconds > flt.slower_than_seconds)
    if flt.flag in ("missed_greeting", "missed_closing"):
        return query.where(Call.compliance[flt.flag].as_boolean().is_(True))
    if flt.flag == "missed_required":
        return query.where(func.json_array_length(Call.compliance["missed_required"]) > 0)
    raise ValueError(f"unknown flag {flt.flag!r}")


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
