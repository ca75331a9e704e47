"""Live updates over real Socket.IO connections, and through Redis between processes.

A dispatcher's browser is played by python-socketio's client, logged in with
the session cookie of a real login. The Redis tests play the other processes:
the scheduler with a write-only Socket.IO emitter on the same Redis, and an
emit-only web process (``HOTLINE_PROCESS_ROLE=web``) run as a real second
Python process. Each test's server uses a Redis channel of its own, so runs
sharing the Redis never hear each other.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio
from flask_socketio import SocketIO
from playwright.sync_api import expect

from dispatch.web.live import audience
from hotline.app import create_app
from hotline.cli import upgrade_database
from hotline.domain.taxonomy import Role
from hotline.settings import DEFAULT_CONFIG, PROJECT_ROOT
from hotline.web import realtime
from tests.conftest import FakeClock, service_missing
from tests.e2e.browser import log_in
from tests.e2e.server import LiveServer
from tests.integration.pagehelp import csrf_from
from tests.support import PASSWORD, Org, seed_org

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Failed-login and unknown-token counts stay in each process: on the shared
#: test Redis another run's failures from 127.0.0.1 would throttle this one.
LOCAL_THROTTLE = {"HOTLINE_RATE_LIMIT_STORAGE_URL": "memory://"}


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test Redis, after checking that it answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    for name, value in LOCAL_THROTTLE.items():
        monkeypatch.setenv(name, value)
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
            "SOCKETIO_CHANNEL": f"hotline-test-{uuid.uuid4().hex}",
            "SESSION_COOKIE_SECURE": False,  # plain http on the loopback
        },
        clock=FakeClock(),
    )
    org = seed_org(app.extensions["hotline"])
    with LiveServer(app) as server:
        server.app = app
        server.database_url = url
        yield server, org
    realtime.flush(5)
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

    def settle(self, seconds: float = 0.5) -> None:
        """Give anything still on its way (a duplicate, say) time to arrive."""
        realtime.flush(5)
        time.sleep(seconds)

    def close(self) -> None:
        self.client.disconnect()


INTAKE = {
    "channel": "phone",
    "outcome": "dispatch",
    "category": "leak",
    "problem": "路边冒水",
    "need": "维修",
    "address": "禹城市汉槐街 18 号",
    "contact_phone": "13805341234",
    "triage": "utility",
    "read_back_confirmed": True,
}


def _intake(server: LiveServer, token: str) -> str:
    return _intake_at(server.url, token)


def _intake_at(url: str, token: str) -> str:
    response = requests.post(
        url + "/api/contacts",
        headers={"Authorization": f"Bearer {token}"},
        json=INTAKE,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["case_number"]


def _in_both_rooms(org: Org, event: dict[str, Any]) -> None:
    """The dispatcher listens in ``dispatch`` and in the room of the case's department."""
    dispatcher = org.actors["dispatcher"]
    rooms = realtime.rooms_for(Role.DISPATCHER, dispatcher.id, dispatcher.department_id)
    assert realtime.DISPATCH_ROOM in rooms
    assert event["handler_department_id"] == dispatcher.department_id
    assert f"dept:{event['handler_department_id']}" in rooms
    assert set(audience(event)) >= {"dispatch", f"dept:{dispatcher.department_id}"}


def test_a_new_case_reaches_the_dispatchers_browser_live(live):
    server, org = live
    dispatcher = Listener(server, "dispatcher")
    try:
        number = _intake(server, org.tokens["operator"])
        event = dispatcher.wait_for(lambda e: e.get("case") == number)
        assert event["state"] == "with_dispatch"
    finally:
        dispatcher.close()


def test_a_dispatcher_in_two_of_the_rooms_hears_each_change_once(live):
    server, org = live
    dispatcher = Listener(server, "dispatcher")
    try:
        numbers = [_intake(server, org.tokens["operator"]) for _ in range(3)]
        for number in numbers:
            dispatcher.wait_for(lambda e, n=number: e.get("case") == n)
        dispatcher.settle()

        _in_both_rooms(org, dispatcher.events[0])
        assert [e["case"] for e in dispatcher.events] == numbers
    finally:
        dispatcher.close()


def _assign(url: str, org: Org, number: str, department: str = "REPAIR") -> None:
    headers = {"Authorization": f"Bearer {org.tokens['dispatcher']}"}
    version = requests.get(f"{url}/api/cases/{number}", headers=headers, timeout=10).json()[
        "version"
    ]
    response = requests.post(
        f"{url}/api/cases/{number}/actions",
        headers=headers,
        json={"action": "assign", "version": version, "department_id": org.departments[department]},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_the_first_responder_is_told_of_every_step_live(live):
    """G7: the owner's browser hears of changes made by others."""
    server, org = live
    number = _intake(server, org.tokens["operator"])
    owner = Listener(server, "operator")
    try:
        _assign(server.url, org, number)
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
        other_process = SocketIO(  # write-only, as `hotline scheduler` uses it
            message_queue=redis_url, channel=server.app.config["SOCKETIO_CHANNEL"]
        )
        marker = f"RY-TEST-{uuid.uuid4().hex[:8]}"
        other_process.emit(
            "case", {"case": marker, "action": "deadline_warning"}, to="dispatch", namespace="/live"
        )
        event = dispatcher.wait_for(lambda e: e.get("case") == marker)
        assert event["action"] == "deadline_warning"
    finally:
        dispatcher.close()


#: The emit-only web process: takes one intake over HTTP (through the app,
#: commit and publish as in production) and reports as JSON.
WEB_PROCESS = r"""
import json, sys
from hotline.web import realtime
from hotline.app import create_app

url, instance, queue, channel, token, body = sys.argv[1:7]
app = create_app({
    "database_url": url, "secret_key": "live-secret", "INSTANCE_PATH": instance,
    "socketio_message_queue": queue, "SOCKETIO_CHANNEL": channel,
})
client = app.test_client()
socket_io = client.get("/socket.io/?EIO=4&transport=polling").status_code
response = client.post(
    "/api/contacts", headers={"Authorization": "Bearer " + token}, json=json.loads(body)
)
flushed = realtime.flush(10)
print(json.dumps({
    "socket_io": socket_io, "status": response.status_code,
    "case": (response.get_json() or {}).get("case_number"),
    "flushed": flushed, "stats": realtime.stats(),
}))
"""


def _run_web_process(server: LiveServer, org: Org, redis_url: str, tmp_path: Path) -> dict:
    environment = {**os.environ, "HOTLINE_PROCESS_ROLE": "web", "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            WEB_PROCESS,
            server.database_url,
            str(tmp_path / "web-instance"),
            redis_url,
            server.app.config["SOCKETIO_CHANNEL"],
            org.tokens["operator"],
            json.dumps(INTAKE),
        ],
        env=environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.redis
def test_a_change_in_an_emit_only_web_process_reaches_each_browser_once_through_redis(
    live_on_redis, redis_url, tmp_path
):
    """Production's split: the web process refuses sockets and emits; the live process serves."""
    server, org = live_on_redis
    dispatcher = Listener(server, "dispatcher")
    supervisor = Listener(server, "supervisor")
    try:
        report = _run_web_process(server, org, redis_url, tmp_path)

        assert report["socket_io"] == 404
        assert report["status"] == 201
        assert report["flushed"] is True
        assert report["stats"]["delivered"] == report["stats"]["published"] >= 1
        assert report["stats"]["failed"] == report["stats"]["dropped"] == 0
        number = report["case"]
        event = dispatcher.wait_for(lambda e: e.get("case") == number)
        supervisor.wait_for(lambda e: e.get("case") == number)
        dispatcher.settle()

        _in_both_rooms(org, event)
        assert [e["case"] for e in dispatcher.events] == [number]
        assert [e["case"] for e in supervisor.events] == [number]
    finally:
        dispatcher.close()
        supervisor.close()


@pytest.mark.redis
def test_a_dispatcher_in_two_rooms_hears_a_change_once_through_redis(live_on_redis):
    """The live process's own emits go through the queue too: still once per browser."""
    server, org = live_on_redis
    dispatcher = Listener(server, "dispatcher")
    try:
        number = _intake(server, org.tokens["operator"])
        event = dispatcher.wait_for(lambda e: e.get("case") == number)
        dispatcher.settle()

        _in_both_rooms(org, event)
        assert [e["case"] for e in dispatcher.events] == [number]
    finally:
        dispatcher.close()


def _config_with(folder: Path, **values: Any) -> Path:
    """The shipped settings file with ``values`` set (added when the file lacks the key)."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    known = tomllib.loads(text)
    added = []
    for key, value in values.items():
        rendered = json.dumps(value)
        if key in known:
            text = re.sub(rf"(?m)^{key}\s*=.*$", f"{key} = {rendered}", text)
        else:
            added.append(f"{key} = {rendered}")
    path = folder / "hotline.toml"
    path.write_text("\n".join(added) + "\n" + text, encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: The emit-only web process serving pages and the API on ``port`` until stopped.
WEB_SERVER = r"""
import sys
from werkzeug.serving import make_server
from hotline.app import create_app

url, instance, queue, channel, port = sys.argv[1:6]
app = create_app({
    "database_url": url, "secret_key": "live-secret", "INSTANCE_PATH": instance,
    "socketio_message_queue": queue, "SOCKETIO_CHANNEL": channel,
    "SESSION_COOKIE_SECURE": False,
})
server = make_server("127.0.0.1", int(port), app, threaded=True)
print("serving", flush=True)
server.serve_forever()
"""


@pytest.mark.browser
@pytest.mark.redis
def test_a_page_from_the_web_process_gets_live_updates_from_the_live_process(
    chromium, page, tmp_path, redis_url, monkeypatch
):
    """Production's split in a browser: pages and API from the emit-only web process,
    /socket.io/ from the live process on another origin (with the login cookie)."""
    web_origin = f"http://127.0.0.1:{_free_port()}"
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade_database(url)
    channel = f"hotline-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("HOTLINE_CONFIG", str(_config_with(tmp_path, live_cors_origins=web_origin)))
    monkeypatch.setenv("HOTLINE_PROCESS_ROLE", "live")
    live_app = create_app(
        {
            "database_url": url,
            "secret_key": "live-secret",
            "INSTANCE_PATH": str(tmp_path / "live"),
            "socketio_message_queue": redis_url,
            "SOCKETIO_CHANNEL": channel,
            "SESSION_COOKIE_SECURE": False,
        }
    )
    org = seed_org(live_app.extensions["hotline"])
    with LiveServer(live_app) as live_process:
        web_config = tmp_path / "web"
        web_config.mkdir()
        environment = {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "HOTLINE_PROCESS_ROLE": "web",
            "HOTLINE_CONFIG": str(_config_with(web_config, live_url=live_process.url)),
        }
        web_log = (tmp_path / "web.log").open("w")
        web = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WEB_SERVER,
                url,
                str(web_config / "instance"),
                redis_url,
                channel,
                web_origin.rsplit(":", 1)[1],
            ],
            env=environment,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=web_log,
            text=True,
        )
        try:
            assert web.stdout is not None
            assert web.stdout.readline().strip() == "serving", (tmp_path / "web.log").read_text()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            log_in(page, web_origin, "dispatcher")
            expect(page).to_have_url(f"{web_origin}/dispatch")
            expect(page.locator("#live-dot")).to_have_attribute("data-url", live_process.url)
            expect(page.locator("#live-dot.on")).to_be_attached()
            assert requests.get(f"{web_origin}/socket.io/?EIO=4", timeout=5).status_code == 404

            number = _intake_at(web_origin, org.tokens["operator"])

            row = page.locator(f"[data-cards=queue] .card[data-case='{number}']")
            expect(row).to_be_visible()
            live_ws = live_process.url.replace("http://", "ws://")
            assert sockets and all(s.startswith(live_ws) for s in sockets), sockets
        finally:
            web.terminate()
            web.wait(timeout=10)
            web.stdout.close()
            web_log.close()
    live_app.extensions["hotline.engine"].dispose()
