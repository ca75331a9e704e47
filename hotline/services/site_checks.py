"""F10: opening a meter well's on-site check when its repair is completed.

Called explicitly by :func:`hotline.services.actions.transition` after the
completion's event, in the same transaction; the crew pages list and record
the checks (``dispatch/services/crew.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain import site_checks as rules
from hotline.models import Case, Department, SiteCheck


def open_if_needed(session: Session, case: Case, action: str, at: datetime) -> SiteCheck | None:
    """Open the on-site check that completing ``case`` calls for (F10), if any."""
    if not rules.needs_site_check(case.category, action):
        return None
    readers = session.scalar(select(Department.id).where(Department.code == rules.METER_READERS))
    check = SiteCheck(
        case_id=case.id,
        department_id=readers or case.handler_department_id,
        opened_at=at,
        due_at=rules.site_check_due(at),
        finding="",
    )
    session.add(check)
    return check
