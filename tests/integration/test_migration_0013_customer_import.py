"""Migration 0013 (customers from the billing system) adds the columns the models
describe, keeps the customers already there, and its downgrade removes them again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command as alembic_command
from sqlalchemy import inspect, text

from hotline.cli import alembic_config
from hotline.db import Base, make_engine
from tests.conftest import pg_temporary_database

NEW = {"meter_number", "area", "updated_at"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return pg_temporary_database(request, "migrate13")


def _columns(engine, table: str) -> dict[str, dict]:
    return {column["name"]: column for column in inspect(engine).get_columns(table)}


def test_migration_0013_adds_the_customer_columns_and_keeps_the_rows(empty_url: str) -> None:
    config = alembic_config(empty_url)
    alembic_command.upgrade(config, "0008")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (account_number, name, address, arrears_cents) "
                    "VALUES ('100231', '孙建国', '禹城市汉槐街', 0)"
                )
            )
        alembic_command.upgrade(config, "0013")
        columns = _columns(engine, "customers")
        assert set(columns) == set(Base.metadata.tables["customers"].columns.keys())
        assert not columns["meter_number"]["nullable"] and columns["updated_at"]["nullable"]
        assert columns["area"]["default"] is None  # the server default only filled old rows
        with engine.connect() as conn:
            row = conn.execute(text("SELECT meter_number, area, updated_at FROM customers")).one()
        assert tuple(row) == ("", "", None)
        alembic_command.downgrade(config, "0008")
        assert not NEW & set(_columns(engine, "customers"))
    finally:
        engine.dispose()
