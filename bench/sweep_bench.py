"""Benchmark of the deadline sweep: its cost follows the cases due, not the history.

Builds a fresh database with the product's schema (Alembic ``upgrade head``),
10,000 open cases (each with one open stage clock) and then 1,000,000 closed
cases with three ended stage clocks each, and times:

* a sweep with nothing due, before and after the history is loaded;
* sweeps with 50 and with 500 cases due (each gets its warning recorded, with
  its case event, as in production);
* the starting query alone, and its plan (``EXPLAIN`` / ``EXPLAIN QUERY PLAN``);
* a backlog: 10,000 more cases whose clocks all fall due at once (half a
  warning, half a breach), worked off through the real ``sweep`` until nothing
  is due; it checks that every case got exactly one step (one event, the
  version moved by one, one push) and that their event chains are intact.

Not a test: run it by hand and copy the figures to ``docs/performance.md``.
``--smoke`` runs every scenario at a tiny size (200 open, 1,000 closed, a
backlog of 300) in a few seconds, for CI::

    .venv/bin/python bench/sweep_bench.py --url sqlite:////tmp/hotline-bench.db
    .venv/bin/python bench/sweep_bench.py \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_sweep_1234
    .venv/bin/python bench/sweep_bench.py --smoke --url sqlite:////tmp/hotline-smoke.db

The database named by ``--url`` is dropped and created again: name one of its own.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, literal, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from dispatch.services.sweep import SweepReport, due_clocks, query_plan, sweep
from hotline.cli import upgrade_database
from hotline.db import make_engine, make_sessionmaker
from hotline.domain.timelimits import TimeLimitPolicy
from hotline.models import Case, CaseDeadline, CaseEvent, Department, Staff
from hotline.services import Services
from hotline.services.audit import check_chain

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
BACKLOG_AT = T0 + timedelta(hours=1)  # when the backlog's clocks have all fallen due
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
#: ``--smoke``: every scenario at a tiny size.
SMOKE = {"open": 200, "closed": 1_000, "backlog": 300, "repeat": 5}
SMOKE_GROUPS = (10, 50)
STEP_ACTIONS = ("deadline_warning", "deadline_escalated")


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
        self.dialect = engine.dialect
        self.pg = engine.dialect.name == "postgresql"

    def columns(self, table: Table, named: str, values: str) -> tuple[str, str]:
        """``named`` columns and their ``values``, plus every other column that must
        have one (NOT NULL, no server default) with the model's default, so a
        column added by a later migration does not break the bulk inserts."""
        given = {name.strip() for name in named.split(",")}
        extra = [
            column
            for column in table.columns
            if column.name not in given
            and not (column.nullable or column.primary_key or column.server_default)
        ]
        for column in extra:
            if column.default is None or not column.default.is_scalar:
                raise SystemExit(f"bench: give {table.name}.{column.name} a value")
        literals = [
            str(
                literal(column.default.arg, column.type).compile(
                    dialect=self.dialect, compile_kwargs={"literal_binds": True}
                )
            )
            for column in extra
        ]
        return (
            ", ".join([named, *(column.name for column in extra)]),
            ", ".join([values, *literals]),
        )

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
    columns, values = sql.columns(
        Case.__table__,
        CASE_COLUMNS,
        f"'{prefix}-' || seq.n, {sql.category()}, 'normal', 'phone', '路边冒水', "
        "'派人维修', '禹城市汉槐街 18 号', '孙先生', '+8613805341234', 'utility', 1, 2, "
        f"'{state}', {created}, {created}, {closed}, 0, {sql.true()}, {sql.true()}, 0, 0, "
        "'', '', '', 0, '', 1",
    )
    conn.execute(text(f"INSERT INTO cases ({columns}) SELECT {values} FROM {sql.numbers(count)}"))


def insert_history_clocks(conn, sql: Sql) -> None:
    """Three ended clocks for every closed case: dispatch, acknowledge, follow-up."""
    stages = (
        "SELECT 'dispatch' AS stage UNION ALL SELECT 'acknowledge' UNION ALL SELECT 'follow_up'"
    )
    start = "c.created_at"
    columns, values = sql.columns(
        CaseDeadline.__table__,
        CLOCK_COLUMNS,
        f"c.id, s.stage, 'around_the_clock', '1h', {start}, {sql.plus(start, '3600')}, "
        f"{sql.plus(start, '3600')}, {sql.plus(start, '2880')}, NULL, 0, NULL, NULL, NULL, 0, "
        f"NULL, {sql.plus(start, '1800')}, 'bench'",
    )
    conn.execute(
        text(
            f"INSERT INTO case_deadlines ({columns}) SELECT {values} "
            f"FROM cases c CROSS JOIN ({stages}) s WHERE c.state = 'closed'"
        )
    )


def insert_open_clocks(conn, sql: Sql, groups: tuple[int, int]) -> None:
    """One open acknowledge clock per open case; the first ``groups[0]`` warn at T0+1 min,
    the next ``groups[1]`` at T0+2 min, the rest a day later (nothing due at T0)."""
    small, large = groups
    warn = (
        f"CASE WHEN c.id - m.first < {small} THEN {sql.plus(sql.moment(T0), '60')} "
        f"WHEN c.id - m.first < {small + large} THEN {sql.plus(sql.moment(T0), '120')} "
        f"ELSE {sql.plus(sql.moment(T0), '86400')} END"
    )
    started = sql.plus(sql.moment(T0), "-600")
    due = sql.plus(sql.moment(T0), "172800")
    columns, values = sql.columns(
        CaseDeadline.__table__,
        CLOCK_COLUMNS,
        f"c.id, 'acknowledge', 'around_the_clock', '2 days', {started}, {due}, {due}, "
        f"{warn}, NULL, 0, NULL, NULL, NULL, 0, {warn}, NULL, ''",
    )
    conn.execute(
        text(
            f"INSERT INTO case_deadlines ({columns}) SELECT {values} "
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


def insert_backlog(conn, sql: Sql, *, count: int) -> int:
    """``count`` open cases whose clocks have all fallen due by :data:`BACKLOG_AT`.

    Even ids: a two-day acknowledge clock whose warning came a minute earlier
    (one warning each). Odd ids: a two-hour clock that ran out a minute
    earlier, never warned (one escalation each, to the dispatch center).
    Returns the highest case id before them (the backlog's ids are above it).
    """
    above = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM cases")))
    insert_cases(conn, sql, prefix="BACK", count=count, state="assigned", age_seconds=1)
    at = sql.moment(BACKLOG_AT)
    warning = "c.id % 2 = 0"
    started = f"CASE WHEN {warning} THEN {sql.plus(at, '-3600')} ELSE {sql.plus(at, '-7200')} END"
    due = f"CASE WHEN {warning} THEN {sql.plus(at, '86400')} ELSE {sql.plus(at, '-60')} END"
    warn = f"CASE WHEN {warning} THEN {sql.plus(at, '-60')} ELSE {sql.plus(at, '-1500')} END"
    columns, values = sql.columns(
        CaseDeadline.__table__,
        CLOCK_COLUMNS,
        f"c.id, 'acknowledge', 'around_the_clock', 'bench', {started}, {due}, {due}, "
        f"{warn}, NULL, 0, NULL, NULL, NULL, 0, {warn}, NULL, ''",
    )
    conn.execute(
        text(
            f"INSERT INTO case_deadlines ({columns}) SELECT {values} "
            f"FROM cases c WHERE c.id > {above}"
        )
    )
    conn.execute(
        text(
            "UPDATE cases SET stage = 'acknowledge', "
            "due_at = (SELECT d.due_at FROM case_deadlines d WHERE d.case_id = cases.id), "
            "stage_started_at = (SELECT d.started_at FROM case_deadlines d "
            f"WHERE d.case_id = cases.id) WHERE id > {above}"
        )
    )
    return above


def seed(engine: Engine) -> None:
    """One department and one operator, the owners every bench case points at
    (through the models, so every column gets its default)."""
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                Department(
                    id=1,
                    code="DISPATCH",
                    name_zh="调度中心",
                    name_en="Dispatch",
                    is_dispatch_center=True,
                    phone="",
                    office="",
                ),
                Department(
                    id=2,
                    code="REPAIR",
                    name_zh="管网维修科",
                    name_en="Repair",
                    is_dispatch_center=False,
                    phone="",
                    office="",
                ),
            ]
        )
        session.flush()
        session.add(
            Staff(
                id=1,
                username="operator",
                display_name="接线员",
                role="operator",
                department_id=2,
                password_hash="-",
                active=True,
                created_at=T0,
            )
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


def count(engine: Engine, sql: str, params: Mapping[str, Any] | None = None) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(sql), dict(params or {})) or 0)


# -- the backlog ---------------------------------------------------------------------------


def work_off_backlog(svc: Services, size: int) -> None:
    """Time sweeps at :data:`BACKLOG_AT` until nothing is due, then check every case
    of the backlog got exactly one step."""
    told: list[Mapping[str, Any]] = []
    svc = replace(svc, clock=lambda: BACKLOG_AT, publish=told.append)
    reports: list[SweepReport] = []

    def due_left() -> bool:
        with svc.sessions() as session:
            return session.scalars(due_clocks(BACKLOG_AT, 1)).first() is not None

    started, cpu = time.perf_counter(), time.process_time()
    while due_left():
        assert len(reports) < 100, "the backlog is not going down"
        reports.append(sweep(svc))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    warnings = sum(r.warnings for r in reports)
    escalations = sum(r.escalations for r in reports)
    pushed = sum(1 for payload in told if payload.get("action") in STEP_ACTIONS)
    print(
        f"\nbacklog of {size:,} due at once: {elapsed:.2f} s ({elapsed * 1000 / size:.2f} ms per "
        f"case) in {len(reports)} sweep(s); {warnings:,} warning(s), {escalations:,} "
        f"escalation(s), {pushed:,} push(es); this process's CPU {cpu:.2f} s"
    )
    for report in reports:
        print(f"    {report}")
    assert warnings + escalations == size, reports
    assert sum(r.failed for r in reports) == 0, reports
    assert pushed == size, pushed


def check_backlog(engine: Engine, svc: Services, above: int, size: int) -> None:
    """Each backlog case: one step event, version 2, its chain intact, nothing left due."""
    wrong = count(
        engine,
        "SELECT count(*) FROM cases c WHERE c.id > :above AND NOT (c.version = 2 "
        "AND c.last_event_seq = 1 AND (SELECT count(*) FROM case_events e "
        "WHERE e.case_id = c.id AND e.action IN ('deadline_warning', 'deadline_escalated')) = 1)",
        {"above": above},
    )
    assert wrong == 0, f"{wrong} backlog case(s) without exactly one step"
    events = count(
        engine, "SELECT count(*) FROM case_events WHERE case_id > :above", {"above": above}
    )
    assert events == size, events
    with svc.sessions() as session:
        cases = session.scalars(select(Case).where(Case.id > above).order_by(Case.id)).all()
        chains: dict[int, list[CaseEvent]] = {case.id: [] for case in cases}
        for event in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id > above).order_by(CaseEvent.seq)
        ):
            chains[event.case_id].append(event)
        problems = [p for case in cases for p in check_chain(case, chains[case.id])]
    assert len(cases) == size and not problems, problems[:5]
    print(f"checked: {size:,} case(s), each with exactly one step; event chains intact")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="database URL (dropped and created again)")
    parser.add_argument("--closed", type=int, default=1_000_000, help="closed cases (history)")
    parser.add_argument("--open", type=int, default=10_000, help="open cases")
    parser.add_argument(
        "--backlog", type=int, default=10_000, help="cases whose clocks fall due all at once"
    )
    parser.add_argument("--repeat", type=int, default=30, help="sweeps timed with nothing due")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every scenario at a tiny size (200 open, 1,000 closed, backlog 300), for CI",
    )
    args = parser.parse_args()
    groups = (SMALL_GROUP, LARGE_GROUP)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
        groups = SMOKE_GROUPS
    if args.open < sum(groups):
        parser.error(f"--open must be at least {sum(groups)}")
    if args.backlog < 1:
        parser.error("--backlog must be at least 1")

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
    smoke = " (smoke: tiny sizes)" if args.smoke else ""
    print(f"# deadline sweep benchmark: {engine.dialect.name}{smoke}")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    with engine.connect() as conn:
        version = conn.scalar(text("SELECT version()" if sql.pg else "SELECT sqlite_version()"))
    print(f"database: {str(version).split(' on ')[0]}")

    seed(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        insert_cases(conn, sql, prefix="OPEN", count=args.open, state="assigned", age_seconds=60)
        insert_open_clocks(conn, sql, groups)
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

    for group, at_seconds in zip(groups, (90, 150), strict=True):
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

    started = time.perf_counter()
    with engine.begin() as conn:
        above = insert_backlog(conn, sql, count=args.backlog)
    analyze(engine)
    print(f"\nloaded a backlog of {args.backlog:,} cases in {time.perf_counter() - started:.1f} s")
    work_off_backlog(svc, args.backlog)
    check_backlog(engine, svc, above, args.backlog)
    engine.dispose()


if __name__ == "__main__":
    main()
