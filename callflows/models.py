"""The tables of call flows: calls, their provider status events, compliance
flags and outbound attempts.

SQLAlchemy 2 typed declarative on hotline's :class:`~hotline.db.Base`, so one
metadata (and one Alembic history) covers the whole product. A call links to
the hotline :class:`~hotline.models.Contact` it became and, where one was
opened, the :class:`~hotline.models.Case`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db import Base, UTCDateTime
from hotline.domain.taxonomy import Channel
from hotline.models import Staff


class Provider(StrEnum):
    """Where a call came from: a telephony adapter, or the counter (W1)."""

    SIMULATOR = "simulator"  # 模拟来电
    TWILIO = "twilio"
    COUNTER = "counter"  # 窗口来访: the console without telephony


class Direction(StrEnum):
    """Which way a call goes."""

    INBOUND = "inbound"  # 来电
    OUTBOUND = "outbound"  # 去电(回拨、回访)


class CallStatus(StrEnum):
    """Where a call stands.

    ``abandoned`` (the caller hung up while waiting) and ``missed`` (the call
    never reached an operator: busy, no answer, failed) are listed on the
    console until someone calls back.
    """

    RINGING = "ringing"  # 振铃/排队中
    IN_PROGRESS = "in_progress"  # 通话中
    COMPLETED = "completed"  # 已结束
    ABANDONED = "abandoned"  # 未接通,来电人已挂断
    MISSED = "missed"  # 未接来电(忙、无应答、失败)


#: Statuses of a call that has ended.
ENDED_STATUSES = frozenset({CallStatus.COMPLETED, CallStatus.ABANDONED, CallStatus.MISSED})


class AttemptKind(StrEnum):
    """What an outbound attempt sends."""

    CALL = "call"  # 去电
    SMS = "sms"  # 短信


class AttemptStatus(StrEnum):
    """Where an outbound attempt stands.

    The row is written as ``pending`` and committed before the provider is
    asked. ``refused``: the provider answered with an error, nothing was sent.
    ``uncertain``: no clear answer (timeout, server error), so it may or may
    not have gone out; it is never retried without a person deciding to.
    """

    PENDING = "pending"  # 正在请求
    REQUESTED = "requested"  # 已受理
    REFUSED = "refused"  # 被拒绝,未发出
    UNCERTAIN = "uncertain"  # 结果不明,核实后再决定是否重试
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    NOT_REACHED = "not_reached"  # 忙、无应答、失败


def _enum(enum_cls: type[StrEnum]) -> String:
    return String(max(len(member.value) for member in enum_cls) + 8)


class Call(Base):
    """One call (or counter visit) from first ring to wrap-up (通话记录).

    ``script_state`` is the live script session: the script, the operations
    applied in order with their times (from which the engine is rebuilt), and
    a snapshot of the captured fields and steps done. ``compliance`` is the
    engine's compliance record, written when the call ends.
    """

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("provider_call_sid"),
        # The console lists calls waiting and calls missed; both read by status.
        Index("ix_calls_status_ringing", "status", "ringing_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[Provider] = mapped_column(_enum(Provider))
    provider_call_sid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    # E.164 where the number could be read; the raw text is kept for the rest
    from_number: Mapped[str | None] = mapped_column(String(20), index=True)
    from_raw: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[CallStatus] = mapped_column(_enum(CallStatus))
    ringing_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # P1: measured against the three-rings limit
    ring_to_answer_seconds: Mapped[float | None] = mapped_column(Float)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    hung_up_by: Mapped[str | None] = mapped_column(String(16))
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    transcript: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    script_id: Mapped[str | None] = mapped_column(String(64))
    script_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    compliance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    # When the call was submitted (it became a contact, and maybe a case). One
    # submission per call: submits queue on the call's row lock and the second
    # finds the call recorded, so a double click cannot open two cases.
    submit_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    called_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    called_back_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    answered_by: Mapped[Staff | None] = relationship(foreign_keys=[answered_by_id])
    called_back_by: Mapped[Staff | None] = relationship(foreign_keys=[called_back_by_id])

    @property
    def is_live(self) -> bool:
        """True until the call has ended."""
        return self.ended_at is None


class CallStatusEvent(Base):
    """A provider's status callback, kept once (Twilio retries; 状态回调).

    Unique on the call sid and the provider's sequence number, so a retried
    callback finds its row and changes nothing.
    """

    __tablename__ = "call_status_events"
    __table_args__ = (UniqueConstraint("call_sid", "sequence_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    parent_call_sid: Mapped[str | None] = mapped_column(String(64))
    sequence_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ComplianceFlag(Base):
    """A banned phrase (G2) found in staff text, kept for supervisors to review.

    Belongs to a call, a case or both. ``source`` names the text it was found
    in (``note``, ``answer``, ``result_note``, ``told_caller``, ``summary``,
    ``reason``, ``transcript``); ``start`` and ``end`` index that text.
    """

    __tablename__ = "compliance_flags"
    __table_args__ = (
        CheckConstraint("call_id IS NOT NULL OR case_id IS NOT NULL", name="call_or_case"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    rule: Mapped[str] = mapped_column(String(8), default="G2")
    source: Mapped[str] = mapped_column(String(32))
    phrase: Mapped[str] = mapped_column(String(40))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    excerpt: Mapped[str] = mapped_column(String(200))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    staff: Mapped[Staff | None] = relationship()


class OutboundAttempt(Base):
    """One outbound call or SMS, written before the provider is asked.

    Outbound requests are not idempotent: the row exists first, so a crash or
    a timeout leaves a record saying the attempt may have gone out, and nobody
    sends it again without deciding to.
    """

    __tablename__ = "outbound_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AttemptKind] = mapped_column(_enum(AttemptKind))
    purpose: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus))
    provider: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    requested_by: Mapped[Staff | None] = relationship()


class IncidentUpdateSms(Base):
    """An incident update texted to the caller of one case merged into the incident.

    One row per update and case, written with its :class:`OutboundAttempt`
    before the provider is asked: the unique constraint means the same update
    is never texted twice to the same case, whoever retries.
    """

    __tablename__ = "incident_update_sms"
    __table_args__ = (UniqueConstraint("update_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("incident_updates.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("outbound_attempts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
