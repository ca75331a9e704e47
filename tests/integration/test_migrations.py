"""The Alembic migrations on an empty SQLite file and an empty PostgreSQL database.

``upgrade head`` must build exactly the schema the models describe (Alembic's
autogenerate comparison finds nothing to change), install the triggers that
keep the case history append-only, and ``downgrade base`` must really take
everything away again so that a second ``upgrade head`` starts clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from hotline import services
from hotline.cli import alembic_config, upgrade_database
from hotline.db import Base, make_engine, make_sessionmaker
from hotline.domain.timelimits import TimeLimitPolicy
from hotline.models import CaseEvent
from hotline.services import Services
from tests.conftest import FakeClock, pg_temporary_database
from tests.support import intake_command, seed_org

SQLITE_TRIGGERS = {"case_events_no_update", "case_events_no_delete"}
# BEFORE UPDATE OR DELETE (each row), and BEFORE TRUNCATE (the statement)
POSTGRES_TRIGGERS = {"case_events_no_update", "case_events_no_truncate"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return pg_temporary_database(request, "migrate")


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines opened by a test, disposed of afterwards (a dropped database needs no users)."""
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.dispose()


def _engine(engines: list[Engine], url: str) -> Engine:
    engine = make_engine(url)
    engines.append(engine)
    return engine


def _schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name = 'case_events'"
                )
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger "
                    "WHERE tgrelid = 'case_events'::regclass AND NOT tgisinternal"
                )
            )
        return set(rows.scalars())


def _expected_triggers(engine: Engine) -> set[str]:
    return SQLITE_TRIGGERS if engine.dialect.name == "sqlite" else POSTGRES_TRIGGERS


def _open_one_case(engine: Engine) -> str:
    """Seed an organisation and take one call through the service layer; returns its number."""
    policy = TimeLimitPolicy.load()
    svc = Services(
        sessions=make_sessionmaker(engine),
        clock=FakeClock(),
        policy=policy,
        calendar=policy.calendar,
        area_code="0534",
    )
    org = seed_org(svc)
    number = services.intake(svc, org["operator"], intake_command()).case_number
    assert number
    return number


def _event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(CaseEvent.__table__))


def _assert_history_is_append_only(engine: Engine) -> None:
    """UPDATE and DELETE on case_events are refused by the database and change nothing."""
    before = _event_count(engine)
    assert before >= 1
    with engine.connect() as conn:
        original = conn.scalar(text("SELECT reason FROM case_events ORDER BY id LIMIT 1"))
    for statement in (
        "UPDATE case_events SET reason = 'edited afterwards'",
        "DELETE FROM case_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert _event_count(engine) == before
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT reason FROM case_events ORDER BY id LIMIT 1")) == original


def test_upgrade_head_on_an_empty_database_builds_exactly_the_models_schema(
    empty_url: str, engines: list[Engine]
) -> None:
    upgrade_database(empty_url)

    engine = _engine(engines, empty_url)
    assert _schema_differences(engine) == []
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    assert script.get_bases() == ["0001"]
    head = script.get_current_head()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


def test_upgrade_head_installs_triggers_that_refuse_update_and_delete_of_events(
    empty_url: str, engines: list[Engine]
) -> None:
    upgrade_database(empty_url)
    engine = _engine(engines, empty_url)

    assert _triggers(engine) == _expected_triggers(engine)
    _open_one_case(engine)
    _assert_history_is_append_only(engine)


def test_downgrade_base_removes_the_schema_and_upgrade_head_rebuilds_it(
    empty_url: str, engines: list[Engine]
) -> None:
    upgrade_database(empty_url)
    engine = _engine(engines, empty_url)
    _open_one_case(engine)  # the downgrade must cope with rows and triggers in place
    engine.dispose()

    alembic_command.downgrade(alembic_config(empty_url), "base")

    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 0
        if engine.dialect.name == "postgresql":
            leftover = conn.scalar(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'case_events_append_only'")
            )
            assert leftover == 0
    engine.dispose()

    upgrade_database(empty_url)

    assert _schema_differences(engine) == []
    assert _triggers(engine) == _expected_triggers(engine)
    _open_one_case(engine)
    _assert_history_is_append_only(engine)
