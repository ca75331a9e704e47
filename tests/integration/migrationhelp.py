"""Helpers for tests of one migration: a database at an earlier revision, its columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from hotline.cli import upgrade_database
from hotline.db import make_engine
from tests.conftest import pg_temporary_database

#: ``params`` for a fixture that runs its tests on SQLite and on PostgreSQL.
BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def database_at(request: pytest.FixtureRequest, tmp_path: Path, revision: str) -> str:
    """A new database (SQLite or PostgreSQL, by ``request.param``) upgraded to ``revision``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = pg_temporary_database(request, f"migration{revision}")
    upgrade_database(url, revision)
    return url


def columns(url: str, table: str = "cases") -> dict[str, dict]:
    """``table``'s columns by name, as the database describes them."""
    engine = make_engine(url)
    try:
        return {column["name"]: column for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()
