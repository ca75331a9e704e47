"""``hotline knowledge load FILE``: the seed articles, loaded once, changes as new versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from hotline.cli import main
from hotline.db import Base
from hotline.models import KnowledgeArticle, KnowledgeArticleVersion
from hotline.settings import CONFIG_DIR


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hotline.db"
    for name in ("HOTLINE_CONFIG", "HOTLINE_PORT", "HOTLINE_HOST", "HOTLINE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


def _count(path: Path, model: type) -> int:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        found = conn.scalar(select(func.count()).select_from(model))
    engine.dispose()
    return found or 0


def run(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="hotline")


def test_g3_the_shipped_articles_load_once(database: Path) -> None:
    """G3: the procedures the standard names are loaded; loading again changes nothing."""
    first = run("knowledge", "load")
    assert first.exit_code == 0, first.output
    assert "8 added, 0 changed" in first.output
    again = run("knowledge", "load", str(CONFIG_DIR / "knowledge.toml"))
    assert again.exit_code == 0 and "0 added, 0 changed" in again.output
    assert _count(database, KnowledgeArticle) == 8
    assert _count(database, KnowledgeArticleVersion) == 8


def test_a_changed_file_makes_new_versions(database: Path, tmp_path: Path) -> None:
    run("knowledge", "load")
    text = (CONFIG_DIR / "knowledge.toml").read_text(encoding="utf-8")
    changed = tmp_path / "kb.toml"
    changed.write_text(
        text.replace("抄表员按抄表日程", "抄表员每月按抄表日程", 1), encoding="utf-8"
    )
    result = run("knowledge", "load", str(changed))
    assert result.exit_code == 0 and "0 added, 1 changed" in result.output
    assert _count(database, KnowledgeArticleVersion) == 9


def test_a_bad_file_is_refused_in_one_line(database: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[articles]]\nslug = "x"\ntitle = "t"\n', encoding="utf-8")
    result = run("knowledge", "load", str(bad))
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "bad.toml" in result.output
    assert "Traceback" not in result.output
    assert _count(database, KnowledgeArticle) == 0
