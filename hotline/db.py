"""Database plumbing: the declarative base, engines, sessions.

The naming convention gives every constraint a stable name from the first
migration on, so Alembic's batch mode on SQLite can find and alter them.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.session import SessionTransactionOrigin
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no time zone; storing naive UTC and tagging it on the way out
    makes both databases behave the same. Naive datetimes are refused: a time
    without a zone is a bug waiting for the next daylight or server move.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: give a timezone-aware time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Default number of connections an engine keeps, and how long a request waits
#: for one before it is told to come back (HTTP 503 with ``Retry-After``).
DEFAULT_POOL_SIZE = 10
DEFAULT_POOL_TIMEOUT = 3.0


def make_engine(
    url: str,
    *,
    pool_size: int | None = None,
    pool_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """Create an engine for ``url`` with the settings this product relies on.

    On SQLite: WAL journal, a busy timeout, foreign keys on, and transactions
    opened with ``BEGIN IMMEDIATE`` so two writers queue instead of failing on
    a stale snapshot; the version check then decides who wins. Read-only work
    uses :func:`make_reader_sessionmaker`, whose plain ``BEGIN`` takes no write
    lock (WAL readers never block the writer).

    ``pool_size`` connections are kept (no overflow: the size is the limit) and
    a request waits at most ``pool_timeout`` seconds for one; then
    ``sqlalchemy.exc.TimeoutError`` is raised, which the web app answers with
    503 and ``Retry-After``. Each request holds at most one connection at a
    time (see :class:`UnitSession`), so a pool as large as the server's
    threads never runs dry while requests wait on each other.
    """
    in_memory = ":memory:" in url or "mode=memory" in url
    if not in_memory and "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", pool_size or DEFAULT_POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", pool_timeout or DEFAULT_POOL_TIMEOUT)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            if ":memory:" not in url and "mode=memory" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    # No ping before each checkout (a round trip per request): after the
    # database restarts, the first request on a connection from before answers
    # 503 with Retry-After, and that disconnect makes the pool replace every
    # older connection before it is used again.
    return create_engine(url, **kwargs)


# -- the unit of work ---------------------------------------------------------

#: Failures of work done after a commit (live pushes, SMS, calls), by kind.
#: They are logged and counted; the change they follow stays saved.
after_commit_failures: Counter[str] = Counter()
_failures_lock = threading.Lock()


def run_guarded(kind: str, work: Callable[[], Any]) -> None:
    """Run ``work`` that follows a commit; a failure is logged and counted, never raised."""
    try:
        work()
    except Exception:
        with _failures_lock:
            after_commit_failures[kind] += 1
        log.exception("after the commit, %s failed; the change stays saved", kind)


class _Joined:
    """``session.begin()`` inside a unit of work that is already open: it joins it.

    The outer unit commits or rolls back; an error raised inside propagates to it.
    """

    def __init__(self, transaction: SessionTransaction) -> None:
        self.transaction = transaction

    def __enter__(self) -> SessionTransaction:
        return self.transaction

    def __exit__(self, *exc_info: object) -> None:
        return None


class UnitSession(Session):
    """The session a request (or a command) works in: one session, one connection.

    * Reading starts a plain transaction (on SQLite ``BEGIN DEFERRED``: no write
      lock). On SQLite ``begin()`` ends such a read-only transaction first and
      opens the unit of work on the writer bind (``BEGIN IMMEDIATE``), so a
      request never holds two connections at once. Where reading and writing
      need no different ``BEGIN`` (PostgreSQL: ``info["adopt_reads"]``),
      ``begin()`` makes the open read transaction the unit of work instead:
      what the request read (its caller's token) and what it writes share one
      connection checkout and one commit.
    * ``begin()`` inside an open unit of work joins it, so a service called by
      another (or by a view that wraps it with its idempotency record) commits
      once, with everything.
    * Work registered with :meth:`after_commit` runs after the outermost commit,
      guarded: a push that fails is logged and counted and the saved change is
      still reported as saved. A rollback discards it.
    * A request-owned session (``info["request_owned"]``) is not closed by a
      ``with`` block; the request closes it at teardown.
    """

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        writer = self.info.get("write_bind")
        if writer is not None and self.info.get("writing"):
            return writer
        return super().get_bind(*args, **kwargs)

    def in_unit(self) -> bool:
        """Whether an explicitly begun unit of work is open."""
        transaction = self.get_transaction()
        if transaction is None:
            return False
        return (
            transaction.origin is SessionTransactionOrigin.BEGIN
            or self.info.get("adopted") is transaction
        )

    def begin(self, nested: bool = False) -> Any:
        if nested:
            return super().begin(nested=True)
        if self.in_unit():
            return _Joined(self.get_transaction())  # type: ignore[arg-type]
        adopted = self._adopt_read()
        if adopted is not None:
            return adopted
        self._end_read()
        self.info["writing"] = True
        return super().begin()

    def for_writing(self) -> UnitSession:
        """Make the next transaction a writing one (no-op inside a unit of work)."""
        if not (self.in_unit() or self.info.get("writing")):
            if self.info.get("adopt_reads") and self.in_transaction():
                self._check_no_changes()
                return self  # the read transaction goes on and takes the writes
            self._end_read()
            self.info["writing"] = True
        return self

    def _check_no_changes(self) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("unsaved changes in a read-only transaction; begin() first")

    def _adopt_read(self) -> SessionTransaction | None:
        """Where reads and writes share a ``BEGIN``: the open read transaction,
        made the unit of work (committed or rolled back as a ``with`` block ends)."""
        transaction = self.get_transaction()
        if not self.info.get("adopt_reads") or transaction is None:
            return None
        self._check_no_changes()
        self.info["adopted"] = transaction
        return transaction

    def _end_read(self) -> None:
        """End a read-only transaction: its connection goes back to the pool and
        loaded objects stay (expire_on_commit is off)."""
        if self.in_transaction():
            self._check_no_changes()
            self.commit()

    def refreshed(self) -> UnitSession:
        """The session, reading what was committed since: inside a unit of work it
        reloads from the unit (which sees its own writes); otherwise it ends the
        read transaction so the next read starts afresh."""
        if self.in_unit():
            self.flush()
            self.expire_all()
        else:
            self.rollback()
        return self

    def after_commit(self, kind: str, work: Callable[[], Any]) -> None:
        """Run ``work`` once the open unit of work commits (now, when none is open)."""
        if self.in_unit():
            self.info.setdefault("after_commit", []).append((kind, work))
        else:
            run_guarded(kind, work)

    def __exit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.info.get("request_owned"):
            if value is not None and self.in_transaction():
                self.rollback()
            return
        self.close()


@event.listens_for(UnitSession, "after_commit")
def _run_after_commit(session: Session) -> None:
    pending = session.info.pop("after_commit", [])
    for kind, work in pending:
        run_guarded(kind, work)


@event.listens_for(UnitSession, "after_transaction_end")
def _unit_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop("writing", None)
        session.info.pop("adopted", None)
        session.info.pop("after_commit", None)  # rolled back: the pushes never happen


class ScopedSessions:
    """Where services get their session: the current request's one session when
    there is a request, else a new one from ``maker`` (CLI, scheduler, tests).

    ``writing``: the session is for a change, so in a request its read-only
    transaction ends and the next one opens on the writer bind (``BEGIN
    IMMEDIATE`` on SQLite), whether the caller uses ``begin()`` or commits
    itself.
    """

    def __init__(
        self,
        maker: sessionmaker[Any],
        current: Callable[[], Session | None],
        *,
        writing: bool = False,
    ) -> None:
        self.maker = maker
        self.current = current
        self.writing = writing

    def __call__(self) -> Session:
        session = self.current()
        if session is None:
            return self.maker()
        if self.writing and isinstance(session, UnitSession):
            session.for_writing()
        return session


def make_sessionmaker(engine: Engine) -> sessionmaker[UnitSession]:
    """Sessions for changes, keeping loaded objects usable after commit."""
    return sessionmaker(engine, class_=UnitSession, expire_on_commit=False)


def make_reader_sessionmaker(engine: Engine) -> sessionmaker[UnitSession]:
    """Sessions that read first (on SQLite a deferred transaction) and write in
    a unit of work opened with ``begin()`` on ``engine`` (``BEGIN IMMEDIATE``)."""
    return sessionmaker(
        engine.execution_options(sqlite_begin="DEFERRED"),
        class_=UnitSession,
        expire_on_commit=False,
        info={"write_bind": engine, "adopt_reads": engine.dialect.name != "sqlite"},
    )
