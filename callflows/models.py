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
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callflows.domain.outage_notices import NoticeKind
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


class QualityCheck(Base):
    """A supervisor's quality check (质检) of one call: the points per item, the total,
    the comment.

    Never changed once saved (an update is refused before it reaches the
    database). A correction is a new check that names the one it supersedes
    and why; a check is superseded at most once, so the current check of a
    call is the one no other check supersedes. ``items`` keeps each item's
    id, rule, weight and points as scored, so later changes to the items'
    file leave saved checks as they were.
    """

    __tablename__ = "quality_checks"
    __table_args__ = (
        UniqueConstraint("supersedes_id"),
        CheckConstraint("total >= 0 AND total <= max_total", name="total_in_range"),
        CheckConstraint(
            "(supersedes_id IS NULL AND reason = '') OR (supersedes_id IS NOT NULL AND reason <> '')",
            name="reason_with_supersession",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    checked_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    max_total: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("quality_checks.id"))
    reason: Mapped[str] = mapped_column(Text, default="")

    call: Mapped[Call] = relationship()
    operator: Mapped[Staff] = relationship(foreign_keys=[operator_id])
    checked_by: Mapped[Staff] = relationship(foreign_keys=[checked_by_id])


@event.listens_for(QualityCheck, "before_update")
def _quality_checks_are_immutable(_mapper: Any, _connection: Any, target: QualityCheck) -> None:
    raise ValueError(f"quality check {target.id} is saved for good; supersede it with a new one")


class OutageNoticeStatus(StrEnum):
    """Where one outage notice text to one customer stands.

    ``queued``: written, not yet taken by a sending run. ``sending``: taken,
    its :class:`OutboundAttempt` written and committed, the provider about to
    be asked (a row left here by a crash may have gone out and is not sent
    again). Then the provider's answer: ``sent``, ``refused`` or ``uncertain``.
    """

    QUEUED = "queued"  # 待发送
    SENDING = "sending"  # 正在发送
    SENT = "sent"  # 已发出
    REFUSED = "refused"  # 被拒绝,未发出
    UNCERTAIN = "uncertain"  # 结果不明


class OutageAnnouncement(Base):
    """One notice of an outage to the customers of its area (P8): published, a new
    restore time, or water back.

    ``key`` is unique per outage (``published``, ``restore-2``, ``ended``), so
    the same notice is never planned twice. ``expanded_at`` is set in the
    transaction that writes the texts to every affected customer.
    """

    __tablename__ = "outage_announcements"
    __table_args__ = (UniqueConstraint("outage_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(_enum(NoticeKind))
    key: Mapped[str] = mapped_column(String(32))
    #: The restore time the notice announces (the outage's end when it was written).
    restore_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class OutageNoticeSms(Base):
    """One outage notice texted to one customer.

    Unique on (announcement, customer): whoever retries, and however many
    processes run, a customer is texted a notice once.
    """

    __tablename__ = "outage_notice_sms"
    __table_args__ = (
        UniqueConstraint("announcement_id", "customer_id"),
        Index("ix_outage_notice_sms_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("outage_announcements.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[OutageNoticeStatus] = mapped_column(_enum(OutageNoticeStatus))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_attempts.id"))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboundTask(Base):
    """One piece of outbound work in the operators' queue (外呼任务).

    ``kind`` (:class:`~callflows.domain.outbound_tasks.TaskKind`) says what it
    is for; ``subject_key`` names the one thing it is about and is unique, so a
    retry or a second process never creates the same task twice. ``owner_id``
    is set when an operator pulls the task (one owner at a time);
    ``script_state`` is the live script session of the current call, as on a
    :class:`Call`.
    """

    __tablename__ = "outbound_tasks"
    __table_args__ = (
        UniqueConstraint("subject_key", name="uq_outbound_tasks_subject_key"),
        # The queue reads open tasks by deadline and due time.
        Index("ix_outbound_tasks_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject_key: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    script_id: Mapped[str | None] = mapped_column(String(64))
    script_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    phone: Mapped[str] = mapped_column(String(20), default="")
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[Staff | None] = relationship(foreign_keys=[owner_id])
    attempts: Mapped[list[OutboundTaskAttempt]] = relationship(
        back_populates="task", order_by="OutboundTaskAttempt.id"
    )


class OutboundTaskAttempt(Base):
    """One attempt to reach a task's customer: who, when, how it went.

    ``outbound_attempt_id`` links the telephony request when the call was
    placed through the phone system (click-to-call); a call made by hand has
    none.
    """

    __tablename__ = "outbound_task_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("outbound_tasks.id"), index=True)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    outbound_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_attempts.id"))

    task: Mapped[OutboundTask] = relationship(back_populates="attempts")
    by: Mapped[Staff | None] = relationship()
