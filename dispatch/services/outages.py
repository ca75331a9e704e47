"""Outages and pressure drops (停水/降压通知, P8): publishing and who is affected.

A planned outage must be published ahead of time: 24 hours, or 48 hours when
it lasts over 12 hours (the common commitment in SEED-RULES' table). An
unplanned one (a burst) is published as soon as it is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain.errors import Rejected, words
from hotline.models import Outage

LONG_OUTAGE = timedelta(hours=12)
NOTICE = timedelta(hours=24)
LONG_NOTICE = timedelta(hours=48)


class OutageRefused(Rejected):
    """The outage notice breaks a rule; ``field`` names the input at fault.

    Its words are a template and its values, as a refusal's are (each template
    marked with :func:`~hotline.domain.errors.words` where it is raised).
    """

    def __init__(self, message: str, field: str, /, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


def required_notice(starts_at: datetime, ends_at: datetime) -> timedelta:
    """How far ahead a planned outage of this length must be published."""
    return LONG_NOTICE if ends_at - starts_at > LONG_OUTAGE else NOTICE


@dataclass(frozen=True)
class OutageNotice:
    """What the dispatcher publishes."""

    area: str
    area_keywords: Sequence[str]
    reason: str
    starts_at: datetime
    ends_at: datetime
    planned: bool = True
    #: Temporary water supply points (临时供水点); optional, prompted over 24 hours.
    supply_points: str = ""


def publish_outage(session: Session, notice: OutageNotice, *, by_id: int, now: datetime) -> Outage:
    """Record and publish an outage (the caller commits).

    Raises :class:`OutageRefused` for an empty area, an end before the start,
    or a planned outage published later than its notice period allows.
    """
    keywords = [k.strip() for k in notice.area_keywords if k.strip()]
    if not notice.area.strip():
        raise OutageRefused(words("name the area affected"), "area")
    if not keywords:
        raise OutageRefused(
            words("give at least one street, community or village name"), "area_keywords"
        )
    if not notice.reason.strip():
        raise OutageRefused(words("give the reason for the outage"), "reason")
    if notice.ends_at <= notice.starts_at:
        raise OutageRefused(words("the outage must end after it starts"), "ends_at")
    if notice.planned:
        needed = required_notice(notice.starts_at, notice.ends_at)
        if notice.starts_at - now < needed:
            hours = int(needed.total_seconds() // 3600)
            raise OutageRefused(
                words(
                    "a planned outage must be published at least %(hours)d hours"
                    " before it starts (P8)"
                ),
                "starts_at",
                hours=hours,
            )
    outage = Outage(
        planned=notice.planned,
        area=notice.area.strip(),
        area_keywords=" ".join(keywords),
        reason=notice.reason.strip(),
        starts_at=notice.starts_at,
        ends_at=notice.ends_at,
        published_at=now,
        created_by_id=by_id,
        supply_points=notice.supply_points.strip(),
    )
    session.add(outage)
    return outage


def listed_since(session: Session, since: datetime) -> list[Outage]:
    """Outages not cancelled that end at ``since`` or later, by start."""
    return list(
        session.scalars(
            select(Outage)
            .where(Outage.ends_at >= since, Outage.cancelled_at.is_(None))
            .order_by(Outage.starts_at)
        )
    )


def set_supply_points(session: Session, outage_id: int, supply_points: str) -> Outage:
    """Name (or change) an outage's temporary water supply points (the caller commits).

    Raises :class:`OutageRefused` for an unknown or cancelled outage.
    """
    outage = session.get(Outage, outage_id)
    if outage is None or outage.cancelled_at is not None:
        raise OutageRefused(words("no such outage notice"), "outage")
    outage.supply_points = supply_points.strip()
    return outage


def affects(outage: Outage, address: str) -> bool:
    """Whether ``address`` lies in the outage's area."""
    return any(keyword in address for keyword in outage.area_keywords.split())


def active_at(session: Session, address: str, now: datetime) -> list[Outage]:
    """Outages under way (or starting within a day) that cover ``address``."""
    rows = session.scalars(
        select(Outage).where(
            Outage.cancelled_at.is_(None),
            Outage.starts_at <= now + timedelta(days=1),
            Outage.ends_at >= now,
        )
    )
    return [outage for outage in rows if affects(outage, address)]
