"""Shared fixtures: databases (SQLite always, PostgreSQL when it answers), a fake
clock, the service wiring, the Flask app and a seeded organisation.

PostgreSQL tests use the server named by ``HOTLINE_TEST_POSTGRES_URL``
(default: the local server, database ``test``, user ``postgres``) and work in
databases of their own, named ``hotline_<purpose>_<run id>_<n>``: the run id
(process id and a random part, :data:`RUN_ID`) keeps two runs sharing one
server apart, and each database is dropped when the fixture that made it ends,
whether its tests passed or failed. Where no server answers they skip and say
why; with ``HOTLINE_REQUIRE_SERVICES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

import callflows.models  # noqa: F401
import dispatch.models  # noqa: F401
from hotline.db import Base, make_engine, make_sessionmaker
from hotline.domain.timelimits import TimeLimitPolicy
from hotline.services import Services
from tests.support import Org, seed_org

SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_SERVER_URL = os.environ.get(
    "HOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("HOTLINE_REQUIRE_SERVICES") == "1"


def service_missing(what: str, why: str) -> None:
    """Skip (or, where services are required, fail) with the reason."""
    message = f"{what} not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (HOTLINE_REQUIRE_SERVICES=1)")
    pytest.skip(message)


#: This run's mark in the name of every database it makes: the process id and a
#: random part, so runs on other machines sharing the server differ too.
RUN_ID = f"{os.getpid()}_{secrets.token_hex(4)}"
_database_numbers = itertools.count(1)
#: PostgreSQL's limit on the length of a name.
_MAX_NAME = 63


def unique_database_name(purpose: str) -> str:
    """A database name no other run, and no other call in this run, uses."""
    name = f"hotline_{purpose}_{RUN_ID}_{next(_database_numbers)}"
    if len(name) > _MAX_NAME:
        raise ValueError(f"database name {name!r} is longer than {_MAX_NAME} characters")
    return name


def _admin_engine() -> Engine:
    return create_engine(
        PG_SERVER_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


def pg_create_database(name: str) -> str:
    """Create the empty database ``name`` on the test server; returns its URL.

    It fails if the name is taken: a database of another run is never replaced.
    """
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)


def pg_drop_database(name: str) -> None:
    """Drop database ``name`` on the test server if it exists (its connections too)."""
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def pg_temporary_database(request: pytest.FixtureRequest, purpose: str) -> str:
    """An empty database for the fixture asking (``request``); returns its URL.

    Its name is unique to this run (:func:`unique_database_name`); it is
    dropped when that fixture is torn down, whether the tests passed or
    failed. Skips (or fails) when no server answers.
    """
    request.getfixturevalue("postgres_server")
    name = unique_database_name(purpose)
    url = pg_create_database(name)
    request.addfinalizer(lambda: pg_drop_database(name))
    return url


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test server's URL, after checking that it answers."""
    engine = create_engine(PG_SERVER_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means: no server to test against
        service_missing("PostgreSQL", f"{PG_SERVER_URL} did not answer ({type(exc).__name__})")
    finally:
        engine.dispose()
    return PG_SERVER_URL


@pytest.fixture(scope="session")
def postgres_schema_url(request: pytest.FixtureRequest) -> str:
    """A database of this test run's own with the current schema, dropped at the end."""
    url = pg_temporary_database(request, "test")
    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    return url


#: Empty every table that holds rows and restart every sequence used, in one round
#: trip. The history tables refuse changes (P6) through triggers, which the
#: replica role skips: a scratch database is reset as its owner. Deleting the few
#: rows a test left is about a hundred times faster than TRUNCATE of every table.
_RESET = """
DO $$
DECLARE
  name text;
  used record;
  filled boolean;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOREACH name IN ARRAY %(tables)s LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %%I)', name) INTO filled;
    IF filled THEN
      EXECUTE format('DELETE FROM %%I', name);
    END IF;
  END LOOP;
  FOR used IN
    SELECT schemaname, sequencename FROM pg_sequences
    WHERE last_value IS NOT NULL AND schemaname = current_schema()
  LOOP
    PERFORM setval(format('%%I.%%I', used.schemaname, used.sequencename), 1, false);
  END LOOP;
END $$
"""


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f"'{t.name}'" for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(_RESET % {"tables": f"ARRAY[{tables}]::text[]"}))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return _sqlite_copy(request, tmp_path)
    url = request.getfixturevalue("postgres_schema_url")
    _truncate_all(url)
    return url


@pytest.fixture(scope="session")
def sqlite_schema_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database with the current schema, made once per run to be copied."""
    path = tmp_path_factory.mktemp("schema") / "hotline.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


def _sqlite_copy(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    path = tmp_path / "hotline.db"
    shutil.copyfile(request.getfixturevalue("sqlite_schema_file"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty SQLite database with the current schema (a copy of the run's one)."""
    return _sqlite_copy(request, tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Scrypt is slow on purpose; tests hash their throwaway passwords cheaply."""
    from hotline.services import accounts

    method, accounts.PASSWORD_HASH_METHOD = accounts.PASSWORD_HASH_METHOD, "pbkdf2:sha256:1000"
    yield
    accounts.PASSWORD_HASH_METHOD = method


@dataclass
class FakeClock:
    """A clock the test moves by hand; starts on a Thursday morning in Shanghai."""

    now: datetime = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def policy() -> TimeLimitPolicy:
    return TimeLimitPolicy.load()


@pytest.fixture
def svc(db_url: str, clock: FakeClock, policy: TimeLimitPolicy) -> Iterator[Services]:
    """Service wiring on the test database (no Flask app)."""
    engine = make_engine(db_url)
    yield Services(
        sessions=make_sessionmaker(engine),
        clock=clock,
        policy=policy,
        calendar=policy.calendar,
        area_code="0534",
    )
    engine.dispose()


@pytest.fixture
def org(svc: Services) -> Org:
    """Departments and one member of staff of every role (and spares)."""
    return seed_org(svc)


@pytest.fixture
def app(db_url: str, clock: FakeClock, tmp_path: Path):
    from hotline.app import create_app

    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
        },
        clock=clock,
    )
    yield app
    app.extensions["hotline.engine"].dispose()


@pytest.fixture
def app_org(app) -> Org:
    return seed_org(app.extensions["hotline"])


@pytest.fixture
def client(app):
    return app.test_client()
