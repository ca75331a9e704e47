"""``hotline open311 add-key|list|revoke``: the apps that submit Open311 requests (docs/open311.md)."""

from __future__ import annotations

from typing import Any

import click

from hotline import cli as root


def _run(work: Any) -> Any:
    """Run ``work(session, wiring)`` in one unit of work; a refusal is one line."""
    from hotline.services import ServiceError

    wiring = root._app().extensions["hotline"]
    try:
        with wiring.sessions() as session, session.begin():
            return work(session, wiring)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None


@root.main.group()
def open311() -> None:
    """Open311 apps: add a key, list, revoke (docs/open311.md)."""


@open311.command("add-key")
@click.argument("name")
def add_key(name: str) -> None:
    """Register the app NAME and print its API key (shown once)."""
    from hotline.services.open311 import add_client

    def work(session: Any, wiring: Any) -> tuple[int, str]:
        client, key = add_client(session, name, now=wiring.now())
        return client.id, key

    client_id, key = _run(work)
    click.echo(f"app {client_id} '{name.strip()}' added")
    click.echo(f"API key (shown once): {key}")


@open311.command("list")
def list_command() -> None:
    """List the apps: id, name, created, status."""
    from hotline.services.open311 import list_clients

    def work(session: Any, wiring: Any) -> list[str]:
        zone = wiring.timezone
        lines = []
        for client in list_clients(session):
            created = client.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            status = "active" if client.active else "revoked"
            lines.append(f"{client.id:>5}  {client.name:<30} {created}  {status}")
        return lines

    lines = _run(work)
    if not lines:
        click.echo("no Open311 apps")
        return
    click.echo(f"{'id':>5}  {'name':<30} {'created':<16}  status")
    for line in lines:
        click.echo(line)


@open311.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the key of the app NAME: it submits no more; its requests stay."""
    from hotline.services.open311 import revoke_client

    def work(session: Any, wiring: Any) -> str:
        return revoke_client(session, now=wiring.now(), name=name).name

    click.echo(f"revoked the key of '{_run(work)}'")
