"""The ``hotline`` command: database, accounts, demo, server, audit.

Every command has ``--help``. Errors are printed as one line naming the
problem and the command exits with status 1 (2 for wrong usage); no traceback.
"""

from __future__ import annotations

import os
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

from hotline.settings import MIGRATIONS_DIR, SettingsError, load_settings

#: Alembic's script location: ``migrations/``, installed as ``hotline._migrations``.
MIGRATIONS = MIGRATIONS_DIR


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


def _app(overrides: dict[str, Any] | None = None) -> Any:
    from hotline.app import create_app

    try:
        return create_app(overrides)
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
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    default=None,
    help="Days the token is valid (default: the api_token_days setting).",
)
def create_user(
    username: str,
    role: str,
    display_name: str,
    department: str,
    password: str,
    token_name: str,
    expires_days: int | None,
) -> None:
    """Add a staff member who can log in (and optionally an API token)."""
    from hotline.models import Department
    from hotline.web.auth import AccountError, create_staff, issue_token

    if expires_days and not token_name:
        raise click.UsageError("--expires-days goes with --token")
    app = _app()
    wiring = app.extensions["hotline"]
    days = expires_days or _token_days(app)
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
            token = (
                issue_token(session, staff, token_name, now=wiring.now(), days=days)
                if token_name
                else ""
            )
            session.commit()
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} '{username}'")
    if token:
        click.echo(f"API token (shown once): {token}")
        click.echo(f"it expires in {days} days")


def _token_days(app: Any) -> int:
    days = app.config["HOTLINE"].get("api_token_days") or 365
    if not isinstance(days, int) or days < 1:
        raise click.ClickException("settings: 'api_token_days' must be a whole number of 1 or more")
    return days


def _account_command(work: Any) -> Any:
    """Run ``work(session, wiring)`` in one unit of work; an AccountError is one line."""
    from hotline.web.auth import AccountError

    wiring = _app().extensions["hotline"]
    try:
        with wiring.sessions() as session, session.begin():
            return work(session, wiring)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def staff() -> None:
    """Staff accounts: deactivate, activate, reset a password (docs/accounts.md)."""


@staff.command("deactivate")
@click.argument("username")
def staff_deactivate(username: str) -> None:
    """Close an account: no login, every session ended, every API token revoked."""
    from hotline.web.auth import deactivate_staff, find_staff

    def work(session: Any, wiring: Any) -> str:
        person = find_staff(session, username)
        if not person.active:
            return f"'{person.username}' is already deactivated"
        revoked = deactivate_staff(session, person, now=wiring.now())
        return f"deactivated '{person.username}': sessions ended, {revoked} API token(s) revoked"

    click.echo(_account_command(work))


@staff.command("activate")
@click.argument("username")
def staff_activate(username: str) -> None:
    """Open a deactivated account again (revoked tokens stay revoked)."""
    from hotline.web.auth import activate_staff, find_staff

    def work(session: Any, wiring: Any) -> str:
        person = find_staff(session, username)
        if person.active:
            return f"'{person.username}' is already active"
        activate_staff(person)
        return f"activated '{person.username}'"

    click.echo(_account_command(work))


@staff.command("reset-password")
@click.argument("username")
@click.option(
    "--password",
    prompt="New password",
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters (asked for when not given).",
)
def staff_reset_password(username: str, password: str) -> None:
    """Set a new password; the person's sessions end."""
    from hotline.web.auth import find_staff, reset_password

    def work(session: Any, wiring: Any) -> str:
        person = find_staff(session, username)
        reset_password(person, password)
        return f"password of '{person.username}' reset; their sessions ended"

    click.echo(_account_command(work))


@main.group()
def token() -> None:
    """API tokens: list, issue, revoke (docs/accounts.md)."""


@token.command("list")
@click.option("--user", "username", default=None, help="Only this person's tokens.")
@click.option("--all", "show_all", is_flag=True, help="Also expired and revoked tokens.")
def token_list(username: str | None, show_all: bool) -> None:
    """List API tokens: id, person, name, issued, expires, status."""
    from hotline.models import ApiToken
    from hotline.web.auth import find_staff

    def work(session: Any, wiring: Any) -> list[str]:
        query = select(ApiToken).order_by(ApiToken.id)
        if username:
            query = query.where(ApiToken.staff_id == find_staff(session, username).id)
        now, zone = wiring.now(), wiring.timezone
        lines = []
        for row in session.scalars(query):
            status = row.status(now)
            if status != "active" and not show_all:
                continue
            issued = row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            expires = row.expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            lines.append(
                f"{row.id:>5}  {row.staff.username:<16} {row.name or '-':<20} "
                f"{issued}  {expires}  {status}"
            )
        return lines

    lines = _account_command(work)
    if not lines:
        click.echo("no tokens" if show_all else "no active tokens (--all shows the others)")
        return
    click.echo(f"{'id':>5}  {'user':<16} {'name':<20} {'issued':<16}  {'expires':<16}  status")
    for line in lines:
        click.echo(line)


@token.command("issue")
@click.argument("name")
@click.option("--user", "username", required=True, help="The person the token acts as.")
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    default=None,
    help="Days the token is valid (default: the api_token_days setting).",
)
def token_issue(name: str, username: str, expires_days: int | None) -> None:
    """Issue an API token for a person; it is printed once."""
    from hotline.web.auth import AccountError, find_staff, issue_token

    app = _app()
    wiring = app.extensions["hotline"]
    days = expires_days or _token_days(app)
    try:
        with wiring.sessions() as session, session.begin():
            person = find_staff(session, username)
            if not person.active:
                raise AccountError(f"'{person.username}' is deactivated")
            text = issue_token(session, person, name, now=wiring.now(), days=days)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API token (shown once): {text}")
    click.echo(f"it expires in {days} days")


@token.command("revoke")
@click.argument("name", required=False)
@click.option(
    "--user", "username", default=None, help="Whose token(s) called NAME (all without NAME)."
)
@click.option(
    "--id", "token_id", type=int, default=None, help="The token's id (hotline token list)."
)
def token_revoke(name: str | None, username: str | None, token_id: int | None) -> None:
    """Revoke API tokens: NAME --user USERNAME, --user USERNAME (all theirs) or --id ID."""
    from hotline.web.auth import find_staff, revoke_tokens

    if token_id is None and not username:
        raise click.UsageError("give NAME with --user USERNAME, or --id ID")
    if token_id is not None and (name or username):
        raise click.UsageError("--id names one token: give it alone")

    def work(session: Any, wiring: Any) -> list[Any]:
        person = find_staff(session, username) if username else None
        return revoke_tokens(session, now=wiring.now(), token_id=token_id, staff=person, name=name)

    revoked = _account_command(work)
    if not revoked:
        what = f"id {token_id}" if token_id is not None else f"'{name or '*'}' of '{username}'"
        raise click.ClickException(f"no active token {what}")
    for row in revoked:
        click.echo(f"revoked token {row.id} '{row.name}'")


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
    # The demo is served over plain http: a Secure cookie would never come back.
    insecure = (
        {} if "HOTLINE_SESSION_COOKIE_SECURE" in os.environ else {"session_cookie_secure": False}
    )
    app = _app(insecure)
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
    from callflows.web.simulator import place_call
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
    from dispatch.services.scheduler import run_scheduler, sweep_once

    app = _app()
    if once:
        click.echo(str(sweep_once(app)))
        return
    run_scheduler(app, interval=interval, standby_retry=standby_retry, echo=click.echo)


@main.group()
def audit() -> None:
    """Checks and seals of the case history (P6, docs/audit.md)."""


def _audit_key(app: Any) -> str:
    from hotline.settings import audit_key

    try:
        return audit_key(app.config["HOTLINE"], Path(app.instance_path))
    except SettingsError as exc:
        raise click.ClickException(f"settings: {exc}") from None


def _snapshot(session: Any) -> None:
    """Read the whole check from one snapshot (PostgreSQL: repeatable read)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


@audit.command("verify")
@click.option("--case", "case_number", default=None, help="Check one case only.")
def audit_verify(case_number: str | None) -> None:
    """Check every case's history, row, number and seal; exit 1 naming what was tampered with."""
    from hotline.services.audit import verify

    app = _app()
    key = _audit_key(app)
    wiring = app.extensions["hotline"]
    with wiring.read_session() as session:
        _snapshot(session)
        checked, problems = verify(
            session, case_number=case_number, key=key, prefix=app.config["HOTLINE"]["case_prefix"]
        )
        session.rollback()
    if case_number and checked == 0 and not problems:
        raise click.ClickException(f"no case '{case_number}'")
    for problem in problems:
        click.echo(f"BROKEN {problem}")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {checked} case(s) checked", err=True)
        sys.exit(1)
    click.echo(f"ok: {checked} case(s), every event chain intact")


@audit.command("anchor")
def audit_anchor() -> None:
    """Seal every case's chain head with the audit key; run it every few minutes.

    Checks what changed since the last anchor first and seals nothing (exit 1,
    naming the problems) when anything was tampered with.
    """
    from hotline.services.audit import anchor

    app = _app()
    key = _audit_key(app)
    wiring = app.extensions["hotline"]
    with wiring.sessions() as session:
        _snapshot(session)
        prefix = app.config["HOTLINE"]["case_prefix"]
        result = anchor(session, key, now=wiring.now(), prefix=prefix)
        session.commit()
    for problem in result.problems:
        click.echo(f"BROKEN {problem}")
    if result.problems:
        click.echo(f"{len(result.problems)} problem(s); nothing sealed", err=True)
        sys.exit(1)
    if result.written:
        click.echo(
            f"anchor {result.seq}: sealed {result.sealed} new or changed case head(s), "
            f"{result.case_count} case(s) in all; seal {result.seal}"
        )
    else:
        click.echo(
            f"nothing changed since anchor {result.seq}, {result.case_count} case(s); "
            f"seal {result.seal}"
        )


if __name__ == "__main__":
    main()
