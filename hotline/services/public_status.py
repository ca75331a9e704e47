"""The public status look-up: one read of a case by its number, then the digit check.

Only the state and the promised time leave this module; nothing personal
(name, address, phone, staff) is returned. A wrong number and wrong digits
give the same answer, None (see docs/public.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain.lifecycle import State
from hotline.domain.public_status import phone_matches
from hotline.models import Case


@dataclass(frozen=True)
class PublicCase:
    """What a resident may see of a case."""

    number: str
    state: State
    promised_at: datetime | None


def find_public_case(session: Session, number: str, last4: str) -> PublicCase | None:
    """The case ``number`` if ``last4`` end its contact phone, else None (either way)."""
    row = session.execute(
        select(Case.number, Case.state, Case.promised_at, Case.contact_phone).where(
            Case.number == number
        )
    ).one_or_none()
    if not phone_matches(row.contact_phone if row else None, last4) or row is None:
        return None
    return PublicCase(number=row.number, state=State(row.state), promised_at=row.promised_at)
