"""The knowledge base (G3) and questions awaiting a superior's answer (W10).

``knowledge_articles``: procedures, fees and common problems, with a
version counter and a slug for the seed file's articles; on PostgreSQL the
title and body carry pg_trgm trigram (GIN) indexes for the search's ILIKE, so
the extension is created first (SQLite gets plain indexes of the same names). ``knowledge_article_versions``: every
version saved (who, when, which fields changed, G2 hits).
``case_articles``: the article a consultation answered on the call cites.
``knowledge_questions``: a consultation nobody could answer on the call,
asked of a named superior, due at the case's reply deadline. See
docs/knowledge-base.md.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hotline.db import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: no rebuild of an existing table, so SQLite needs no batch here.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("tags", sa.String(length=240), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["staff.id"], name=op.f("fk_knowledge_articles_updated_by_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_articles")),
        sa.UniqueConstraint("slug", name=op.f("uq_knowledge_articles_slug")),
    )
    op.create_index(
        op.f("ix_knowledge_articles_category"), "knowledge_articles", ["category"], unique=False
    )
    # GIN trigram indexes on PostgreSQL; plain indexes of the same names on SQLite.
    op.create_index(
        "ix_knowledge_articles_title_trgm",
        "knowledge_articles",
        ["title"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_knowledge_articles_body_trgm",
        "knowledge_articles",
        ["body"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"body": "gin_trgm_ops"},
    )
    op.create_table(
        "knowledge_article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("tags", sa.String(length=240), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_articles.id"],
            name=op.f("fk_knowledge_article_versions_article_id_knowledge_articles"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["staff.id"],
            name=op.f("fk_knowledge_article_versions_changed_by_id_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_article_versions")),
        sa.UniqueConstraint(
            "article_id", "version", name=op.f("uq_knowledge_article_versions_article_id")
        ),
    )
    op.create_index(
        op.f("ix_knowledge_article_versions_article_id"),
        "knowledge_article_versions",
        ["article_id"],
        unique=False,
    )
    op.create_table(
        "case_articles",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cited_by_id", sa.Integer(), nullable=False),
        sa.Column("cited_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_articles.id"],
            name=op.f("fk_case_articles_article_id_knowledge_articles"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_articles_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["cited_by_id"], ["staff.id"], name=op.f("fk_case_articles_cited_by_id_staff")
        ),
        sa.PrimaryKeyConstraint("case_id", "article_id", name=op.f("pk_case_articles")),
    )
    op.create_index(
        op.f("ix_case_articles_article_id"), "case_articles", ["article_id"], unique=False
    )
    op.create_table(
        "knowledge_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asked_by_id", sa.Integer(), nullable=False),
        sa.Column("asked_at", UTCDateTime(), nullable=False),
        sa.Column("answerer_id", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.Column("replied_by_id", sa.Integer(), nullable=True),
        sa.Column("reply_method", sa.String(length=8), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_by_id"],
            ["staff.id"],
            name=op.f("fk_knowledge_questions_answered_by_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["answerer_id"], ["staff.id"], name=op.f("fk_knowledge_questions_answerer_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_articles.id"],
            name=op.f("fk_knowledge_questions_article_id_knowledge_articles"),
        ),
        sa.ForeignKeyConstraint(
            ["asked_by_id"], ["staff.id"], name=op.f("fk_knowledge_questions_asked_by_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_knowledge_questions_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["replied_by_id"], ["staff.id"], name=op.f("fk_knowledge_questions_replied_by_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_questions")),
        sa.UniqueConstraint("case_id", name=op.f("uq_knowledge_questions_case_id")),
    )
    op.create_index(
        op.f("ix_knowledge_questions_answerer_id"),
        "knowledge_questions",
        ["answerer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_questions_answerer_id"), table_name="knowledge_questions")
    op.drop_table("knowledge_questions")
    op.drop_index(op.f("ix_case_articles_article_id"), table_name="case_articles")
    op.drop_table("case_articles")
    op.drop_index(
        op.f("ix_knowledge_article_versions_article_id"), table_name="knowledge_article_versions"
    )
    op.drop_table("knowledge_article_versions")
    op.drop_index("ix_knowledge_articles_body_trgm", table_name="knowledge_articles")
    op.drop_index("ix_knowledge_articles_title_trgm", table_name="knowledge_articles")
    op.drop_index(op.f("ix_knowledge_articles_category"), table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
