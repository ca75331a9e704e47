"""Who owns work that arrives with nobody to take it (G4, 首问负责).

A resident's request from a public app (Open311), a report from the WeChat
form and an order from the city's 12345 platform reach no operator; the rule
of the standard still wants one person to own each. The dispatch area knows
the duty roster and decides who (``dispatch.services.duty.owner_of_new_work``:
the dispatcher on duty, else in a gap of the roster the first active
dispatcher); the composition root hands that lookup to the services here,
which refuse the work, writing nothing, when nobody can own it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from hotline.domain.errors import ServiceError
from hotline.models import Staff

#: Who owns new work at a moment: the person, and whether they are on the duty
#: roster then (``False``: a gap in the roster); ``None`` when nobody can.
OwnerLookup = Callable[[Session, datetime], "tuple[Staff, bool] | None"]


#: What the contact's summary adds when the owner was not on the roster (a gap).
ROSTER_GAP = "值班表此时无人值班,由调度员暂代负责"


class NobodyToOwn(ServiceError):
    """No active dispatcher to own the work (G4): nothing was saved, try again later."""

    status = 503


def owner_or_refuse(
    session: Session, lookup: OwnerLookup, at: datetime, what: str
) -> tuple[Staff, bool]:
    """The owner ``lookup`` finds for new work at ``at``; :class:`NobodyToOwn` when none.

    ``what`` names the work in the refusal ("the request", "the report", ...).
    """
    found = lookup(session, at)
    if found is None:
        raise NobodyToOwn(
            "no dispatcher can take %(what)s now; nothing was saved, "
            "try again later or call the hotline",
            None,
            "G4",
            what=what,
        )
    return found
