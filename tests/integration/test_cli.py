"""The ``hotline`` command line: help, schema, accounts, demo data and the audit check.

Every command runs through click's test runner against a SQLite file of its
own, configured the way an installation is: ``HOTLINE_*`` environment
variables, in a fresh working directory. Refusals must be one line naming the
problem, exit status 1, no traceback, and nothing written.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, inspect, select
from werkzeug.security import check_password_hash

from hotline.app import create_app
from hotline.cli import main
from hotline.demo import DEMO_PASSWORD, DEMO_STAFF
from hotline.models import ApiToken, Case, CaseEvent, Department, Staff
from hotline.web.auth import hash_token

SECRET = "cli-test-secret"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The SQLite file the commands use, set up through the environment; cwd is tmp_path."""
    path = tmp_path / "hotline.db"
    for name in ("HOTLINE_CONFIG", "HOTLINE_PORT", "HOTLINE_HOST", "HOTLINE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    return path


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, prog_name="hotline")


def assert_one_line_refusal(result: Result, *fragments: str) -> None:
    """Exit status 1, a single ``Error:`` line naming the problem, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, result.output)


def query(path: Path, statement: Any) -> list[Any]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    finally:
        engine.dispose()


def count(path: Path, model: Any) -> int:
    return query(path, select(func.count()).select_from(model))[0][0]


def raw_sql(path: Path, *statements: str) -> None:
    """Change the file behind the product's back, as someone with a database shell could."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        conn.close()


def upgraded(database: Path) -> Path:
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    return database


def add_department(database: Path, code: str) -> None:
    raw_sql(
        database,
        "INSERT INTO departments (code, name_zh, name_en, is_dispatch_center, phone, office) "
        f"VALUES ('{code}', '{code}', '{code}', 0, '', '')",
    )


# -- help ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["db"],
        ["db", "upgrade"],
        ["create-user"],
        ["demo"],
        ["serve"],
        ["audit"],
        ["audit", "verify"],
    ],
    ids=lambda words: " ".join(words) or "hotline",
)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_and_group_explains_itself_with_help(
    database: Path, command: list[str], flag: str
) -> None:
    result = run(*command, flag)

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(['hotline', *command])} ")
    assert not database.exists(), "asking for help must not touch the database"


def test_top_level_help_lists_every_command(database: Path) -> None:
    result = run("--help")

    listed = set(re.findall(r"^  (\S+)  ", result.output, re.M))
    assert {"db", "create-user", "demo", "serve", "audit"} <= listed, result.output


# -- db upgrade -----------------------------------------------------------------


def test_db_upgrade_creates_the_schema_in_the_configured_file(database: Path) -> None:
    result = run("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert str(database) in result.output
    engine = create_engine(f"sqlite:///{database}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"staff", "departments", "cases", "case_events", "alembic_version"} <= tables

    again = run("db", "upgrade")
    assert again.exit_code == 0, again.output


def test_commands_on_a_database_without_schema_say_to_run_db_upgrade(database: Path) -> None:
    result = run("create-user", "alice", "--role", "operator", "--password", "long-enough")

    assert_one_line_refusal(result, "hotline db upgrade")


# -- create-user ----------------------------------------------------------------


def test_create_user_makes_an_account_whose_password_logs_in(database: Path) -> None:
    upgraded(database)
    add_department(database, "DISPATCH")

    result = run(
        "create-user",
        "alice",
        "--role",
        "dispatcher",
        "--name",
        "李强",
        "--department",
        "DISPATCH",
        "--password",
        "long-enough",
    )

    assert result.exit_code == 0, result.output
    assert "created dispatcher 'alice'" in result.output
    assert "API token" not in result.output
    ((username, display_name, role, password_hash, department),) = query(
        database,
        select(Staff.username, Staff.display_name, Staff.role, Staff.password_hash, Department.code)
        .join(Department, Staff.department_id == Department.id)
        .where(Staff.username == "alice"),
    )
    assert (username, display_name, role, department) == ("alice", "李强", "dispatcher", "DISPATCH")
    assert check_password_hash(password_hash, "long-enough")
    assert not check_password_hash(password_hash, "wrong-password")

    app = create_app({"WTF_CSRF_ENABLED": False})
    try:
        login = app.test_client().post(
            "/login", data={"username": "alice", "password": "long-enough"}
        )
    finally:
        app.extensions["hotline.engine"].dispose()
    assert login.status_code == 302, login.get_data(as_text=True)


def test_create_user_asks_for_the_password_twice_when_not_given(database: Path) -> None:
    upgraded(database)

    result = run("create-user", "bob", "--role", "operator", input="typed-secret\ntyped-secret\n")

    assert result.exit_code == 0, result.output
    assert "typed-secret" not in result.output
    ((password_hash,),) = query(
        database, select(Staff.password_hash).where(Staff.username == "bob")
    )
    assert check_password_hash(password_hash, "typed-secret")


def test_create_user_with_token_prints_a_token_that_the_api_accepts(database: Path) -> None:
    upgraded(database)

    result = run(
        "create-user", "switch", "--role", "operator", "--password", "long-enough", "--token", "pbx"
    )

    assert result.exit_code == 0, result.output
    match = re.search(r"API token \(shown once\): (\S+)", result.output)
    assert match, result.output
    token = match.group(1)
    ((name, token_hash),) = query(database, select(ApiToken.name, ApiToken.token_hash))
    assert name == "pbx"
    assert token_hash == hash_token(token)
    assert token not in token_hash

    app = create_app()
    try:
        client = app.test_client()
        accepted = client.get("/api/cases", headers={"Authorization": f"Bearer {token}"})
        refused = client.get("/api/cases", headers={"Authorization": "Bearer hl_not-a-token"})
    finally:
        app.extensions["hotline.engine"].dispose()
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["taken", "--role", "crew", "--password", "long-enough"], ["username 'taken' is taken"]),
        (["newcomer", "--role", "crew", "--password", "short"], ["at least 8 characters"]),
        (
            ["newcomer", "--role", "crew", "--department", "NOWHERE", "--password", "long-enough"],
            ["'NOWHERE'", "REPAIR"],
        ),
    ],
    ids=["taken-username", "short-password", "unknown-department"],
)
def test_create_user_refuses_a_bad_account_in_one_line_and_writes_nothing(
    database: Path, args: list[str], fragments: list[str]
) -> None:
    upgraded(database)
    add_department(database, "REPAIR")
    first = run("create-user", "taken", "--role", "crew", "--password", "long-enough")
    assert first.exit_code == 0, first.output
    staff_before, tokens_before = count(database, Staff), count(database, ApiToken)

    result = run("create-user", *args)

    assert_one_line_refusal(result, *fragments)
    assert count(database, Staff) == staff_before
    assert count(database, ApiToken) == tokens_before


def test_create_user_rejects_an_unknown_role_as_wrong_usage(database: Path) -> None:
    upgraded(database)

    result = run("create-user", "eve", "--role", "mayor", "--password", "long-enough")

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "mayor" in result.output
    assert count(database, Staff) == 0


# -- demo -----------------------------------------------------------------------


def test_demo_loads_once_and_lists_every_demo_login(database: Path) -> None:
    first = run("demo")

    assert first.exit_code == 0, first.output
    assert "demo data ready" in first.output
    assert DEMO_PASSWORD in first.output
    for username, role, name, _department in DEMO_STAFF:
        assert re.search(
            rf"^\s+{re.escape(username)}\s+{role}\s+{re.escape(name)}$", first.output, re.M
        )
    staff, cases, events = count(database, Staff), count(database, Case), count(database, CaseEvent)
    assert staff == len(DEMO_STAFF)
    assert cases > 0 and events > cases

    second = run("demo")

    assert second.exit_code == 0, second.output
    assert "already present" in second.output
    for username, _role, _name, _department in DEMO_STAFF:
        assert username in second.output
    assert (count(database, Staff), count(database, Case), count(database, CaseEvent)) == (
        staff,
        cases,
        events,
    )


def test_demo_refuses_a_database_that_already_has_other_staff(database: Path) -> None:
    upgraded(database)
    created = run("create-user", "realuser", "--role", "admin", "--password", "long-enough")
    assert created.exit_code == 0, created.output

    result = run("demo")

    assert_one_line_refusal(result, "already has staff")
    assert count(database, Staff) == 1
    assert count(database, Case) == 0


def test_every_demo_login_has_the_printed_password(database: Path) -> None:
    assert run("demo").exit_code == 0
    hashes = dict(query(database, select(Staff.username, Staff.password_hash)))

    for username, _role, _name, _department in DEMO_STAFF:
        assert check_password_hash(hashes[username], DEMO_PASSWORD), username


# -- audit verify -----------------------------------------------------------------


@pytest.fixture
def demo_database(database: Path) -> Path:
    result = run("demo")
    assert result.exit_code == 0, result.output
    return database


def _case_with_events(database: Path, at_least: int) -> tuple[str, int]:
    """A demo case with at least ``at_least`` events: (its number, its last event's seq)."""
    rows = query(
        database,
        select(Case.number, func.max(CaseEvent.seq))
        .join(CaseEvent, CaseEvent.case_id == Case.id)
        .group_by(Case.number)
        .having(func.count(CaseEvent.id) >= at_least)
        .order_by(Case.number),
    )
    assert rows, f"the demo has no case with {at_least} events"
    return rows[0][0], rows[0][1]


def test_audit_verify_passes_on_the_demo_data(demo_database: Path) -> None:
    result = run("audit", "verify")

    assert result.exit_code == 0, result.output
    cases = count(demo_database, Case)
    assert f"ok: {cases} case(s)" in result.output


def test_audit_verify_checks_one_case_when_asked(demo_database: Path) -> None:
    number, _last = _case_with_events(demo_database, 1)

    result = run("audit", "verify", "--case", number)

    assert result.exit_code == 0, result.output
    assert "ok: 1 case(s)" in result.output


def test_audit_verify_names_the_case_and_event_whose_reason_was_edited(
    demo_database: Path,
) -> None:
    number, _last = _case_with_events(demo_database, 3)
    raw_sql(
        demo_database,
        "DROP TRIGGER case_events_no_update",
        "UPDATE case_events SET reason = '用户撤回投诉' "
        f"WHERE seq = 2 AND case_id = (SELECT id FROM cases WHERE number = '{number}')",
    )

    result = run("audit", "verify")

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    broken = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    assert broken == [f"BROKEN {number} event 2: content was changed after it was written"]
    assert "1 problem(s)" in result.stderr
    assert run("audit", "verify", "--case", number).exit_code == 1


@pytest.mark.parametrize("which", ["middle", "last"])
def test_audit_verify_fails_when_an_event_was_deleted(demo_database: Path, which: str) -> None:
    number, last = _case_with_events(demo_database, 3)
    seq = 2 if which == "middle" else last
    raw_sql(
        demo_database,
        "DROP TRIGGER case_events_no_delete",
        f"DELETE FROM case_events WHERE seq = {seq} "
        f"AND case_id = (SELECT id FROM cases WHERE number = '{number}')",
    )

    result = run("audit", "verify")

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    broken = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    assert broken, result.output
    assert all(line.startswith(f"BROKEN {number} ") for line in broken), broken
    if which == "middle":
        assert f"BROKEN {number} event {seq + 1}: expected event {seq}" in result.stdout
    else:
        assert f"BROKEN {number} head:" in result.stdout


def test_audit_verify_of_an_unknown_case_says_so(demo_database: Path) -> None:
    result = run("audit", "verify", "--case", "NO-SUCH")

    assert_one_line_refusal(result, "NO-SUCH")


def test_the_event_log_triggers_stop_edits_made_through_sqlite(demo_database: Path) -> None:
    for statement in ("UPDATE case_events SET reason = 'x'", "DELETE FROM case_events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw_sql(demo_database, statement)
    assert run("audit", "verify").exit_code == 0


# -- settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["serve"], ["db", "upgrade"], ["demo"], ["audit", "verify"], ["create-user", "x"]],
    ids=lambda words: " ".join(words),
)
def test_a_bad_setting_is_one_line_naming_it(
    database: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("HOTLINE_PORT", "abc")
    args = (
        [*command, "--role", "crew", "--password", "long-enough"]
        if command[0] == "create-user"
        else command
    )

    result = run(*args)

    assert_one_line_refusal(result, "HOTLINE_PORT", "'abc'")
    assert not database.exists()
