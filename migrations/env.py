"""Alembic environment: runs migrations against the configured database.

The URL comes from the Alembic config (set by ``hotline db upgrade``) or,
when Alembic is run by hand, from the hotline settings. On PostgreSQL an
advisory lock keeps two processes from migrating at once and a lock timeout
keeps a migration from queueing behind live traffic forever.

This folder ships inside the installed package as ``hotline._migrations``;
the application's packages are imported by name, so it runs the same from
the repository and from an installed wheel.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import event, pool, text

import callflows.models  # noqa: F401
import dispatch.models  # noqa: F401
from hotline.db import make_engine
from hotline.domain import timelimits
from hotline.models import Base
from hotline.settings import DEFAULT_TIME_LIMITS

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 73_210_001

# A data migration that reads the time-limit policy (0003) takes the shipped
# one; in an installed package it is not where a source checkout keeps it.
if (
    timelimits.POLICY_PATH_ENV not in os.environ
    and not timelimits.DEFAULT_POLICY_PATH.is_file()
    and DEFAULT_TIME_LIMITS.is_file()
):
    timelimits.DEFAULT_POLICY_PATH = DEFAULT_TIME_LIMITS


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from hotline.settings import load_settings

    return load_settings()["database_url"]


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        # Batch mode rebuilds a table by copy, drop and rename; with foreign
        # keys enforced the drop of a referenced table fails. They are checked
        # as a whole once the migration is done (below).
        @event.listens_for(engine, "connect")
        def _foreign_keys_off(dbapi_connection: object, record: object) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[attr-defined]

    with engine.connect() as connection:
        is_pg = connection.dialect.name == "postgresql"
        if is_pg:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                connection.commit()
                if broken:
                    raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
        finally:
            if is_pg:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
