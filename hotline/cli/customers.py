"""``hotline customers import FILE``: customers from the billing system's export."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import click

from hotline import cli as root

#: Refused rows printed; the rest are in the file written beside.
SHOWN_REFUSALS = 50


@root.main.group()
def customers() -> None:
    """Customers from the billing system (docs/customers.md)."""


@customers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and count only; write nothing.")
@click.option(
    "--areas",
    "areas_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The service areas' file (default: the shipped config/areas.toml).",
)
@click.option(
    "--refused",
    "refused_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where every refused row is written as CSV (default: FILE.refused.csv beside FILE).",
)
def import_command(
    file: Path, dry_run: bool, areas_file: Path | None, refused_file: Path | None
) -> None:
    """Upsert the customers of a CSV or .xlsx export by account number.

    Headers in Chinese (户号 户名 地址 电话 水表号 欠费金额 欠费起始日期 片区) or
    English. Importing the same file again changes nothing.
    """
    from hotline.domain.address_areas import AreaFileError, AreaMap
    from hotline.services.customers import (
        CHUNK_ROWS,
        ImportFileError,
        import_customers,
        open_export,
        shipped_areas,
        write_refusals,
    )

    try:
        areas = AreaMap.load(areas_file) if areas_file else shipped_areas()
        export = open_export(file)
    except (AreaFileError, ImportFileError) as exc:
        raise click.ClickException(str(exc)) from None
    wiring = root._app().extensions["hotline"]
    started = time.perf_counter()
    long_file = export.total > CHUNK_ROWS
    bar: Any = (
        click.progressbar(length=export.total, label="importing", file=sys.stderr)
        if long_file
        else contextlib.nullcontext()
    )
    try:
        with bar as shown:
            report = import_customers(
                wiring,
                export.rows,
                dry_run=dry_run,
                labels=export.headers.labels,
                areas=areas,
                progress=(lambda done: shown.update(done - shown.pos)) if long_file else None,
            )
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - started

    if dry_run:
        click.echo("dry run: nothing was written")
    if export.headers.ignored:
        click.echo("columns ignored: " + ", ".join(export.headers.ignored))
    verb = "would be " if dry_run else ""
    click.echo(
        f"{report.rows} rows in {seconds:.1f} s: {verb}inserted {report.inserted}, "
        f"{verb}updated {report.updated}, unchanged {report.unchanged}, "
        f"refused {len(report.refused)}"
    )
    if not report.refused:
        return
    shown_count = min(len(report.refused), SHOWN_REFUSALS)
    click.echo(f"refused rows (first {shown_count} of {len(report.refused)}):")
    for refusal in report.refused[:SHOWN_REFUSALS]:
        click.echo("  " + refusal.line())
    target = refused_file or file.with_name(file.name + ".refused.csv")
    try:
        write_refusals(target, report.refused)
    except OSError as exc:
        raise click.ClickException(f"could not write the refused rows to {target}: {exc}") from None
    click.echo(f"every refused row: {target}")
