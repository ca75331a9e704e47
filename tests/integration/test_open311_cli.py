"""``hotline open311 add-key|list|revoke``: the apps' keys from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from hotline.cli import main
from hotline.db import Base, make_engine
from hotline.models import Open311Client
from hotline.services.open311 import hash_key


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hotline.db"
    for name in ("HOTLINE_CONFIG", "HOTLINE_PORT", "HOTLINE_HOST", "HOTLINE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="hotline")


def _rows(path: Path) -> list[Open311Client]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(Open311Client.name, Open311Client.key_hash, Open311Client.active)
                )
            )
    finally:
        engine.dispose()


def test_add_key_prints_the_key_once_and_stores_only_its_hash(database):
    result = run("open311", "add-key", "市民通")
    assert result.exit_code == 0, result.output
    key = result.output.split("API key (shown once): ", 1)[1].strip()
    assert key.startswith("o311_")
    ((name, key_hash, active),) = _rows(database)
    assert (name, key_hash, active) == ("市民通", hash_key(key), True)
    listed = run("open311", "list")
    assert listed.exit_code == 0 and "市民通" in listed.output and "active" in listed.output
    assert key not in listed.output


def test_revoke_and_the_refusals_are_one_line(database):
    assert run("open311", "add-key", "市民通").exit_code == 0
    duplicate = run("open311", "add-key", "市民通")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert "Traceback" not in duplicate.output
    revoked = run("open311", "revoke", "市民通")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert _rows(database)[0][2] is False
    again = run("open311", "revoke", "市民通")
    assert again.exit_code == 1 and "already revoked" in again.output
    unknown = run("open311", "revoke", "别的应用")
    assert unknown.exit_code == 1 and "no Open311 app" in unknown.output
    assert "revoked" in run("open311", "list").output
