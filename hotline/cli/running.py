"""``hotline demo``, ``serve``, ``simulate-call`` and ``scheduler``: running the product."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import select

from hotline import cli as root


@root.main.command()
@click.option("--serve/--no-serve", default=False, help="Start the server afterwards.")
@click.option("--host", default=None, help="Address to listen on (default from settings).")
@click.option("--port", default=None, type=int, help="Port to listen on (default from settings).")
def demo(serve: bool, host: str | None, port: int | None) -> None:
    """Create the schema and load demo data and demo staff of every role.

    Safe to run again: data is loaded only into an empty database.
    """
    from hotline.demo import DEMO_PASSWORD, DEMO_STAFF, load_demo
    from hotline.models import Staff

    settings = root._settings()
    url = settings["database_url"]
    try:
        root.upgrade_database(url)
    except Exception as exc:
        raise click.ClickException(
            f"could not prepare {root.shown_url(url)}: {root._first_line(exc)}"
        ) from None
    # The demo is served over plain http: a Secure cookie would never come back.
    insecure = (
        {} if "HOTLINE_SESSION_COOKIE_SECURE" in os.environ else {"session_cookie_secure": False}
    )
    app = root._app(insecure)
    wiring = app.extensions["hotline"]
    if load_demo(wiring):
        _demo_rota(wiring)
        click.echo("demo data ready")
    else:
        demo_usernames = {username for username, _role, _name, _dept in DEMO_STAFF}
        with wiring.sessions() as session:
            present = set(
                session.scalars(select(Staff.username).where(Staff.username.in_(demo_usernames)))
            )
        if present != demo_usernames:
            # Staff of a real installation: the demo logins listed below would not exist.
            raise click.ClickException(
                f"the database at {root.shown_url(url)} already has staff; "
                "demo data is loaded only into an empty database"
            )
        click.echo("demo data already present")
    click.echo(f"demo staff (password for all: {DEMO_PASSWORD}):")
    for username, role, name, _dept in DEMO_STAFF:
        click.echo(f"  {username:<12} {role:<11} {name}")
    if serve:
        _serve(app, host or settings["host"], port or settings["port"])


def _demo_rota(wiring: Any) -> None:
    """P1: the two demo dispatchers cover the dispatch center for a week, 12 hours each."""
    from dispatch.services.duty import fill_rota
    from hotline.models import Staff
    from hotline.services import Actor

    with wiring.sessions() as session:
        people = {
            s.username: s
            for s in session.scalars(
                select(Staff).where(Staff.username.in_(["dispatcher", "dispatcher2", "supervisor"]))
            )
        }
    now = wiring.now().astimezone(wiring.timezone)
    start = now.replace(hour=8, minute=0, second=0, microsecond=0)
    if start > now:
        start -= timedelta(hours=12)
    fill_rota(
        wiring,
        Actor.of(people["supervisor"]),
        [people["dispatcher"].id, people["dispatcher2"].id],
        start=start,
        days=7,
    )


@root.main.command()
@click.option("--host", default=None, help="Address to listen on (default from settings).")
@click.option("--port", default=None, type=int, help="Port to listen on (default from settings).")
@click.option(
    "--production",
    is_flag=True,
    help="Serve with Gunicorn: web processes plus a live-update process (docs/deployment.md).",
)
@click.option("--bind", default=None, help="With --production: HOST:PORT of the web processes.")
@click.option(
    "--live-bind", default=None, help="With --production: HOST:PORT of the live-update process."
)
@click.option("--workers", default=None, type=click.IntRange(1, 64), help="Web processes.")
@click.option("--threads", default=None, type=click.IntRange(1, 512), help="Threads each.")
@click.option(
    "--live-threads",
    default=None,
    type=click.IntRange(1, 20000),
    help="Live connections the live-update process holds.",
)
def serve(
    host: str | None,
    port: int | None,
    production: bool,
    bind: str | None,
    live_bind: str | None,
    workers: int | None,
    threads: int | None,
    live_threads: int | None,
) -> None:
    """Run the web server (pages, API, live updates) on the configured database.

    Without --production: one process (Werkzeug), for the embedded default.
    With --production: Gunicorn web processes and a live-update process.
    """
    settings = root._settings()
    if not production:
        _serve(root._app(), host or settings["host"], port or settings["port"])
        return
    from hotline.server import ServerSettingsError, plan, run_production

    if host or port:
        bind = bind or f"{host or settings['host']}:{port or settings['port']}"
    try:
        chosen = plan(
            settings,
            bind=bind,
            live_bind=live_bind,
            workers=workers,
            threads=threads,
            live_threads=live_threads,
        )
    except ServerSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    root._app()  # a bad setting stops here with one line, not in every worker
    sys.exit(run_production(chosen, echo=click.echo))


def _serve(app: Any, host: str, port: int) -> None:
    from dispatch.services.scheduler import start_in_process
    from hotline.web.realtime import socketio

    start_in_process(app, echo=click.echo)  # only with scheduler_in_process = true
    click.echo(f"open http://{host}:{port}/ in a browser (Ctrl+C stops)")
    if app.config.get("SESSION_COOKIE_SECURE"):
        click.echo(
            "note: session_cookie_secure is on, so logins hold only over https "
            "(a proxy in front); for plain http set HOTLINE_SESSION_COOKIE_SECURE=false"
        )
    # Werkzeug serves pages and websockets in threading mode; behind a proxy
    # in production, see docs/deployment.md.
    socketio.run(app, host=host, port=port, use_reloader=False, allow_unsafe_werkzeug=True)


@root.main.command("simulate-call")
@click.option(
    "--from",
    "from_number",
    default="13805341234",
    show_default=True,
    help="The number the simulated call comes from.",
)
def simulate_call(from_number: str) -> None:
    """Ring the hotline as a caller would (telephony = "simulator" only).

    The call pops up on every operator's console (at once when live updates
    reach this process's server, else at the console's next poll).
    """
    from callflows.bootstrap import flows_of
    from callflows.web.simulator import place_call
    from hotline.services import ServiceError

    app = root._app()
    flows = flows_of(app)
    if not flows.simulator_enabled:
        raise click.ClickException(
            'simulated calls need telephony = "simulator"; this installation uses '
            f"{flows.telephony.name}"
        )
    try:
        call_id = place_call(app.extensions["hotline"], flows, from_number)
    except ServiceError as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    click.echo(f"call {call_id} from {from_number} is ringing; answer it on the console (/console)")


@root.main.command()
@click.option("--once", is_flag=True, help="Run one sweep now, print what it did and exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between sweeps (default: the sweep_interval_seconds setting).",
)
@click.option(
    "--standby-retry",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between a standby's attempts to take the lead.",
)
def scheduler(once: bool, interval: float | None, standby_retry: float) -> None:
    """Run the deadline sweep in its own process: warnings, escalations, duty alarm.

    Against PostgreSQL any number may run: one leads, the others wait as hot
    standbys and take over when it stops. Set scheduler_in_process = false for
    the web processes then. Stops on Ctrl+C or SIGTERM.
    """
    from dispatch.services.scheduler import run_scheduler, sweep_once

    app = root._app()
    if once:
        click.echo(str(sweep_once(app)))
        return
    run_scheduler(app, interval=interval, standby_retry=standby_retry, echo=click.echo)
