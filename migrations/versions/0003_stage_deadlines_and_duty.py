"""Stage deadlines per case, the dispatch center's duty roster and its alarms (F11, P1).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 19:30:07.526893
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The sweep's index covers only rows that still need a look (see CaseDeadline).
OPEN_WORK = sa.text("next_check_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "duty_alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour_starts_at", UTCDateTime(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_alarms")),
        sa.UniqueConstraint("hour_starts_at", name=op.f("uq_duty_alarms_hour_starts_at")),
    )
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_duty_shifts_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff.id"], name=op.f("fk_duty_shifts_created_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_duty_shifts_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
    )
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_shifts_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index("ix_duty_shifts_window", ["starts_at", "ends_at"], unique=False)

    op.create_table(
        "case_deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("clock", sa.String(length=24), nullable=False),
        sa.Column("limit_text", sa.String(length=120), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("limit_due_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("warn_at", UTCDateTime(), nullable=False),
        sa.Column("warned_at", UTCDateTime(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.Column("paused_since", UTCDateTime(), nullable=True),
        sa.Column("paused_until", UTCDateTime(), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=40), nullable=False),
        sa.CheckConstraint("due_at >= started_at", name=op.f("ck_case_deadlines_due_after_start")),
        sa.CheckConstraint(
            "escalation_level BETWEEN 0 AND 2",
            name=op.f("ck_case_deadlines_escalation_level_range"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_deadlines_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_deadlines")),
    )
    with op.batch_alter_table("case_deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_deadlines_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_deadlines_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            "ix_case_deadlines_next_check",
            ["next_check_at"],
            unique=False,
            sqlite_where=OPEN_WORK,
            postgresql_where=OPEN_WORK,
        )
    _backfill_open_cases()


def _backfill_open_cases() -> None:
    """Give every open case that already has a due time a clock row for its stage,
    so the sweep watches cases opened before this revision too.

    The clock kind and the warning share come from the time-limit policy in
    force at upgrade time; without a readable policy, around the clock at 80 %.
    """
    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer),
        sa.column("category", sa.String),
        sa.column("priority", sa.String),
        sa.column("pipe_size_dn", sa.Integer),
        sa.column("state", sa.String),
        sa.column("stage", sa.String),
        sa.column("stage_started_at", UTCDateTime()),
        sa.column("due_at", UTCDateTime()),
    )
    rows = bind.execute(
        sa.select(cases).where(
            cases.c.state.not_in(["closed", "merged"]),
            cases.c.due_at.is_not(None),
            cases.c.stage.is_not(None),
            cases.c.stage_started_at.is_not(None),
        )
    ).all()
    if not rows:
        return
    from hotline.domain.timelimits import PolicyError, TimeLimitPolicy

    policy: Any = None
    try:
        policy = TimeLimitPolicy.load()
    except PolicyError:  # an unreadable policy: the plain defaults below still watch the case
        policy = None
    share = policy.warning_share if policy is not None else 0.8
    clocks = sa.table(
        "case_deadlines",
        *(
            sa.column(name, kind)
            for name, kind in [
                ("case_id", sa.Integer),
                ("stage", sa.String),
                ("clock", sa.String),
                ("limit_text", sa.String),
                ("started_at", UTCDateTime()),
                ("limit_due_at", UTCDateTime()),
                ("due_at", UTCDateTime()),
                ("warn_at", UTCDateTime()),
                ("escalation_level", sa.Integer),
                ("paused_seconds", sa.Integer),
                ("next_check_at", UTCDateTime()),
                ("ended_by", sa.String),
            ]
        ),
    )
    values = []
    for row in rows:
        started: datetime = row.stage_started_at
        due: datetime = max(row.due_at, started)
        clock, text = "around_the_clock", "set before the stage clocks were kept"
        limit = None
        if policy is not None:
            try:
                limit = policy.limit_for(
                    row.category, row.priority, row.stage, pipe_size_dn=row.pipe_size_dn
                )
            except ValueError:  # a category or stage the policy no longer knows
                limit = None
        if limit is not None:
            clock, text = str(limit.clock), limit.text[:120]
        warn = started + (due - started) * share
        values.append(
            {
                "case_id": row.id,
                "stage": row.stage,
                "clock": clock,
                "limit_text": text,
                "started_at": started,
                "limit_due_at": due,
                "due_at": due,
                "warn_at": warn,
                "escalation_level": 0,
                "paused_seconds": 0,
                "next_check_at": warn,
                "ended_by": "",
            }
        )
    op.bulk_insert(clocks, values)


def downgrade() -> None:
    with op.batch_alter_table("case_deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_case_deadlines_next_check")
        batch_op.drop_index(batch_op.f("ix_case_deadlines_due_at"))
        batch_op.drop_index(batch_op.f("ix_case_deadlines_case_id"))

    op.drop_table("case_deadlines")
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_duty_shifts_window")
        batch_op.drop_index(batch_op.f("ix_duty_shifts_staff_id"))

    op.drop_table("duty_shifts")
    op.drop_table("duty_alarms")
