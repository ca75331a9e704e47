"""The dispatch center's own tables: the duty roster, the alarms it raises, and the
supervision orders (督办 / 催办) it issues about cases.

SQLAlchemy 2 typed declarative on hotline's base, so one metadata (and one
Alembic history) covers every table. Case deadlines live in
``hotline.models.CaseDeadline``: they belong to the case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db import Base, UTCDateTime
from hotline.models import Case, Department, Staff


class DutyShift(Base):
    """A dispatcher's shift in the dispatch center (调度值班): who, from when, until when.

    P1: the dispatch center is never unattended. A shift is never deleted; a
    mistaken one is cancelled (``cancelled_at``) and stays on file.
    """

    __tablename__ = "duty_shifts"
    __table_args__ = (
        # The duty check asks "which shifts overlap this hour?"
        Index("ix_duty_shifts_window", "starts_at", "ends_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    staff: Mapped[Staff] = relationship(foreign_keys=[staff_id], lazy="joined")


class DutyAlarm(Base):
    """P1: an hour found without a dispatcher on duty (调度中心无人值班告警).

    One row per clock hour at most: the unique hour makes the alarm
    exactly-once however many sweeps notice the gap. ``gaps`` lists the
    uncovered stretches of the hour as ``[from, until]`` ISO times.
    """

    __tablename__ = "duty_alarms"

    id: Mapped[int] = mapped_column(primary_key=True)
    hour_starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), unique=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    gaps: Mapped[list[Any]] = mapped_column(JSON, default=list)


class SupervisionOrder(Base):
    """A supervision order (督办 / 催办) about a case, with a deadline of its own.

    Issued by a supervisor or dispatcher to one department or one person; the
    addressee answers in words. Never deleted: answered orders stay on file,
    and the case's history carries an event for the order and for its answer.
    Rules: ``dispatch.domain.supervision``.
    """

    __tablename__ = "supervision_orders"
    __table_args__ = (
        # The supervision list asks for the open orders, soonest due first.
        Index("ix_supervision_orders_open", "answered_at", "due_at"),
        CheckConstraint(
            "(to_department_id IS NULL AND to_staff_id IS NOT NULL) OR "
            "(to_department_id IS NOT NULL AND to_staff_id IS NULL)",
            name="one_addressee",
        ),
        CheckConstraint("due_at > issued_at", name="due_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    to_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    to_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    instruction: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    case: Mapped[Case] = relationship(lazy="joined")
    issued_by: Mapped[Staff] = relationship(foreign_keys=[issued_by_id], lazy="joined")
    to_department: Mapped[Department | None] = relationship(lazy="joined")
    to_staff: Mapped[Staff | None] = relationship(foreign_keys=[to_staff_id], lazy="joined")
    answered_by: Mapped[Staff | None] = relationship(foreign_keys=[answered_by_id], lazy="joined")
