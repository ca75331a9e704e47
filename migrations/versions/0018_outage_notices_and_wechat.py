"""Outage notices texted to the affected areas, and WeChat links and pushes.

``outage_announcements``: one notice of an outage (published, a new restore
time, water back), unique per outage and key. ``outage_notice_sms``: one text
of a notice to one customer, unique per notice and customer, so nobody is
texted a notice twice. ``wechat_links``: a resident's WeChat openid and the
phone they gave. ``wechat_pushes``: one template message to one openid,
unique per openid, purpose and reference. See docs/outage-notices.md and
docs/wechat.md.

New tables only: no rebuild of an existing table, so SQLite needs no batch
mode here, and the types are the same on PostgreSQL and SQLite.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outage_announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("restore_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("expanded_at", UTCDateTime(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff.id"],
            name=op.f("fk_outage_announcements_created_by_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["outage_id"], ["outages.id"], name=op.f("fk_outage_announcements_outage_id_outages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_announcements")),
        sa.UniqueConstraint("outage_id", "key", name=op.f("uq_outage_announcements_outage_id")),
    )
    op.create_index(
        op.f("ix_outage_announcements_outage_id"),
        "outage_announcements",
        ["outage_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_outage_announcements_expanded_at"),
        "outage_announcements",
        ["expanded_at"],
        unique=False,
    )
    op.create_table(
        "outage_notice_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=17), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["outage_announcements.id"],
            name=op.f("fk_outage_notice_sms_announcement_id_outage_announcements"),
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["outbound_attempts.id"],
            name=op.f("fk_outage_notice_sms_attempt_id_outbound_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_outage_notice_sms_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_notice_sms")),
        sa.UniqueConstraint(
            "announcement_id", "customer_id", name=op.f("uq_outage_notice_sms_announcement_id")
        ),
    )
    op.create_index(
        op.f("ix_outage_notice_sms_announcement_id"),
        "outage_notice_sms",
        ["announcement_id"],
        unique=False,
    )
    op.create_index(
        "ix_outage_notice_sms_status", "outage_notice_sms", ["status", "id"], unique=False
    )
    op.create_table(
        "wechat_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_wechat_links_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_links")),
        sa.UniqueConstraint("openid", name=op.f("uq_wechat_links_openid")),
    )
    op.create_index(op.f("ix_wechat_links_phone"), "wechat_links", ["phone"], unique=False)
    op.create_index(
        op.f("ix_wechat_links_customer_id"), "wechat_links", ["customer_id"], unique=False
    )
    op.create_table(
        "wechat_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("msgid", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_pushes")),
        sa.UniqueConstraint("openid", "purpose", "ref", name=op.f("uq_wechat_pushes_openid")),
    )


def downgrade() -> None:
    op.drop_table("wechat_pushes")
    op.drop_index(op.f("ix_wechat_links_customer_id"), table_name="wechat_links")
    op.drop_index(op.f("ix_wechat_links_phone"), table_name="wechat_links")
    op.drop_table("wechat_links")
    op.drop_index("ix_outage_notice_sms_status", table_name="outage_notice_sms")
    op.drop_index(op.f("ix_outage_notice_sms_announcement_id"), table_name="outage_notice_sms")
    op.drop_table("outage_notice_sms")
    op.drop_index(op.f("ix_outage_announcements_expanded_at"), table_name="outage_announcements")
    op.drop_index(op.f("ix_outage_announcements_outage_id"), table_name="outage_announcements")
    op.drop_table("outage_announcements")
