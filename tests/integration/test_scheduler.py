"""Running the sweep: the embedded scheduler, leadership, and a hot standby that
takes over when the leading scheduler process dies (PostgreSQL advisory lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from dispatch.services import scheduler as dispatch_scheduler
from dispatch.services.leadership import LEADER_LOCK, AdvisoryLockLeadership
from dispatch.services.scheduler import SweepRunner
from hotline import services
from hotline.models import Case, CaseEvent
from hotline.settings import SettingsError
from tests.conftest import FakeClock
from tests.support import intake_command

PROJECT = Path(__file__).resolve().parents[2]


def wait_for(
    condition: Callable[[], bool], timeout: float = 30, what: str | Callable[[], str] = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    described = what() if callable(what) else what
    pytest.fail(f"timed out after {timeout} s waiting for {described or condition}")


def escalations(svc, number: str) -> int:
    with svc.sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.number == number, CaseEvent.action == "deadline_escalated")
        )


def overdue_leak(svc, org) -> str:
    """A leak reported 40 minutes ago (real time): its 15-minute dispatch limit is past."""
    past = replace(svc, clock=FakeClock(datetime.now(UTC) - timedelta(minutes=40)))
    return services.intake(past, org["operator"], intake_command()).case_number


# -- the embedded scheduler ---------------------------------------------------------------


def test_the_app_factory_never_starts_the_scheduler_by_itself(app):
    assert app.extensions[dispatch_scheduler.SCHEDULER_KEY] is None


@pytest.mark.parametrize(
    ("setting", "value"),
    [("sweep_interval_seconds", 0), ("sweep_interval_seconds", "30"), ("scheduler_in_process", 1)],
)
def test_a_bad_scheduler_setting_stops_start_up_naming_it(tmp_path, setting, value):
    from hotline.app import create_app

    with pytest.raises(SettingsError, match=setting):
        create_app(
            {
                "database_url": f"sqlite:///{tmp_path / 'x.db'}",
                "secret_key": "x",
                setting: value,
                "INSTANCE_PATH": str(tmp_path / "instance"),
            }
        )


@pytest.fixture
def fast_app(db_url: str, clock: FakeClock, tmp_path: Path):
    from hotline.app import create_app

    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "sweep_interval_seconds": 1,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
        },
        clock=clock,
        publish=lambda payload: None,
    )
    yield app
    running = app.extensions.get(dispatch_scheduler.SCHEDULER_KEY)
    if running is not None and running.running:
        running.shutdown(wait=True)
    app.extensions["hotline.engine"].dispose()


def test_the_embedded_scheduler_sweeps_in_the_web_process_when_asked(fast_app, clock, db_url):
    from tests.support import seed_org

    svc = fast_app.extensions["hotline"]
    org = seed_org(svc)
    number = services.intake(svc, org["operator"], intake_command()).case_number
    clock.advance(minutes=20)  # the 15-minute dispatch limit has passed
    lines: list[str] = []
    running = dispatch_scheduler.start_in_process(fast_app, echo=lines.append)
    assert running is not None and running.running
    assert dispatch_scheduler.start_in_process(fast_app) is None  # one per process
    wait_for(lambda: escalations(svc, number) == 1, what="the escalation")
    running.shutdown(wait=True)
    assert escalations(svc, number) == 1
    assert any("every 1 s" in line for line in lines)
    if db_url.startswith("postgresql"):
        assert lock_holder(db_url) is None  # stopping gave the lead up at once


def test_the_embedded_scheduler_stays_off_when_the_setting_says_so(tmp_path, sqlite_url):
    from hotline.app import create_app

    app = create_app(
        {
            "database_url": sqlite_url,
            "secret_key": "x",
            "scheduler_in_process": False,
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    assert dispatch_scheduler.start_in_process(app) is None
    app.extensions["hotline.engine"].dispose()


# -- leadership ------------------------------------------------------------------------------


class FakeLeadership:
    description = "a test lock"

    def __init__(self) -> None:
        self.free = True
        self.released = False

    def hold(self) -> bool:
        return self.free

    def release(self) -> None:
        self.released = True


def test_the_runner_sweeps_only_while_leading_and_says_when_that_changes(svc, org, clock):
    lead = FakeLeadership()
    lead.free = False
    lines: list[str] = []
    took_lead: list[bool] = []
    runner = SweepRunner(svc, lead, echo=lines.append, on_lead=lambda: took_lead.append(True))
    assert runner.check_lead() is False and runner.sweep_if_leading() is None
    lead.free = True
    assert runner.check_lead() is True and took_lead == [True]
    assert runner.sweep_if_leading() is not None
    lead.free = False
    runner.check_lead()
    runner.stop()
    said = [line.split(";")[0] for line in lines if line.startswith("scheduler:")]
    assert said == [
        "scheduler: standing by",
        "scheduler: leading (a test lock)",
        "scheduler: lost the lead",
    ]
    assert lead.released


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_one_advisory_lock_one_leader_and_a_lost_connection_loses_the_lead(db_url):
    first = AdvisoryLockLeadership(db_url, application_name="test-first")
    second = AdvisoryLockLeadership(db_url, application_name="test-second")
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        assert first.hold() is True
        assert first.hold() is True  # keeping it
        assert second.hold() is False
        with admin.connect() as conn:  # the leader's session dies (server restart, lost host)
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'test-first' AND datname = current_database()"
                )
            )
        wait_for(lambda: second.hold(), timeout=10, what="the standby to take the lock")
        assert first.hold() is False  # it notices and stands by
        second.release()
        assert first.hold() is True
    finally:
        first.release()
        second.release()
        admin.dispose()


# -- the standby takes over (real processes) ------------------------------------------------


class Scheduler:
    """A ``hotline scheduler`` process whose output lines are collected."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(
            HOTLINE_DATABASE_URL=db_url,
            HOTLINE_INSTANCE=str(workdir / "instance"),
            HOTLINE_SECRET_KEY="scheduler-test",
            HOTLINE_SCHEDULER_IN_PROCESS="false",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(PROJECT),
        )
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hotline.cli",
                "scheduler",
                "--interval",
                "1",
                "--standby-retry",
                "0.5",
            ],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def said(self, fragment: str) -> bool:
        return any(fragment in line for line in self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    yield started
    for process in started:
        process.stop()


def lock_holder(db_url: str) -> str | None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT a.application_name FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :key "
                    "AND a.datname = current_database()"  # not another run's on the server
                ),
                {"key": LEADER_LOCK},
            )
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_standby_scheduler_takes_over_and_sweeps_when_the_leader_dies(
    db_url, svc, org, tmp_path, schedulers
):
    first = Scheduler(db_url, tmp_path)
    schedulers.append(first)
    wait_for(
        lambda: first.said("scheduler: leading"), what=lambda: f"the first to lead: {first.lines}"
    )
    second = Scheduler(db_url, tmp_path)
    schedulers.append(second)
    wait_for(
        lambda: second.said("standing by"), what=lambda: f"the second to stand by: {second.lines}"
    )
    assert str(first.process.pid) in (lock_holder(db_url) or "")

    before = overdue_leak(svc, org)
    wait_for(lambda: escalations(svc, before) == 1, what="the leader's sweep")
    time.sleep(1.5)  # a few more sweeps by either process would show as doubles
    assert not second.said("sweep at"), second.lines
    assert not second.said("scheduler: leading")

    first.process.send_signal(signal.SIGKILL)  # no goodbye: the server frees the lock
    first.process.wait(timeout=10)
    after = overdue_leak(svc, org)
    wait_for(
        lambda: second.said("scheduler: leading"), what=lambda: f"the takeover: {second.lines}"
    )
    wait_for(lambda: escalations(svc, after) == 1, what="the new leader's sweep")
    assert str(second.process.pid) in (lock_holder(db_url) or "")

    time.sleep(1.5)
    assert (escalations(svc, before), escalations(svc, after)) == (1, 1)  # exactly once
    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(timeout=15) == 0
    wait_for(lambda: second.said("scheduler: stopped"), timeout=5, what="a clean stop")
    assert lock_holder(db_url) is None
