"""Tamper-evident history: row digests on events, keyed anchors, no TRUNCATE.

``case_events.row_digest`` is the digest of the case row an event's
transaction wrote (empty on events written before this revision).
``audit_anchors`` holds the keyed seals written by ``hotline audit anchor``;
like the events it is append-only in the database. On PostgreSQL, TRUNCATE
(which fires no row triggers) is refused on both tables. See docs/audit.md.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen copies of the triggers as they stand at this revision.
ANCHORS_APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only'); END",
        "CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_anchors_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit_anchors is append-only'; END $$",
        "CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE OR DELETE ON audit_anchors "
        "FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only()",
        "CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_append_only()",
    ],
}
EVENTS_NO_TRUNCATE_POSTGRES = (
    "CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only()"
)
# The event log's SQLite triggers as revision 0001 made them: a batch rebuild
# of case_events (the downgrade) drops them, so they are made again.
EVENTS_APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events "
    "BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END",
    "CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events "
    "BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # A plain ALTER TABLE ADD COLUMN (no rebuild), so the event log's triggers stay.
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_digest", sa.String(length=72), nullable=True))

    op.create_table(
        "audit_anchors",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("case_count", sa.Integer(), nullable=False),
        sa.Column("heads", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("prev_seal", sa.String(length=64), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_anchors")),
    )
    for statement in ANCHORS_APPEND_ONLY_DDL.get(dialect, []):
        op.execute(statement)
    if dialect == "postgresql":
        op.execute(EVENTS_NO_TRUNCATE_POSTGRES)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_events_no_truncate ON case_events")
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_truncate ON audit_anchors")
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_update ON audit_anchors")
        op.execute("DROP FUNCTION IF EXISTS audit_anchors_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_anchors_no_delete")
    op.drop_table("audit_anchors")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("row_digest")
    if dialect == "sqlite":
        # The rebuild above dropped the event log's triggers (a native DROP
        # COLUMN would not have): make sure they are there, once.
        op.execute("DROP TRIGGER IF EXISTS case_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS case_events_no_delete")
        for statement in EVENTS_APPEND_ONLY_SQLITE:
            op.execute(statement)
