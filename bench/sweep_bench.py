"""Benchmark of the deadline sweep: its cost follows the cases due, not the history.

Builds a fresh database with the product's schema (Alembic ``upgrade head``),
10,000 open cases (each with one open stage clock) and then 1,000,000 closed
cases with three ended stage clocks each, and times:

* a sweep with nothing due, before and after the history is loaded;
* sweeps with 50 and with 500 cases due (each gets its warning recorded, with
  its case event, in its own transaction, as in production);
* the starting query alone, and its plan (``EXPLAIN`` / ``EXPLAIN QUERY PLAN``).

Not a test: run it by hand and copy the figures to ``docs/performance.md``::

    .venv/bin/python bench/sweep_bench.py --url sqlite:////tmp/hotline-bench.db
    .venv/bin/python bench/sweep_bench.py \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench

The database named by ``--url`` is dropped and created again.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from dispatch.sweep import due_clocks, query_plan, sweep
from hotline.cli import upgrade_database
from hotline.db import make_engine, make_sessionmaker
from hotline.services import Services
from hotline.timelimits import TimeLimitPolicy

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
CATEGORIES = [
    "leak",
    "no_water",
    "water_quality",
    "meter_fault",
    "meter_well",
    "billing",
    "consultation",
    "complaint",
    "suggestion",
    "outage_enquiry",
]
SMALL_GROUP, LARGE_GROUP = 50, 500


# -- a fresh database ----------------------------------------------------------------------


def fresh_database(url: str) -> None:
    """Drop and create the database (PostgreSQL) or remove the file (SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


# -- dialect helpers for bulk SQL --------------------------------------------------------------


class Sql:
    """The few expressions whose spelling differs between SQLite and PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.pg = engine.dialect.name == "postgresql"

    def moment(self, value: datetime) -> str:
        """A literal moment as the column stores it (SQLite: naive UTC text)."""
        utc = value.astimezone(UTC)
        if self.pg:
            return f"TIMESTAMPTZ '{utc.isoformat()}'"
        return f"'{utc:%Y-%m-%d %H:%M:%S}.000000'"

    def plus(self, expression: str, seconds: str) -> str:
        """``expression`` moved on by ``seconds`` (an SQL expression)."""
        if self.pg:
            return f"({expression} + ({seconds}) * INTERVAL '1 second')"
        return (
            f"(strftime('%Y-%m-%d %H:%M:%S', {expression}, ({seconds}) || ' seconds') || '.000000')"
        )

    def numbers(self, count: int) -> str:
        """A row source ``seq(n)`` counting 1..count."""
        if self.pg:
            return f"generate_series(1, {count}) AS seq(n)"
        return (
            f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) "
            "SELECT n FROM s) AS seq"
        )

    def category(self) -> str:
        whens = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CATEGORIES))
        return f"CASE seq.n % {len(CATEGORIES)} {whens} END"

    def true(self) -> str:
        return "TRUE" if self.pg else "1"


CASE_COLUMNS = (
    "number, category, priority, channel, problem, need, address, contact_name, "
    "contact_phone, triage, first_responder_id, handler_department_id, state, created_at, "
    "updated_at, closed_at, escalation_level, passed_dispatch, arrived, extension_requests, "
    "follow_up_attempts, result_note, answer, told_caller, last_event_seq, last_event_hash, "
    "version"
)
CLOCK_COLUMNS = (
    "case_id, stage, clock, limit_text, started_at, limit_due_at, due_at, warn_at, warned_at, "
    "escalation_level, escalated_at, paused_since, paused_until, paused_seconds, "
    "next_check_at, ended_at, ended_by"
)


def insert_cases(conn, sql: Sql, *, prefix: str, count: int, state: str, age_seconds: int) -> None:
    created = sql.plus(sql.moment(T0), f"-seq.n * {age_seconds}")
    closed = sql.plus(created, "86400") if state == "closed" else "NULL"
    conn.execute(
        text(
            f"INSERT INTO cases ({CASE_COLUMNS}) "
            f"SELECT '{prefix}-' || seq.n, {sql.category()}, 'normal', 'phone', '路边冒水', "
            "'派人维修', '禹城市汉槐街 18 号', '孙先生', '+8613805341234', 'utility', 1, 2, "
            f"'{state}', {created}, {created}, {closed}, 0, {sql.true()}, {sql.true()}, 0, 0, "
            f"'', '', '', 0, '', 1 FROM {sql.numbers(count)}"
        )
    )


def insert_history_clocks(conn, sql: Sql) -> None:
    """Three ended clocks for every closed case: dispatch, acknowledge, follow-up."""
    stages = (
        "SELECT 'dispatch' AS stage UNION ALL SELECT 'acknowledge' UNION ALL SELECT 'follow_up'"
    )
    start = "c.created_at"
    conn.execute(
        text(
            f"INSERT INTO case_deadlines ({CLOCK_COLUMNS}) "
            f"SELECT c.id, s.stage, 'around_the_clock', '1h', {start}, {sql.plus(start, '3600')}, "
            f"{sql.plus(start, '3600')}, {sql.plus(start, '2880')}, NULL, 0, NULL, NULL, NULL, 0, "
            f"NULL, {sql.plus(start, '1800')}, 'bench' "
            f"FROM cases c CROSS JOIN ({stages}) s WHERE c.state = 'closed'"
        )
    )


def insert_open_clocks(conn, sql: Sql) -> None:
    """One open acknowledge clock per open case; the first 50 warn at T0+1 min, the
    next 500 at T0+2 min, the rest a day later (nothing due at T0)."""
    warn = (
        f"CASE WHEN c.id - m.first < {SMALL_GROUP} THEN {sql.plus(sql.moment(T0), '60')} "
        f"WHEN c.id - m.first < {SMALL_GROUP + LARGE_GROUP} THEN {sql.plus(sql.moment(T0), '120')} "
        f"ELSE {sql.plus(sql.moment(T0), '86400')} END"
    )
    started = sql.plus(sql.moment(T0), "-600")
    due = sql.plus(sql.moment(T0), "172800")
    conn.execute(
        text(
            f"INSERT INTO case_deadlines ({CLOCK_COLUMNS}) "
            f"SELECT c.id, 'acknowledge', 'around_the_clock', '2 days', {started}, {due}, {due}, "
            f"{warn}, NULL, 0, NULL, NULL, NULL, 0, {warn}, NULL, '' "
            "FROM cases c CROSS JOIN (SELECT min(id) AS first FROM cases WHERE state = 'assigned') m "
            "WHERE c.state = 'assigned'"
        )
    )
    conn.execute(
        text(
            f"UPDATE cases SET due_at = {due}, stage = 'acknowledge', "
            f"stage_started_at = {started} WHERE state = 'assigned'"
        )
    )


def seed(engine: Engine) -> None:
    """One department and one operator, the owners every bench case points at."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO departments (id, code, name_zh, name_en, is_dispatch_center, phone, "
                "office) VALUES (1, 'DISPATCH', '调度中心', 'Dispatch', :t, '', ''), "
                "(2, 'REPAIR', '管网维修科', 'Repair', :f, '', '')"
            ),
            {"t": True, "f": False},
        )
        conn.execute(
            text(
                "INSERT INTO staff (id, username, display_name, role, department_id, "
                "password_hash, active, created_at) VALUES (1, 'operator', '接线员', 'operator', "
                "2, '-', :t, :now)"
            ),
            {"t": True, "now": T0},
        )


def analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


# -- measuring --------------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(sql)) or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="database URL (dropped and created again)")
    parser.add_argument("--closed", type=int, default=1_000_000, help="closed cases (history)")
    parser.add_argument("--open", type=int, default=10_000, help="open cases")
    parser.add_argument("--repeat", type=int, default=30, help="sweeps timed with nothing due")
    args = parser.parse_args()
    if args.open < SMALL_GROUP + LARGE_GROUP:
        parser.error(f"--open must be at least {SMALL_GROUP + LARGE_GROUP}")

    fresh_database(args.url)
    upgrade_database(args.url)
    engine = make_engine(args.url)
    sql = Sql(engine)
    policy = TimeLimitPolicy.load()
    now = {"at": T0}
    svc = Services(
        sessions=make_sessionmaker(engine),
        clock=lambda: now["at"],
        policy=policy,
        calendar=policy.calendar,
    )
    print(f"# deadline sweep benchmark: {engine.dialect.name}")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    with engine.connect() as conn:
        version = conn.scalar(text("SELECT version()" if sql.pg else "SELECT sqlite_version()"))
    print(f"database: {str(version).split(' on ')[0]}")

    seed(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        insert_cases(conn, sql, prefix="OPEN", count=args.open, state="assigned", age_seconds=60)
        insert_open_clocks(conn, sql)
    analyze(engine)
    print(f"\nloaded {args.open:,} open cases in {time.perf_counter() - started:.1f} s")
    sweep(svc, check_duty=True)  # raises this hour's duty alarm once; later sweeps only look
    before = timed(lambda: sweep(svc), args.repeat)
    print(f"sweep, nothing due, no history:          {summary(before)}")

    started = time.perf_counter()
    with engine.begin() as conn:
        insert_cases(conn, sql, prefix="HIST", count=args.closed, state="closed", age_seconds=30)
        insert_history_clocks(conn, sql)
    analyze(engine)
    print(f"\nloaded {args.closed:,} closed cases in {time.perf_counter() - started:.1f} s")
    print(
        f"rows: cases {count(engine, 'SELECT count(*) FROM cases'):,}, "
        f"case_deadlines {count(engine, 'SELECT count(*) FROM case_deadlines'):,}, "
        "in the sweep's index "
        f"{count(engine, 'SELECT count(*) FROM case_deadlines WHERE next_check_at IS NOT NULL'):,}"
    )
    after = timed(lambda: sweep(svc), args.repeat)
    print(f"sweep, nothing due, {args.closed:,} closed:  {summary(after)}")
    with svc.sessions() as session:
        query_only = timed(lambda: list(session.scalars(due_clocks(T0, 500))), args.repeat)
    print(f"the starting query alone:                {summary(query_only)}")

    print("\nplan of the starting query:")
    with svc.sessions() as session:
        for line in query_plan(session, T0, analyze=sql.pg):
            print(f"    {line}")

    for group, at_seconds in ((SMALL_GROUP, 90), (LARGE_GROUP, 150)):
        now["at"] = T0 + timedelta(seconds=at_seconds)
        started = time.perf_counter()
        report = sweep(svc)
        elapsed = (time.perf_counter() - started) * 1000
        assert report.warnings == group, report
        print(
            f"\nsweep with {group} due: {elapsed:.0f} ms ({elapsed / group:.2f} ms per case); "
            f"{report}"
        )
    now["at"] = T0 + timedelta(seconds=180)
    print(f"sweep right after, nothing due:          {summary(timed(lambda: sweep(svc), 10))}")
    engine.dispose()


if __name__ == "__main__":
    main()
