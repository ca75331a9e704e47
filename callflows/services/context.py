"""What every call service shares: the call-flow wiring, its errors, finding a call.

:class:`CallFlows` is what the call service uses besides hotline's
:class:`~hotline.services.Services` (the scripts, the telephony adapter, the
operators' live channel), injected once at start-up. :class:`TelephonyFailed`
and :class:`ReadBackMissing` are the refusals of this area, on top of
hotline's :class:`~hotline.services.ServiceError` family.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.domain.scripts import Script
from callflows.models import Call
from callflows.telephony import Telephony, TwilioConfig
from hotline.domain.taxonomy import Role
from hotline.services import Actor, Forbidden, Invalid, NotFound, ServiceError

__all__ = [
    "CALL_TAKERS",
    "OPERATORS_ROOM",
    "CallFlows",
    "Emitter",
    "ReadBackMissing",
    "TelephonyFailed",
    "get_call",
    "require_taker",
]

#: The Socket.IO room every operator's console listens in.
OPERATORS_ROOM = "operators"

#: Roles that take calls on the console.
CALL_TAKERS = frozenset({Role.OPERATOR, Role.SUPERVISOR})

Emitter = Callable[[str, str, Mapping[str, Any]], None]


@dataclass
class CallFlows:
    """What the call service uses besides hotline's :class:`Services`, injected at start-up."""

    scripts: Mapping[str, Script]
    telephony: Telephony
    twilio: TwilioConfig | None = None
    emit: Emitter | None = None
    #: P1: three rings, about 15 seconds (SEED-RULES' table of common commitments)
    ring_limit_seconds: float = 15.0
    inbound_script: str = "inbound_hotline"
    company_name: str = ""
    company_short: str = ""
    hotline_number: str = ""
    simulator_enabled: bool = True

    def publish(self, event: str, payload: Mapping[str, Any]) -> None:
        """Tell every operator's console (after the commit)."""
        if self.emit is not None:
            self.emit(OPERATORS_ROOM, event, dict(payload))


# -- errors ------------------------------------------------------------------


class TelephonyFailed(ServiceError):
    """The phone system did not do what was asked; ``uncertain`` if it may have."""

    status = 502

    def __init__(
        self, message: str, *, uncertain: bool, field: str | None = None, **params: Any
    ) -> None:
        super().__init__(message, field, **params)
        self.uncertain = uncertain

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "uncertain": self.uncertain}


class ReadBackMissing(Invalid):
    """P4: the case needs problem, need, address and contact, read back and confirmed."""

    def __init__(
        self, message: str, missing: Sequence[str], confirmed: bool, **params: Any
    ) -> None:
        super().__init__(message, "read_back", "P4", **params)
        self.missing = tuple(missing)
        self.confirmed = confirmed

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "missing": list(self.missing), "confirmed": self.confirmed}


# -- who may act, on which call --------------------------------------------------


def require_taker(actor: Actor) -> None:
    """Raise :class:`Forbidden` unless ``actor``'s role takes calls."""
    if actor.role not in CALL_TAKERS:
        raise Forbidden("role '%(role)s' does not take calls", role=actor.role)


def get_call(session: Session, call_id: Any, *, lock: bool = False) -> Call:
    """The call ``call_id``; :class:`NotFound` if none.

    With ``lock`` the row is locked until the commit (``SELECT … FOR UPDATE``
    on PostgreSQL; SQLite's write transaction already excludes other writers)
    and read afresh, never taken from what the session loaded before.
    """
    if not isinstance(call_id, int):
        raise NotFound("no call %(call_id)s", "call", call_id=repr(call_id))
    query = select(Call).where(Call.id == call_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    call = session.scalar(query)
    if call is None:
        raise NotFound("no call %(call_id)s", "call", call_id=call_id)
    return call
