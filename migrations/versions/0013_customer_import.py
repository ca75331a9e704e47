"""Customers from the billing system: meter number, service area, last import change.

Customers entered before this revision (demo data) have no meter number and
no area (empty text) and were never changed by an import (no ``updated_at``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("meter_number", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("area", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("updated_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("meter_number", server_default=None)
        batch_op.alter_column("area", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("area")
        batch_op.drop_column("meter_number")
