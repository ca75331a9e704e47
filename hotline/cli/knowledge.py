"""``hotline knowledge load FILE``: the knowledge base's articles from a seed file."""

from __future__ import annotations

from pathlib import Path

import click

from hotline import cli as root


@root.main.group()
def knowledge() -> None:
    """The knowledge base: procedures, fees, common problems (docs/knowledge-base.md)."""


@knowledge.command("load")
@click.argument(
    "file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
def load_command(file: Path | None) -> None:
    """Add or update the articles of FILE (default: the shipped config/knowledge.toml).

    Articles are matched by slug: loading the same file again changes nothing;
    a changed text becomes a new version; a retired article stays retired.
    """
    from hotline.services.knowledge import SHIPPED_SEED, load_seed_file

    wiring = root._app().extensions["hotline"]
    try:
        added, changed = load_seed_file(wiring, file)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{file or SHIPPED_SEED}: {added} added, {changed} changed")
