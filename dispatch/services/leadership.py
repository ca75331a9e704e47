"""Who may sweep: one leader among any number of schedulers.

On PostgreSQL the leader holds the advisory lock :data:`LEADER_LOCK` on a
dedicated connection; standbys try for it every few seconds and take over
once the leader's connection is gone. On SQLite there is one process, which
leads alone. :func:`leader_seen` tells a starting web server whether a
separate ``hotline scheduler`` is leading (``docs/scheduler.md``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LEADER_LOCK = 73_210_002
"""The PostgreSQL advisory lock key the leading scheduler holds (migrations use 73_210_001)."""

# -- leadership ----------------------------------------------------------------------


class Leadership(Protocol):
    """Who may sweep: :meth:`hold` is True while this process leads."""

    description: str

    def hold(self) -> bool:
        """Keep the lead, or try to take it; True while this process leads."""
        ...

    def release(self) -> None:
        """Give the lead up (on shutdown)."""
        ...


class SoleLeadership:
    """SQLite: one process owns the file, so it always leads; no lock is needed."""

    description = "the only scheduler of this SQLite database"

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


class AdvisoryLockLeadership:
    """PostgreSQL: lead while holding a session advisory lock on a dedicated connection.

    ``pg_try_advisory_lock`` never waits, so a standby keeps running and
    retries. The lock belongs to the database session: when the leader's
    process dies its connection closes and the server frees the lock; TCP
    keepalives make a lost machine's session end within about a minute.
    Connect straight to the server, not through a transaction-pooling proxy,
    which would hand the session (and the lock) to someone else.
    """

    def __init__(
        self, url: str, *, key: int = LEADER_LOCK, application_name: str | None = None
    ) -> None:
        self.key = key
        self.application_name = application_name or (
            f"hotline-scheduler:{socket.gethostname()}:{os.getpid()}"
        )
        self.description = f"PostgreSQL advisory lock {key}"
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "application_name": self.application_name[:63],
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            },
        )
        self._connection: Connection | None = None
        self._mutex = threading.Lock()

    def hold(self) -> bool:
        with self._mutex:
            if self._connection is not None:
                if self._still_held(self._connection):
                    return True
                self._drop()
            try:
                connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except SQLAlchemyError as exc:
                log.warning("scheduler: cannot reach the database: %s", exc)
                return False
            try:
                taken = connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                )
            except SQLAlchemyError as exc:
                log.warning("scheduler: could not ask for the lead: %s", exc)
                connection.close()
                return False
            if taken:
                self._connection = connection
                return True
            connection.close()
            return False

    def _still_held(self, connection: Connection) -> bool:
        try:
            return bool(
                connection.scalar(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted "
                        "AND ((classid::bigint << 32) | objid::bigint) = :key)"
                    ),
                    {"key": self.key},
                )
            )
        except SQLAlchemyError as exc:
            log.warning("scheduler: the lead's connection failed: %s", exc)
            return False

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except SQLAlchemyError:
                log.debug("scheduler: closing a broken connection failed", exc_info=True)

    def release(self) -> None:
        with self._mutex:
            if self._connection is not None:
                try:
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                    )
                except SQLAlchemyError:
                    log.debug("scheduler: unlock failed; closing frees the lock", exc_info=True)
                self._drop()
        self._engine.dispose()


def leadership_for(database_url: str) -> Leadership:
    """The leadership rule for the database: an advisory lock on PostgreSQL, sole on SQLite."""
    if database_url.startswith("postgresql"):
        return AdvisoryLockLeadership(database_url)
    return SoleLeadership()


def leader_seen(database_url: str) -> bool | None:
    """Whether some process holds the scheduler's lead (PostgreSQL); None where unknown."""
    if not database_url.startswith("postgresql"):
        return None
    engine = create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            held = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": LEADER_LOCK},
            )
        return bool(held)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
