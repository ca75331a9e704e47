"""Reads for the dispatch board (调度大屏): column sizes, unseen marks, the side panel.

The columns come from :mod:`dispatch.domain.board`. Reads only; the caller
owns the session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.domain.board import COLUMN_KEYS, MARKED_ACTIONS, board_states, column_of, crew_state
from dispatch.models import DutyAlarm
from dispatch.services import duty, outages
from hotline.domain.taxonomy import Role
from hotline.models import Case, CaseEvent, CaseSeen, Outage, Staff
from hotline.services import incidents
from hotline.services.incidents import IncidentFacts

#: Who opening a case clears its mark on the board: the dispatch center's people.
_BOARD_ROLES = (Role.DISPATCHER, Role.SUPERVISOR)
#: The open incidents the side panel lists, newest first.
PANEL_INCIDENTS = 20


def state_counts(session: Session, states: Iterable[str]) -> dict[str, int]:
    """How many cases are in each of ``states`` (one grouped query; absent states left out)."""
    rows = session.execute(
        select(Case.state, func.count()).where(Case.state.in_(list(states))).group_by(Case.state)
    )
    return {str(state): number for state, number in rows}


def column_counts(session: Session) -> dict[str, int]:
    """How many cases each column of the board holds (one grouped query)."""
    counts = dict.fromkeys(COLUMN_KEYS, 0)
    for state, number in state_counts(session, [str(s) for s in board_states()]).items():
        key = column_of(state)
        if key is not None:
            counts[key] += number
    return counts


def unseen_marks(session: Session, cases: Sequence[Case]) -> dict[int, str]:
    """``cases`` new or escalated since anyone of the dispatch center opened them.

    Maps each marked case's id to the action of its latest marking event
    (:data:`MARKED_ACTIONS`): the case is marked while that event is later
    than every read mark of the dispatch center's people (two queries).
    """
    ids = [case.id for case in cases]
    if not ids:
        return {}
    latest: dict[int, tuple[int, str]] = {}
    for case_id, seq, action in session.execute(
        select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.action).where(
            CaseEvent.case_id.in_(ids), CaseEvent.action.in_(sorted(MARKED_ACTIONS))
        )
    ):
        if case_id not in latest or seq > latest[case_id][0]:
            latest[case_id] = (seq, action)
    seen = dict(
        session.execute(
            select(CaseSeen.case_id, func.max(CaseSeen.seen_seq))
            .join(Staff, Staff.id == CaseSeen.staff_id)
            .where(CaseSeen.case_id.in_(ids), Staff.role.in_(_BOARD_ROLES))
            .group_by(CaseSeen.case_id)
        ).all()
    )
    return {
        case_id: action
        for case_id, (seq, action) in latest.items()
        if seq > (seen.get(case_id) or 0)
    }


def decision_reason(session: Session, case: Case) -> CaseEvent | None:
    """The event that brought the case to its present state, if it gave a reason.

    Beside the buttons that settle it: why the crew handed the work back (G7),
    why it asks for more time (F11).
    """
    event = session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.to_state == str(case.state))
        .where(CaseEvent.from_state != CaseEvent.to_state)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    ).first()
    return event if event is not None and event.reason.strip() else None


# -- the side panel ----------------------------------------------------------------------


@dataclass(frozen=True)
class CrewRow:
    """One crew member on the side panel: what they are doing and how many open cases they hold."""

    staff: Staff
    state: str
    open_cases: int
    by_column: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Panel:
    """The board's side panel: crews, who is on duty, this hour's alarms, outages, incidents."""

    crews: list[CrewRow]
    on_duty: list[Staff]
    alarms: list[DutyAlarm]
    outages: list[Outage]
    now: datetime
    incidents: list[IncidentFacts] = field(default_factory=list)

    @property
    def unattended(self) -> bool:
        """P1: nobody is on duty in the dispatch center right now."""
        return not self.on_duty


def crews(session: Session) -> list[CrewRow]:
    """Active crew members by department and name, with the open cases in their hands."""
    people = list(
        session.scalars(
            select(Staff)
            .where(Staff.role == Role.CREW, Staff.active.is_(True))
            .order_by(Staff.department_id, Staff.display_name)
        )
    )
    held: dict[int, list[str]] = {}
    if people:
        rows = session.execute(
            select(Case.handler_staff_id, Case.state).where(
                Case.handler_staff_id.in_([p.id for p in people]),
                Case.state.in_([str(s) for s in board_states()]),
            )
        )
        for staff_id, state in rows:
            held.setdefault(staff_id, []).append(str(state))
    out = []
    for person in people:
        states = held.get(person.id, [])
        by_column: dict[str, int] = {}
        for state in states:
            key = column_of(state) or ""
            by_column[key] = by_column.get(key, 0) + 1
        out.append(CrewRow(person, crew_state(states), len(states), by_column))
    return out


def side_panel(session: Session, now: datetime, tz: ZoneInfo) -> Panel:
    """What the side panel shows at ``now`` (``tz``: the clock hour of the duty check, P1)."""
    start, end = duty.clock_hour(now, tz)
    return Panel(
        crews=crews(session),
        on_duty=duty.on_duty(session, now),
        alarms=duty.alarms_between(session, start, end),
        outages=outages.listed_since(session, now),
        now=now,
        incidents=incidents.open_incidents(session, limit=PANEL_INCIDENTS),
    )
