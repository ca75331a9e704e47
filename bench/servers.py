"""What the benchmarks share: servers under gunicorn, scratch databases, the request body.

Imported as ``servers`` by the benchmarks beside it (run as ``python
bench/<name>_bench.py``, which puts this folder on ``sys.path``). Gunicorn
imports some benchmarks to serve them, so this module keeps its imports light:
SQLAlchemy is imported only where a database is touched.

* :func:`start_server`, :func:`wait_until_answering`, :func:`stop_server`:
  gunicorn (gthread workers) on a free loopback port, in a process group of its
  own, until it answers, then stopped with all its workers;
* :func:`create_database`, :func:`drop_database`: a scratch PostgreSQL database,
  :func:`server_version`: the PostgreSQL server's;
* :data:`LEAK_REPORT`: the request body of a complete phone report of a leak;
* :func:`load_average`, printed before and after a run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent

HOST = "127.0.0.1"  # servers and load generators stay on loopback
START_TIMEOUT = 60.0  # seconds a server may take to answer its first request
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL

#: A complete phone report of a leak, read back to the caller (P4), for dispatch.
LEAK_REPORT: dict[str, Any] = {
    "channel": "phone",
    "outcome": "dispatch",
    "caller_number": "13805341234",
    "category": "leak",
    "priority": "normal",
    "problem": "汉槐街路边冒水",
    "need": "派人维修",
    "address": "禹城市汉槐街 18 号",
    "contact_name": "孙先生",
    "contact_phone": "13805341234",
    "triage": "utility",
    "read_back_confirmed": True,
}


class BenchError(Exception):
    """The bench cannot go on (a server did not start, set-up failed); the message says why."""


# -- databases ------------------------------------------------------------------------


def database_url(server: URL, name: str) -> str:
    return server.set(database=name).render_as_string(hide_password=False)


@contextmanager
def admin(server: URL) -> Iterator[Any]:
    """An autocommit connection to the ``postgres`` database of ``server``."""
    from sqlalchemy import create_engine

    engine = create_engine(
        server.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def create_database(server: URL, name: str) -> str:
    """Drop and create database ``name``; returns its URL."""
    from sqlalchemy import text

    with admin(server) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return database_url(server, name)


def drop_database(server: URL, name: str) -> None:
    from sqlalchemy import text

    with admin(server) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_version(server: URL) -> str:
    from sqlalchemy import text

    with admin(server) as conn:
        return str(conn.scalar(text("SHOW server_version")))


# -- servers ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    database: str = ""  # the database it serves, where the bench watches its backends

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(
    name: str,
    target: str,
    env: dict[str, str],
    *,
    workers: int,
    threads: int,
    log_dir: Path,
    timeout: int,
    options: Sequence[str] = (),
    python_path: Path | None = None,
    database: str = "",
) -> Server:
    """Start gunicorn serving ``target`` on a free loopback port, in a process group of its own.

    ``timeout``: gunicorn's ``--timeout``; ``options``: further gunicorn options;
    ``python_path``: a folder gunicorn puts on the path to import ``target``.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        f"--timeout={timeout}",
        "--graceful-timeout=5",
        *options,
        "--log-level=warning",
        f"--chdir={PROJECT_ROOT}",
    ]
    if python_path is not None:
        command.append(f"--pythonpath={python_path}")
    command.append(target)
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, port, process, log, database)


def wait_until_answering(server: Server, path: str) -> None:
    """Wait until ``GET path`` gets any answer below 500; raises :class:`BenchError` if not."""
    import http.client

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"{server.name} server exited with status {server.process.returncode}:\n"
                f"{server.log_tail()}"
            )
        connection = http.client.HTTPConnection(HOST, server.port, timeout=5)
        try:
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise BenchError(
        f"{server.name} server did not answer within {START_TIMEOUT:.0f} s:\n{server.log_tail()}"
    )


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it is still there."""
    if server.process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)  # workers left behind by the master
    if server.process.poll() is None:
        server.process.wait(timeout=STOP_TIMEOUT)


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"
