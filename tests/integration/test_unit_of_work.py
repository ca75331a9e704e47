"""One unit of work per request, on SQLite and PostgreSQL.

* A request holds at most one database connection at a time, so a pool as
  large as the server's threads cannot deadlock (before: the reader session
  kept its connection while the service opened a second one; 15 requests in
  flight stalled a pool of 5 + 10 for 30 s and answered 500).
* A full pool answers 503 with ``Retry-After`` after a short wait, never 500.
* A push that fails after the commit leaves the change saved and reported as
  saved (before: 500 "not saved" while the case was in the database).
* ``Idempotency-Key``: a repeated command gets the first answer and writes
  nothing new, also when the two copies race each other.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.pool import NullPool

from hotline import db
from hotline.app import create_app, pool_size
from hotline.models import Case, CaseEvent, Contact, IdempotentRequest
from tests.conftest import FakeClock
from tests.e2e.server import LiveServer
from tests.support import LEAK_REPORT, Org, seed_org


def _make_app(
    db_url: str, tmp_path: Path, clock: FakeClock, publish: Any = None, **settings: Any
) -> Any:
    return create_app(
        {
            "database_url": db_url,
            "secret_key": "uow-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "scheduler_in_process": False,
            **settings,
        },
        clock=clock,
        publish=publish,
    )


@pytest.fixture
def small_pool_app(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    """The app with a pool of two connections and a one-second wait for one."""
    app = _make_app(db_url, tmp_path, clock, database_pool_size=2, database_pool_timeout_seconds=1)
    yield app
    app.extensions["hotline.engine"].dispose()


def _count(app: Any, model: Any, *where: Any) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _auth(org: Org, who: str = "operator", **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[who]}", **headers}


class CheckoutWatch:
    """Counts the connections each thread holds at once, at its worst."""

    def __init__(self, engine: Any) -> None:
        self.held: dict[int, int] = defaultdict(int)
        self.most: dict[int, int] = defaultdict(int)
        event.listen(engine, "checkout", self._out)
        event.listen(engine, "checkin", self._in)
        self.engine = engine

    def _out(self, *args: Any) -> None:
        me = threading.get_ident()
        self.held[me] += 1
        self.most[me] = max(self.most[me], self.held[me])

    def _in(self, *args: Any) -> None:
        self.held[threading.get_ident()] -= 1

    def worst(self) -> int:
        return max(self.most.values(), default=0)

    def reset(self) -> None:
        self.held.clear()
        self.most.clear()

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._out)
        event.remove(self.engine, "checkin", self._in)


def test_pool_size_follows_the_servers_threads() -> None:
    assert pool_size({"database_pool_size": 0}, {"HOTLINE_SERVER_THREADS": "8"}) == 11
    assert pool_size({"database_pool_size": 0}, {}) == 10
    assert pool_size({"database_pool_size": 4}, {"HOTLINE_SERVER_THREADS": "8"}) == 4


def test_a_request_holds_one_connection_at_a_time(app: Any, app_org: Org) -> None:
    watch = CheckoutWatch(app.extensions["hotline.engine"])
    try:
        client = app.test_client()
        response = client.post("/api/contacts", json=LEAK_REPORT, headers=_auth(app_org))
        assert response.status_code == 201, response.get_data(as_text=True)
        number = response.json["case_number"]
        assert watch.worst() == 1
        watch.reset()
        version = client.get(f"/api/cases/{number}", headers=_auth(app_org, "dispatcher")).json[
            "version"
        ]
        response = client.post(
            f"/api/cases/{number}/actions",
            json={
                "action": "assign",
                "version": version,
                "department_id": app_org.departments["REPAIR"],
            },
            headers=_auth(app_org, "dispatcher"),
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert watch.worst() == 1
    finally:
        watch.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgresql_the_caller_check_and_the_command_share_one_transaction(
    app: Any, app_org: Org
) -> None:
    """The token is read in the transaction that then writes the case: one
    checkout, one commit, one connection for the whole intake."""
    engine = app.extensions["hotline.engine"]
    seen: list[str] = []
    connections: set[int] = set()

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)
        connections.add(id(conn.connection.dbapi_connection))

    def on_checkout(*args: Any) -> None:
        seen.append("checkout")

    def on_commit(conn: Any) -> None:
        seen.append("commit")

    listeners = [
        ("before_cursor_execute", on_execute),
        ("checkout", on_checkout),
        ("commit", on_commit),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        response = app.test_client().post("/api/contacts", json=LEAK_REPORT, headers=_auth(app_org))
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert seen.count("checkout") == 1 and seen.count("commit") == 1, seen
    assert seen[0] == "checkout" and "FROM api_tokens" in seen[1] and seen[-1] == "commit"
    assert len(connections) == 1


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_after_the_database_drops_its_connections_one_request_answers_503_then_all_is_well(
    app: Any, app_org: Org
) -> None:
    """No ping before each checkout: a connection the server closed (a restart)
    costs one 503 with Retry-After, never a 500, and the pool reconnects."""
    client = app.test_client()
    assert client.get("/api/cases", headers=_auth(app_org)).status_code == 200
    url = app.extensions["hotline.engine"].url
    outsider = create_engine(url.render_as_string(hide_password=False), poolclass=NullPool)
    with outsider.connect() as conn:  # the app's pooled connections die; its pool is not told
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    outsider.dispose()
    statuses = []
    for _ in range(2):
        response = client.post("/api/contacts", json=LEAK_REPORT, headers=_auth(app_org))
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
            assert "try again" in response.json["message"]
    assert statuses == [503, 201], statuses
    assert _count(app, Case) == statuses.count(201)


def test_more_requests_than_connections_all_succeed(small_pool_app: Any) -> None:
    """Twelve intakes at once through a pool of two: none waits on itself, none is a 5xx."""
    org = seed_org(small_pool_app.extensions["hotline"])
    with LiveServer(small_pool_app) as server:

        def one(_: int) -> int:
            response = requests.post(
                server.url + "/api/contacts", json=LEAK_REPORT, headers=_auth(org), timeout=30
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(one, range(12)))
    assert all(status in (201, 503) for status in statuses), statuses
    assert _count(small_pool_app, Case) == statuses.count(201)
    assert statuses.count(201) >= 10, statuses


def test_a_full_pool_answers_503_with_retry_after(small_pool_app: Any) -> None:
    org = seed_org(small_pool_app.extensions["hotline"])
    engine = small_pool_app.extensions["hotline.engine"]
    held = [engine.connect(), engine.connect()]  # every connection of the pool is taken
    try:
        started = time.monotonic()
        response = small_pool_app.test_client().post(
            "/api/contacts", json=LEAK_REPORT, headers=_auth(org)
        )
        waited = time.monotonic() - started
    finally:
        for connection in held:
            connection.close()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert "try again" in response.json["message"]
    assert waited < 10
    assert _count(small_pool_app, Case) == 0


def test_a_push_that_fails_after_the_commit_leaves_the_change_saved(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    def broken_publish(payload: Any) -> None:
        raise ConnectionError("message queue down")

    app = _make_app(db_url, tmp_path, clock, publish=broken_publish)
    try:
        org = seed_org(app.extensions["hotline"])
        before = db.after_commit_failures["live update"]
        response = app.test_client().post("/api/contacts", json=LEAK_REPORT, headers=_auth(org))
        assert response.status_code == 201, response.get_data(as_text=True)
        number = response.json["case_number"]
        assert _count(app, Case, Case.number == number) == 1
        assert db.after_commit_failures["live update"] == before + 1
    finally:
        app.extensions["hotline.engine"].dispose()


def test_nothing_is_pushed_for_a_command_that_was_refused(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    pushed: list[Any] = []
    app = _make_app(db_url, tmp_path, clock, publish=pushed.append)
    try:
        org = seed_org(app.extensions["hotline"])
        client = app.test_client()
        key = str(uuid.uuid4())
        good = client.post(
            "/api/contacts", json=LEAK_REPORT, headers=_auth(org, **{"Idempotency-Key": key})
        )
        assert good.status_code == 201
        assert len(pushed) == 1  # pushed once the unit of work committed
        bad = client.post(
            "/api/contacts",
            json={**LEAK_REPORT, "address": ""},
            headers=_auth(org, **{"Idempotency-Key": str(uuid.uuid4())}),
        )
        assert bad.status_code == 422
        assert len(pushed) == 1
    finally:
        app.extensions["hotline.engine"].dispose()


# -- Idempotency-Key ----------------------------------------------------------------


def test_the_same_key_twice_answers_once_and_saves_once(app: Any, app_org: Org) -> None:
    client = app.test_client()
    headers = _auth(app_org, **{"Idempotency-Key": str(uuid.uuid4())})
    first = client.post("/api/contacts", json=LEAK_REPORT, headers=headers)
    second = client.post("/api/contacts", json=LEAK_REPORT, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(app, Case) == 1
    assert _count(app, Contact) == 1
    assert _count(app, IdempotentRequest) == 1
    # Without a key, the same body is a new contact.
    third = client.post("/api/contacts", json=LEAK_REPORT, headers=_auth(app_org))
    assert third.status_code == 201
    assert third.json["case_number"] != first.json["case_number"]


def test_a_key_reused_for_another_request_is_refused(app: Any, app_org: Org) -> None:
    client = app.test_client()
    headers = _auth(app_org, **{"Idempotency-Key": "order-7"})
    assert client.post("/api/contacts", json=LEAK_REPORT, headers=headers).status_code == 201
    other = client.post("/api/contacts", json={**LEAK_REPORT, "need": "换表"}, headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json["message"]
    assert _count(app, Case) == 1


def test_keys_belong_to_the_person_who_sent_them(app: Any, app_org: Org) -> None:
    client = app.test_client()
    key = {"Idempotency-Key": "shared-text"}
    one = client.post("/api/contacts", json=LEAK_REPORT, headers=_auth(app_org, **key))
    two = client.post(
        "/api/contacts", json=LEAK_REPORT, headers=_auth(app_org, "supervisor", **key)
    )
    assert one.status_code == two.status_code == 201
    assert one.json["case_number"] != two.json["case_number"]


def test_a_malformed_key_is_refused_naming_the_header(app: Any, app_org: Org) -> None:
    client = app.test_client()
    for key in ("", "x" * 201, "has space", "中文"):
        response = client.post(
            "/api/contacts",
            json=LEAK_REPORT,
            headers={
                "Authorization": f"Bearer {app_org.tokens['operator']}",
                "Idempotency-Key": key.encode().decode("latin-1"),
            },
        )
        assert response.status_code == 400, (key, response.get_data(as_text=True))
        assert response.json["field"] == "Idempotency-Key"
    assert _count(app, Case) == 0


def test_a_bad_token_with_a_key_is_401(app: Any, app_org: Org) -> None:
    response = app.test_client().post(
        "/api/contacts",
        json=LEAK_REPORT,
        headers={"Authorization": "Bearer nope", "Idempotency-Key": "k1"},
    )
    assert response.status_code == 401


def test_a_refused_command_is_not_kept_and_may_be_sent_again(app: Any, app_org: Org) -> None:
    client = app.test_client()
    headers = _auth(app_org, **{"Idempotency-Key": "retry-me"})
    refused = client.post("/api/contacts", json={**LEAK_REPORT, "problem": ""}, headers=headers)
    assert refused.status_code == 422
    assert _count(app, IdempotentRequest) == 0
    # The same key with the same (still bad) body is refused again, not replayed.
    again = client.post("/api/contacts", json={**LEAK_REPORT, "problem": ""}, headers=headers)
    assert again.status_code == 422
    assert "Idempotent-Replayed" not in again.headers


def test_a_repeated_case_action_moves_the_case_once(app: Any, app_org: Org) -> None:
    client = app.test_client()
    number = client.post("/api/contacts", json=LEAK_REPORT, headers=_auth(app_org)).json[
        "case_number"
    ]
    version = client.get(f"/api/cases/{number}", headers=_auth(app_org, "dispatcher")).json[
        "version"
    ]
    body = {"action": "assign", "version": version, "department_id": app_org.departments["REPAIR"]}
    headers = _auth(app_org, "dispatcher", **{"Idempotency-Key": "assign-1"})
    first = client.post(f"/api/cases/{number}/actions", json=body, headers=headers)
    second = client.post(f"/api/cases/{number}/actions", json=body, headers=headers)
    assert first.status_code == second.status_code == 200, first.get_data(as_text=True)
    assert first.json == second.json
    assert first.json["version"] == version + 1
    with app.extensions["hotline"].sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        events = session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id)
        )
    assert case.version == version + 1
    assert events == case.last_event_seq


def test_racing_copies_of_one_command_save_once(small_pool_app: Any) -> None:
    """Eight copies with one key at the same moment: one case, eight equal answers."""
    org = seed_org(small_pool_app.extensions["hotline"])
    headers = _auth(org, **{"Idempotency-Key": "burst-1"})
    with LiveServer(small_pool_app) as server:
        barrier = threading.Barrier(8)

        def one(_: int) -> tuple[int, Any]:
            barrier.wait()
            response = requests.post(
                server.url + "/api/contacts", json=LEAK_REPORT, headers=headers, timeout=30
            )
            return response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, range(8)))
    saved = [body for status, body in answers if status == 201]
    assert all(status in (201, 503) for status, _ in answers), answers
    assert saved and all(body == saved[0] for body in saved), answers
    assert _count(small_pool_app, Case) == 1
    assert _count(small_pool_app, IdempotentRequest) == 1


def test_an_unreachable_database_answers_503_not_500(tmp_path: Path, clock: FakeClock) -> None:
    """A database that refuses connections (down, or out of connection slots)."""
    app = _make_app(
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2", tmp_path, clock
    )
    try:
        response = app.test_client().get(
            "/api/cases", headers={"Authorization": "Bearer hl_anything"}
        )
    finally:
        app.extensions["hotline.engine"].dispose()
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"


def test_a_web_process_without_the_sweep_says_so_at_start(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    from dispatch.services.scheduler import announce_sweep_for_server

    lines: list[str] = []
    app = _make_app(db_url, tmp_path, clock)  # scheduler_in_process = false
    try:
        assert announce_sweep_for_server(app, echo=lines.append) is None
    finally:
        app.extensions["hotline.engine"].dispose()
    assert len(lines) == 1
    assert "hotline scheduler" in lines[0]


def test_health_counts_pushes_that_failed_after_the_commit(
    db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    def broken_publish(payload: Any) -> None:
        raise ConnectionError("message queue down")

    app = _make_app(db_url, tmp_path, clock, publish=broken_publish)
    try:
        org = seed_org(app.extensions["hotline"])
        client = app.test_client()
        before = client.get("/health").json["after_commit_failures"].get("live update", 0)
        assert client.post("/api/contacts", json=LEAK_REPORT, headers=_auth(org)).status_code == 201
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json["after_commit_failures"]["live update"] == before + 1
        assert "published" in health.json["live_updates"]
    finally:
        app.extensions["hotline.engine"].dispose()


def test_an_idempotent_command_looks_its_token_up_once(app: Any, app_org: Org) -> None:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = app.extensions["hotline.engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = app.test_client().post(
            "/api/contacts",
            json=LEAK_REPORT,
            headers=_auth(app_org, **{"Idempotency-Key": "k-once"}),
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 201
    assert sum("FROM api_tokens" in statement for statement in seen) == 1
