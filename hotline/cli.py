"""The ``hotline`` command: database, accounts, demo, server, audit.

Every command has ``--help``. Errors are printed as one line naming the
problem and the command exits with status 1 (2 for wrong usage); no traceback.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hotline.settings import PROJECT_ROOT, SettingsError, load_settings

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> AlembicConfig:
    """Alembic's configuration for ``database_url``, without an ini file."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the schema at ``database_url`` to ``revision`` (creating a SQLite folder)."""
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    alembic_command.upgrade(alembic_config(database_url), revision)


def shown_url(database_url: str) -> str:
    """``database_url`` as it may be printed: any password masked."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return database_url


def _first_line(exc: BaseException) -> str:
    """The first line of an error's message (a driver's own, where it wraps one)."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0] if detail else type(exc).__name__


def _database_problem(exc: SQLAlchemyError) -> str:
    """One line saying what the database refused, and what to do when the schema is missing."""
    first = _first_line(exc)
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return f"the database has no schema yet ({first}); run 'hotline db upgrade' first"
    return f"database error: {first}"


class _HotlineGroup(click.Group):
    """The top-level group: a database failure in any command is one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            raise click.ClickException(_database_problem(exc)) from None


def _app() -> Any:
    from hotline.app import create_app

    try:
        return create_app()
    except SettingsError as exc:
        raise click.ClickException(f"settings: {exc}") from None
    except Exception as exc:  # PolicyError and friends name their key
        if type(exc).__name__.endswith("Error"):
            raise click.ClickException(str(exc)) from None
        raise


def _settings() -> dict[str, Any]:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"settings: {exc}") from None


@click.group(cls=_HotlineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Water utility hotline: cases, dispatch and follow-up (供水服务热线)."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
def db_upgrade(revision: str) -> None:
    """Create or update the database schema to the latest revision."""
    url = _settings()["database_url"]
    try:
        upgrade_database(url, revision)
    except Exception as exc:
        raise click.ClickException(
            f"could not upgrade {shown_url(url)}: {_first_line(exc)}"
        ) from None
    click.echo(f"database at {shown_url(url)} is at revision {revision}")


@main.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["operator", "dispatcher", "crew", "supervisor", "admin"]),
    help="What the person does.",
)
@click.option("--name", "display_name", default="", help="Display name (defaults to the username).")
@click.option("--department", default="", help="Department code, e.g. DISPATCH or REPAIR.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters (asked for when not given).",
)
@click.option("--token", "token_name", default="", help="Also issue an API token with this name.")
def create_user(
    username: str, role: str, display_name: str, department: str, password: str, token_name: str
) -> None:
    """Add a staff member who can log in (and optionally an API token)."""
    from hotline.auth import AccountError, create_staff, issue_token
    from hotline.models import Department

    app = _app()
    wiring = app.extensions["hotline"]
    with wiring.sessions() as session:
        department_id = None
        if department:
            found = session.scalar(select(Department).where(Department.code == department))
            if found is None:
                codes = ", ".join(session.scalars(select(Department.code)))
                raise click.ClickException(
                    f"no department '{department}'; known: {codes or 'none'}"
                )
            department_id = found.id
        try:
            staff = create_staff(
                session,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                department_id=department_id,
                now=wiring.now(),
            )
            session.flush()
            token = issue_token(session, staff, token_name, now=wiring.now()) if token_name else ""
            session.commit()
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} '{username}'")
    if token:
        click.echo(f"API token (shown once): {token}")


@main.command()
@click.option("--serve/--no-serve", default=False, help="Start the server afterwards.")
@click.option("--host", default=None, help="Address to listen on (default from settings).")
@click.option("--port", default=None, type=int, help="Port to listen on (default from settings).")
def demo(serve: bool, host: str | None, port: int | None) -> None:
    """Create the schema and load demo data and demo staff of every role.

    Safe to run again: data is loaded only into an empty database.
    """
    from hotline.demo import DEMO_PASSWORD, DEMO_STAFF, load_demo
    from hotline.models import Staff

    settings = _settings()
    url = settings["database_url"]
    try:
        upgrade_database(url)
    except Exception as exc:
        raise click.ClickException(
            f"could not prepare {shown_url(url)}: {_first_line(exc)}"
        ) from None
    app = _app()
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
                f"the database at {shown_url(url)} already has staff; "
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
    from dispatch.duty import fill_rota
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


@main.command()
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
    settings = _settings()
    if not production:
        _serve(_app(), host or settings["host"], port or settings["port"])
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
    _app()  # a bad setting stops here with one line, not in every worker
    sys.exit(run_production(chosen, echo=click.echo))


def _serve(app: Any, host: str, port: int) -> None:
    from dispatch.scheduler import start_in_process
    from hotline.realtime import socketio

    start_in_process(app, echo=click.echo)  # only with scheduler_in_process = true
    click.echo(f"open http://{host}:{port}/ in a browser (Ctrl+C stops)")
    # Werkzeug serves pages and websockets in threading mode; behind a proxy
    # in production, see docs/deployment.md.
    socketio.run(app, host=host, port=port, use_reloader=False, allow_unsafe_werkzeug=True)


@main.command("simulate-call")
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
    from callflows.simulator import place_call
    from hotline.services import ServiceError

    app = _app()
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


@main.command()
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
    from dispatch.scheduler import run_scheduler, sweep_once

    app = _app()
    if once:
        click.echo(str(sweep_once(app)))
        return
    run_scheduler(app, interval=interval, standby_retry=standby_retry, echo=click.echo)


@main.group()
def audit() -> None:
    """Checks of the case history."""


@audit.command("verify")
@click.option("--case", "case_number", default=None, help="Check one case only.")
def audit_verify(case_number: str | None) -> None:
    """Check every case's event chain; exit 1 if anything was edited or deleted."""
    from hotline.audit import verify

    app = _app()
    with app.extensions["hotline"].sessions() as session:
        checked, problems = verify(session, case_number=case_number)
    if case_number and checked == 0:
        raise click.ClickException(f"no case '{case_number}'")
    for problem in problems:
        click.echo(f"BROKEN {problem}")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {checked} case(s) checked", err=True)
        sys.exit(1)
    click.echo(f"ok: {checked} case(s), every event chain intact")


if __name__ == "__main__":
    main()
