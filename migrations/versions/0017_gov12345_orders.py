"""Orders from the city government's 12345 hotline and the reports back to it.

``gov12345_orders``: one row per 12345 order (工单), linked to the case it
opened; the platform's order number, its deadlines, the citizen's request,
the 12345 clock (签收, 回退, 延期申请) and the public reply (答复).
``gov12345_reports``: every report back to the platform with its outcome
(pending, sent, failed with the error), retried until sent. See docs/gov12345.md.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: no rebuild of an existing table, so SQLite needs no batch here.
    op.create_table(
        "gov12345_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("citizen_name", sa.String(length=100), nullable=False),
        sa.Column("request_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("acknowledge_due", UTCDateTime(), nullable=False),
        sa.Column("return_due", UTCDateTime(), nullable=False),
        sa.Column("reply_due", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("returned_at", UTCDateTime(), nullable=True),
        sa.Column("return_reason", sa.Text(), nullable=False),
        sa.Column("extension_requested_at", UTCDateTime(), nullable=True),
        sa.Column("extension_until", UTCDateTime(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=False),
        sa.Column("public_reply", sa.Text(), nullable=False),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.Column("replied_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["staff.id"],
            name=op.f("fk_gov12345_orders_acknowledged_by_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_gov12345_orders_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["replied_by_id"], ["staff.id"], name=op.f("fk_gov12345_orders_replied_by_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gov12345_orders")),
        sa.UniqueConstraint("case_id", name=op.f("uq_gov12345_orders_case_id")),
        sa.UniqueConstraint("order_number", name=op.f("uq_gov12345_orders_order_number")),
    )
    op.create_index(
        op.f("ix_gov12345_orders_reply_due"), "gov12345_orders", ["reply_due"], unique=False
    )
    op.create_index(op.f("ix_gov12345_orders_status"), "gov12345_orders", ["status"], unique=False)
    op.create_table(
        "gov12345_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["staff.id"], name=op.f("fk_gov12345_reports_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["gov12345_orders.id"],
            name=op.f("fk_gov12345_reports_order_id_gov12345_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gov12345_reports")),
    )
    op.create_index(
        op.f("ix_gov12345_reports_order_id"), "gov12345_reports", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_gov12345_reports_status"), "gov12345_reports", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_gov12345_reports_status"), table_name="gov12345_reports")
    op.drop_index(op.f("ix_gov12345_reports_order_id"), table_name="gov12345_reports")
    op.drop_table("gov12345_reports")
    op.drop_index(op.f("ix_gov12345_orders_status"), table_name="gov12345_orders")
    op.drop_index(op.f("ix_gov12345_orders_reply_due"), table_name="gov12345_orders")
    op.drop_table("gov12345_orders")
