"""The product runs from a built wheel, not only from the repository.

A copy of the repository is built into a wheel (``pip wheel . --no-deps``),
which must hold every package, the default settings, the time-limit policy,
the call scripts and the migrations. The wheel is then installed with its
dependencies into a new virtualenv (pip's cache keeps this short), and from
an empty folder ``hotline demo`` and ``hotline db upgrade`` must succeed
against a new SQLite file.

Building and installing fetch the build backend and the dependencies from the
package index; where it cannot be reached the tests skip and say why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow_install

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: What is not copied for the build: environments, outputs of earlier builds, caches.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "instance",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
)
#: Seconds the build and the install may take (with a warm pip cache: well under a minute).
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 600
#: pip's words for a package index it cannot reach.
NO_INDEX = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name"
    r" resolution|Name or service not known|Network is unreachable|ConnectTimeoutError"
    r"|ReadTimeoutError|Connection refused|ProxyError"
)


def _pip(args: list[str], *, what: str, timeout: int, cwd: Path | None = None) -> None:
    """Run pip; skip when it cannot reach the package index, fail on any other error."""
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_clean_env()
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} took longer than {timeout}s")
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    unreachable = NO_INDEX.search(output)
    if unreachable:
        pytest.skip(f"{what} impossible: the package index cannot be reached ({unreachable[0]})")
    pytest.fail(f"{what} failed (exit {done.returncode}):\n{output[-4000:]}")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything pointing at the repository or its settings."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HOTLINE_")
        and key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    }
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    environment["PIP_NO_INPUT"] = "1"
    return {**environment, **extra}


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    tmp: Path

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a clean copy of the repository."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_COPIED)
    dist = tmp / "dist"
    _pip(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(dist)],
        what="building the wheel",
        timeout=BUILD_TIMEOUT,
        cwd=source,
    )
    built = sorted(dist.glob("water_hotline-*.whl"))
    assert len(built) == 1, f"expected one wheel, got {built}"
    return built[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel and its dependencies in a new virtualenv."""
    tmp = tmp_path_factory.mktemp("installed")
    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=_clean_env()
    )
    _pip(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        what="installing the wheel",
        timeout=INSTALL_TIMEOUT,
    )
    return Installed(wheel=wheel, venv=venv, tmp=tmp)


def _run(command: list[str], cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=_clean_env(**environment),
    )


def test_the_wheel_holds_every_package_and_shipped_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"hotline/_defaults/hotline.toml", "hotline/_defaults/time_limits.toml"}
    expected |= {"hotline/_migrations/env.py", "hotline/_migrations/script.py.mako"}
    for top in ("hotline", "dispatch", "callflows"):
        for module in (PROJECT_ROOT / top).rglob("*.py"):
            if "__pycache__" not in module.parts:
                expected.add(module.relative_to(PROJECT_ROOT).as_posix())
    for name in sorted((PROJECT_ROOT / "config").glob("*.toml")):
        expected.add(f"hotline/_defaults/{name.name}")
    for name in sorted((PROJECT_ROOT / "migrations" / "versions").glob("*.py")):
        expected.add(f"hotline/_migrations/versions/{name.name}")
    for name in sorted((PROJECT_ROOT / "callflows" / "scripts").glob("*.toml")):
        expected.add(f"callflows/scripts/{name.name}")
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks (a subpackage not listed in setup.cfg?): {missing}"
    assert not any(name.startswith(("config/", "migrations/", "tests/")) for name in names)


def test_demo_and_db_upgrade_run_from_an_empty_folder(installed: Installed) -> None:
    folder = installed.tmp / "empty"
    folder.mkdir()
    database = f"sqlite:///{installed.tmp / 'demo.db'}"

    where = _run(
        [
            str(installed.bin("python")),
            "-c",
            "import hotline.settings as s; print(s.DEFAULT_CONFIG); print(s.MIGRATIONS_DIR)",
        ],
        folder,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(installed.venv), f"not from the wheel: {line}"
        assert Path(line).exists(), line

    demo = _run([str(installed.bin("hotline")), "demo"], folder, HOTLINE_DATABASE_URL=database)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo data ready" in demo.stdout
    assert "demo staff (password for all:" in demo.stdout
    for login in ("operator", "dispatcher", "supervisor", "admin"):
        assert re.search(rf"^\s+{login}\s", demo.stdout, re.MULTILINE), demo.stdout

    upgrade = _run(
        [str(installed.bin("hotline")), "db", "upgrade"], folder, HOTLINE_DATABASE_URL=database
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert "at revision head" in upgrade.stdout


def test_relative_paths_look_in_the_working_directory_first(installed: Installed) -> None:
    folder = installed.tmp / "own"
    folder.mkdir()
    show = [
        str(installed.bin("python")),
        "-c",
        "from hotline.settings import resolve_path as r; "
        "print(r('config/time_limits.toml')); print(r('callflows/scripts')); "
        "print(r('config/missing.toml'))",
    ]
    shipped = _run(show, folder)
    assert shipped.returncode == 0, shipped.stderr
    limits, scripts, missing = (Path(line) for line in shipped.stdout.splitlines())
    assert limits.is_relative_to(installed.venv) and limits.is_file()
    assert scripts.is_relative_to(installed.venv) and (scripts / "inbound_hotline.toml").is_file()
    assert missing == folder.resolve() / "config" / "missing.toml"

    (folder / "config").mkdir()
    own = folder / "config" / "time_limits.toml"
    own.write_text(limits.read_text(encoding="utf-8"), encoding="utf-8")
    local = _run(show, folder)
    assert local.returncode == 0, local.stderr
    assert Path(local.stdout.splitlines()[0]) == own.resolve()
