"""Calls, their provider status events, G2 compliance flags and outbound attempts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 19:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_status_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("parent_call_sid", sa.String(length=64), nullable=True),
        sa.Column("sequence_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_status_events")),
        sa.UniqueConstraint(
            "call_sid", "sequence_number", name=op.f("uq_call_status_events_call_sid")
        ),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=17), nullable=False),
        sa.Column("provider_call_sid", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=15), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("from_number", sa.String(length=20), nullable=True),
        sa.Column("from_raw", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=19), nullable=False),
        sa.Column("ringing_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ring_to_answer_seconds", sa.Float(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("hung_up_by", sa.String(length=16), nullable=True),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("recording_url", sa.String(length=500), nullable=True),
        sa.Column("transcript", sa.JSON(), nullable=True),
        sa.Column("script_id", sa.String(length=64), nullable=True),
        sa.Column("script_state", sa.JSON(), nullable=True),
        sa.Column("compliance", sa.JSON(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("submit_claimed_at", UTCDateTime(), nullable=True),
        sa.Column("called_back_at", UTCDateTime(), nullable=True),
        sa.Column("called_back_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["staff.id"], name=op.f("fk_calls_answered_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["called_back_by_id"], ["staff.id"], name=op.f("fk_calls_called_back_by_id_staff")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_calls_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_calls_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_calls_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("provider_call_sid", name=op.f("uq_calls_provider_call_sid")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calls_answered_by_id"), ["answered_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_calls_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_from_number"), ["from_number"], unique=False)
        batch_op.create_index("ix_calls_status_ringing", ["status", "ringing_at"], unique=False)

    op.create_table(
        "compliance_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("phrase", sa.String(length=40), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("excerpt", sa.String(length=200), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "call_id IS NOT NULL OR case_id IS NOT NULL",
            name=op.f("ck_compliance_flags_call_or_case"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_compliance_flags_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_compliance_flags_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_compliance_flags_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_flags")),
    )
    with op.batch_alter_table("compliance_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compliance_flags_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_compliance_flags_case_id"), ["case_id"], unique=False)

    op.create_table(
        "outbound_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=19), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_outbound_attempts_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_outbound_attempts_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["staff.id"],
            name=op.f("fk_outbound_attempts_requested_by_id_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_attempts")),
    )
    with op.batch_alter_table("outbound_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_attempts_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbound_attempts_provider_sid"), ["provider_sid"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_attempts_provider_sid"))
        batch_op.drop_index(batch_op.f("ix_outbound_attempts_call_id"))

    op.drop_table("outbound_attempts")
    with op.batch_alter_table("compliance_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compliance_flags_case_id"))
        batch_op.drop_index(batch_op.f("ix_compliance_flags_call_id"))

    op.drop_table("compliance_flags")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_status_ringing")
        batch_op.drop_index(batch_op.f("ix_calls_from_number"))
        batch_op.drop_index(batch_op.f("ix_calls_case_id"))
        batch_op.drop_index(batch_op.f("ix_calls_answered_by_id"))

    op.drop_table("calls")
    op.drop_table("call_status_events")
