"""The tamper check as the audit page runs it: one read-only snapshot, counted.

:func:`hotline.services.audit.verify` does the checking; this adds what the
page reports besides the problems (events and anchors read) and reads it all
in one read-only transaction (PostgreSQL: ``REPEATABLE READ``, read only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hotline.domain.audit import Problem
from hotline.models import AuditAnchor, Case, CaseEvent
from hotline.services.audit import verify


@dataclass(frozen=True)
class AuditReport:
    """What one check read and found; ``case_number`` is set for a one-case check."""

    cases: int
    events: int
    anchors: int
    sealed: bool
    problems: list[Problem] = field(default_factory=list)
    case_number: str | None = None
    found: bool = True


def read_only_snapshot(session: Session) -> None:
    """Begin ``session``'s transaction as one read-only snapshot (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        # The first statement of the transaction (a session may have set its search path).
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def check(
    session: Session, *, key: str | None, prefix: str, case_number: str | None = None
) -> AuditReport:
    """Check the whole store (or the case ``case_number``) and count what was read.

    Without ``key`` the anchors' seals are not checked (what they seal still is).
    The caller's session is rolled back afterwards by the caller; nothing is written.
    """
    checked, problems = verify(session, case_number=case_number, key=key, prefix=prefix)
    events = select(func.count(CaseEvent.id))
    if case_number:
        events = events.join(Case, Case.id == CaseEvent.case_id).where(Case.number == case_number)
    return AuditReport(
        cases=checked,
        events=session.scalar(events) or 0,
        anchors=session.scalar(select(func.count(AuditAnchor.seq))) or 0,
        sealed=key is not None,
        problems=problems,
        case_number=case_number,
        found=not case_number or checked > 0,
    )
