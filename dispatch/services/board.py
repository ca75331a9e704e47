"""Reads for the dispatch board (调度大屏): how many cases are in each state."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.models import Case


def state_counts(session: Session, states: Iterable[str]) -> dict[str, int]:
    """How many cases are in each of ``states`` (one grouped query; absent states left out)."""
    rows = session.execute(
        select(Case.state, func.count()).where(Case.state.in_(list(states))).group_by(Case.state)
    )
    return {state: number for state, number in rows}
