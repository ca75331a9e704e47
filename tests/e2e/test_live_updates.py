"""Live updates over real Socket.IO connections, and through Redis between processes.

A dispatcher's browser is played by python-socketio's client, logged in with
the session cookie of a real login. The Redis test plays the separate
scheduler process with a write-only Socket.IO emitter on the same Redis.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio
from flask_socketio import SocketIO

from hotline.app import create_app
from hotline.cli import upgrade_database
from tests.conftest import FakeClock, service_missing
from tests.e2e.server import LiveServer
from tests.integration.pagehelp import csrf_from
from tests.support import PASSWORD, Org, seed_org

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    """The test Redis, after checking that it answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    return REDIS_URL


def _serve(tmp_path: Path, message_queue: str = "") -> Iterator[tuple[LiveServer, Org]]:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade_database(url)
    app = create_app(
        {
            "database_url": url,
            "secret_key": "live-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "socketio_message_queue": message_queue,
        },
        clock=FakeClock(),
    )
    org = seed_org(app.extensions["hotline"])
    with LiveServer(app) as server:
        yield server, org
    app.extensions["hotline.engine"].dispose()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Org]]:
    yield from _serve(tmp_path)


@pytest.fixture
def live_on_redis(tmp_path: Path, redis_url: str) -> Iterator[tuple[LiveServer, Org]]:
    yield from _serve(tmp_path, redis_url)


class Listener:
    """A logged-in browser's live connection, collecting the events it is sent."""

    def __init__(self, server: LiveServer, username: str | None) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("case", self._on_case, namespace="/live")
        headers = {}
        if username is not None:
            web = requests.Session()
            token = csrf_from(web.get(server.url + "/login").text)
            web.post(
                server.url + "/login",
                data={"username": username, "password": PASSWORD, "csrf_token": token},
                allow_redirects=False,
            )
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in web.cookies.items())
        self.client.connect(server.url, namespaces=["/live"], headers=headers, wait_timeout=5)

    def _on_case(self, payload: dict[str, Any]) -> None:
        self.events.append(payload)
        self.arrived.set()

    def wait_for(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first event ``predicate`` accepts, waiting up to ``timeout`` seconds."""
        for _ in range(int(timeout * 10)):
            for event in self.events:
                if predicate(event):
                    return event
            self.arrived.wait(0.1)
            self.arrived.clear()
        raise AssertionError(f"no matching event in {timeout}s; got {self.events}")

    def close(self) -> None:
        self.client.disconnect()


def _intake(server: LiveServer, token: str) -> str:
    response = requests.post(
        server.url + "/api/contacts",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "phone",
            "outcome": "dispatch",
            "category": "leak",
            "problem": "路边冒水",
            "need": "维修",
            "address": "禹城市汉槐街 18 号",
            "contact_phone": "13805341234",
            "triage": "utility",
            "read_back_confirmed": True,
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["case_number"]


def test_a_new_case_reaches_the_dispatchers_browser_live(live):
    server, org = live
    dispatcher = Listener(server, "dispatcher")
    try:
        number = _intake(server, org.tokens["operator"])
        event = dispatcher.wait_for(lambda e: e.get("case") == number)
        assert event["state"] == "with_dispatch"
    finally:
        dispatcher.close()


def test_the_first_responder_is_told_of_every_step_live(live):
    """G7: the owner's browser hears of changes made by others."""
    server, org = live
    number = _intake(server, org.tokens["operator"])
    owner = Listener(server, "operator")
    try:
        version = requests.get(
            f"{server.url}/api/cases/{number}",
            headers={"Authorization": f"Bearer {org.tokens['dispatcher']}"},
            timeout=10,
        ).json()["version"]
        response = requests.post(
            f"{server.url}/api/cases/{number}/actions",
            headers={"Authorization": f"Bearer {org.tokens['dispatcher']}"},
            json={
                "action": "assign",
                "version": version,
                "department_id": org.departments["REPAIR"],
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        event = owner.wait_for(lambda e: e.get("case") == number and e.get("action") == "assign")
        assert event["state"] == "assigned"
    finally:
        owner.close()


def test_a_browser_that_is_not_logged_in_cannot_listen(live):
    server, _ = live
    with pytest.raises(socketio.exceptions.ConnectionError):
        Listener(server, None)


@pytest.mark.redis
def test_an_event_from_another_process_reaches_the_browser_through_redis(live_on_redis, redis_url):
    """With several processes, the scheduler's warnings reach browsers through Redis."""
    server, _ = live_on_redis
    dispatcher = Listener(server, "dispatcher")
    try:
        other_process = SocketIO(
            message_queue=redis_url
        )  # write-only, as `hotline scheduler` uses it
        marker = f"RY-TEST-{uuid.uuid4().hex[:8]}"
        other_process.emit(
            "case", {"case": marker, "action": "deadline_warning"}, to="dispatch", namespace="/live"
        )
        event = dispatcher.wait_for(lambda e: e.get("case") == marker)
        assert event["action"] == "deadline_warning"
    finally:
        dispatcher.close()
