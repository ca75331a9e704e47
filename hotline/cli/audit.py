"""``hotline audit verify`` and ``hotline audit anchor``: the tamper check (docs/audit.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from hotline import cli as root
from hotline.settings import SettingsError


@root.main.group()
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

    app = root._app()
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

    app = root._app()
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
