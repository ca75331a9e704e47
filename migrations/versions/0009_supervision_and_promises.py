"""Supervision orders (督办/催办) and the "tell the caller" tasks (告知来电人).

``supervision_orders``: an order issued by a supervisor or dispatcher about a
case, to a department or a person, with its own deadline and the addressee's
answer. ``promise_updates``: a case whose promised time moved (an extension
approved, an appointment rescheduled) puts a task in the first responder's
list until they have told the caller (G7). See docs/supervision.md.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("to_department_id", sa.Integer(), nullable=True),
        sa.Column("to_staff_id", sa.Integer(), nullable=True),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(to_department_id IS NULL AND to_staff_id IS NOT NULL) OR "
            "(to_department_id IS NOT NULL AND to_staff_id IS NULL)",
            name=op.f("ck_supervision_orders_one_addressee"),
        ),
        sa.CheckConstraint(
            "due_at > issued_at", name=op.f("ck_supervision_orders_due_after_issue")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by_id"],
            ["staff.id"],
            name=op.f("fk_supervision_orders_answered_by_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_supervision_orders_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["staff.id"], name=op.f("fk_supervision_orders_issued_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["to_department_id"],
            ["departments.id"],
            name=op.f("fk_supervision_orders_to_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["to_staff_id"], ["staff.id"], name=op.f("fk_supervision_orders_to_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_orders")),
    )
    op.create_index(
        op.f("ix_supervision_orders_case_id"), "supervision_orders", ["case_id"], unique=False
    )
    op.create_index(
        "ix_supervision_orders_open", "supervision_orders", ["answered_at", "due_at"], unique=False
    )

    op.create_table(
        "promise_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("old_promised_at", UTCDateTime(), nullable=True),
        sa.Column("new_promised_at", UTCDateTime(), nullable=True),
        sa.Column("visit_starts_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_promise_updates_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["done_by_id"], ["staff.id"], name=op.f("fk_promise_updates_done_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["staff.id"], name=op.f("fk_promise_updates_owner_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promise_updates")),
    )
    op.create_index(
        op.f("ix_promise_updates_case_id"), "promise_updates", ["case_id"], unique=False
    )
    op.create_index(
        "ix_promise_updates_owner_open", "promise_updates", ["owner_id", "done_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_promise_updates_owner_open", table_name="promise_updates")
    op.drop_index(op.f("ix_promise_updates_case_id"), table_name="promise_updates")
    op.drop_table("promise_updates")
    op.drop_index("ix_supervision_orders_open", table_name="supervision_orders")
    op.drop_index(op.f("ix_supervision_orders_case_id"), table_name="supervision_orders")
    op.drop_table("supervision_orders")
