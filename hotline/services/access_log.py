"""The access log (W7): who saw a customer's whole personal data, and every export.

:func:`record` writes one row before the data is shown, in the request's one
session, and commits it; when it cannot be written it raises
:class:`AccessLogUnavailable` (503) and the data is not shown (fail closed).
:func:`search` reads the log for the supervisor's page, newest first. The
table refuses UPDATE and DELETE (``hotline.models.ACCESS_LOG_APPEND_ONLY_DDL``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hotline.domain.errors import ServiceError
from hotline.models import AccessLog
from hotline.services.context import Services

log = logging.getLogger(__name__)

#: What a row records a view of (the page's kind filter offers these).
KINDS: tuple[str, ...] = ("case", "call", "task", "customer", "crew_work", "export")
#: Column sizes of ``access_log``: longer text is cut, never refused.
REF_MAX, PATH_MAX, CLIENT_MAX = 300, 500, 64


class AccessLogUnavailable(ServiceError):
    """The view could not be logged, so the data is not shown (W7, fail closed)."""

    status = 503


def record(
    svc: Services,
    *,
    staff_id: int,
    kind: str,
    ref: str,
    path: str,
    client: str,
) -> None:
    """Write one row of the log and commit it, before the data it names is shown.

    Inside an open unit of work (a command that shows a case) the row joins
    it and commits with it. Raises :class:`AccessLogUnavailable` when the row
    cannot be written; nothing of the data may be shown then.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown access log kind {kind!r}")
    try:
        with svc.sessions() as session, session.begin():
            session.add(
                AccessLog(
                    at=svc.now(),
                    staff_id=staff_id,
                    kind=kind,
                    ref=ref[:REF_MAX],
                    path=path[:PATH_MAX],
                    client=(client or "")[:CLIENT_MAX],
                )
            )
            session.flush()  # inside a larger unit too: a failure shows here
    except SQLAlchemyError as exc:
        log.exception("the access log could not be written: %s %s not shown", kind, ref)
        raise AccessLogUnavailable(
            "the access log cannot be written just now, so personal data is not shown; "
            "try again in a moment",
            rule="W7",
        ) from exc


@dataclass(frozen=True)
class LogFilter:
    """What the log page asks for; every part optional. ``until`` is exclusive."""

    staff_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    ref: str | None = None


def search(
    session: Session, flt: LogFilter, *, page: int = 1, per_page: int = 50
) -> tuple[Sequence[AccessLog], int]:
    """The rows matching ``flt``, newest first, one page of them, and how many match."""
    query = select(AccessLog)
    if flt.staff_id is not None:
        query = query.where(AccessLog.staff_id == flt.staff_id)
    if flt.since is not None:
        query = query.where(AccessLog.at >= flt.since)
    if flt.until is not None:
        query = query.where(AccessLog.at < flt.until)
    if flt.kind:
        query = query.where(AccessLog.kind == flt.kind)
    if flt.ref:
        query = query.where(AccessLog.ref.contains(flt.ref, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AccessLog.at.desc(), AccessLog.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return rows, total


__all__ = ["KINDS", "AccessLogUnavailable", "LogFilter", "record", "search"]
