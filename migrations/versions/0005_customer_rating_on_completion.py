"""The customer's rating taken on the spot when the work is done (F6).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 20:13:33.590405
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_rating", sa.Integer(), nullable=True))
        # Cases done before this revision have no rating and no reason: empty text.
        batch_op.add_column(
            sa.Column("no_rating_reason", sa.Text(), nullable=False, server_default="")
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("no_rating_reason", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("no_rating_reason")
        batch_op.drop_column("customer_rating")
