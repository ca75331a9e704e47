"""Running the deadline sweep on a schedule (APScheduler 3), with exactly one leader.

Two ways to run it (``docs/scheduler.md``):

* **embedded** (the default for the SQLite first run and the demo): with the
  setting ``scheduler_in_process = true``, ``hotline serve`` starts a
  ``BackgroundScheduler`` in the web process (:func:`start_in_process`);
* **its own process**: ``hotline scheduler`` runs a ``BlockingScheduler``
  (:func:`run_scheduler`). Against PostgreSQL any number may run: the one that
  holds the advisory lock :data:`LEADER_LOCK` on a dedicated connection sweeps;
  the others are hot standbys that try for the lock every few seconds and take
  over within that time once the leader's connection is gone (process killed,
  machine lost: the server ends the session and the lock with it).

Each scheduler keeps its jobs in memory; nothing is shared between processes
but the database. The sweep itself is exactly-once whoever runs it, so a
second leader for a moment (or a second embedded scheduler on SQLite) costs
only repeated reads, never a doubled warning or escalation.
"""

from __future__ import annotations

import atexit
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from dispatch.services.leadership import (
    Leadership,
    leader_seen,
    leadership_for,
)
from dispatch.services.sweep import SweepReport, sweep
from hotline.services import Services
from hotline.settings import SettingsError

log = logging.getLogger(__name__)

DEFAULT_STANDBY_RETRY = 5.0
"""Seconds between a standby's attempts to take the lead (and the leader's health checks)."""

Echo = Callable[[str], None]


# -- settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerSettings:
    """The scheduler's settings from ``config/hotline.toml`` (or ``HOTLINE_*``)."""

    in_process: bool
    interval: float
    #: Minutes between two seals of the case history (0: only by hand).
    anchor_minutes: int = 10

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> SchedulerSettings:
        """Read and check the settings; raises :class:`SettingsError` naming the key."""
        in_process = settings.get("scheduler_in_process", True)
        if not isinstance(in_process, bool):
            raise SettingsError(
                f"setting 'scheduler_in_process': expected true or false, got {in_process!r}"
            )
        interval = settings.get("sweep_interval_seconds", 30)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise SettingsError(
                "setting 'sweep_interval_seconds': expected a whole number of seconds, "
                f"at least 1, got {interval!r}"
            )
        anchor = settings.get("audit_anchor_minutes", 10)
        if isinstance(anchor, bool) or not isinstance(anchor, int) or anchor < 0:
            raise SettingsError(
                "setting 'audit_anchor_minutes': expected a whole number of minutes "
                f"(0: never), got {anchor!r}"
            )
        return cls(in_process=in_process, interval=float(interval), anchor_minutes=anchor)


# -- the jobs ---------------------------------------------------------------------------


class SweepRunner:
    """The two jobs: keep (or take) the lead, and sweep while leading.

    ``echo`` receives one line per change of leadership and per sweep that
    recorded something; ``on_lead`` is called when this process takes the lead
    (the scheduler uses it to sweep at once: catch-up after downtime).
    """

    def __init__(
        self,
        svc: Services,
        leadership: Leadership,
        *,
        echo: Echo | None = None,
        on_lead: Callable[[], None] | None = None,
    ) -> None:
        self.svc = svc
        self.leadership = leadership
        self.echo = echo or (lambda line: log.info("%s", line))
        self.on_lead = on_lead
        #: Seals the case history; returns a line to print, or None (set by the wiring).
        self.anchor: Callable[[], str | None] | None = None
        #: Other areas' jobs run on the sweep's interval while leading
        #: (``app.extensions[JOBS_KEY]``: id and a function returning a line or None).
        self.jobs: list[tuple[str, Callable[[], str | None]]] = []
        self.leading = False
        self._checked = False
        self._stopped = False

    def check_lead(self) -> bool:
        """Take or keep the lead; say so when it changes. Never after :meth:`stop`."""
        if self._stopped:
            return False
        first = not self._checked
        self._checked = True
        was, self.leading = self.leading, self.leadership.hold()
        if first and not self.leading:
            self.echo("scheduler: standing by; another scheduler leads")
        if self.leading and not was:
            self.echo(f"scheduler: leading ({self.leadership.description}); sweeping")
            if self.on_lead is not None:
                self.on_lead()
        elif was and not self.leading:
            self.echo("scheduler: lost the lead; standing by")
        return self.leading

    def sweep_if_leading(self) -> SweepReport | None:
        """One sweep, if this process leads; a failure is reported and retried next time."""
        if not self.leading:
            return None
        try:
            report = sweep(self.svc)
        except SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
            self.echo(f"scheduler: sweep failed, retrying next time: {' '.join(first)}")
            return None
        if report.acted:
            self.echo(str(report))
        return report

    def anchor_if_leading(self) -> None:
        """Seal the case history (``hotline.services.audit.anchor``) if this process leads.

        A refusal (the history was tampered with) is reported on every run
        until someone looks; nothing is sealed over it.
        """
        if not self.leading or self.anchor is None:
            return
        try:
            line = self.anchor()
        except SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
            self.echo(f"scheduler: audit anchor failed, retrying next time: {' '.join(first)}")
            return
        if line:
            self.echo(line)

    def job_if_leading(self, job: Callable[[], str | None]) -> None:
        """Run another area's job if this process leads; a failure is reported, never raised."""
        if not self.leading:
            return
        try:
            line = job()
        except Exception as exc:  # the next run tries again; the scheduler keeps going
            log.exception("scheduler job failed")
            self.echo(f"scheduler: job failed, retrying next time: {exc}")
            return
        if line:
            self.echo(line)

    def stop(self) -> None:
        """Give up the lead for good (the scheduler is shutting down)."""
        self._stopped = True
        self.leading = False
        self.leadership.release()


def build_scheduler(
    scheduler_cls: type[BaseScheduler],
    runner: SweepRunner,
    *,
    interval: float,
    standby_retry: float,
    timezone: ZoneInfo,
    anchor_minutes: int = 0,
) -> BaseScheduler:
    """A scheduler with the lead job (due at once) and the sweep job (due at once
    whenever this process takes the lead, then every ``interval`` seconds).

    Each job runs one at a time (``max_instances=1``); runs missed while the
    process was busy collapse into one (``coalesce``) and still run however
    late (``misfire_grace_time=None``): the sweep catches up by itself.
    """
    scheduler = scheduler_cls(
        timezone=timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    now = datetime.now(timezone)
    scheduler.add_job(
        runner.check_lead, "interval", seconds=standby_retry, id="lead", next_run_time=now
    )
    # The first sweep runs as soon as the lead is taken (on_lead below).
    scheduler.add_job(runner.sweep_if_leading, "interval", seconds=interval, id="sweep")

    def sweep_now() -> None:
        scheduler.modify_job("sweep", next_run_time=datetime.now(timezone))

    for job_id, job in runner.jobs:
        scheduler.add_job(
            runner.job_if_leading, "interval", seconds=interval, id=job_id, args=[job]
        )
    if anchor_minutes:
        scheduler.add_job(
            runner.anchor_if_leading, "interval", minutes=anchor_minutes, id="audit-anchor"
        )
    runner.on_lead = sweep_now
    # Shutting the scheduler down gives the lead up at once, so a standby takes over.
    scheduler.add_listener(lambda event: runner.stop(), EVENT_SCHEDULER_SHUTDOWN)
    return scheduler


# -- wiring ------------------------------------------------------------------------------

SETTINGS_KEY = "dispatch.scheduler_settings"
SCHEDULER_KEY = "dispatch.scheduler"
#: Jobs other areas add (id, function): run on the sweep interval by the leader.
JOBS_KEY = "dispatch.scheduler_jobs"


def init_app(app: Flask) -> None:
    """Check the scheduler settings at start-up (raises :class:`SettingsError` naming
    the key); the scheduler itself starts only when serving (:func:`start_in_process`)."""
    app.extensions[SETTINGS_KEY] = SchedulerSettings.of(app.config["HOTLINE"])
    app.extensions[SCHEDULER_KEY] = None


def audit_anchorer(app: Flask) -> Callable[[], str | None]:
    """Seal the history with the installation's audit key: the scheduler's job.

    Says nothing when nothing changed; names every problem (and seals
    nothing) when the history was tampered with (``docs/audit.md``).
    """
    from pathlib import Path

    from hotline.services.audit import anchor
    from hotline.settings import audit_key

    key = audit_key(app.config["HOTLINE"], Path(app.instance_path))
    svc: Services = app.extensions["hotline"]
    prefix = app.config["HOTLINE"]["case_prefix"]

    def run() -> str | None:
        with svc.sessions() as session, session.begin():
            result = anchor(session, key, now=svc.now(), prefix=prefix)
        if result.problems:
            listed = "; ".join(str(problem) for problem in result.problems[:5])
            return (
                f"scheduler: AUDIT: {len(result.problems)} problem(s) in the case history, "
                f"nothing sealed (run 'hotline audit verify'): {listed}"
            )
        if result.written:
            return f"scheduler: audit anchor {result.seq} sealed {result.sealed} case head(s)"
        return None

    return run


def start_in_process(app: Flask, *, echo: Echo | None = None) -> BaseScheduler | None:
    """Start the sweep in this (web) process if ``scheduler_in_process`` is set.

    Returns the running ``BackgroundScheduler``, or ``None`` when the setting
    is off or it already runs. It stops with the process.
    """
    settings: SchedulerSettings = app.extensions[SETTINGS_KEY]
    if not settings.in_process or app.extensions.get(SCHEDULER_KEY) is not None:
        return None
    svc: Services = app.extensions["hotline"]
    runner = SweepRunner(svc, leadership_for(app.config["HOTLINE"]["database_url"]), echo=echo)
    runner.anchor = audit_anchorer(app) if settings.anchor_minutes else None
    runner.jobs = list(app.extensions.get(JOBS_KEY, []))
    scheduler = build_scheduler(
        BackgroundScheduler,
        runner,
        interval=settings.interval,
        standby_retry=min(DEFAULT_STANDBY_RETRY, settings.interval),
        timezone=svc.timezone,
        anchor_minutes=settings.anchor_minutes,
    )
    scheduler.start()
    app.extensions[SCHEDULER_KEY] = scheduler

    def stop() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)

    atexit.register(stop)
    if echo is not None:
        echo(f"deadline sweep runs in this process every {settings.interval:g} s")
    return scheduler


def announce_sweep_for_server(app: Flask, *, echo: Echo) -> BaseScheduler | None:
    """Under a production server: start the sweep in this process when
    ``scheduler_in_process`` is set; otherwise warn at start unless a separate
    ``hotline scheduler`` is seen leading."""
    settings: SchedulerSettings = app.extensions[SETTINGS_KEY]
    if settings.in_process:
        return start_in_process(app, echo=echo)
    if not leader_seen(app.config["HOTLINE"]["database_url"]):
        echo(
            "the deadline sweep does not run in this process (scheduler_in_process = false) "
            "and no 'hotline scheduler' is running: start one, or warnings and escalations "
            "will not go out"
        )
    return None


def sweep_once(app: Flask) -> SweepReport:
    """One sweep now, whoever leads (safe: every step is exactly-once)."""
    return sweep(app.extensions["hotline"])


def run_scheduler(
    app: Flask,
    *,
    interval: float | None = None,
    standby_retry: float = DEFAULT_STANDBY_RETRY,
    echo: Echo | None = None,
) -> None:
    """Lead or stand by, and sweep while leading, until SIGTERM, SIGINT or Ctrl+C.

    ``interval`` overrides ``sweep_interval_seconds``. The lead is given up
    on the way out so a standby takes over at once.
    """
    settings: SchedulerSettings = app.extensions[SETTINGS_KEY]
    svc: Services = app.extensions["hotline"]
    url = app.config["HOTLINE"]["database_url"]
    runner = SweepRunner(svc, leadership_for(url), echo=echo)
    runner.anchor = audit_anchorer(app) if settings.anchor_minutes else None
    runner.jobs = list(app.extensions.get(JOBS_KEY, []))
    every = interval or settings.interval
    scheduler = build_scheduler(
        BlockingScheduler,
        runner,
        interval=every,
        standby_retry=standby_retry,
        timezone=svc.timezone,
        anchor_minutes=settings.anchor_minutes,
    )

    def stop(signum: int, frame: Any) -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)

    previous = signal.signal(signal.SIGTERM, stop)
    runner.echo(
        f"scheduler: started (sweep every {every:g} s, lead checked every {standby_retry:g} s); "
        "waiting for the lead"
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        if scheduler.running:
            scheduler.shutdown(wait=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        runner.stop()  # in case start() itself failed; releasing twice is harmless
        runner.echo("scheduler: stopped")
