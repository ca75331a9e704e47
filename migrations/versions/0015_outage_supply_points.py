"""Temporary water supply points (临时供水点) on outage notices.

Outages published before this revision have none (empty text).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("supply_points", sa.Text(), nullable=False, server_default="")
        )
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.alter_column("supply_points", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.drop_column("supply_points")
