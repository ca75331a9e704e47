"""Two-tier dispatch: the case's service area (片区), which routes it to a department.

The new states (accepted, worker_assigned) and actions fit the existing
string columns; only the area is new. Cases taken in before this revision
have no area: empty text.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("area", sa.String(length=100), nullable=False, server_default="")
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("area", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("area")
