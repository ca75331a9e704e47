"""``hotline create-user``, ``hotline staff …`` and ``hotline token …``: accounts from the command line."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from hotline import cli as root


@root.main.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["operator", "dispatcher", "crew", "supervisor", "admin", "billing"]),
    help="What the person does (billing: the billing system's API account).",
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
    from hotline.services.accounts import AccountError, create_staff, issue_token

    if expires_days and not token_name:
        raise click.UsageError("--expires-days goes with --token")
    app = root._app()
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
    from hotline.services.accounts import AccountError

    wiring = root._app().extensions["hotline"]
    try:
        with wiring.sessions() as session, session.begin():
            return work(session, wiring)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None


@root.main.group()
def staff() -> None:
    """Staff accounts: deactivate, activate, reset a password (docs/accounts.md)."""


@staff.command("deactivate")
@click.argument("username")
def staff_deactivate(username: str) -> None:
    """Close an account: no login, every session ended, every API token revoked."""
    from hotline.services.accounts import deactivate_staff, find_staff

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
    from hotline.services.accounts import activate_staff, find_staff

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
    from hotline.services.accounts import find_staff, reset_password

    def work(session: Any, wiring: Any) -> str:
        person = find_staff(session, username)
        reset_password(person, password)
        return f"password of '{person.username}' reset; their sessions ended"

    click.echo(_account_command(work))


@root.main.group()
def token() -> None:
    """API tokens: list, issue, revoke (docs/accounts.md)."""


@token.command("list")
@click.option("--user", "username", default=None, help="Only this person's tokens.")
@click.option("--all", "show_all", is_flag=True, help="Also expired and revoked tokens.")
def token_list(username: str | None, show_all: bool) -> None:
    """List API tokens: id, person, name, issued, expires, status."""
    from hotline.models import ApiToken
    from hotline.services.accounts import find_staff

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
    from hotline.services.accounts import AccountError, find_staff, issue_token

    app = root._app()
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
    from hotline.services.accounts import find_staff, revoke_tokens

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
