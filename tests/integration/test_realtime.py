"""Live updates inside the app: the emitter queue, the settings, the emit-only
web process, and the dispatch board's one-card route.

Real Socket.IO clients and Redis between processes are in
``tests/e2e/test_live_updates.py``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from dispatch.web import live
from hotline.domain.lifecycle import State
from hotline.settings import DEFAULT_CONFIG, SettingsError
from hotline.web import realtime
from hotline.web.realtime import socketio
from tests.conftest import FakeClock, service_missing
from tests.integration.pagehelp import logged_in, text_of
from tests.support import bring_case_to, seed_org

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Recorder:
    """Stands in for the Socket.IO emit: keeps what it was handed, optionally slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.sent: list[realtime._Event] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, event: realtime._Event) -> None:
        self.started.set()
        self.gate.wait(10)
        time.sleep(self.delay)
        self.sent.append(event)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """A fresh queued emitter for :func:`live.publish` that records instead of emitting."""
    record = Recorder()
    monkeypatch.setattr(realtime, "emitter", realtime.Emitter(send=record))
    return record


def _case(number: str = "RY-1", **extra: Any) -> dict[str, Any]:
    return {
        "case": number,
        "action": "assign",
        "handler_department_id": 1,
        "first_responder_id": 7,
        "version": 2,
        **extra,
    }


# -- publish and emit_to: one emit to the list of rooms, off the caller's thread -------


def test_a_case_change_is_one_emit_to_every_room_of_its_audience(recorder):
    live.publish(_case())

    assert realtime.flush(5)
    [event] = recorder.sent
    assert event.name == "case"
    assert event.rooms == ["dispatch", "dept:1", "staff:7"]
    assert event.payload == _case()


def test_emit_to_goes_through_the_same_queue(recorder):
    realtime.emit_to("operators", "incoming_call", {"call_id": 5})
    live.publish(_case(), event="deadline")

    assert realtime.flush(5)
    assert [(e.name, e.rooms) for e in recorder.sent] == [
        ("incoming_call", ["operators"]),
        ("deadline", ["dispatch", "dept:1", "staff:7"]),
    ]
    assert threading.current_thread().name != "live-emitter"


def test_publish_returns_at_once_however_slow_the_fan_out(recorder):
    recorder.delay = 0.3
    started = time.perf_counter()
    for number in range(3):
        live.publish(_case(f"RY-{number}"))
    took = time.perf_counter() - started

    assert took < 0.1
    assert realtime.stats()["delivered"] < 3
    assert realtime.flush(5)
    assert [e.payload["case"] for e in recorder.sent] == ["RY-0", "RY-1", "RY-2"]
    assert realtime.stats()["delivered"] == 3


def test_many_threads_publishing_while_another_flushes_lose_nothing(recorder):
    def publish_many(thread: int) -> None:
        for number in range(200):
            live.publish(_case(f"RY-{thread}-{number}"))

    publishers = [threading.Thread(target=publish_many, args=(n,)) for n in range(8)]
    for publisher in publishers:
        publisher.start()
    realtime.flush(0.01)  # a flush waiting meanwhile must not take the emitter's wake-up
    for publisher in publishers:
        publisher.join()

    assert realtime.flush(10)
    assert realtime.stats()["delivered"] == len(recorder.sent) == 1600
    for thread in range(8):  # each publisher's events in the order it published them
        mine = [
            e.payload["case"]
            for e in recorder.sent
            if e.payload["case"].startswith(f"RY-{thread}-")
        ]
        assert mine == [f"RY-{thread}-{number}" for number in range(200)]


def test_the_payload_is_copied_when_published(recorder):
    payload = _case()
    live.publish(payload)
    payload["state"] = "changed later"

    assert realtime.flush(5)
    assert "state" not in recorder.sent[0].payload


def test_a_failing_emit_is_logged_and_counted_and_never_reaches_the_caller(monkeypatch, caplog):
    calls: list[str] = []

    def send(event: realtime._Event) -> None:
        calls.append(event.payload["case"])
        if event.payload["case"] == "RY-BAD":
            raise ConnectionError("redis went away")

    monkeypatch.setattr(realtime, "emitter", realtime.Emitter(send=send))
    with caplog.at_level(logging.ERROR, logger="hotline.web.realtime"):
        live.publish(_case("RY-BAD"))
        live.publish(_case("RY-GOOD"))
        assert realtime.flush(5)

    assert calls == ["RY-BAD", "RY-GOOD"]
    stats = realtime.stats()
    assert (stats["published"], stats["delivered"], stats["failed"]) == (2, 1, 1)
    assert "could not emit 'case'" in caplog.text
    assert "redis went away" in caplog.text


def test_a_full_queue_drops_the_oldest_with_a_warning_and_a_count(caplog):
    record = Recorder()
    record.gate.clear()  # the first event holds the emitter
    emitter = realtime.Emitter(send=record, limit=3)
    with caplog.at_level(logging.WARNING, logger="hotline.web.realtime"):
        emitter.put(realtime._Event("case", ["dispatch"], {"case": "RY-0"}))
        assert record.started.wait(5)
        for number in range(1, 7):
            emitter.put(realtime._Event("case", ["dispatch"], {"case": f"RY-{number}"}))
        assert emitter.stats()["queued"] == 3
        assert emitter.flush(0.2) is False  # still held
        record.gate.set()
        assert emitter.flush(5)

    assert [e.payload["case"] for e in record.sent] == ["RY-0", "RY-4", "RY-5", "RY-6"]
    stats = emitter.stats()
    assert (stats["published"], stats["delivered"], stats["dropped"]) == (7, 4, 3)
    assert stats["queued"] == 0
    assert caplog.text.count("queue full") == 1  # one warning per interval, not one per drop


def test_the_emitter_thread_is_started_again_when_it_died(monkeypatch):
    class Fatal(BaseException):
        pass

    sent: list[str] = []

    def send(event: realtime._Event) -> None:
        if event.payload["case"] == "RY-FATAL":
            raise Fatal()
        sent.append(event.payload["case"])

    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    emitter = realtime.Emitter(send=send)
    emitter.put(realtime._Event("case", ["dispatch"], {"case": "RY-FATAL"}))
    assert emitter.flush(5)
    for _ in range(50):
        if not emitter.stats()["emitter_alive"]:
            break
        time.sleep(0.02)
    assert emitter.stats()["emitter_alive"] is False

    emitter.put(realtime._Event("case", ["dispatch"], {"case": "RY-AFTER"}))

    assert emitter.flush(5)
    assert sent == ["RY-AFTER"]
    assert emitter.stats()["emitter_alive"] is True


def test_stats_name_every_counter(recorder):
    live.publish(_case())
    realtime.flush(5)

    assert realtime.stats() == {
        "published": 1,
        "delivered": 1,
        "failed": 0,
        "dropped": 0,
        "queued": 0,
        "emitter_alive": True,
    }


def test_an_app_under_test_delivers_in_the_callers_thread(app, monkeypatch):
    """Flask-SocketIO's test client sees an event as soon as the request returns."""
    threads: list[str] = []
    monkeypatch.setattr(
        realtime.emitter, "send", lambda event: threads.append(threading.current_thread().name)
    )

    live.publish(_case())

    assert threads == [threading.current_thread().name]


# -- settings: live_url, live_cors_origins, HOTLINE_PROCESS_ROLE ---------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("https://live.example.cn", "https://live.example.cn"),
        ("https://live.example.cn/", "https://live.example.cn"),
        ("http://127.0.0.1:5001", "http://127.0.0.1:5001"),
    ],
)
def test_live_url_is_an_origin(value, expected):
    assert realtime.live_url(value) == expected


@pytest.mark.parametrize("value", ["live.example.cn", "https://live.example.cn/live", "ftp://x"])
def test_a_live_url_that_is_not_an_origin_is_refused_naming_the_key(value):
    with pytest.raises(SettingsError, match="'live_url'"):
        realtime.live_url(value)


def test_cors_origins_take_a_list_or_text_and_refuse_a_wildcard():
    assert realtime.cors_origins(["https://a.example.cn", "https://b.example.cn/"]) == (
        "https://a.example.cn",
        "https://b.example.cn",
    )
    assert realtime.cors_origins("https://a.example.cn, https://b.example.cn") == (
        "https://a.example.cn",
        "https://b.example.cn",
    )
    assert realtime.cors_origins([]) == ()
    with pytest.raises(SettingsError, match=r"'live_cors_origins'.*'\*' is refused"):
        realtime.cors_origins(["*"])
    with pytest.raises(SettingsError, match="'live_cors_origins'"):
        realtime.cors_origins(["a.example.cn"])


def test_the_process_role_is_nothing_web_or_live():
    assert realtime.process_role({}) == ""
    assert realtime.process_role({"HOTLINE_PROCESS_ROLE": "Web"}) == "web"
    assert realtime.process_role({"HOTLINE_PROCESS_ROLE": "live"}) == "live"
    with pytest.raises(SettingsError, match="HOTLINE_PROCESS_ROLE"):
        realtime.process_role({"HOTLINE_PROCESS_ROLE": "worker"})


def _config_with(tmp_path: Path, **values: Any) -> Path:
    """The shipped settings file with ``values`` set (added when the file lacks the key)."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    known = tomllib.loads(text)
    lines = []
    for key, value in values.items():
        rendered = json.dumps(value, ensure_ascii=False)
        if key in known:
            text = re.sub(rf"(?m)^{key}\s*=.*$", f"{key} = {rendered}", text)
        else:
            lines.append(f"{key} = {rendered}")
    path = tmp_path / "hotline.toml"
    path.write_text("\n".join(lines) + "\n" + text, encoding="utf-8")
    return path


def _make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: str = "", **settings: Any):
    from hotline.app import create_app
    from hotline.cli import upgrade_database

    monkeypatch.setenv("HOTLINE_CONFIG", str(_config_with(tmp_path, **settings)))
    if role:
        monkeypatch.setenv("HOTLINE_PROCESS_ROLE", role)
    else:
        monkeypatch.delenv("HOTLINE_PROCESS_ROLE", raising=False)
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade_database(url)
    app = create_app(
        {
            "database_url": url,
            "secret_key": "live-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SOCKETIO_CHANNEL": f"hotline-test-{uuid.uuid4().hex}",
        },
        clock=FakeClock(),
    )
    seed_org(app.extensions["hotline"])
    return app


@pytest.fixture
def made_apps() -> Any:
    apps: list[Any] = []
    yield apps
    realtime.flush(5)
    for app in apps:
        app.extensions["hotline.engine"].dispose()


def test_pages_connect_to_the_live_url_when_one_is_set(tmp_path, monkeypatch, made_apps):
    app = _make_app(tmp_path, monkeypatch, live_url="https://live.example.cn/")
    made_apps.append(app)

    html = text_of(logged_in(app.test_client(), "dispatcher").get("/dispatch"))

    assert 'data-url="https://live.example.cn"' in html
    assert app.extensions["hotline.live"].url == "https://live.example.cn"


def test_pages_connect_to_their_own_origin_by_default(tmp_path, monkeypatch, made_apps):
    app = _make_app(tmp_path, monkeypatch)
    made_apps.append(app)

    html = text_of(logged_in(app.test_client(), "dispatcher").get("/dispatch"))

    assert 'id="live-dot"' in html
    assert 'data-url=""' in html


def _handshake(client: Any, origin: str) -> Any:
    return client.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})


def test_the_live_process_accepts_the_listed_origins_with_credentials(
    tmp_path, monkeypatch, made_apps
):
    app = _make_app(
        tmp_path, monkeypatch, role="live", live_cors_origins="https://hotline.example.cn"
    )
    made_apps.append(app)
    client = app.test_client()

    allowed = _handshake(client, "https://hotline.example.cn")
    own = _handshake(client, "http://localhost")
    other = _handshake(client, "https://elsewhere.example.com")

    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://hotline.example.cn"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert own.status_code == 200
    assert other.status_code == 400


def test_without_listed_origins_only_the_pages_own_origin_may_connect(
    tmp_path, monkeypatch, made_apps
):
    app = _make_app(tmp_path, monkeypatch)
    made_apps.append(app)
    client = app.test_client()

    assert _handshake(client, "http://localhost").status_code == 200
    assert _handshake(client, "https://hotline.example.cn").status_code == 400


def test_a_web_process_refuses_live_connections_but_serves_pages(
    tmp_path, monkeypatch, made_apps, caplog
):
    with caplog.at_level(logging.WARNING, logger="hotline.web.realtime"):
        app = _make_app(tmp_path, monkeypatch, role="web")
    made_apps.append(app)
    client = app.test_client()

    refused = client.get("/socket.io/?EIO=4&transport=polling")
    page = logged_in(client, "dispatcher").get("/dispatch")

    assert refused.status_code == 404
    assert b"not served by this process" in refused.data
    assert page.status_code == 200
    assert not app.extensions["hotline.live"].serves_connections
    assert "without socketio_message_queue" in caplog.text
    assert "empty live_url" in caplog.text


@pytest.mark.redis
def test_a_web_process_still_emits_through_the_message_queue(tmp_path, monkeypatch, made_apps):
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.ping()
    except redis.RedisError as exc:
        service_missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    from hotline.app import create_app

    monkeypatch.setenv("HOTLINE_CONFIG", str(_config_with(tmp_path)))
    monkeypatch.setenv("HOTLINE_PROCESS_ROLE", "web")
    channel = f"hotline-test-{uuid.uuid4().hex}"
    subscriber = connection.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(channel)
    try:
        app = create_app(
            {
                "database_url": f"sqlite:///{tmp_path / 'hotline.db'}",
                "secret_key": "live-secret",
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "socketio_message_queue": REDIS_URL,
                "SOCKETIO_CHANNEL": channel,
            }
        )
        made_apps.append(app)
        live.publish(_case("RY-WEB"))
        assert realtime.flush(5)
        messages = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not messages:
            message = subscriber.get_message(timeout=0.5)
            if message and message["type"] == "message":
                messages.append(json.loads(message["data"]))
        time.sleep(0.2)
        while (message := subscriber.get_message(timeout=0.1)) is not None:
            messages.append(json.loads(message["data"]))
    finally:
        subscriber.close()
        connection.close()

    [message] = messages
    assert message["method"] == "emit"
    assert message["event"] == "case"
    assert message["namespace"] == "/live"
    assert message["room"] == ["dispatch", "dept:1", "staff:7"]
    assert message["data"] == [_case("RY-WEB")]


# -- the dispatch board: one card at a time ------------------------------------------------


def test_an_unknown_case_has_no_card(client, app_org):
    response = logged_in(client, "dispatcher").get("/dispatch/cards/RY-NOPE")

    assert response.status_code == 404
    assert response.get_json()["section"] is None


@pytest.mark.parametrize(("username", "status"), [("operator", 403), ("crew", 403)])
def test_cards_are_for_those_who_may_open_the_board(app, client, app_org, username, status):
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)

    assert logged_in(client, username).get(f"/dispatch/cards/{number}").status_code == status


def test_cards_are_open_to_supervisors_and_closed_to_visitors(app, client, app_org):
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)

    assert client.get(f"/dispatch/cards/{number}").status_code == 302
    assert logged_in(client, "supervisor").get(f"/dispatch/cards/{number}").status_code == 200


def test_an_open_screen_is_closed_when_its_login_ends(app, app_org):
    """Logout elsewhere, deactivation or a password reset ends the login: the
    live connection it opened is closed too, not left receiving cases."""
    from hotline.models import Staff
    from hotline.web.auth import deactivate_staff

    client = logged_in(app.test_client(), "dispatcher")
    other = logged_in(app.test_client(), "supervisor")
    screen = socketio.test_client(app, namespace="/live", flask_test_client=client)
    kept = socketio.test_client(app, namespace="/live", flask_test_client=other)
    assert screen.is_connected("/live") and kept.is_connected("/live")
    assert realtime.end_stale_connections(app) == 0
    svc = app.extensions["hotline"]
    with svc.sessions() as session, session.begin():
        staff = session.get(Staff, app_org["dispatcher"].id)
        deactivate_staff(session, staff, now=svc.now())
    assert realtime.end_stale_connections(app) == 1
    assert not screen.is_connected("/live")
    assert kept.is_connected("/live")
    kept.disconnect(namespace="/live")


def test_a_connection_its_server_no_longer_holds_is_forgotten_not_counted(app, app_org):
    """A connection left on record when its server stopped without a disconnect
    event (a restarted live process, a test server) is dropped from the record
    and not reported as closed."""
    from hotline.models import Staff
    from hotline.web.auth import deactivate_staff

    with realtime._connections_lock:
        realtime._connections["gone-sid"] = (app_org["dispatcher"].id, 0)
    svc = app.extensions["hotline"]
    with svc.sessions() as session, session.begin():
        staff = session.get(Staff, app_org["dispatcher"].id)
        deactivate_staff(session, staff, now=svc.now())

    assert realtime.end_stale_connections(app) == 0
    with realtime._connections_lock:
        assert "gone-sid" not in realtime._connections
