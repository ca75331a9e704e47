"""Open311 GeoReport v2: the apps that submit requests, and what each request brought.

``open311_clients``: an app's name, the SHA-256 of its API key (the key
itself is shown once and never stored), whether it is active, when and by
whom it was made and when it was revoked. ``open311_requests``: one row per
case opened through Open311, with the coordinates, the app's identifiers,
the e-mail, the photo link, the service's attributes and the app's
``Idempotency-Key`` (unique per app). New tables only. See docs/open311.md.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: no rebuild of an existing table, so SQLite needs no batch here.
    op.create_table(
        "open311_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff.id"], name=op.f("fk_open311_clients_created_by_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_clients")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_clients_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_clients_name")),
    )
    op.create_table(
        "open311_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("address_string", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("media_url", sa.String(length=2000), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_open311_requests_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["open311_clients.id"],
            name=op.f("fk_open311_requests_client_id_open311_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_requests")),
        sa.UniqueConstraint("case_id", name=op.f("uq_open311_requests_case_id")),
        sa.UniqueConstraint(
            "client_id", "idempotency_key", name=op.f("uq_open311_requests_client_id")
        ),
    )
    op.create_index(
        op.f("ix_open311_requests_client_id"), "open311_requests", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_open311_requests_created_at"), "open311_requests", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_open311_requests_created_at"), table_name="open311_requests")
    op.drop_index(op.f("ix_open311_requests_client_id"), table_name="open311_requests")
    op.drop_table("open311_requests")
    op.drop_table("open311_clients")
