"""Access: who is acting (:class:`Actor`), which cases they may see (G7), and
finding the case or department a request names (or refusing with :class:`NotFound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hotline.domain.errors import NotFound
from hotline.domain.taxonomy import Role
from hotline.models import Case, Department, Staff


@dataclass(frozen=True)
class Actor:
    """Who is acting: taken from the logged-in staff member or API token."""

    id: int
    role: Role
    department_id: int | None = None

    @classmethod
    def of(cls, staff: Staff) -> Actor:
        return cls(staff.id, Role(staff.role), staff.department_id)


def can_view(actor: Actor, case: Case) -> bool:
    """G7: the first responder always sees the case; crews see their own work.

    The hotline, dispatch and supervisors see every case (callers ring about
    any of them); department staff see what is assigned to their department,
    what was transferred to it (G5), what they handle, and what they took in
    themselves.
    """
    if actor.role in (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        return True
    return (
        case.first_responder_id == actor.id
        or case.handler_staff_id == actor.id
        or (
            actor.department_id is not None
            and actor.department_id in (case.handler_department_id, case.transfer_department_id)
        )
    )


def visible(query: Any, actor: Actor) -> Any:
    """``query`` of cases narrowed to those ``actor`` may see (:func:`can_view` in SQL)."""
    if actor.role in (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        return query
    conditions = [Case.first_responder_id == actor.id, Case.handler_staff_id == actor.id]
    if actor.department_id is not None:
        conditions.append(Case.handler_department_id == actor.department_id)
        # G5: the department a case was transferred (guided) to sees it too.
        conditions.append(Case.transfer_department_id == actor.department_id)
    return query.where(or_(*conditions))


def lock_case(session: Session, number: str) -> Case:
    """The case ``number``, its row locked for this transaction; raises :class:`NotFound`."""
    case = session.scalar(select(Case).where(Case.number == number).with_for_update())
    if case is None:
        raise NotFound("no case '%(number)s'", "case", number=number)
    return case


def find_department(session: Session, department_id: Any, name: str) -> Department:
    """The department ``department_id``; raises :class:`NotFound` naming the field ``name``."""
    department = session.get(Department, department_id) if isinstance(department_id, int) else None
    if department is None:
        raise NotFound("no department with id %(department_id)r", name, department_id=department_id)
    return department
