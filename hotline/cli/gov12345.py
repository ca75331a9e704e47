"""``hotline gov12345 import-drop`` and ``retry-reports``: 12345 orders by hand."""

from __future__ import annotations

from pathlib import Path

import click

from hotline import cli as root


@root.main.group()
def gov12345() -> None:
    """Orders from the city government's 12345 hotline (docs/gov12345.md)."""


@gov12345.command("import-drop")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The drop folder (default: the setting gov12345_drop_folder).",
)
def import_drop_command(folder: Path | None) -> None:
    """Take in every order file (*.json) of the drop folder now.

    Each becomes a case owned by the dispatcher on duty; taken-in files move
    to done/, refused ones to failed/ with the reason beside them.
    """
    from hotline.services.gov12345 import import_drop
    from hotline.web.gov12345 import gov_wiring

    app = root._app()
    gw = gov_wiring(app)
    where = folder or gw.drop_folder
    if not where.is_dir():
        raise click.ClickException(f"no drop folder at {where}")
    with app.app_context():
        result = import_drop(app.extensions["hotline"], where, owner=gw.owner)
    for name in result.imported:
        click.echo(f"imported {name}")
    for name in result.duplicates:
        click.echo(f"already known {name}")
    for name, reason in result.failed:
        click.echo(f"failed {name}: {reason}")
    for name, reason in result.waiting:
        click.echo(f"waiting {name}: {reason}")
    click.echo(str(result))
    if result.failed:
        raise SystemExit(1)


@gov12345.command("retry-reports")
def retry_reports_command() -> None:
    """Send again every report back to the platform that has not been taken yet."""
    from datetime import timedelta

    from hotline.services.gov12345 import retry_reports
    from hotline.web.gov12345 import gov_wiring

    app = root._app()
    with app.app_context():
        sent, failing = retry_reports(
            app.extensions["hotline"], gov_wiring(app).platform, min_age=timedelta(0)
        )
    click.echo(f"12345 reports: {sent} sent, {failing} still failing")
    if failing:
        raise SystemExit(1)
