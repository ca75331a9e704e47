"""The framework floor of the intake benchmark: bare Flask and SQLAlchemy, one INSERT.

``POST /contacts`` takes the same JSON body as the product's ``POST
/api/contacts``, inserts one row into ``floor_contacts`` in its own
transaction and answers 201 with the row's id as JSON. Nothing else: no
authentication, no validation beyond "it is a JSON object", no events. What
the product's intake costs above this is the product's own work.

Served by ``bench/intake_bench.py`` under gunicorn (``floor_app:app`` with this
folder on the Python path); the database comes from ``BENCH_FLOOR_DATABASE_URL``.
The bench creates the table with :func:`create_schema` before the server starts.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, abort, jsonify, request
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
)

metadata = MetaData()

floor_contacts = Table(
    "floor_contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("caller_number", String(40), nullable=False),
    Column("problem", Text, nullable=False),
    Column("address", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_schema(database_url: str) -> None:
    """Create the floor's one table in the (empty) database at ``database_url``."""
    engine = create_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


def create_app(database_url: str) -> Flask:
    """The floor app on ``database_url`` (a default SQLAlchemy engine and pool)."""
    app = Flask(__name__)
    engine = create_engine(database_url)

    @app.post("/contacts")
    def record_contact():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400)
        row = {
            "channel": str(body.get("channel", "")),
            "caller_number": str(body.get("caller_number", "")),
            "problem": str(body.get("problem", "")),
            "address": str(body.get("address", "")),
            "created_at": datetime.now(UTC),
        }
        with engine.begin() as conn:
            new_id = conn.execute(
                insert(floor_contacts).values(row).returning(floor_contacts.c.id)
            ).scalar_one()
        return jsonify({"id": new_id, "created_at": row["created_at"].isoformat()}), 201

    @app.get("/health")
    def health():
        return jsonify({"ok": True})

    return app


_url = os.environ.get("BENCH_FLOOR_DATABASE_URL")
app = create_app(_url) if _url else None
