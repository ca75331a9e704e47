"""The layer rules of docs/architecture.md hold (import-linter contracts in setup.cfg)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    return {
        name.removeprefix("importlinter:contract:"): parser[name]
        for name in parser.sections()
        if name.startswith("importlinter:contract:")
    }


def test_the_documented_contracts_are_configured() -> None:
    contracts = _contracts()
    assert {
        "domain-pure",
        "dispatch-domain-pure",
        "layers",
        "core-below-areas",
        "peers",
        "peers-calls",
        "web-through-services",
    } <= set(contracts)
    pure = contracts["domain-pure"]["forbidden_modules"].split()
    for library in ("flask", "sqlalchemy", "twilio", "flask_socketio"):
        assert library in pure
    assert contracts["layers"]["layers"].split() == ["web", "services", "(models)", "(domain)"]


def test_every_contract_is_kept() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [command, "--config", str(ROOT / "setup.cfg")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_core_templates_name_no_template_of_the_areas_built_on_them() -> None:
    """core-below-areas for pages: an area adds its part of a core page through
    ``hotline.web.extras``; a core template never includes an area's template."""
    areas = re.compile(r"""\{%-?\s*(include|import|from|extends)\s+["'](dispatch|callflows)/""")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "hotline" / "web" / "templates").rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if areas.search(line)
    ]
    assert found == []
