"""The 12345 platform's adapters: where reports back (签收, 回退, 延期申请, 答复) go.

Each city's 12345 platform differs, so the services speak to the port
:class:`hotline.domain.gov12345.Platform`. Shipped here:

* :class:`FileDropPlatform`: writes each report as a JSON file into the drop
  folder's ``reports/`` folder, for a platform that exchanges files;
* :class:`WebhookPlatform`: POSTs each report as JSON to the platform's
  address, signed with the shared secret (header
  :data:`~hotline.domain.gov12345.SIGNATURE_HEADER`, HMAC-SHA256 of the body);
* :class:`RecordingPlatform`: keeps the reports in memory (tests); it can
  be told to fail.

:func:`platform_from_settings` picks the first two from the settings
(``gov12345_report_url`` set: the webhook; else the file drop).
:func:`deliver` hands one report (a ``gov12345_reports`` row) to the
platform after the action's commit and records the outcome;
:func:`retry_reports` (the scheduled job) tries again those not taken.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db import after_commit_failures
from hotline.domain.gov12345 import (
    MAX_REPORT_ATTEMPTS,
    SIGNATURE_HEADER,
    Platform,
    Report,
    ReportKind,
    ReportStatus,
    signature,
)
from hotline.models import Gov12345Report
from hotline.services.context import Services

log = logging.getLogger(__name__)

#: Seconds a report POST may take before it counts as failed (and is retried).
WEBHOOK_TIMEOUT = 10.0


class PlatformError(RuntimeError):
    """The platform did not take a report; the message says why."""


class FileDropPlatform:
    """Reports as JSON files in ``folder`` (the drop folder's ``reports/``)."""

    name = "file_drop"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def report(self, report: Report) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = report.at.strftime("%Y%m%dT%H%M%S%f")
        target = self.folder / f"{report.order_number}-{report.kind}-{stamp}.json"
        partial = target.with_suffix(".json.part")
        partial.write_text(
            json.dumps(report.as_json(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        os.replace(partial, target)  # a reader never sees half a file


class WebhookPlatform:
    """Reports POSTed as signed JSON to the platform's ``url``."""

    name = "webhook"

    def __init__(self, url: str, secret: str, *, timeout: float = WEBHOOK_TIMEOUT) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout

    def report(self, report: Report) -> None:
        body = json.dumps(report.as_json(), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                SIGNATURE_HEADER: signature(self.secret, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except OSError as exc:  # refused, timed out, or an HTTP error status
            raise PlatformError(
                f"the platform at {self.url} did not take the report: {exc}"
            ) from exc
        if not 200 <= status < 300:
            raise PlatformError(f"the platform at {self.url} answered {status}")


class RecordingPlatform:
    """Keeps every report it is given; fails while ``failing`` is set."""

    name = "recording"

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.failing: str = ""

    def report(self, report: Report) -> None:
        if self.failing:
            raise PlatformError(self.failing)
        self.reports.append(report)


def platform_from_settings(settings: Mapping[str, Any], drop_folder: Path) -> Platform:
    """The webhook when ``gov12345_report_url`` is set, else ``reports/`` of the drop folder."""
    url = str(settings.get("gov12345_report_url") or "").strip()
    if url:
        return WebhookPlatform(url, str(settings.get("gov12345_secret") or ""))
    return FileDropPlatform(drop_folder / "reports")


# -- delivering reports ----------------------------------------------------------------

#: After-commit failures of reports back are counted under this name (``/health``).
REPORT_KIND = "12345 report"


def _fresh(svc: Services) -> Callable[[], Session]:
    """Sessions of their own: a report is recorded after the action's commit."""
    maker = getattr(svc.sessions, "maker", None)
    return maker if callable(maker) else svc.sessions


def deliver(svc: Services, platform: Platform, report_id: int) -> bool:
    """Hand one report to the platform and record the outcome; True when it was taken.

    A platform failure is recorded on the report (and retried later), logged
    and counted; it is never raised.
    """
    sessions = _fresh(svc)
    with sessions() as session:
        row = session.get(Gov12345Report, report_id)
        if row is None or row.status == ReportStatus.SENT:
            return False
        report = Report(
            ReportKind(row.kind), row.order.order_number, row.created_at, row.text, row.until
        )
    now = svc.now()
    error = ""
    try:
        platform.report(report)
    except Exception as exc:  # whatever the adapter raises, the action stays saved
        error = f"{type(exc).__name__}: {exc}"[:500]
        after_commit_failures[REPORT_KIND] += 1
        log.warning(
            "12345 report %s of order %s failed: %s", report.kind, report.order_number, error
        )
    with sessions() as session, session.begin():
        row = session.get(Gov12345Report, report_id)
        if row is None:
            return False
        row.attempts += 1
        row.last_attempt_at = now
        if error:
            row.status, row.last_error = ReportStatus.FAILED, error
        else:
            row.status, row.sent_at, row.last_error = ReportStatus.SENT, now, ""
    return not error


def retry_reports(
    svc: Services, platform: Platform, *, min_age: timedelta = timedelta(minutes=1)
) -> tuple[int, int]:
    """Try again every report not yet taken (older than ``min_age``, so one being
    delivered right after its commit is left alone), waiting longer after each
    failure; gives up after :data:`~hotline.domain.gov12345.MAX_REPORT_ATTEMPTS`.
    Returns (sent, still failing).
    """
    now = svc.now()
    with _fresh(svc)() as session:
        rows = session.scalars(
            select(Gov12345Report)
            .where(
                Gov12345Report.status.in_([ReportStatus.PENDING, ReportStatus.FAILED]),
                Gov12345Report.attempts < MAX_REPORT_ATTEMPTS,
                Gov12345Report.created_at <= now - min_age,
            )
            .order_by(Gov12345Report.id)
        ).all()
        due = [
            r.id
            for r in rows
            if r.last_attempt_at is None
            or r.last_attempt_at <= now - min(timedelta(minutes=2**r.attempts), timedelta(hours=1))
        ]
    sent = sum(1 for report_id in due if deliver(svc, platform, report_id))
    return sent, len(due) - sent


__all__ = [
    "REPORT_KIND",
    "FileDropPlatform",
    "PlatformError",
    "RecordingPlatform",
    "WebhookPlatform",
    "deliver",
    "platform_from_settings",
    "retry_reports",
]
