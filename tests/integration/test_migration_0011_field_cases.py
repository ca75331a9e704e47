"""Migration 0011 (field reports and the meter well's check) builds the tables the
models describe, and its downgrade removes them again."""

from __future__ import annotations

from pathlib import Path

from alembic import command as alembic_command
from sqlalchemy import inspect

from hotline.cli import alembic_config
from hotline.db import Base, make_engine

TABLES = ("case_photos", "site_checks")


def _columns(engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_migration_0011_builds_case_photos_and_site_checks_as_the_models_say(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    config = alembic_config(url)
    alembic_command.upgrade(config, "0011")
    engine = make_engine(url)
    try:
        for table in TABLES:
            assert _columns(engine, table) == set(Base.metadata.tables[table].columns.keys())
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("site_checks")}
        assert {"ix_site_checks_case_id", "ix_site_checks_department_id"} <= indexes
        alembic_command.downgrade(config, "0008")
        assert not set(TABLES) & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
