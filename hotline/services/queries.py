"""Reading cases: the case list and its filters, one case, its history, its stage
clocks and visits, and what each person has not read yet. Reads only; the caller
owns the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hotline.domain.errors import NotFound
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category
from hotline.models import Appointment, Case, CaseDeadline, CaseEvent, CaseSeen
from hotline.services.access import Actor, can_view, visible


@dataclass
class CaseFilter:
    """The filters of the case list; all optional."""

    states: Sequence[State] = ()
    category: Category | None = None
    first_responder_id: int | None = None
    handler_department_id: int | None = None
    handler_staff_id: int | None = None
    overdue: bool | None = None
    open_only: bool = False


def list_cases(
    session: Session,
    actor: Actor,
    flt: CaseFilter,
    *,
    now: datetime,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[Case], int]:
    """One page of the cases ``actor`` may see, most urgent first, and the total."""
    query = visible(select(Case), actor)
    if flt.states:
        query = query.where(Case.state.in_([str(s) for s in flt.states]))
    if flt.open_only:
        query = query.where(Case.state != State.CLOSED)
    if flt.category:
        query = query.where(Case.category == flt.category)
    if flt.first_responder_id:
        query = query.where(Case.first_responder_id == flt.first_responder_id)
    if flt.handler_department_id:
        query = query.where(Case.handler_department_id == flt.handler_department_id)
    if flt.handler_staff_id:
        query = query.where(Case.handler_staff_id == flt.handler_staff_id)
    if flt.overdue is True:
        query = query.where(Case.due_at < now, Case.state.not_in([State.CLOSED, State.MERGED]))
    elif flt.overdue is False:
        query = query.where(or_(Case.due_at.is_(None), Case.due_at >= now))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Case.due_at.is_(None), Case.due_at, Case.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), total


def get_case(session: Session, actor: Actor, number: str) -> Case:
    """The case ``number`` if ``actor`` may see it; raises :class:`NotFound` otherwise."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_view(actor, case):
        raise NotFound("no case '%(number)s'", "case", number=number)
    return case


def case_by_number(session: Session, number: str) -> Case | None:
    """The case ``number`` whoever may see it (for showing it after a change), or None."""
    return session.scalar(select(Case).where(Case.number == number))


def case_clocks(session: Session, case: Case) -> list[CaseDeadline]:
    """Every stage clock of ``case``, ended ones included, in the order they started."""
    return list(
        session.scalars(
            select(CaseDeadline).where(CaseDeadline.case_id == case.id).order_by(CaseDeadline.id)
        )
    )


def case_visits(session: Session, case: Case) -> list[Appointment]:
    """Every visit booked on ``case``, oldest first, whatever became of it."""
    return list(
        session.scalars(
            select(Appointment).where(Appointment.case_id == case.id).order_by(Appointment.id)
        )
    )


def open_clocks(session: Session, cases: Sequence[Case]) -> dict[int, list[CaseDeadline]]:
    """The open stage clocks of ``cases`` by case id, in the order they started (one query)."""
    clocks: dict[int, list[CaseDeadline]] = {}
    ids = [case.id for case in cases]
    if ids:
        with session.no_autoflush:
            for row in session.scalars(
                select(CaseDeadline)
                .where(CaseDeadline.case_id.in_(ids), CaseDeadline.ended_at.is_(None))
                .order_by(CaseDeadline.id)
            ):
                clocks.setdefault(row.case_id, []).append(row)
    return clocks


def history(session: Session, actor: Actor, number: str) -> list[CaseEvent]:
    """Every event of the case in order (G7: the owner sees every step)."""
    case = get_case(session, actor, number)
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    )


def mark_seen(session: Session, actor: Actor, case: Case, seq: int | None = None) -> None:
    """Remember that ``actor`` has read ``case`` up to event ``seq`` (default: its latest).

    ``seq`` is what a page showed: it never counts past the case's latest
    event, and what was read stays read (an older page shown again changes nothing).
    """
    upto = case.last_event_seq if seq is None else min(seq, case.last_event_seq)
    seen = session.get(CaseSeen, (actor.id, case.id))
    if seen is None:
        session.add(CaseSeen(staff_id=actor.id, case_id=case.id, seen_seq=upto))
    elif upto > seen.seen_seq:
        seen.seen_seq = upto


def unseen_changes(session: Session, actor: Actor, cases: Sequence[Case]) -> dict[int, int]:
    """For each case, how many changes by others ``actor`` has not read yet."""
    if not cases:
        return {}
    seen = (
        select(CaseSeen.case_id, CaseSeen.seen_seq).where(CaseSeen.staff_id == actor.id).subquery()
    )
    rows = session.execute(
        select(CaseEvent.case_id, func.count())
        .outerjoin(seen, seen.c.case_id == CaseEvent.case_id)
        .where(
            CaseEvent.case_id.in_([c.id for c in cases]),
            CaseEvent.seq > func.coalesce(seen.c.seen_seq, 0),
            or_(CaseEvent.actor_id.is_(None), CaseEvent.actor_id != actor.id),
        )
        .group_by(CaseEvent.case_id)
    ).all()
    counts = {case.id: 0 for case in cases}
    counts.update({case_id: count for case_id, count in rows})
    return counts


def overdue_seconds(case: Case, now: datetime) -> float | None:
    """Seconds past the deadline (negative: time left), or None without one."""
    if case.due_at is None:
        return None
    return (now - case.due_at) / timedelta(seconds=1)
