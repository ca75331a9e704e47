"""The production server's plan and its watcher (no server is started)."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from hotline.server import Plan, ServerSettingsError, plan, run_production

SETTINGS = {
    "host": "127.0.0.1",
    "port": 8000,
    "web_workers": 4,
    "web_threads": 8,
    "live_threads": 1000,
    "socketio_message_queue": "redis://127.0.0.1:6379/0",
}


def test_the_plan_follows_the_settings_and_the_live_port_is_the_next_one() -> None:
    chosen = plan(SETTINGS)
    assert chosen == Plan("127.0.0.1:8000", "127.0.0.1:8001", 4, 8, 1000)
    web, live = chosen.web_options(), chosen.live_options()
    assert web["worker_class"] == live["worker_class"] == "gthread"
    assert (web["workers"], web["threads"]) == (4, 8)
    assert live["workers"] == 1  # one process keeps every browser's Socket.IO session
    assert live["threads"] == 1000
    assert live["worker_connections"] > live["threads"]


def test_the_command_line_wins_over_the_settings() -> None:
    chosen = plan(SETTINGS, bind="0.0.0.0:9000", live_bind="0.0.0.0:9500", workers=2, threads=3)
    assert (chosen.bind, chosen.live_bind, chosen.workers, chosen.threads) == (
        "0.0.0.0:9000",
        "0.0.0.0:9500",
        2,
        3,
    )


def test_production_needs_the_message_queue() -> None:
    with pytest.raises(ServerSettingsError, match="socketio_message_queue"):
        plan({**SETTINGS, "socketio_message_queue": ""})


@pytest.mark.parametrize("key", ["web_workers", "web_threads", "live_threads"])
@pytest.mark.parametrize("value", [0, -1, "4", True])
def test_sizes_must_be_whole_numbers_of_one_or_more(key: str, value: Any) -> None:
    with pytest.raises(ServerSettingsError, match=key):
        plan({**SETTINGS, key: value})


def test_a_bind_without_a_port_is_refused() -> None:
    with pytest.raises(ServerSettingsError, match="--bind"):
        plan(SETTINGS, bind="localhost")


class FakeChild:
    def __init__(self, name: str, dies_after: int | None) -> None:
        self.name, self.dies_after, self.polls = name, dies_after, 0
        self.returncode: int | None = None
        self.signals: list[int] = []

    def poll(self) -> int | None:
        self.polls += 1
        if self.returncode is None and self.dies_after is not None and self.polls > self.dies_after:
            self.returncode = 1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self.returncode = -sig

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode or 0

    def kill(self) -> None:
        self.returncode = -9


def test_when_one_process_kind_stops_the_other_is_stopped_and_the_status_is_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hotline.server.time.sleep", lambda seconds: None)
    children: list[FakeChild] = []

    def popen(command: list[str]) -> FakeChild:
        role = command[3]
        child = FakeChild(role, dies_after=2 if role == "live" else None)
        children.append(child)
        return child

    lines: list[str] = []
    status = run_production(plan(SETTINGS), echo=lines.append, popen=popen)
    assert status == 1
    web = next(c for c in children if c.name == "web")
    assert web.signals == [signal.SIGTERM]
    assert any("live process stopped" in line for line in lines)
