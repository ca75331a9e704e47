"""The production server: ``hotline serve --production``.

Two kinds of process, each a Gunicorn master with its workers, started and
watched by one command:

* **web** (``--bind``, default ``host:port`` from the settings): pages, the
  API and webhooks. ``web_workers`` processes of ``web_threads`` threads
  (Gunicorn's threaded worker). Each process keeps one database connection
  per thread plus a few spare (``hotline.app.pool_size``); a request uses one
  at a time. These processes accept no live-update connections: a browser
  board held open all day would pin one request thread for good. They send
  their live updates to the Redis message queue.
* **live** (``--live-bind``, default ``port + 1``): Socket.IO only. One
  process of ``live_threads`` threads, each open board or console holding one
  thread there and none in the web processes. It delivers what the web
  processes and the scheduler put on the message queue.

Behind a reverse proxy, ``/socket.io/`` goes to the live address and the rest
to the web address (``docs/deployment.md``). Without one, set ``live_url``
to the live address and ``live_cors_origins`` to the web address browsers
open, and pages connect to it directly.

The deadline sweep runs inside the web processes when
``scheduler_in_process = true`` (one of them leads under a PostgreSQL
advisory lock; the others stand by), or as ``hotline scheduler`` beside them.

If one kind of process stops, the command stops the other and exits non-zero
so the service manager (systemd) restarts the whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hotline.web.realtime import ROLE_VARIABLE  # web, live (or unset: both)

#: Environment variable giving a web process's thread count (sizes its database pool).
THREADS_VARIABLE = "HOTLINE_SERVER_THREADS"


class ServerSettingsError(ValueError):
    """The production server cannot start as configured; the message says why."""


@dataclass(frozen=True)
class Plan:
    """What ``hotline serve --production`` runs."""

    bind: str
    live_bind: str
    workers: int
    threads: int
    live_threads: int
    timeout: int = 30

    def web_options(self) -> dict[str, Any]:
        """Gunicorn settings of the web processes."""
        return {
            "bind": [self.bind],
            "workers": self.workers,
            "threads": self.threads,
            "worker_class": "gthread",
            "timeout": self.timeout,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "proc_name": "hotline-web",
        }

    def live_options(self) -> dict[str, Any]:
        """Gunicorn settings of the live-update process (long-lived connections)."""
        return {
            "bind": [self.live_bind],
            "workers": 1,  # Socket.IO keeps each browser's session in its process
            "threads": self.live_threads,
            "worker_connections": self.live_threads * 2,
            "worker_class": "gthread",
            # A websocket is quiet between pings; the worker is not stuck.
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 5,
            "errorlog": "-",
            "proc_name": "hotline-live",
        }


def _positive(settings: Mapping[str, Any], key: str, given: int | None) -> int:
    value = given if given is not None else settings.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ServerSettingsError(f"setting '{key}': expected a whole number of 1 or more")
    return value


def plan(
    settings: Mapping[str, Any],
    *,
    bind: str | None = None,
    live_bind: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    live_threads: int | None = None,
) -> Plan:
    """The processes to run, from the settings and the command line.

    Raises :class:`ServerSettingsError` naming the setting when production
    serving cannot work as configured.
    """
    if not settings.get("socketio_message_queue"):
        raise ServerSettingsError(
            "setting 'socketio_message_queue': production serving runs live updates in a "
            "process of their own, fed through Redis; set HOTLINE_SOCKETIO_MESSAGE_QUEUE, "
            "e.g. redis://127.0.0.1:6379/0"
        )
    host, port = settings["host"], settings["port"]
    web = bind or f"{host}:{port}"
    if live_bind is None:
        web_host, _, web_port = web.rpartition(":")
        if not web_port.isdigit():
            raise ServerSettingsError(f"--bind {web!r}: give HOST:PORT")
        live_bind = f"{web_host}:{int(web_port) + 1}"
    return Plan(
        bind=web,
        live_bind=live_bind,
        workers=_positive(settings, "web_workers", workers),
        threads=_positive(settings, "web_threads", threads),
        live_threads=_positive(settings, "live_threads", live_threads),
    )


# -- one kind of process: a Gunicorn master --------------------------------------------


def run_gunicorn(role: str, options: Mapping[str, Any]) -> None:
    """Run a Gunicorn master serving ``hotline.wsgi:app`` as ``role`` (web or live)."""
    from gunicorn.app.base import BaseApplication

    os.environ[ROLE_VARIABLE] = role
    if role == "web":
        os.environ[THREADS_VARIABLE] = str(options["threads"])

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from hotline.wsgi import app

            return app

    _Server().run()


def _child(role: str, options: Mapping[str, Any]) -> list[str]:
    import json

    return [sys.executable, "-m", "hotline.server", role, json.dumps(dict(options))]


def run_production(
    chosen: Plan,
    *,
    echo: Callable[[str], None] = print,
    popen: Callable[..., Any] = subprocess.Popen,
) -> int:
    """Start the web and live processes and watch them; returns the exit status.

    SIGTERM or SIGINT stops both gracefully. When one stops by itself the
    other is stopped too and the status is 1.
    """
    children: dict[str, Any] = {}
    stopping = {"asked": False}

    def stop(signum: int, frame: Any) -> None:
        stopping["asked"] = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        children["web"] = popen(_child("web", chosen.web_options()))
        children["live"] = popen(_child("live", chosen.live_options()))
        echo(
            f"web: http://{chosen.bind}/ ({chosen.workers} processes x {chosen.threads} threads); "
            f"live updates: {chosen.live_bind} ({chosen.live_threads} connections)"
        )
        ended: Sequence[str] = ()
        while not stopping["asked"]:
            ended = [name for name, child in children.items() if child.poll() is not None]
            if ended:
                echo(f"the {' and '.join(ended)} process stopped; stopping the rest")
                break
            time.sleep(0.5)
        _stop_all(children)
        return 1 if ended and not stopping["asked"] else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(children)


def _stop_all(children: Mapping[str, Any], grace: float = 15.0) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hotline.server web|live OPTIONS_JSON`` (started by ``run_production``)."""
    import json

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("web", "live"):
        raise SystemExit("usage: python -m hotline.server web|live OPTIONS_JSON")
    run_gunicorn(args[0], json.loads(args[1]))


if __name__ == "__main__":
    main()
