"""Incident updates (事件进展) and the texts that carried them to the callers.

``incident_updates``: the cause, the estimated time water is back and free
text posted on an incident (a parent case); each update is also an event in
the history of the incident and of every case merged into it.
``incident_update_sms``: one row per update and case texted, unique on both,
so the same update never reaches the same caller twice. See docs/incidents.md.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: no rebuild of an existing table, so SQLite needs no batch here.
    op.create_table(
        "incident_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("estimated_restore_at", UTCDateTime(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("children", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["staff.id"], name=op.f("fk_incident_updates_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_incident_updates_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_updates")),
    )
    op.create_index(
        op.f("ix_incident_updates_case_id"), "incident_updates", ["case_id"], unique=False
    )
    op.create_table(
        "incident_update_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["outbound_attempts.id"],
            name=op.f("fk_incident_update_sms_attempt_id_outbound_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_incident_update_sms_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["incident_updates.id"],
            name=op.f("fk_incident_update_sms_update_id_incident_updates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_update_sms")),
        sa.UniqueConstraint("update_id", "case_id", name=op.f("uq_incident_update_sms_update_id")),
    )
    op.create_index(
        op.f("ix_incident_update_sms_update_id"),
        "incident_update_sms",
        ["update_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_update_sms_update_id"), table_name="incident_update_sms")
    op.drop_table("incident_update_sms")
    op.drop_index(op.f("ix_incident_updates_case_id"), table_name="incident_updates")
    op.drop_table("incident_updates")
