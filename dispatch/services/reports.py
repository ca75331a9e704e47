"""The supervisor's figures (接通率、按时办结率、回访率、满意率、一次解决率、重复来电率):
the queries that read the plain rows ``dispatch.domain.figures`` counts.

Read only; one session, no writes. Stage clocks are judged with
``dispatch.services.figures.verdict``, the same judgement as the
time-limit figures API. Definitions: ``docs/figures.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callflows.models import Call, CallStatus, Direction
from dispatch.domain.figures import (
    NEW_MATTER_DISPOSITIONS,
    REPEAT_WINDOW,
    CallRow,
    ContactRow,
    Figure,
    FigureTable,
    FollowUpRow,
    Frame,
    Group,
    Grouping,
    Rows,
    StageRow,
    all_figures,
)
from dispatch.services.figures import verdict
from hotline.domain.lifecycle import FOLLOW_UP_STATES, State
from hotline.domain.taxonomy import Channel, Disposition, FollowUpOutcome
from hotline.models import Case, CaseDeadline, CaseEvent, Contact, Department, FollowUp, Staff


@dataclass(frozen=True)
class Period:
    """Local days ``start_day`` .. ``end_day`` and the moments bounding them (end exclusive)."""

    start_day: date
    end_day: date
    start: datetime
    end: datetime

    @classmethod
    def of(cls, start_day: date, end_day: date, tz: ZoneInfo) -> Period:
        return cls(
            start_day,
            end_day,
            datetime.combine(start_day, time(0), tzinfo=tz),
            datetime.combine(end_day + timedelta(days=1), time(0), tzinfo=tz),
        )


class _People:
    """Staff and departments by id, as groups (read once per report)."""

    def __init__(self, session: Session, english: bool) -> None:
        self.departments = {
            d.id: Group(f"d{d.id}", d.name_en if english else d.name_zh)
            for d in session.scalars(select(Department))
        }
        self.staff: dict[int, tuple[Group, int | None]] = {
            s.id: (Group(f"s{s.id}", s.display_name), s.department_id)
            for s in session.scalars(select(Staff))
        }

    def operator(self, staff_id: int | None) -> Group | None:
        return self.staff[staff_id][0] if staff_id in self.staff else None

    def department_of_staff(self, staff_id: int | None) -> Group | None:
        if staff_id not in self.staff:
            return None
        return self.department(self.staff[staff_id][1])

    def department(self, department_id: int | None) -> Group | None:
        return self.departments.get(department_id) if department_id is not None else None


def _calls(session: Session, period: Period, people: _People) -> list[CallRow]:
    """Inbound phone calls first ringing in the period that stopped ringing."""
    rows = session.execute(
        select(
            Call.ringing_at, Call.answered_at, Call.ring_to_answer_seconds, Call.answered_by_id
        ).where(
            Call.direction == Direction.INBOUND,
            Call.channel == Channel.PHONE,
            Call.status != CallStatus.RINGING,
            Call.ringing_at >= period.start,
            Call.ringing_at < period.end,
        )
    )
    return [
        CallRow(
            ringing_at=ringing,
            answered_at=answered,
            ring_to_answer_seconds=seconds,
            operator=people.operator(staff_id),
            department=people.department_of_staff(staff_id),
        )
        for ringing, answered, seconds, staff_id in rows
    ]


def _stages(session: Session, period: Period, now: datetime, people: _People) -> list[StageRow]:
    """Stage clocks falling due in the period, judged at ``now`` (as the time-limit figures)."""
    query = (
        select(CaseDeadline, Case.first_responder_id, Case.handler_department_id)
        .join(Case, Case.id == CaseDeadline.case_id)
        .where(CaseDeadline.due_at >= period.start, CaseDeadline.due_at < period.end)
    )
    result = []
    for row, responder, department in session.execute(query):
        judged = verdict(row, now)
        met = judged.met if judged.met is not None else (False if judged.overdue else None)
        result.append(
            StageRow(
                due_at=row.due_at,
                stage=row.stage,
                met=met,
                operator=people.operator(responder),
                department=people.department(department),
            )
        )
    return result


def _follow_ups(session: Session, period: Period, people: _People) -> list[FollowUpRow]:
    """Cases that first reached follow-up in the period, with their first reached outcome."""
    reached = (
        select(CaseEvent.case_id, func.min(CaseEvent.at).label("reached_at"))
        .where(CaseEvent.to_state.in_([str(s) for s in FOLLOW_UP_STATES]))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    cases = session.execute(
        select(
            reached.c.case_id,
            reached.c.reached_at,
            Case.first_responder_id,
            Case.handler_department_id,
        )
        .join(Case, Case.id == reached.c.case_id)
        .where(reached.c.reached_at >= period.start, reached.c.reached_at < period.end)
    ).all()
    ids = [c[0] for c in cases]
    first: dict[int, FollowUpOutcome] = {}
    for start in range(0, len(ids), 500):
        for case_id, outcome in session.execute(
            select(FollowUp.case_id, FollowUp.outcome)
            .where(
                FollowUp.case_id.in_(ids[start : start + 500]),
                FollowUp.outcome != FollowUpOutcome.UNREACHABLE,
            )
            .order_by(FollowUp.at, FollowUp.id)
        ):
            first.setdefault(case_id, FollowUpOutcome(outcome))
    return [
        FollowUpRow(
            reached_at=at,
            first_outcome=first.get(case_id),
            operator=people.operator(responder),
            department=people.department(department),
        )
        for case_id, at, responder, department in cases
    ]


def _contacts(session: Session, period: Period, people: _People) -> list[ContactRow]:
    """Contacts of the period, and those of the 72 hours after it (to find repeats)."""
    rows = session.execute(
        select(
            Contact.id,
            Contact.started_at,
            Contact.disposition,
            Contact.caller_number,
            Contact.case_id,
            Contact.handled_by_id,
            Case.state,
        )
        .outerjoin(Case, Case.id == Contact.case_id)
        .where(Contact.started_at >= period.start, Contact.started_at < period.end + REPEAT_WINDOW)
    ).all()
    # A new case names the case it repeats in its first event (立案时注明重复的工单).
    case_ids = {r.case_id for r in rows if r.case_id is not None}
    repeats: dict[int, int] = {}
    if case_ids:
        named: dict[int, str] = {}
        ids = sorted(case_ids)
        for start in range(0, len(ids), 500):
            for case_id, data in session.execute(
                select(CaseEvent.case_id, CaseEvent.data).where(
                    CaseEvent.case_id.in_(ids[start : start + 500]),
                    CaseEvent.action == "register",
                )
            ):
                number = (data or {}).get("repeats")
                if number:
                    named[case_id] = str(number)
        if named:
            numbers = sorted(set(named.values()))
            ids_by_number = dict(
                session.execute(select(Case.number, Case.id).where(Case.number.in_(numbers))).all()
            )
            repeats = {
                case_id: ids_by_number[n] for case_id, n in named.items() if n in ids_by_number
            }
    return [
        ContactRow(
            id=r.id,
            started_at=r.started_at,
            disposition=Disposition(r.disposition) if r.disposition else None,
            caller_number=r.caller_number,
            case_id=r.case_id,
            repeats_case_id=repeats.get(r.case_id) if r.case_id is not None else None,
            case_closed=r.state == State.CLOSED,
            operator=people.operator(r.handled_by_id),
            department=people.department_of_staff(r.handled_by_id),
        )
        for r in rows
    ]


def read_rows(session: Session, period: Period, now: datetime, *, english: bool = False) -> Rows:
    """Everything the figures of ``period`` are computed from."""
    people = _People(session, english)
    return Rows(
        calls=_calls(session, period, people),
        stages=_stages(session, period, now, people),
        follow_ups=_follow_ups(session, period, people),
        contacts=_contacts(session, period, people),
    )


def figures_report(
    session: Session,
    *,
    start_day: date,
    end_day: date,
    grouping: Grouping,
    tz: ZoneInfo,
    now: datetime,
    ring_limit_seconds: float,
    english: bool = False,
) -> dict[Figure, FigureTable]:
    """Every figure of the days ``start_day`` .. ``end_day``, grouped by ``grouping``."""
    period = Period.of(start_day, end_day, tz)
    rows = read_rows(session, period, now, english=english)
    return all_figures(Frame(start_day, end_day, grouping, tz), rows, ring_limit_seconds)


__all__ = [
    "FOLLOW_UP_STATES",
    "NEW_MATTER_DISPOSITIONS",
    "Period",
    "figures_report",
    "read_rows",
]
