"""Migration 0010 (two-tier dispatch): cases gain an optional service area (片区),
not null (earlier cases get empty text through the server default, dropped after),
and the revision goes down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command as alembic_command

from hotline.cli import alembic_config, upgrade_database
from tests.integration.migrationhelp import BOTH_DATABASES, database_at
from tests.integration.migrationhelp import columns as _columns


@pytest.fixture(params=BOTH_DATABASES)
def url_at_0008(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_at(request, tmp_path, "0008")


def test_migration_0010_adds_the_area_and_takes_it_away_again(url_at_0008):
    url = url_at_0008
    assert "area" not in _columns(url)
    upgrade_database(url, "0010")
    area = _columns(url)["area"]
    assert not area["nullable"] and area["default"] is None
    alembic_command.downgrade(alembic_config(url), "0008")
    assert "area" not in _columns(url)
    upgrade_database(url, "0010")
    assert "area" in _columns(url)
