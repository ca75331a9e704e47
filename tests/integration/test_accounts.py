"""Staff accounts that can be closed, on SQLite and PostgreSQL.

* failed logins are throttled per user name and per client address (429 with
  Retry-After, in Chinese and English); unknown API tokens per address;
* an unknown or deactivated user name costs the same work as a wrong password;
* API tokens expire, can be revoked (command line and admin page) and listed,
  and are refused naming why;
* staff can be deactivated, activated and given a new password (command line
  and admin page), which ends their sessions at once;
* a login session ends at logout, even a copy of its cookie;
* Secure cookies by setting, and security headers on every response;
* the 0007 migration.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner, Result
from sqlalchemy import inspect, select, text

from hotline.app import create_app
from hotline.cli import alembic_config, main, upgrade_database
from hotline.db import Base, make_engine
from hotline.models import ApiToken, Staff
from hotline.services import accounts
from hotline.settings import SettingsError
from hotline.web import auth
from hotline.web.auth import AccountError, hash_token, issue_token
from tests.conftest import pg_temporary_database
from tests.integration.callhelp import CALLER
from tests.integration.pagehelp import csrf_from, csrf_token, forms_of, logged_in, login, text_of
from tests.support import PASSWORD

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CJK = re.compile(r"[\u4e00-\u9fff]")
NEW_PASSWORD = "brand-new-secret"


# -- helpers --------------------------------------------------------------------


def _flash(html: str, category: str = "error") -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", found).strip()
        for found in re.findall(rf'<p class="flash {category}"[^>]*>(.*?)</p>', html, re.S)
    ]


def _from(address: str) -> dict[str, str]:
    return {"REMOTE_ADDR": address}


def _login_from(client: Any, username: str, password: str, address: str = "127.0.0.1") -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base=_from(address),
    )


def _logged_in(client: Any) -> bool:
    """Whether the client's session opens a page that needs a login."""
    response = client.get("/")
    return not (response.status_code == 302 and "/login" in response.headers["Location"])


def _staff(app: Any, username: str) -> Staff:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(Staff).where(Staff.username == username))


def _tokens(app: Any, username: str | None = None) -> list[ApiToken]:
    with app.extensions["hotline"].sessions() as session:
        query = select(ApiToken).join(Staff).order_by(ApiToken.id)
        if username:
            query = query.where(Staff.username == username)
        return list(session.scalars(query))


def _api(client: Any, token: str, address: str = "127.0.0.1") -> Any:
    return client.get(
        "/api/cases", headers={"Authorization": f"Bearer {token}"}, environ_base=_from(address)
    )


def _admin_post(client: Any, path: str, **data: str) -> Any:
    token = csrf_from(text_of(client.get("/admin/staff")))
    return client.post(path, data={"csrf_token": token, **data})


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The command line pointed, through the environment, at the test database."""
    for name in ("HOTLINE_CONFIG", "HOTLINE_SESSION_COOKIE_SECURE", "HOTLINE_API_TOKEN_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "cli-instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "test-secret")
    monkeypatch.chdir(tmp_path)
    return db_url


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, prog_name="hotline")


def _one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, result.output)


# -- 1. login throttling ---------------------------------------------------------


def test_after_five_wrong_passwords_even_the_right_one_is_refused_with_429(client, app_org) -> None:
    for _attempt in range(5):
        assert login(client, "operator", "not-the-password").status_code == 401

    response = login(client, "operator")

    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 15 * 60
    (message,) = _flash(text_of(response))
    assert CJK.search(message), message
    assert "15" in message
    assert not _logged_in(client)


def test_fifty_wrong_passwords_then_the_right_one_is_refused(client, app_org) -> None:
    codes = [login(client, "crew", f"guess-{n}").status_code for n in range(50)]

    assert codes[:5] == [401] * 5
    assert set(codes[5:]) == {429}
    assert login(client, "crew").status_code == 429
    assert not _logged_in(client)


def test_the_throttle_message_is_english_after_the_switch(client, app_org) -> None:
    token = csrf_token(client, "/login")
    client.post("/lang/en", data={"csrf_token": token, "next": "/login"})
    for _attempt in range(5):
        login(client, "operator", "not-the-password")

    response = login(client, "operator")

    assert response.status_code == 429
    assert _flash(text_of(response)) == ["Too many failed logins; try again in 15 minutes."]


def test_the_user_limit_counts_the_name_whatever_the_address(app, app_org) -> None:
    for n in range(5):
        response = _login_from(app.test_client(), "Operator", "wrong-password", f"10.0.0.{n}")
        assert response.status_code == 401

    assert _login_from(app.test_client(), "operator", PASSWORD, "10.0.1.1").status_code == 429
    # Another person is not affected.
    assert _login_from(app.test_client(), "dispatcher", PASSWORD, "10.0.1.1").status_code == 302


def test_the_address_limit_counts_failures_under_any_name(app, app_org) -> None:
    attacker = app.test_client()
    for n in range(20):
        assert _login_from(attacker, f"nobody{n}", "wrong-password", "10.9.9.9").status_code == 401

    assert _login_from(attacker, "dispatcher", PASSWORD, "10.9.9.9").status_code == 429
    assert _login_from(app.test_client(), "dispatcher", PASSWORD, "10.9.9.10").status_code == 302


def test_only_failed_logins_count(client, app_org) -> None:
    for _attempt in range(25):
        assert login(client, "operator").status_code == 302
    for _attempt in range(5):
        assert login(client, "operator", "not-the-password").status_code == 401

    assert login(client, "operator").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(db_url, tmp_path, app_org) -> None:
    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "proxied"),
            "trusted_proxies": 1,
            "login_failures_per_address": "3 per 15 minutes",
        }
    )
    try:

        def attempt(forwarded_for: str, password: str) -> int:
            client = app.test_client()
            token = csrf_token(client, "/login")
            return client.post(
                "/login",
                data={"username": "operator", "password": password, "csrf_token": token},
                headers={"X-Forwarded-For": forwarded_for},
            ).status_code

        for _attempt in range(3):
            assert attempt("203.0.113.7", "wrong-password") == 401
        assert attempt("203.0.113.7", PASSWORD) == 429
        assert attempt("203.0.113.8", PASSWORD) == 302
    finally:
        app.extensions["hotline.engine"].dispose()


def test_unknown_api_tokens_are_throttled_per_address(client, app_org) -> None:
    for n in range(20):
        response = _api(client, f"hl_guess-{n}", "10.7.7.7")
        assert response.status_code == 401
        assert response.get_json()["message"] == "invalid API token"

    refused = _api(client, "hl_guess-20", "10.7.7.7")

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "too many" in refused.get_json()["message"]
    assert _api(client, "hl_guess-21", "10.7.7.8").status_code == 401
    # A known token is never held up by guesses from its address: only guessing is slowed.
    assert _api(client, app_org.tokens["operator"], "10.7.7.7").status_code == 200


def test_limits_and_storage_come_from_the_settings(db_url, tmp_path) -> None:
    assert auth.rate_limit_storage(
        {"rate_limit_storage_url": "", "socketio_message_queue": ""}
    ) == ("memory://")
    assert (
        auth.rate_limit_storage({"socketio_message_queue": "redis://q:6379/0"})
        == "redis://q:6379/0"
    )
    assert (
        auth.rate_limit_storage(
            {"rate_limit_storage_url": "memory://", "socketio_message_queue": "redis://q:6379/0"}
        )
        == "memory://"
    )
    with pytest.raises(SettingsError, match="login_failures_per_user"):
        create_app(
            {
                "database_url": db_url,
                "secret_key": "test-secret",
                "INSTANCE_PATH": str(tmp_path / "bad"),
                "login_failures_per_user": "five",
            }
        )


@pytest.mark.redis
def test_with_redis_every_process_shares_the_counts(db_url, tmp_path, app_org) -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not available at {REDIS_URL}: {exc}")
    apps = [
        create_app(
            {
                "database_url": db_url,
                "secret_key": "test-secret",
                "INSTANCE_PATH": str(tmp_path / f"process-{n}"),
                "rate_limit_storage_url": REDIS_URL,
            }
        )
        for n in range(2)
    ]
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    name = "x" + uuid.uuid4().hex[:12]  # unknown names count too, and are new to Redis
    try:
        for n in range(5):
            client = apps[n % 2].test_client()
            assert _login_from(client, name, "wrong-password", address).status_code == 401
        assert _login_from(apps[0].test_client(), name, "x", address).status_code == 429
        assert _login_from(apps[1].test_client(), name, "x", address).status_code == 429
    finally:
        for app in apps:
            app.extensions["hotline.engine"].dispose()


def test_an_unreachable_storage_still_throttles_in_the_process(db_url, tmp_path, app_org) -> None:
    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "no-redis"),
            "rate_limit_storage_url": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    )
    try:
        client = app.test_client()
        assert login(client, "dispatcher").status_code == 302
        for _attempt in range(5):
            assert login(app.test_client(), "operator", "wrong-password").status_code == 401
        assert login(app.test_client(), "operator").status_code == 429
    finally:
        app.extensions["hotline.engine"].dispose()


# -- 2. the same work for known and unknown names ---------------------------------


@pytest.fixture
def hash_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash checked by the login, in order."""
    checked: list[str] = []
    real = accounts.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return checked


def test_every_login_checks_exactly_one_password_hash(app, app_org, hash_checks) -> None:
    with app.extensions["hotline"].sessions() as session, session.begin():
        session.scalar(select(Staff).where(Staff.username == "crew")).active = False
    cases = {
        "unknown": ("nobody", "wrong-password", 401),
        "deactivated": ("crew", PASSWORD, 401),
        "wrong password": ("operator", "wrong-password", 401),
        "right password": ("operator", PASSWORD, 302),
    }
    checked = {}
    for case, (username, password, status) in cases.items():
        hash_checks.clear()
        assert login(app.test_client(), username, password).status_code == status, case
        checked[case] = list(hash_checks)

    assert {case: len(hashes) for case, hashes in checked.items()} == dict.fromkeys(cases, 1)
    # The stand-in hash is made the way real ones are, so it costs the same.
    method = accounts.PASSWORD_HASH_METHOD.split(":")[0]
    assert checked["unknown"][0].startswith(method)
    assert checked["deactivated"][0] == checked["unknown"][0]


# -- 3. API tokens: expiry, revocation, listing -------------------------------------


def test_a_token_expires_after_its_days_and_is_refused_naming_why(client, app, app_org, clock):
    (token,) = _tokens(app, "operator")
    assert token.expires_at == token.created_at + timedelta(days=365)
    assert _api(client, app_org.tokens["operator"]).status_code == 200

    clock.advance(days=366)

    response = _api(client, app_org.tokens["operator"])
    assert response.status_code == 401
    assert response.get_json()["message"] == "token expired"


def test_a_revoked_token_is_refused_naming_why(client, app, app_org) -> None:
    with app.extensions["hotline"].sessions() as session, session.begin():
        auth.revoke_tokens(
            session, now=app.extensions["hotline"].now(), token_id=_tokens(app, "dispatcher")[0].id
        )

    response = _api(client, app_org.tokens["dispatcher"])

    assert response.status_code == 401
    assert response.get_json()["message"] == "token revoked"


def test_issue_token_takes_its_days_and_refuses_none(app, app_org) -> None:
    wiring = app.extensions["hotline"]
    with wiring.sessions() as session, session.begin():
        staff = session.scalar(select(Staff).where(Staff.username == "crew"))
        issue_token(session, staff, "short", now=wiring.now(), days=7)
        with pytest.raises(AccountError):
            issue_token(session, staff, "never", now=wiring.now(), days=0)
    short = next(t for t in _tokens(app, "crew") if t.name == "short")
    assert short.expires_at == wiring.now() + timedelta(days=7)


def test_create_user_token_expires_after_the_days_asked(cli_env, app, app_org) -> None:
    result = run(
        "create-user", "switch", "--role", "operator", "--password", "long-enough",
        "--token", "pbx", "--expires-days", "30",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "expires in 30 days" in result.output
    (token,) = _tokens(app, "switch")
    assert token.expires_at - token.created_at == timedelta(days=30)


def test_token_list_issue_and_revoke_on_the_command_line(cli_env, app, app_org, client) -> None:
    issued = run("token", "issue", "pbx", "--user", "operator", "--expires-days", "10")
    assert issued.exit_code == 0, issued.output
    text = re.search(r"API token \(shown once\): (\S+)", issued.output).group(1)
    assert _api(client, text).status_code == 200

    listed = run("token", "list")
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if " pbx " in line]
    assert len(rows) == 1 and rows[0].rstrip().endswith("active"), listed.output
    assert len(listed.output.splitlines()) == 1 + len(_tokens(app))

    revoked = run("token", "revoke", "pbx", "--user", "operator")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked token" in revoked.output
    assert _api(client, text).get_json()["message"] == "token revoked"
    assert " pbx " not in run("token", "list").output
    assert re.search(r" pbx .*revoked", run("token", "list", "--all").output)

    by_id = _tokens(app, "crew")[0].id
    assert run("token", "revoke", "--id", str(by_id)).exit_code == 0
    assert _api(client, app_org.tokens["crew"]).get_json()["message"] == "token revoked"

    _one_line_error(run("token", "revoke", "--id", str(by_id)), f"no active token id {by_id}")
    _one_line_error(run("token", "revoke", "pbx", "--user", "nobody"), "no staff member 'nobody'")
    assert run("token", "revoke", "pbx").exit_code == 2  # neither --user nor --id


def test_token_list_shows_expired_tokens_only_with_all(cli_env, app, app_org) -> None:
    with app.extensions["hotline"].sessions() as session, session.begin():
        token = session.scalar(select(ApiToken).join(Staff).where(Staff.username == "supervisor"))
        token.expires_at = token.created_at - timedelta(days=1)

    assert re.search(r"supervisor .*expired", run("token", "list", "--all").output)
    assert "supervisor " not in run("token", "list").output


def test_the_admin_page_lists_and_revokes_tokens(client, app, app_org) -> None:
    logged_in(client, "admin")
    page = text_of(client.get("/admin/staff"))
    token = _tokens(app, "operator")[0]
    assert f'id="token-{token.id}"' in page

    response = _admin_post(client, f"/admin/tokens/{token.id}/revoke")

    assert response.status_code == 302
    assert _api(app.test_client(), app_org.tokens["operator"]).get_json()["message"] == (
        "token revoked"
    )
    assert f'id="token-{token.id}"' not in text_of(client.get("/admin/staff"))


# -- 4. deactivation and password reset ---------------------------------------------


def test_deactivation_on_the_command_line_ends_sessions_and_tokens(cli_env, app, app_org):
    operator = logged_in(app.test_client(), "operator")
    assert _logged_in(operator)

    result = run("staff", "deactivate", "operator")

    assert result.exit_code == 0, result.output
    assert "1 API token(s) revoked" in result.output
    assert not _logged_in(operator)
    assert login(app.test_client(), "operator").status_code == 401
    assert _api(app.test_client(), app_org.tokens["operator"]).status_code == 401
    assert "already deactivated" in run("staff", "deactivate", "operator").output

    assert run("staff", "activate", "operator").exit_code == 0
    assert login(app.test_client(), "operator").status_code == 302
    # Tokens revoked at deactivation stay revoked.
    assert _api(app.test_client(), app_org.tokens["operator"]).status_code == 401


def test_password_reset_on_the_command_line_asks_twice_and_ends_sessions(cli_env, app, app_org):
    crew = logged_in(app.test_client(), "crew")

    result = run("staff", "reset-password", "crew", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert not _logged_in(crew)
    assert login(app.test_client(), "crew").status_code == 401
    assert login(app.test_client(), "crew", NEW_PASSWORD).status_code == 302
    _one_line_error(
        run("staff", "reset-password", "crew", "--password", "short"), "at least 8 characters"
    )
    _one_line_error(run("staff", "activate", "nobody"), "no staff member 'nobody'")


def test_the_last_active_administrator_cannot_be_deactivated(app, app_org) -> None:
    wiring = app.extensions["hotline"]
    with wiring.sessions() as session, session.begin():
        admin = session.scalar(select(Staff).where(Staff.username == "admin"))
        with pytest.raises(AccountError, match="last active administrator"):
            auth.deactivate_staff(session, admin, now=wiring.now())


def test_the_admin_page_deactivates_activates_and_resets_passwords(client, app, app_org):
    operator = logged_in(app.test_client(), "operator")
    logged_in(client, "admin")
    staff_id = _staff(app, "operator").id
    page = text_of(client.get("/admin/staff"))
    actions = {form["attrs"].get("action") for form in forms_of(page)}
    assert f"/admin/staff/{staff_id}/deactivate" in actions
    assert f"/admin/staff/{staff_id}/password" in actions

    response = _admin_post(client, f"/admin/staff/{staff_id}/deactivate")
    assert response.status_code == 302
    assert not _staff(app, "operator").active
    assert not _logged_in(operator)
    assert _api(app.test_client(), app_org.tokens["operator"]).status_code == 401
    assert f"/admin/staff/{staff_id}/activate" in text_of(client.get("/admin/staff"))

    assert _admin_post(client, f"/admin/staff/{staff_id}/activate").status_code == 302
    operator = logged_in(app.test_client(), "operator")

    response = _admin_post(client, f"/admin/staff/{staff_id}/password", password=NEW_PASSWORD)
    assert response.status_code == 302
    assert not _logged_in(operator)
    assert login(app.test_client(), "operator", NEW_PASSWORD).status_code == 302
    assert _logged_in(client), "the administrator's own session goes on"

    short = _admin_post(client, f"/admin/staff/{staff_id}/password", password="short")
    assert short.status_code == 302
    assert _flash(text_of(client.get("/admin/staff")))


def test_an_administrator_cannot_deactivate_themselves_on_the_page(client, app, app_org):
    logged_in(client, "admin")
    admin_id = _staff(app, "admin").id

    _admin_post(client, f"/admin/staff/{admin_id}/deactivate")

    assert _staff(app, "admin").active
    assert _flash(text_of(client.get("/admin/staff")))


def test_resetting_ones_own_password_keeps_ones_session(client, app, app_org) -> None:
    logged_in(client, "admin")

    _admin_post(client, f"/admin/staff/{_staff(app, 'admin').id}/password", password=NEW_PASSWORD)

    assert _logged_in(client)
    assert login(app.test_client(), "admin", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "path",
    ["/admin/staff/{id}/deactivate", "/admin/staff/{id}/activate", "/admin/staff/{id}/password"],
)
def test_account_changes_are_for_administrators_with_a_csrf_token(client, app, app_org, path):
    target = path.format(id=_staff(app, "crew").id)
    supervisor = logged_in(app.test_client(), "supervisor")
    token = csrf_from(text_of(supervisor.get("/supervisor")))
    assert (
        supervisor.post(target, data={"csrf_token": token, "password": NEW_PASSWORD}).status_code
        == 403
    )

    logged_in(client, "admin")
    assert client.post(target, data={"password": NEW_PASSWORD}).status_code == 400
    assert _staff(app, "crew").active
    assert login(app.test_client(), "crew").status_code == 302
    revoke = f"/admin/tokens/{_tokens(app, 'crew')[0].id}/revoke"
    assert client.post(revoke).status_code == 400
    assert supervisor.post(revoke, data={"csrf_token": token}).status_code == 403


# -- 5. sessions end at logout --------------------------------------------------------


def test_a_cookie_copied_before_logout_no_longer_works_after_it(app, app_org) -> None:
    browser = logged_in(app.test_client(), "dispatcher")
    copied = browser.get_cookie("session").value
    assert browser.get("/dispatch").status_code == 200

    logout_token = csrf_from(text_of(browser.get("/dispatch")))
    assert browser.post("/logout", data={"csrf_token": logout_token}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/dispatch")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]

    # Logging in again works, and the copy stays dead.
    assert login(browser, "dispatcher").status_code == 302
    assert browser.get("/dispatch").status_code == 200
    assert thief.get("/dispatch").status_code == 302


def test_a_session_without_a_version_is_refused(app, app_org) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(_staff(app, "dispatcher").id)  # as kept before versions
        session["_fresh"] = True

    assert not _logged_in(client)


# -- 6. cookies and security headers ------------------------------------------------


def _set_cookie(response: Any) -> str:
    return "; ".join(response.headers.getlist("Set-Cookie"))


def test_cookies_are_secure_by_default_with_hsts(client, app_org) -> None:
    response = login(client, "operator")

    assert "Secure" in _set_cookie(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_secure_cookies_can_be_turned_off_for_plain_http(db_url, tmp_path, app_org) -> None:
    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "http"),
            "session_cookie_secure": False,
        }
    )
    try:
        assert not app.config["SESSION_COOKIE_SECURE"]
        assert not app.config["REMEMBER_COOKIE_SECURE"]
        response = login(app.test_client(), "operator")
        assert response.status_code == 302
        assert "Secure" not in _set_cookie(response)
        assert "Strict-Transport-Security" not in response.headers
    finally:
        app.extensions["hotline.engine"].dispose()


def test_the_demo_turns_secure_cookies_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hotline.cli as cli

    for name in ("HOTLINE_CONFIG", "HOTLINE_SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "demo-secret")
    monkeypatch.chdir(tmp_path)
    built: list[Any] = []
    real_app = cli._app

    def recording_app(overrides: dict[str, Any] | None = None) -> Any:
        built.append(real_app(overrides))
        return built[-1]

    monkeypatch.setattr(cli, "_app", recording_app)

    result = run("demo")

    assert result.exit_code == 0, result.output
    assert built and built[0].config["SESSION_COOKIE_SECURE"] is False
    built[0].extensions["hotline.engine"].dispose()


def _assert_security_headers(response: Any) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def _csp_hash(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def _assert_inline_code_allowed(response: Any) -> None:
    """Every inline script and event handler of the page is allowed by its CSP."""
    csp = response.headers["Content-Security-Policy"]
    page = text_of(response)
    for attributes, code in re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S):
        if "src=" in attributes or "application/json" in attributes or not code.strip():
            continue
        assert _csp_hash(code) in csp, f"inline script not allowed: {code[:80]!r}"
    for code in re.findall(r'\son[a-z]+="([^"]*)"', page):
        assert "'unsafe-hashes'" in csp and _csp_hash(code) in csp, code


def test_every_kind_of_response_has_the_security_headers(client, app_org) -> None:
    responses = [
        client.get("/login"),
        client.get("/static/hotline.css"),
        client.get("/no-such-page"),
        client.get("/api/cases"),
        _api(client, app_org.tokens["operator"]),
    ]
    logged_in(client, "admin")
    responses.append(client.get("/admin/staff"))
    for response in responses:
        _assert_security_headers(response)


def test_the_pages_inline_code_is_allowed_by_the_policy(client, app, app_org) -> None:
    operator = logged_in(client, "operator")
    pages = [operator.get(path) for path in ("/console", "/operator", "/outages", "/api/docs")]
    token = csrf_token(operator, "/simulator")
    placed = operator.post("/simulator", data={"from": CALLER, "csrf_token": token})
    simulator_page = operator.get(placed.headers["Location"])
    assert "<script>" in text_of(simulator_page)
    call_id = int(placed.headers["Location"].rsplit("/", 1)[1])
    console_token = csrf_from(text_of(operator.get("/console")))
    answered = operator.post(
        f"/api/calls/{call_id}/answer", json={}, headers={"X-CSRFToken": console_token}
    )
    assert answered.status_code == 200, text_of(answered)
    call_page = operator.get(f"/console/calls/{call_id}")
    assert "onsubmit=" in text_of(call_page)
    for response in [*pages, simulator_page, call_page]:
        assert response.status_code == 200, response.request.path
        _assert_security_headers(response)
        _assert_inline_code_allowed(response)


def test_the_live_update_origin_may_be_connected_to(db_url, tmp_path) -> None:
    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "live"),
            "live_url": "https://live.example.cn",
        }
    )
    try:
        csp = app.test_client().get("/login").headers["Content-Security-Policy"]
    finally:
        app.extensions["hotline.engine"].dispose()
    connect = next(part for part in csp.split("; ") if part.startswith("connect-src"))
    assert connect == "connect-src 'self' https://live.example.cn wss://live.example.cn"


def test_the_policy_is_self_only_without_inline_code() -> None:
    policy = auth.content_security_policy()
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "object-src 'none'" in policy


# -- 7. the migration ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    yield pg_temporary_database(request, "accounts_migrate")


def test_migration_0007_adds_versions_and_expiry_to_existing_rows(empty_url: str) -> None:
    upgrade_database(empty_url, "0006")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO staff (id, username, display_name, role, password_hash, active,"
                    " created_at) VALUES (1, 'old', 'old', 'operator', 'x', true, :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
            conn.execute(
                text(
                    "INSERT INTO api_tokens (staff_id, name, token_hash, created_at)"
                    " VALUES (1, 'legacy', :h, :t)"
                ),
                {"h": hash_token("hl_old"), "t": "2026-01-01 00:00:00"},
            )

        upgrade_database(empty_url, "0007")

        with engine.connect() as conn:
            assert conn.scalar(text("SELECT session_version FROM staff")) == 1
            assert (
                conn.scalar(text("SELECT count(*) FROM api_tokens WHERE expires_at IS NULL")) == 0
            )
            columns = {c["name"]: c for c in inspect(conn).get_columns("api_tokens")}
            assert columns["expires_at"]["nullable"] is False
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            # Only this revision's columns: later revisions may change other tables.
            mine = ("session_version", "expires_at")
            differences = compare_metadata(context, Base.metadata)
            assert [d for d in differences if any(name in repr(d) for name in mine)] == []
        with engine.connect() as conn:
            expires = conn.scalar(select(ApiToken.expires_at))
            created = conn.scalar(select(ApiToken.created_at))
        assert expires - created > timedelta(days=300)

        alembic_command.downgrade(alembic_config(empty_url), "0006")
        names = {c["name"] for c in inspect(engine).get_columns("api_tokens")}
        assert "expires_at" not in names
        assert "session_version" not in {c["name"] for c in inspect(engine).get_columns("staff")}
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM api_tokens")) == 1
    finally:
        engine.dispose()


def test_the_accounts_doc_names_every_setting() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "accounts.md").read_text("utf-8")
    config = (Path(__file__).resolve().parents[2] / "config" / "hotline.toml").read_text("utf-8")
    for key in (
        "session_cookie_secure",
        "login_failures_per_user",
        "login_failures_per_address",
        "api_token_failures_per_address",
        "rate_limit_storage_url",
        "trusted_proxies",
        "api_token_days",
    ):
        assert f"\n{key} = " in config, key
        assert f"`{key}`" in doc, key
    assert "hotline staff deactivate" in doc
