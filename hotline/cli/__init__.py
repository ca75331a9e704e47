"""The ``hotline`` command: the group, its error handling and ``db``.

The other commands live beside it by concept: ``accounts`` (create-user,
staff, token), ``running`` (demo, serve, simulate-call, scheduler) and
``audit`` (verify, anchor).

Every command has ``--help``. Errors are printed as one line naming the
problem and the command exits with status 1 (2 for wrong usage); no traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
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


# The commands register themselves on ``main`` when imported.
from hotline.cli import (  # noqa: E402,F401
    accounts,
    audit,
    customers,
    gov12345,
    knowledge,
    open311,
    running,
)
