"""Outage rules without the database: when a long outage calls for supply points.

An outage lasting over 24 hours leaves people without water for more than a
day: the dispatcher is prompted to name temporary water supply points
(临时供水点), and the public notice shows them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: An outage longer than this calls for temporary water supply points.
SUPPLY_POINTS_AFTER = timedelta(hours=24)


def needs_supply_points(starts_at: datetime, ends_at: datetime) -> bool:
    """Whether an outage from ``starts_at`` to ``ends_at`` is long enough to need supply points."""
    return ends_at - starts_at > SUPPLY_POINTS_AFTER


def lacks_supply_points(starts_at: datetime, ends_at: datetime, supply_points: str | None) -> bool:
    """Whether the outage needs supply points and names none (the staff page's prompt)."""
    return needs_supply_points(starts_at, ends_at) and not (supply_points or "").strip()
