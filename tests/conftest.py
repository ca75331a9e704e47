"""Shared fixtures: databases (SQLite always, PostgreSQL when it answers), a fake
clock, the service wiring, the Flask app and a seeded organisation.

PostgreSQL tests use the server named by ``HOTLINE_TEST_POSTGRES_URL``
(default: the local server, database ``test``, user ``postgres``) and work in
a database of their own, ``hotline_test``. Where no server answers they skip
and say why; with ``HOTLINE_REQUIRE_SERVICES=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import callflows.models  # noqa: F401
import dispatch.models  # noqa: F401
from hotline.db import Base, make_engine, make_sessionmaker
from hotline.services import Services
from hotline.timelimits import TimeLimitPolicy
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


def pg_database_url(name: str) -> str:
    """A URL for database ``name`` on the test server, created empty if missing."""
    server = make_url(PG_SERVER_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def pg_recreate_database(name: str) -> str:
    """Drop and create database ``name`` on the test server; returns its URL."""
    server = make_url(PG_SERVER_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def pg_drop_database(name: str) -> None:
    """Drop database ``name`` on the test server if it exists."""
    admin = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


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
def postgres_schema_url(postgres_server: str) -> Iterator[str]:
    """A database of this test run's own with the current schema, dropped at the end.

    The name carries the process id so two runs on one server never collide.
    """
    name = f"hotline_test_{os.getpid()}"
    url = pg_recreate_database(name)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    pg_drop_database(name)


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # The history tables refuse TRUNCATE (P6); a scratch database is reset as its owner.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hotline.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("postgres_schema_url")
    _truncate_all(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database with the current schema."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Scrypt is slow on purpose; tests hash their throwaway passwords cheaply."""
    from hotline import auth

    method, auth.PASSWORD_HASH_METHOD = auth.PASSWORD_HASH_METHOD, "pbkdf2:sha256:1000"
    yield
    auth.PASSWORD_HASH_METHOD = method


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
