"""``hotline scheduler`` and start-up refusals: a malformed or incomplete time-limit
policy, or a bad scheduler setting, stops ``serve``, ``demo`` and ``scheduler``
with one line naming the key, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hotline.cli import main
from hotline.domain.timelimits import DEFAULT_POLICY_PATH


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SQLite file the commands use, set through the environment; cwd is tmp_path."""
    path = tmp_path / "hotline.db"
    for name in ("HOTLINE_CONFIG", "HOTLINE_TIME_LIMITS_PATH", "HOTLINE_SWEEP_INTERVAL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_one_line_refusal(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, result.output)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_the_scheduler_command_explains_itself(database: Path, flag: str) -> None:
    result = run("scheduler", flag)
    assert result.exit_code == 0, result.output
    assert "hot" in result.output and "--once" in result.output
    assert not database.exists()


def test_scheduler_once_sweeps_and_prints_what_it_did(database: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    result = run("scheduler", "--once")
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("sweep at ") and "0 case(s)" in line


def _broken_policy(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped policy with ``old`` replaced by ``new``; an ``old`` ending in ``...``
    cuts the file from there to its end."""
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    head = old.removesuffix("...")
    assert head in text
    cut = old.endswith("...")
    text = text[: text.index(head)] + new if cut else text.replace(old, new, 1)
    path = tmp_path / "time_limits.toml"
    path.write_text(text, encoding="utf-8")
    return path


BROKEN = {
    "malformed-duration": (
        'shut_off = { duration = "4h"',
        'shut_off = { duration = "4 hours please"',
        "categories.leak.stages.shut_off.duration",
    ),
    "missing-category": (
        "# 停水查询 outage enquiry...",
        "",
        "categories.outage_enquiry: missing",
    ),
    "unknown-category": (
        "[categories.outage_enquiry.stages]",
        "[categories.outage_enquiries.stages]",
        "categories.outage_enquiries",
    ),
    "missing-source": (
        'shut_off = { duration = "4h", source = "SEED-RULES table: leak, water shut off 4 h" }',
        'shut_off = { duration = "4h" }',
        "categories.leak.stages.shut_off.source",
    ),
}


@pytest.mark.parametrize("command", [["serve"], ["demo"], ["scheduler"]], ids=" ".join)
@pytest.mark.parametrize("broken", list(BROKEN), ids=str)
def test_a_bad_policy_file_stops_start_up_with_one_line_naming_the_key(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command, broken
) -> None:
    old, new, key = BROKEN[broken]
    monkeypatch.setenv("HOTLINE_TIME_LIMITS_PATH", str(_broken_policy(tmp_path, old, new)))
    assert_one_line_refusal(run(*command), key)


@pytest.mark.parametrize("command", [["serve"], ["scheduler"], ["scheduler", "--once"]])
@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0", "sweep_interval_seconds"), ("soon", "HOTLINE_SWEEP_INTERVAL_SECONDS")],
)
def test_a_bad_sweep_interval_stops_start_up_with_one_line_naming_it(
    database: Path, monkeypatch: pytest.MonkeyPatch, command, value, fragment
) -> None:
    monkeypatch.setenv("HOTLINE_SWEEP_INTERVAL_SECONDS", value)
    assert_one_line_refusal(run(*command), fragment)
    assert not database.exists()
