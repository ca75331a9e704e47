"""Outage notices for the public (P8): what people without a login may read.

Only what the notice says to everyone: the notice's number, area, reason,
start, expected end, planned or not, and the temporary water supply points.
Nothing of who published it, the street keywords used to match callers'
addresses, or cancelled notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models import Outage


@dataclass(frozen=True)
class PublicOutage:
    """One outage notice as the public sees it."""

    id: int
    area: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    planned: bool
    supply_points: str
    published_at: datetime

    def under_way(self, now: datetime) -> bool:
        """Whether the outage has started and not yet ended at ``now``."""
        return self.starts_at <= now <= self.ends_at


def public_outages(session: Session, now: datetime) -> list[PublicOutage]:
    """Outages under way or coming at ``now`` (not cancelled, not ended), by start."""
    rows = session.execute(
        select(
            Outage.id,
            Outage.area,
            Outage.reason,
            Outage.starts_at,
            Outage.ends_at,
            Outage.planned,
            Outage.supply_points,
            Outage.published_at,
        )
        .where(Outage.ends_at >= now, Outage.cancelled_at.is_(None))
        .order_by(Outage.starts_at, Outage.id)
    )
    return [
        PublicOutage(
            id=row.id,
            area=row.area,
            reason=row.reason,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            planned=bool(row.planned),
            supply_points=row.supply_points or "",
            published_at=row.published_at,
        )
        for row in rows
    ]
