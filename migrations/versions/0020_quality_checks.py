"""Quality checks (质检) of calls.

``quality_checks``: a supervisor's check of one answered call, the points of
each item (from ``config/quality_checks.toml``, kept as scored), the total,
the comment; never changed once saved. A correction is a new row naming the
one it supersedes (at most once each) and why. See docs/quality-checks.md.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("checked_by_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("max_total", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "total >= 0 AND total <= max_total", name=op.f("ck_quality_checks_total_in_range")
        ),
        sa.CheckConstraint(
            "(supersedes_id IS NULL AND reason = '') OR "
            "(supersedes_id IS NOT NULL AND reason <> '')",
            name=op.f("ck_quality_checks_reason_with_supersession"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_quality_checks_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["staff.id"], name=op.f("fk_quality_checks_operator_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["checked_by_id"], ["staff.id"], name=op.f("fk_quality_checks_checked_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["quality_checks.id"],
            name=op.f("fk_quality_checks_supersedes_id_quality_checks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_checks")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_quality_checks_supersedes_id")),
    )
    op.create_index(op.f("ix_quality_checks_call_id"), "quality_checks", ["call_id"], unique=False)
    op.create_index(
        op.f("ix_quality_checks_operator_id"), "quality_checks", ["operator_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_quality_checks_operator_id"), table_name="quality_checks")
    op.drop_index(op.f("ix_quality_checks_call_id"), table_name="quality_checks")
    op.drop_table("quality_checks")
