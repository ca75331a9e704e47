"""Reading staff and departments: the pickers of the pages, the administrator's
list, one person by id, and whether logins still hold. Reads only; the caller
owns the session.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain.taxonomy import Role
from hotline.models import Department, Staff


def departments(session: Session) -> list[Department]:
    """Every department, in the order they were set up."""
    return list(session.scalars(select(Department).order_by(Department.id)))


def department(session: Session, department_id: int) -> Department | None:
    """The department ``department_id``, or None when there is none."""
    return session.get(Department, department_id)


def active_staff(session: Session, *roles: Role) -> list[Staff]:
    """Active staff (of these roles, if any are given), by name."""
    query = select(Staff).where(Staff.active.is_(True)).order_by(Staff.display_name)
    if roles:
        query = query.where(Staff.role.in_([str(r) for r in roles]))
    return list(session.scalars(query))


def all_staff(session: Session) -> list[Staff]:
    """Every account, active ones first, then in the order they were added."""
    return list(session.scalars(select(Staff).order_by(Staff.active.desc(), Staff.id)))


def staff_member(session: Session, staff_id: int) -> Staff | None:
    """The member of staff ``staff_id``, or None when there is none."""
    return session.get(Staff, staff_id)


def login_states(session: Session, staff_ids: Iterable[int]) -> dict[int, tuple[bool, int]]:
    """For each of these people: (whether the account is active, its session version)."""
    rows = session.execute(
        select(Staff.id, Staff.active, Staff.session_version).where(Staff.id.in_(staff_ids))
    ).all()
    return {row.id: (bool(row.active), int(row.session_version)) for row in rows}
