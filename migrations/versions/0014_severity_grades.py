"""Severity grades and zones on cases: with the area's zone, the grade sets the on-site limit.

Cases registered before this revision have no grade (NULL: the category's own
on-site limit applies) and no zone (empty: held to the town's limits); their
area keeps the text their intake wrote.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("zone", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("grade", sa.SmallInteger(), nullable=True))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("zone", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("grade")
        batch_op.drop_column("zone")
