"""Migration 0019 (the outbound task queue) builds the tables the models describe,
queues a follow-up for every case already waiting for one, and its downgrade
removes the tables again."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from hotline.cli import alembic_config
from hotline.db import Base, make_engine
from hotline.settings import MIGRATIONS_DIR
from tests.conftest import pg_temporary_database

TABLES = {"outbound_tasks", "outbound_task_attempts"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return pg_temporary_database(request, "migrate19")


def _scripts(tmp_path: Path) -> tuple[Path, str]:
    """The migrations with 0019 among the versions; returns the folder and 0019's parent.

    While 0019 waits in ``pending`` and the revision it names is not yet among
    the versions, it is placed on the newest version there.
    """
    source = Path(MIGRATIONS_DIR)
    folder = tmp_path / "migrations"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("pending", "__pycache__"))
    versions = folder / "versions"
    found = list(versions.glob("0019_*.py")) or list((source / "pending").glob("0019_*.py"))
    assert found, "migration 0019 is missing"
    body = found[0].read_text(encoding="utf-8")
    parent = re.search(r'^down_revision = "(\d+)"', body, re.M).group(1)
    known = sorted(p.name[:4] for p in versions.glob("[0-9]*.py") if p.name[:4] != "0019")
    if parent not in known:
        parent = known[-1]
        body = re.sub(r'^down_revision = "\d+"', f'down_revision = "{parent}"', body, flags=re.M)
    (versions / found[0].name).write_text(body, encoding="utf-8")
    return folder, parent


def _fill(conn, table: str, **values: object) -> None:
    """Insert one row giving every required column a plain value."""
    for column in inspect(conn).get_columns(table):
        name = column["name"]
        if name in values or column["nullable"] or column.get("default") is not None:
            continue
        kind = str(column["type"]).upper()
        if name == "id":
            values[name] = 1
        elif "INT" in kind or "BOOL" in kind:
            values[name] = 1 if "INT" in kind else True
        elif "DATE" in kind or "TIME" in kind:
            values[name] = "2026-11-26 01:00:00"
        else:
            values[name] = "x"
    names = ", ".join(values)
    conn.execute(
        text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in values)})"),
        values,
    )


def test_migration_0019_builds_the_queue_and_queues_waiting_follow_ups(
    empty_url: str, tmp_path: Path
) -> None:
    """P7: a case already awaiting its follow-up gets its task when the queue arrives."""
    folder, parent = _scripts(tmp_path)
    config = alembic_config(empty_url)
    config.set_main_option("script_location", str(folder))
    alembic_command.upgrade(config, parent)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            _fill(conn, "departments", id=1)
            _fill(conn, "staff", id=1, department_id=1)
            _fill(conn, "cases", id=1, number="RY-1", state="awaiting_follow_up", problem="漏水")
            _fill(conn, "cases", id=2, number="RY-2", state="closed", problem="x")
        alembic_command.upgrade(config, "0019")
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            ours = [
                d for d in compare_metadata(context, Base.metadata) if "outbound_task" in repr(d)
            ]
            rows = conn.execute(
                text("SELECT kind, subject_key, state, case_id, script_id FROM outbound_tasks")
            ).all()
        assert ours == []
        assert [tuple(r) for r in rows] == [
            ("follow_up", "follow_up:case:1:1", "open", 1, "follow_up_call")
        ]
        alembic_command.downgrade(config, parent)
        assert not TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
