"""Benchmark of the intake: POST /api/contacts against a framework floor, interleaved.

Two servers run under gunicorn with the same settings (``--workers``,
``--threads``, gthread workers), each on its own loopback port and its own
freshly created PostgreSQL database:

* **floor**: ``bench/floor_app.py``, bare Flask + SQLAlchemy, whose one POST
  endpoint inserts one row and answers JSON;
* **intake**: the product (``hotline.wsgi:app``), schema built by ``hotline db
  upgrade``, a dispatch center and a hotline department, and an operator with
  an API token made by ``hotline create-user --token``. Every request is a
  complete phone contact that opens a case for dispatch.

A small asyncio load generator keeps N keep-alive connections busy, each
sending requests back to back for a fixed time. Rounds alternate floor,
intake, floor, intake ... at each client count (after an unmeasured warm-up),
so both servers see the same machine. Printed per server and client count:
requests/s (2xx answers), p50 and p99 latency, errors by status, CPU per
request of the server's processes and of the PostgreSQL backends of its
database, connections opened to that database, the CPU anything else on the
machine used meanwhile, and the ratios intake/floor. Also printed: the SQL one
intake runs, counted in-process through the Flask test client.

Not a test (CI runs it at ``--smoke`` size); copy the figures to
``docs/performance.md``::

    .venv/bin/python bench/intake_bench.py
    .venv/bin/python bench/intake_bench.py --clients 16 --seconds 5 --rounds 2
    .venv/bin/python bench/intake_bench.py --smoke

``--url`` names the PostgreSQL server (any database in it is ignored); the
bench creates ``hotline_bench_intake_<pid>`` and ``hotline_bench_floor_<pid>``
there and drops them at the end. Exits 1 if a server fails to start, or any
request is answered 5xx or gets no answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import URL, make_url

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import floor_app  # noqa: E402  (beside this file)
from servers import (  # noqa: E402  (beside this file)
    HOST,
    LEAK_REPORT,
    BenchError,
    Server,
    create_database,
    drop_database,
    load_average,
    server_version,
    start_server,
    stop_server,
    wait_until_answering,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
REQUEST_TIMEOUT = 30.0  # seconds one request may take before it counts as unanswered
MAX_REQUESTS_PER_CLIENT = 1_000_000  # a bound on each client's loop besides its time
GOAL_CLIENTS = 16

#: The organisation an intake for dispatch needs: the dispatch center and the operators' desk.
DEPARTMENTS = [
    {"code": "DISPATCH", "name_zh": "调度中心", "name_en": "Dispatch center", "center": True},
    {"code": "HOTLINE", "name_zh": "客服中心", "name_en": "Customer service", "center": False},
]


# -- databases ------------------------------------------------------------------------


def server_of(url: str) -> URL:
    """The PostgreSQL server named by ``url``, without a database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BenchError(f"--url must name a PostgreSQL server, got {parsed.get_backend_name()}")
    return parsed.set(database=None)


def hotline_command(args: list[str], env: dict[str, str]) -> str:
    """Run ``hotline ARGS`` (the product's CLI); returns its output, raises on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(f"hotline {args[0]} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def prepare_intake_database(env: dict[str, str]) -> str:
    """Schema, departments and an operator with an API token; returns the token."""
    hotline_command(["db", "upgrade"], env)
    from hotline.models import Department

    engine = create_engine(env["HOTLINE_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(
            insert(Department),
            [
                {
                    "code": d["code"],
                    "name_zh": d["name_zh"],
                    "name_en": d["name_en"],
                    "is_dispatch_center": d["center"],
                    "phone": "",
                    "office": "",
                }
                for d in DEPARTMENTS
            ],
        )
    engine.dispose()
    output = hotline_command(
        [
            "create-user",
            "bench_operator",
            "--role=operator",
            "--department=HOTLINE",
            "--password=bench-operator-password",
            "--token=intake-bench",
        ],
        env,
    )
    found = re.search(r"API token[^:]*:\s*(\S+)", output)
    if not found:
        raise BenchError(f"hotline create-user printed no token: {output.strip()}")
    return found.group(1)


# -- SQL of one intake --------------------------------------------------------------------


@dataclass
class SqlCount:
    statements: list[str] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)
    checkouts: int = 0
    commits: int = 0
    rollbacks: int = 0

    def verbs(self) -> Counter[str]:
        return Counter(s.split(None, 1)[0].upper() for s in self.statements if s.strip())

    def describe(self) -> str:
        verbs = ", ".join(f"{verb} {n}" for verb, n in self.verbs().most_common())
        return (
            f"{len(self.statements)} statements ({verbs}), {self.commits} commit(s), "
            f"{self.rollbacks} rollback(s), {self.checkouts} connection checkout(s), "
            f"{len(self.connections)} distinct connection(s)"
        )


def count_intake_sql(env: dict[str, str], token: str, instance: Path) -> SqlCount:
    """The SQL of one intake through the Flask test client (after one warm-up intake)."""
    from hotline.app import create_app

    app = create_app(
        {
            "database_url": env["HOTLINE_DATABASE_URL"],
            "secret_key": env["HOTLINE_SECRET_KEY"],
            "scheduler_in_process": False,
            "INSTANCE_PATH": str(instance),
        }
    )
    engine = app.extensions["hotline.engine"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    counting: SqlCount | None = None

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if counting is not None:
            counting.statements.append(statement)
            counting.connections.add(id(conn.connection.dbapi_connection))

    def on_checkout(dbapi_connection, record, proxy) -> None:
        if counting is not None:
            counting.checkouts += 1

    def on_commit(conn) -> None:
        if counting is not None:
            counting.commits += 1

    def on_rollback(conn) -> None:
        if counting is not None:
            counting.rollbacks += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    try:
        for warm_up in (True, False):
            counting = None if warm_up else SqlCount()
            response = client.post("/api/contacts", json=LEAK_REPORT, headers=headers)
            if response.status_code != 201:
                raise BenchError(
                    f"in-process intake answered {response.status_code}: "
                    f"{response.get_data(as_text=True)[:300]}"
                )
    finally:
        engine.dispose()
    assert counting is not None
    return counting


# -- what the servers cost ---------------------------------------------------------------


@dataclass
class CpuSample:
    """CPU seconds so far: a server's processes, its database's backends, the whole machine."""

    server: float | None
    backends: dict[int, float] | None  # by process id
    machine: float | None


def _title(pid: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def cpu_sample(server: Server) -> CpuSample:
    """User + system CPU seconds (Linux ``/proc``) of the processes of the server's
    process group, of the PostgreSQL backends connected to its database (their
    process title names it), and the busy time of all the machine's CPUs.
    ``None`` where nothing can be read."""
    try:
        entries = os.listdir("/proc")
        ticks = os.sysconf("SC_CLK_TCK")
        # cpu  user nice system idle iowait irq softirq steal ...
        busy = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        machine = sum(int(busy[i]) for i in (0, 1, 2, 5, 6, 7)) / ticks
    except (OSError, AttributeError, ValueError, IndexError):
        return CpuSample(None, None, None)
    group = 0
    backends: dict[int, float] = {}
    marker = f" {server.database} "
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        rest = stat[stat.rfind(")") + 2 :].split()
        # rest: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        #       utime stime ...
        used = int(rest[11]) + int(rest[12])
        if int(rest[2]) == server.process.pid:
            group += used
        elif name == "postgres" and marker in _title(entry):
            backends[int(entry)] = used / ticks
    return CpuSample(group / ticks, backends, machine)


def backend_seconds(before: CpuSample, after: CpuSample) -> float | None:
    """CPU the database's backends used between two samples (those still connected)."""
    if before.backends is None or after.backends is None:
        return None
    return sum(
        max(0.0, used - before.backends.get(pid, 0.0)) for pid, used in after.backends.items()
    )


class ConnectionCount:
    """Connections opened to a database so far (``pg_stat_database.sessions``)."""

    def __init__(self, server_url: URL) -> None:
        self.engine = create_engine(
            server_url.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
        )

    def __call__(self, database: str) -> int | None:
        try:
            with self.engine.connect() as conn:
                value = conn.scalar(
                    text("SELECT sessions FROM pg_stat_database WHERE datname = :d"),
                    {"d": database},
                )
        except Exception:  # older servers have no such column; the figure is then missing
            return None
        return None if value is None else int(value)

    def close(self) -> None:
        self.engine.dispose()


def _delta(a: float | None, b: float | None) -> float | None:
    return b - a if a is not None and b is not None and b >= a else None


# -- the load generator -------------------------------------------------------------------


@dataclass
class Run:
    """What one server answered during one timed run."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, every answered request
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # requests without an answer
    examples: dict[int, str] = field(default_factory=dict)  # one body per non-2xx status
    cpu_seconds: float | None = 0.0  # the server's processes; None: not measurable here
    database_cpu_seconds: float | None = 0.0  # the local PostgreSQL's processes
    client_cpu_seconds: float = 0.0  # this load generator
    connections_opened: int | None = 0  # to the server's database
    other_cpu_seconds: float | None = 0.0  # anything else the machine ran meanwhile

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    def add(self, other: Run) -> None:
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.failures.update(other.failures)
        for status, body in other.examples.items():
            self.examples.setdefault(status, body)
        self.cpu_seconds = _plus(self.cpu_seconds, other.cpu_seconds)
        self.database_cpu_seconds = _plus(self.database_cpu_seconds, other.database_cpu_seconds)
        self.other_cpu_seconds = _plus(self.other_cpu_seconds, other.other_cpu_seconds)
        opened = _plus(self.connections_opened, other.connections_opened)
        self.connections_opened = None if opened is None else int(opened)
        self.client_cpu_seconds += other.client_cpu_seconds

    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """Latency in ms at ``share`` (nearest rank) of the answered requests."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))] * 1000

    def errors(self) -> str:
        parts = [
            f"{status} x{n}"
            for status, n in sorted(self.statuses.items())
            if not 200 <= status < 300
        ]
        parts += [f"{kind} x{n}" for kind, n in sorted(self.failures.items())]
        return ", ".join(parts) or "none"

    def broken(self) -> bool:
        """Any 5xx answer, or a request that got no answer."""
        return any(status >= 500 for status in self.statuses) or bool(self.failures)

    def other_cores(self) -> float:
        """CPU the rest of the machine used meanwhile, in cores (0.25: a quarter of one)."""
        if self.other_cpu_seconds is None or not self.seconds:
            return math.nan
        return max(0.0, self.other_cpu_seconds / self.seconds)

    def cpu_ms_per_request(self, seconds: float | None) -> float:
        if seconds is None or not self.ok:
            return math.nan
        return seconds / self.ok * 1000


def _plus(a: float | None, b: float | None) -> float | None:
    return a + b if a is not None and b is not None else None


def build_request(port: int, path: str, body: dict[str, Any], token: str | None) -> bytes:
    payload = json.dumps(body, ensure_ascii=False).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: keep-alive",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: status, body and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    closes = headers.get("connection") == "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(parts)
    else:
        body = await reader.read()
        closes = True
    return status, body, closes


async def one_client(port: int, request: bytes, deadline: float, run: Run) -> None:
    """Send ``request`` back to back on one keep-alive connection until ``deadline``."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.perf_counter() >= deadline:
            break
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                assert reader is not None
                started = time.perf_counter()
                writer.write(request)
                status, body, closes = await read_response(reader)
                run.latencies.append(time.perf_counter() - started)
        except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            run.failures[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)  # no tight loop against a server that is gone
            continue
        run.statuses[status] += 1
        if not 200 <= status < 300 and status not in run.examples:
            run.examples[status] = body[:300].decode(errors="replace")
        if closes:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _load(port: int, request: bytes, clients: int, seconds: float) -> Run:
    run = Run()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(one_client(port, request, deadline, run) for _ in range(clients)))
    run.seconds = time.perf_counter() - started
    return run


def load(
    server: Server, request: bytes, clients: int, seconds: float, connections: ConnectionCount
) -> Run:
    """``clients`` connections sending ``request`` back to back for ``seconds``."""
    opened = connections(server.database)
    before = cpu_sample(server)
    client_cpu = time.process_time()
    run = asyncio.run(_load(server.port, request, clients, seconds))
    run.client_cpu_seconds = time.process_time() - client_cpu
    after = cpu_sample(server)
    now_opened = connections(server.database)
    run.connections_opened = (
        None if opened is None or now_opened is None else max(0, now_opened - opened)
    )
    run.cpu_seconds = _delta(before.server, after.server)
    run.database_cpu_seconds = backend_seconds(before, after)
    machine = _delta(before.machine, after.machine)
    if machine is None or run.cpu_seconds is None:
        run.other_cpu_seconds = None
    else:
        ours = run.cpu_seconds + (run.database_cpu_seconds or 0.0) + run.client_cpu_seconds
        run.other_cpu_seconds = machine - ours
    return run


# -- the benchmark --------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def measure(
    servers: dict[str, Server],
    requests: dict[str, bytes],
    *,
    clients: list[int],
    rounds: int,
    seconds: float,
    warm_up: float,
    connections: ConnectionCount,
) -> dict[tuple[str, int], Run]:
    """Interleaved runs (floor, intake, floor, intake ...) at each client count."""
    totals: dict[tuple[str, int], Run] = {}
    warm_ups = Run()
    for n in clients:
        for name, server in servers.items():
            warm_ups.add(load(server, requests[name], n, warm_up, connections))
            totals[(name, n)] = Run()
        for round_no in range(1, rounds + 1):
            line = []
            for name, server in servers.items():
                run = load(server, requests[name], n, seconds, connections)
                totals[(name, n)].add(run)
                line.append(
                    f"{name} {run.rate():8.1f} req/s p50 {run.percentile(0.5):6.1f} ms "
                    f"p99 {run.percentile(0.99):6.1f} ms other CPU {run.other_cores():4.2f} "
                    f"errors {run.errors()}"
                )
            print(f"clients {n:3d} round {round_no}: " + " | ".join(line), flush=True)
    if warm_ups.broken() or any(not 200 <= s < 300 for s in warm_ups.statuses):
        print(f"warm-up errors: {warm_ups.errors()}")
        totals[("warm-up", 0)] = warm_ups
    return totals


def report(totals: dict[tuple[str, int], Run], clients: list[int]) -> None:
    print(
        "\n| clients | server | requests/s | p50 ms | p99 ms "
        "| CPU ms/request: server | PostgreSQL | DB connections opened | other CPU, cores "
        "| errors |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in clients:
        for name in ("floor", "intake"):
            run = totals[(name, n)]
            print(
                f"| {n} | {name} | {run.rate():,.1f} | {run.percentile(0.5):.1f} | "
                f"{run.percentile(0.99):.1f} | {run.cpu_ms_per_request(run.cpu_seconds):.2f} | "
                f"{run.cpu_ms_per_request(run.database_cpu_seconds):.2f} | "
                f"{'?' if run.connections_opened is None else run.connections_opened} | "
                f"{run.other_cores():.2f} | {run.errors()} |"
            )
    print()
    for n in clients:
        floor, intake = totals[("floor", n)], totals[("intake", n)]
        print(
            f"ratio intake/floor at {n} clients: requests/s "
            f"{ratio(intake.rate(), floor.rate()):.2f}, p99 "
            f"{ratio(intake.percentile(0.99), floor.percentile(0.99)):.2f}"
        )
    if GOAL_CLIENTS in clients:
        floor, intake = totals[("floor", GOAL_CLIENTS)], totals[("intake", GOAL_CLIENTS)]
        rate_ok = intake.rate() >= 0.5 * floor.rate()
        p99_ok = intake.percentile(0.99) <= 2 * floor.percentile(0.99)
        print(
            f"goal at {GOAL_CLIENTS} clients (requests/s >= 0.5 x floor, p99 <= 2 x floor): "
            f"requests/s {'met' if rate_ok else 'NOT met'}, p99 {'met' if p99_ok else 'NOT met'}"
        )
    for (name, n), run in totals.items():
        for status, body in run.examples.items():
            print(f"example {status} answer from {name} ({n} clients): {body}")
    busiest = max((run.other_cores() for run in totals.values()), default=math.nan)
    print(
        f"other work on the machine while measuring: up to {busiest:.2f} cores in a round"
        + (" (figures skewed: measure again on an idle machine)" if busiest > 0.2 else "")
    )
    client_cpu = sum(run.client_cpu_seconds for run in totals.values())
    wall = sum(run.seconds for run in totals.values())
    if wall:
        print(f"load generator CPU: {client_cpu / wall:.0%} of one core while measuring")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (%(default)s)")
    parser.add_argument("--clients", default="16,64", help="client counts, comma separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per server and count")
    parser.add_argument("--warm-up", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per server")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of one intake")
    parser.add_argument(
        "--smoke", action="store_true", help="1 round of 2 s at 4 clients (a quick check)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.rounds, args.seconds, args.warm_up = "4", 1, 2.0, 0.5
    try:
        clients = [int(n) for n in args.clients.split(",") if n.strip()]
    except ValueError:
        parser.error("--clients takes whole numbers separated by commas, e.g. 16,64")
    if not clients or min(clients) < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--clients, --rounds and --seconds must be positive")
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be positive")

    def stop_on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop_on_sigterm)

    try:
        server = server_of(args.url)
    except BenchError as exc:
        parser.error(str(exc))
    pid = os.getpid()
    names = {"intake": f"hotline_bench_intake_{pid}", "floor": f"hotline_bench_floor_{pid}"}
    servers: dict[str, Server] = {}
    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as scratch:
        work = Path(scratch)
        try:
            return run_bench(args, clients, server, names, servers, created, work)
        except BenchError as exc:
            print(f"intake bench failed: {exc}", file=sys.stderr)
            return 1
        finally:
            for running in servers.values():
                stop_server(running)
            for name in created:
                try:
                    drop_database(server, name)
                except Exception as exc:  # report, but keep cleaning up
                    print(f"could not drop database {name}: {exc}", file=sys.stderr)


def run_bench(
    args: argparse.Namespace,
    clients: list[int],
    server: URL,
    names: dict[str, str],
    servers: dict[str, Server],
    created: list[str],
    work: Path,
) -> int:
    """Set up, measure and report; fills ``servers`` and ``created`` for the caller to clean."""
    print("# intake throughput: POST /api/contacts (phone contact for dispatch) vs a floor")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"PostgreSQL {server_version(server)}; gunicorn {package_version('gunicorn')} "
        f"gthread --workers {args.workers} --threads {args.threads}; "
        f"clients {','.join(map(str, clients))}; {args.rounds} round(s) of {args.seconds:g} s "
        f"per server, interleaved, after {args.warm_up:g} s warm-up"
    )
    print(f"load average before: {load_average()} (other work on the machine skews the figures)")
    urls = {}
    for key, name in names.items():
        urls[key] = create_database(server, name)
        created.append(name)

    instance = work / "instance"
    intake_env = dict(os.environ)
    intake_env.update(
        HOTLINE_DATABASE_URL=urls["intake"],
        HOTLINE_SCHEDULER_IN_PROCESS="false",
        HOTLINE_SECRET_KEY=secrets.token_hex(32),
        HOTLINE_INSTANCE=str(instance),
        HOTLINE_SOCKETIO_MESSAGE_QUEUE="",
    )
    token = prepare_intake_database(intake_env)
    floor_app.create_schema(urls["floor"])
    floor_env = dict(os.environ, BENCH_FLOOR_DATABASE_URL=urls["floor"])

    common = {"workers": args.workers, "threads": args.threads, "log_dir": work, "timeout": 60}
    servers["floor"] = start_server(
        "floor",
        "floor_app:app",
        floor_env,
        database=names["floor"],
        python_path=BENCH_DIR,
        **common,
    )
    servers["intake"] = start_server(
        "intake", "hotline.wsgi:app", intake_env, database=names["intake"], **common
    )

    sql = count_intake_sql(intake_env, token, work / "instance-in-process")
    print(f"SQL per intake (in-process, after one warm-up intake): {sql.describe()}")
    if args.show_sql:
        for statement in sql.statements:
            print("    " + " ".join(statement.split())[:160])

    wait_until_answering(servers["floor"], "/health")
    wait_until_answering(servers["intake"], "/api/lifecycle")
    requests = {
        "floor": build_request(servers["floor"].port, "/contacts", LEAK_REPORT, None),
        "intake": build_request(servers["intake"].port, "/api/contacts", LEAK_REPORT, token),
    }
    connections = ConnectionCount(server)
    try:
        totals = measure(
            servers,
            requests,
            clients=clients,
            rounds=args.rounds,
            seconds=args.seconds,
            warm_up=args.warm_up,
            connections=connections,
        )
    finally:
        connections.close()
    report(totals, clients)
    print(f"load average after: {load_average()}")
    for name, running in servers.items():
        if running.process.poll() is not None:
            print(f"{name} server stopped during the run:\n{running.log_tail()}", file=sys.stderr)
            return 1
    broken = [
        f"{name} ({n} clients): {run.errors()}" for (name, n), run in totals.items() if run.broken()
    ]
    if broken:
        print("requests answered 5xx or unanswered: " + "; ".join(broken), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
