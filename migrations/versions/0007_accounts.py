"""Accounts that can be closed: login session versions and API token expiry.

``staff.session_version`` is raised at logout, deactivation and password
reset; a login session opened with an older number is refused.
``api_tokens.expires_at`` is set when a token is issued. Tokens issued before
this revision get one year from the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: How long tokens issued before this revision stay valid after the upgrade.
EXISTING_TOKENS_VALID_DAYS = 365


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.alter_column("session_version", server_default=None)

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", UTCDateTime()))
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None))
        .values(expires_at=datetime.now(UTC) + timedelta(days=EXISTING_TOKENS_VALID_DAYS))
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("session_version")
