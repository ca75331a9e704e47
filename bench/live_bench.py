"""Benchmark of live updates: commit-to-screen latency on N open dispatch boards.

N python-socketio clients, each logged in as a dispatcher with the cookie of a
real login, play open dispatch boards. An operator's intakes (``POST
/api/contacts``, a phone contact for dispatch) change cases one after another;
each server stamps the time of the commit into the event it publishes. Each
board, on the ``case`` event, takes the case's card from the event as the page
does (the dispatch room's event carries it, rendered once after the commit),
or fetches it (``GET /dispatch/cards/<number>``) when the event has none or
with ``--fetch-cards`` (every board fetching, as boards did before the event
carried the card), and the bench records:

* **event**: commit to the event arriving at the board;
* **screen**: commit to the board holding the new card (the row it puts in place);
* **intake**: the operator's request, answered while N boards are open;
* events missed and events received twice.

Two layouts, each served by gunicorn (gthread workers, as in production):

* **one process**: one process serves pages, API and Socket.IO; no message queue;
* **through Redis**: an emit-only web process (``HOTLINE_PROCESS_ROLE=web``)
  takes the intakes and serves the cards, and puts its events on Redis; the
  live process (``HOTLINE_PROCESS_ROLE=live``) holds the boards' connections
  and delivers them.

Not a test (CI runs it at ``--smoke`` size); copy the figures to
``docs/performance.md``::

    .venv/bin/python bench/live_bench.py                  # 200 boards, both layouts
    .venv/bin/python bench/live_bench.py --clients 500
    .venv/bin/python bench/live_bench.py --smoke          # 20 boards, a few seconds

``--url`` names the database, dropped and created again (PostgreSQL, or a
``sqlite:///`` file); ``--redis`` the Redis server (the through-Redis layout is
skipped, saying so, when it does not answer). Each run uses a Redis channel of
its own. Exits 1 if a server fails to start or a board misses an event.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import re
import secrets
import signal
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from servers import (
    BENCH_DIR,
    LEAK_REPORT,
    PROJECT_ROOT,
    BenchError,
    Server,
    create_database,
    drop_database,
    load_average,
    start_server,
    stop_server,
    wait_until_answering,
)

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_live"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CHANGE_TIMEOUT = 20.0  # seconds every board gets to show one change
PASSWORD = "live-bench-password"
#: Extra threads of a process holding the boards, for the requests besides them.
SPARE_THREADS = 64


# -- what the servers run (gunicorn imports this module: keep it light) -------------------


def make_app() -> Any:
    """The product as gunicorn serves it, stamping the commit time into each case event.

    ``gunicorn 'live_bench:make_app()'``; the environment says the database,
    the queue and the role, ``LIVE_BENCH_CHANNEL`` the Redis channel.
    """
    from dispatch.web.live import publish as live_publish
    from hotline.app import create_app

    def publish(payload: Any) -> None:
        live_publish({**payload, "committed_at": time.time()})

    return create_app(
        {"SOCKETIO_CHANNEL": os.environ["LIVE_BENCH_CHANNEL"]},
        publish=publish,
    )


# -- the database ------------------------------------------------------------------------


def fresh_database(url: str) -> None:
    """Drop and create the database ``url`` names (a SQLite file is deleted)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            with suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        raise BenchError(f"--url must name a PostgreSQL database or a SQLite file, got {url}")
    create_database(parsed, parsed.database)


def remove_database(url: str) -> None:
    """Drop the PostgreSQL database ``url`` names (a SQLite file is left in place)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    drop_database(parsed, parsed.database)


def prepare_database(url: str) -> str:
    """Schema, the dispatch center and the hotline desk, a dispatcher and an operator.

    Returns the operator's API token.
    """
    from sqlalchemy.orm import Session

    from hotline.cli import upgrade_database
    from hotline.db import make_engine
    from hotline.models import Department
    from hotline.web.auth import create_staff, issue_token

    upgrade_database(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with Session(engine) as session:
            center = Department(
                code="DISPATCH", name_zh="调度中心", name_en="Dispatch", is_dispatch_center=True
            )
            desk = Department(
                code="HOTLINE", name_zh="客服中心", name_en="Hotline", is_dispatch_center=False
            )
            session.add_all([center, desk])
            session.flush()
            create_staff(
                session,
                username="bench_dispatcher",
                password=PASSWORD,
                role="dispatcher",
                department_id=center.id,
                now=now,
            )
            operator = create_staff(
                session,
                username="bench_operator",
                password=PASSWORD,
                role="operator",
                department_id=desk.id,
                now=now,
            )
            session.flush()
            token = issue_token(session, operator, "live-bench", now=now)
            session.commit()
    finally:
        engine.dispose()
    return token


# -- servers ------------------------------------------------------------------------------


def start_app(
    name: str,
    env: dict[str, str],
    *,
    workers: int,
    threads: int,
    log_dir: Path,
    connections: int = 1000,
) -> Server:
    """gunicorn (gthread) serving :func:`make_app` on a free port, in a process group of its own.

    ``connections``: gunicorn's ``--worker-connections``, the open connections
    (keep-alive ones included) a worker accepts before it waits for one to close.
    """
    return start_server(
        name,
        "live_bench:make_app()",
        env,
        workers=workers,
        threads=threads,
        log_dir=log_dir,
        timeout=120,
        options=[f"--worker-connections={connections}", "--keep-alive=5"],
        python_path=BENCH_DIR,
    )


# -- the boards ---------------------------------------------------------------------------


@dataclass
class Measured:
    """What one layout's run saw."""

    layout: str
    clients: int
    changes: int
    connect_seconds: float = 0.0
    event: list[float] = field(default_factory=list)  # seconds, commit to event
    screen: list[float] = field(default_factory=list)  # seconds, commit to card in hand
    intake: list[float] = field(default_factory=list)  # seconds, the operator's request
    intake_alone: list[float] = field(default_factory=list)  # the same, no board open yet
    missed: int = 0
    twice: int = 0
    card_errors: int = 0
    carried: int = 0  # cards taken from the event
    fetched: int = 0  # cards fetched


def percentile(values: list[float], share: float) -> float:
    """Milliseconds at ``share`` (nearest rank)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))] * 1000


class Boards:
    """N open dispatch boards: Socket.IO connections and, per event, one card fetch."""

    def __init__(
        self,
        live_url: str,
        web_url: str,
        cookie: str,
        count: int,
        cards: bool = True,
        fetch: bool = False,
    ) -> None:
        self.live_url = live_url
        self.cards = cards
        self.fetch = fetch  # fetch the card even when the event carries it
        self.web_url = web_url
        self.cookie = cookie
        self.count = count
        self.clients: list[Any] = []
        self.http: Any = None  # the boards' card fetches, with the dispatcher's cookie
        self.operator: Any = None  # the operator's intakes, with an API token
        self.seen: dict[str, dict[int, int]] = {}  # case -> board -> events received
        self.shown: dict[str, int] = {}  # case -> boards holding its card
        self.done: dict[str, asyncio.Event] = {}
        self.run: Measured | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """The HTTP sessions: the boards' (with the dispatcher's cookie) and the operator's."""
        import aiohttp

        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), headers={"Cookie": self.cookie}
        )
        self.operator = aiohttp.ClientSession()

    async def open(self) -> float:
        """Connect the boards, 50 at a time; returns the seconds it took."""
        import socketio

        started = time.perf_counter()
        for first in range(0, self.count, 50):
            batch = []
            for index in range(first, min(first + 50, self.count)):
                client = socketio.AsyncClient(reconnection=False)
                client.on("case", self._handler(index), namespace="/live")
                self.clients.append(client)
                batch.append(
                    client.connect(
                        self.live_url,
                        namespaces=["/live"],
                        headers={"Cookie": self.cookie},
                        transports=["websocket"],
                        wait_timeout=30,
                    )
                )
            await asyncio.gather(*batch)
        return time.perf_counter() - started

    def _handler(self, index: int) -> Any:
        async def on_case(payload: dict[str, Any]) -> None:
            arrived = time.time()
            number = str(payload.get("case"))
            counts = self.seen.setdefault(number, {})
            counts[index] = counts.get(index, 0) + 1
            if counts[index] > 1:
                if self.run is not None:
                    self.run.twice += 1
                return
            if self.run is not None and "committed_at" in payload:
                self.run.event.append(arrived - payload["committed_at"])
            if not self.cards:
                self._shown(number)
                return
            card = payload.get("card")
            if card is not None and not self.fetch:
                self._take_card(number, card, payload.get("committed_at"))
                return
            task = asyncio.create_task(self._fetch_card(number, payload.get("committed_at")))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        return on_case

    def _take_card(self, number: str, card: Any, committed_at: float | None) -> None:
        """The card as the page takes it from the event: the page language's rendering."""
        ok = card.get("case") == number and bool((card.get("html") or {}).get("zh-CN"))
        if self.run is not None:
            if ok and committed_at is not None:
                self.run.screen.append(time.time() - committed_at)
                self.run.carried += 1
            elif not ok:
                self.run.card_errors += 1
        self._shown(number)

    async def _fetch_card(self, number: str, committed_at: float | None) -> None:
        try:
            async with self.http.get(f"{self.web_url}/dispatch/cards/{number}") as response:
                card = await response.json()
                ok = response.status == 200 and card.get("case") == number and card.get("html")
        except Exception:
            ok = False
        if self.run is not None:
            if ok and committed_at is not None:
                self.run.screen.append(time.time() - committed_at)
                self.run.fetched += 1
            elif not ok:
                self.run.card_errors += 1
        self._shown(number)

    def _shown(self, number: str) -> None:
        self.shown[number] = self.shown.get(number, 0) + 1
        if self.shown[number] >= self.count and number in self.done:
            self.done[number].set()

    async def change(self, token: str) -> tuple[str, float]:
        """One intake by the operator; returns the case number and the request's seconds."""
        started = time.perf_counter()
        async with self.operator.post(
            f"{self.web_url}/api/contacts",
            json=LEAK_REPORT,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            body = await response.json()
            if response.status != 201:
                raise BenchError(f"intake answered {response.status}: {body}")
        took = time.perf_counter() - started
        number = str(body["case_number"])
        self.done.setdefault(number, asyncio.Event())
        if self.shown.get(number, 0) >= self.count:
            self.done[number].set()
        return number, took

    async def wait_shown(self, number: str) -> int:
        """Wait until every board holds the case's card; returns how many never did."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self.done[number].wait(), CHANGE_TIMEOUT)
        return max(0, self.count - self.shown.get(number, 0))

    async def close(self) -> None:
        async def leave(client: Any) -> None:
            with suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 5)

        await asyncio.gather(*(leave(client) for client in self.clients))
        for session in (self.http, self.operator):
            if session is not None:
                await session.close()


async def log_in(web_url: str) -> str:
    """The dispatcher's session cookie, from a real login."""
    import aiohttp
    from yarl import URL

    # unsafe: keep cookies of a server addressed by IP (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{web_url}/login") as response:
            page = await response.text()
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if not found:
            raise BenchError("the login page has no csrf_token")
        form = {"username": "bench_dispatcher", "password": PASSWORD, "csrf_token": found[1]}
        async with http.post(f"{web_url}/login", data=form, allow_redirects=False) as response:
            if response.status != 302:
                raise BenchError(f"login answered {response.status}")
        cookies = http.cookie_jar.filter_cookies(URL(web_url))
        return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())


async def measure(
    layout: str,
    live_url: str,
    web_url: str,
    token: str,
    clients: int,
    changes: int,
    cards: bool = True,
    fetch: bool = False,
) -> Measured:
    cookie = await log_in(web_url)
    boards = Boards(live_url, web_url, cookie, clients, cards, fetch)
    run = Measured(layout, clients, changes)
    try:
        await boards.start()
        for index in range(changes + 1):  # the intake with no board open; the first warms up
            _, took = await boards.change(token)
            if index:
                run.intake_alone.append(took)
            await asyncio.sleep(0.05)
        run.connect_seconds = await boards.open()
        number, _ = await boards.change(token)  # warm-up, not measured
        await boards.wait_shown(number)
        await asyncio.sleep(0.3)
        boards.run = run
        for _ in range(changes):
            number, took = await boards.change(token)
            run.intake.append(took)
            run.missed += await boards.wait_shown(number)
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # anything sent twice arrives meanwhile
    finally:
        boards.run = None
        await boards.close()
    return run


# -- the layouts --------------------------------------------------------------------------


def base_env(url: str, work: Path, channel: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOTLINE_DATABASE_URL=url,
        HOTLINE_SECRET_KEY=secrets.token_hex(32),
        HOTLINE_INSTANCE=str(work / "instance"),
        HOTLINE_SCHEDULER_IN_PROCESS="false",
        HOTLINE_SOCKETIO_MESSAGE_QUEUE="",
        HOTLINE_SESSION_COOKIE_SECURE="false",  # plain http on the loopback
        # Login-failure counts per process, not on the shared Redis, where
        # other runs' failures from 127.0.0.1 would throttle this one.
        HOTLINE_RATE_LIMIT_STORAGE_URL="memory://",
        LIVE_BENCH_CHANNEL=channel,
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
    )
    env.pop("HOTLINE_PROCESS_ROLE", None)
    return env


def start_layouts(
    args: argparse.Namespace, layouts: list[str], work: Path, channel: str
) -> dict[str, Server]:
    """Start every server the chosen layouts need at once (they boot side by side)."""
    env = base_env(args.url, work, channel)
    holding = args.clients + SPARE_THREADS  # threads of a process that holds the boards
    servers: dict[str, Server] = {}
    if "one" in layouts:
        servers["one"] = start_app(
            "one", env, workers=1, threads=holding, connections=2 * holding, log_dir=work
        )
    if "redis" in layouts:
        queued = {**env, "HOTLINE_SOCKETIO_MESSAGE_QUEUE": args.redis}
        servers["live"] = start_app(
            "live",
            {**queued, "HOTLINE_PROCESS_ROLE": "live"},
            workers=1,
            threads=holding,
            connections=2 * holding,
            log_dir=work,
        )
        servers["web"] = start_app(
            "web",
            {**queued, "HOTLINE_PROCESS_ROLE": "web"},
            workers=args.web_workers,
            threads=args.web_threads,
            log_dir=work,
        )
    return servers


def run_layouts(
    args: argparse.Namespace, layouts: list[str], token: str, servers: dict[str, Server]
) -> list[Measured]:
    """Measure each layout in turn, stopping its servers when done."""
    for server in servers.values():
        wait_until_answering(server, "/login")
    runs = []
    if "one" in layouts:
        one = servers["one"]
        runs.append(
            asyncio.run(
                measure(
                    "one process",
                    one.url,
                    one.url,
                    token,
                    args.clients,
                    args.changes,
                    args.cards,
                    args.fetch,
                )
            )
        )
        stop_server(one)
    if "redis" in layouts:
        live, web = servers["live"], servers["web"]
        runs.append(
            asyncio.run(
                measure(
                    "through Redis",
                    live.url,
                    web.url,
                    token,
                    args.clients,
                    args.changes,
                    args.cards,
                    args.fetch,
                )
            )
        )
    return runs


def redis_answers(url: str) -> str | None:
    """The Redis server's version, or None when it does not answer."""
    import redis

    try:
        connection = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            return str(connection.info("server").get("redis_version", "?"))
        finally:
            connection.close()
    except redis.RedisError:
        return None


def report(run: Measured) -> None:
    samples = run.clients * run.changes

    def spread(values: list[float]) -> str:
        return f"p50 {percentile(values, 0.50):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms"

    print(f"{run.layout}, {run.clients} boards (connected in {run.connect_seconds:.1f} s):")
    print(
        f"  event   {spread(run.event)}  ({len(run.event)}/{samples} received; "
        f"missed {run.missed}, twice {run.twice})"
    )
    if run.screen:
        print(
            f"  screen  {spread(run.screen)}  ({len(run.screen)}/{samples} cards: "
            f"{run.carried} with the event, {run.fetched} fetched; errors {run.card_errors})"
        )
    else:
        print("  screen  (no card fetched: --no-cards)")
    print(
        f"  intake  {spread(run.intake)}  (with no board open: {spread(run.intake_alone).strip()})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="database, dropped and created")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="Redis for the queue layout")
    parser.add_argument("--clients", type=int, default=200, help="open boards (%(default)s)")
    parser.add_argument("--changes", type=int, default=30, help="case changes measured")
    parser.add_argument(
        "--layouts", default="one,redis", help="one, redis or both (default: one,redis)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="web processes (redis layout)")
    parser.add_argument("--web-threads", type=int, default=8, help="threads per web process")
    parser.add_argument(
        "--no-cards",
        dest="cards",
        action="store_false",
        help="boards only receive the event (no card fetch): the fan-out alone",
    )
    parser.add_argument(
        "--fetch-cards",
        dest="fetch",
        action="store_true",
        help="every board fetches the card even when the event carries it (as boards used to)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="20 boards, 5 changes, 1 web process (a quick check)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.changes, args.web_workers = 20, 5, 1
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    if not layouts or set(layouts) - {"one", "redis"}:
        parser.error("--layouts takes one, redis or one,redis")
    if args.clients < 1 or args.changes < 1 or args.web_workers < 1 or args.web_threads < 1:
        parser.error("--clients, --changes, --web-workers and --web-threads must be positive")

    def stop_on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop_on_sigterm)

    from hotline.web.i18n import compile_catalogues

    redis_version = redis_answers(args.redis) if "redis" in layouts else None
    print("# live updates: commit to screen on open dispatch boards")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"gunicorn {package_version('gunicorn')} gthread; "
        f"python-socketio {package_version('python-socketio')}; "
        f"Redis {redis_version or 'not used'}; database {args.url.split('://')[0]}; "
        f"{args.clients} boards, {args.changes} changes"
    )
    print(
        "event: commit -> event at the board; screen: commit -> the board holds the new card "
        "(from the event, or GET /dispatch/cards/<n>); intake: the operator's POST /api/contacts"
    )
    if "redis" in layouts and redis_version is None:
        print(f"through Redis: skipped, {args.redis} does not answer")
        layouts.remove("redis")
    print(f"load average before: {load_average()} (other work on the machine skews the figures)")
    failed = False
    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="live-bench-") as scratch:
        work = Path(scratch)
        try:
            fresh_database(args.url)
            token = prepare_database(args.url)
            # Compiled once here: servers booting side by side would each write them.
            compile_catalogues(work / "instance" / "translations")
            servers = start_layouts(args, layouts, work, f"hotline-live-bench-{uuid.uuid4().hex}")
            for run in run_layouts(args, layouts, token, servers):
                report(run)
                failed = failed or bool(run.missed or run.twice)
        except BenchError as exc:
            print(f"live bench failed: {exc}", file=sys.stderr)
            return 1
        finally:
            for server in servers.values():
                stop_server(server)
            try:
                remove_database(args.url)
            except Exception as exc:  # report, but keep cleaning up
                print(f"could not drop the database: {exc}", file=sys.stderr)
    print(f"load average after: {load_average()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
