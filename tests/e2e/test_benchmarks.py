"""Every benchmark in ``bench/`` still runs, at its smoke size, against PostgreSQL.

A benchmark is a file ``bench/*_bench.py`` (helpers beside them, such as
``floor_app.py``, are not); each takes ``--smoke`` for a run of seconds and
``--url`` for the database. Each one here gets a database URL of its own on the
test server (``HOTLINE_TEST_POSTGRES_URL``) with a name no other run uses:
benchmarks that drop and create the database named by ``--url`` use it as
given, those that create databases of their own use only its server part. The
database is dropped afterwards. Benchmarks that take ``--redis`` get the test
Redis (``HOTLINE_TEST_REDIS_URL``). A benchmark passes when it exits 0 and prints
figures, so a schema or service change that breaks one fails here, not on the
next person who measures.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import pg_drop_database, unique_database_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BENCHMARKS = sorted((PROJECT_ROOT / "bench").glob("*_bench.py"))
#: Seconds one smoke run may take; the smoke sizes take well under this.
SMOKE_TIMEOUT = 90
#: Seconds a benchmark gets after SIGTERM to stop its servers and drop its databases.
STOP_GRACE = 20
#: A measured figure: a number followed by a time or a rate unit.
FIGURE = re.compile(r"\d(?:[\d,]*\d)?(?:\.\d+)?\s*(?:ms|s|/s|req/s)\b")


def smoke_command(bench: Path, url: str) -> list[str]:
    """``bench --smoke --url URL``, and ``--redis`` for a benchmark that takes it."""
    command = [sys.executable, str(bench), "--smoke", "--url", url]
    if '"--redis"' in bench.read_text(encoding="utf-8"):
        command += ["--redis", REDIS_URL]
    return command


def run_smoke(bench: Path, url: str) -> tuple[int, str, str]:
    """Run the benchmark at its smoke size; returns exit code, stdout and stderr.

    A run past :data:`SMOKE_TIMEOUT` gets SIGTERM first, so the benchmark stops
    the servers it started, and SIGKILL only if it is still there after
    :data:`STOP_GRACE`.
    """
    process = subprocess.Popen(
        smoke_command(bench, url),
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=SMOKE_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        pytest.fail(f"{bench.name} --smoke took over {SMOKE_TIMEOUT} s\n{_tail(out, err)}")
    return process.returncode, out, err


def _tail(out: str, err: str, lines: int = 30) -> str:
    return (
        "--- stdout (end) ---\n"
        + "\n".join(out.splitlines()[-lines:])
        + "\n--- stderr (end) ---\n"
        + "\n".join(err.splitlines()[-lines:])
    )


def test_the_intake_benchmark_is_found() -> None:
    """The glob finds the benchmarks and leaves their helpers out."""
    names = {bench.name for bench in BENCHMARKS}
    assert "intake_bench.py" in names
    assert "floor_app.py" not in names


@pytest.mark.postgres
@pytest.mark.parametrize("bench", BENCHMARKS, ids=[bench.stem for bench in BENCHMARKS])
def test_benchmark_runs_at_smoke_size_and_prints_figures(bench: Path, postgres_server: str) -> None:
    name = unique_database_name(f"ci_{bench.stem}")
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        code, out, err = run_smoke(bench, url)
    finally:
        pg_drop_database(name)
    assert code == 0, f"{bench.name} --smoke exited with {code}\n{_tail(out, err)}"
    assert FIGURE.search(out), f"{bench.name} --smoke printed no figures\n{_tail(out, err)}"


#: Clicks and keystrokes per call on the console, in chromium (not a ``*_bench.py``:
#: it needs no database server, only the browser).
CONSOLE_CLICKS = PROJECT_ROOT / "bench" / "console_clicks.py"


@pytest.mark.browser
def test_the_console_click_benchmark_runs_at_smoke_size_and_prints_its_counts() -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium not available: /usr/bin/chromium is missing")
    try:
        process = subprocess.run(
            [sys.executable, str(CONSOLE_CLICKS), "--smoke"],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SMOKE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"console_clicks.py --smoke took over {SMOKE_TIMEOUT} s\n{exc}")
    out, err = process.stdout, process.stderr
    assert process.returncode == 0, f"exited with {process.returncode}\n{_tail(out, err)}"
    assert re.search(r"^leak\s+mouse\s+\d+ clicks\s+\d+ keystrokes", out, re.M), _tail(out, err)
