"""The outbound task queue (外呼任务) and each task's attempts.

``outbound_tasks``: follow-ups (P7), call-backs of missed calls, booked
call-backs (W11), abnormal usage (W14) and dunning (W15), unique on
``subject_key`` so the same work is never queued twice.
``outbound_task_attempts``: every attempt to reach a task's customer.

Cases already waiting for their follow-up when this revision runs get their
follow-up task here, so none is left outside the queue. See docs/outbound.md.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: no rebuild of an existing table, so SQLite needs no batch here.
    op.create_table(
        "outbound_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("subject_key", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=True),
        sa.Column("script_id", sa.String(length=64), nullable=True),
        sa.Column("script_state", sa.JSON(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_outbound_tasks_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_outbound_tasks_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff.id"], name=op.f("fk_outbound_tasks_created_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_outbound_tasks_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["staff.id"], name=op.f("fk_outbound_tasks_owner_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_tasks")),
        sa.UniqueConstraint("subject_key", name="uq_outbound_tasks_subject_key"),
    )
    op.create_index(op.f("ix_outbound_tasks_call_id"), "outbound_tasks", ["call_id"], unique=False)
    op.create_index(op.f("ix_outbound_tasks_case_id"), "outbound_tasks", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_outbound_tasks_owner_id"), "outbound_tasks", ["owner_id"], unique=False
    )
    op.create_index(
        "ix_outbound_tasks_state_due", "outbound_tasks", ["state", "due_at"], unique=False
    )
    op.create_table(
        "outbound_task_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("outbound_attempt_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["staff.id"], name=op.f("fk_outbound_task_attempts_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["outbound_attempt_id"],
            ["outbound_attempts.id"],
            name=op.f("fk_outbound_task_attempts_outbound_attempt_id_outbound_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["outbound_tasks.id"],
            name=op.f("fk_outbound_task_attempts_task_id_outbound_tasks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_task_attempts")),
    )
    op.create_index(
        op.f("ix_outbound_task_attempts_task_id"),
        "outbound_task_attempts",
        ["task_id"],
        unique=False,
    )
    # Cases already waiting for their follow-up get their task (round 1). The
    # key is built with || and CAST, which PostgreSQL and SQLite both read.
    # The colon before the round is escaped so it is not read as a bind parameter.
    op.execute(
        sa.text(
            r"""
        INSERT INTO outbound_tasks (
            kind, subject_key, state, due_at, deadline_at, script_id, case_id,
            phone, contact_name, details, result, created_at, updated_at
        )
        SELECT 'follow_up', 'follow_up:case:' || CAST(id AS VARCHAR(20)) || '\:1', 'open',
               updated_at, due_at, 'follow_up_call', id,
               COALESCE(contact_phone, ''), COALESCE(contact_name, ''), COALESCE(problem, ''),
               '', updated_at, updated_at
        FROM cases
        WHERE state IN ('awaiting_follow_up', 'answered_on_call', 'transferred')
        """
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbound_task_attempts_task_id"), table_name="outbound_task_attempts")
    op.drop_table("outbound_task_attempts")
    op.drop_index("ix_outbound_tasks_state_due", table_name="outbound_tasks")
    op.drop_index(op.f("ix_outbound_tasks_owner_id"), table_name="outbound_tasks")
    op.drop_index(op.f("ix_outbound_tasks_case_id"), table_name="outbound_tasks")
    op.drop_index(op.f("ix_outbound_tasks_call_id"), table_name="outbound_tasks")
    op.drop_table("outbound_tasks")
