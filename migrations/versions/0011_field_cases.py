"""Field reports and the meter well's check: case photos (F8) and on-site checks (F10).

``case_photos`` keeps each photo a crew took with a case it reported from the
field (the file lives under the instance folder); ``site_checks`` keeps the
on-site check of a repaired meter well, due within 2 days.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("taken_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_photos_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"], ["staff.id"], name=op.f("fk_case_photos_taken_by_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_photos")),
    )
    op.create_index(op.f("ix_case_photos_case_id"), "case_photos", ["case_id"], unique=False)
    op.create_table(
        "site_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("checked_by_id", sa.Integer(), nullable=True),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_site_checks_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["checked_by_id"], ["staff.id"], name=op.f("fk_site_checks_checked_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_site_checks_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_checks")),
    )
    op.create_index(op.f("ix_site_checks_case_id"), "site_checks", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_site_checks_department_id"), "site_checks", ["department_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_site_checks_department_id"), table_name="site_checks")
    op.drop_index(op.f("ix_site_checks_case_id"), table_name="site_checks")
    op.drop_table("site_checks")
    op.drop_index(op.f("ix_case_photos_case_id"), table_name="case_photos")
    op.drop_table("case_photos")
