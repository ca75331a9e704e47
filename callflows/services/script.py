"""The live script, server-side: starting it, rebuilding it, applying the operator's steps.

The script session is stored on the call row (:mod:`callflows.domain.live`)
and rebuilt for each request, so the engine, not the browser, decides every
step. Also here: attaching a customer found by search to the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from callflows.domain import live
from callflows.domain.engine import (
    CallEnded,
    CallFlowError,
    InvalidFieldValue,
    MissingCapture,
    ReadBackRequired,
    UnknownField,
)
from callflows.models import Call
from callflows.services.context import (
    CallFlows,
    ReadBackMissing,
    get_call,
    require_taker,
)
from callflows.services.numbers import national, read_number
from hotline.domain.errors import wording
from hotline.models import Customer
from hotline.services import (
    Actor,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    Services,
)

__all__ = ["apply_script", "choose_customer", "engine_refusal", "load_script", "start_script"]


def load_script(flows: CallFlows, call: Call, clock: Callable[[], datetime]) -> live.LiveScript:
    """The call's live script session, rebuilt.

    Raises :class:`Conflict` when the call has no script session (not answered)
    or its stored session cannot be rebuilt.
    """
    if not call.script_state:
        raise Conflict("the call has not been answered on the console", "call")
    try:
        return live.restore(flows.scripts, call.script_state, clock)
    except live.StateError as exc:
        raise Conflict.from_error(exc, "call") from None


def start_script(flows: CallFlows, call: Call, now: Callable[[], datetime]) -> live.LiveScript:
    """A new session of the inbound script for ``call``, its number already captured."""
    script = flows.scripts.get(flows.inbound_script)
    if script is None:
        raise Conflict(
            "the call script '%(script)s' is not loaded", "script", script=flows.inbound_script
        )
    known = {}
    if call.from_number and "contact_phone" in script.fields:
        known["contact_phone"] = national(call.from_number)
    return live.start(script, now, known=known)


def engine_refusal(exc: CallFlowError) -> ServiceError:
    """The engine's refusal as a service error naming the field or rule."""
    if isinstance(exc, ReadBackRequired):
        template, params = wording(exc)
        return ReadBackMissing(template, exc.missing, exc.confirmed, **params)
    if isinstance(exc, MissingCapture):
        return Invalid.from_error(exc, exc.fields[0] if exc.fields else "step")
    if isinstance(exc, CallEnded):
        return Conflict.from_error(exc, "call")
    if isinstance(exc, UnknownField | InvalidFieldValue):
        return Invalid.from_error(exc, "field")
    return Invalid.from_error(exc, "op")


def apply_script(
    svc: Services,
    flows: CallFlows,
    actor: Actor,
    call_id: int,
    op: str,
    args: Mapping[str, Any] | None = None,
) -> None:
    """Apply one script operation (capture, answer, complete, read-back…) to the call.

    Only the operator who answered may drive the script. The engine decides;
    a refused operation is not stored. Raises :class:`Forbidden`,
    :class:`NotFound`, :class:`Conflict` (not answered, or the caller has gone
    for an operation that needs them) and :class:`Invalid` naming the field,
    or :class:`ReadBackMissing` (P4).
    """
    require_taker(actor)
    args = dict(args or {})
    if op == "capture" and args.get("field") == "contact_phone":
        value = str(args.get("value") or "")
        if value.strip() and read_number(svc, value) is None:
            raise Invalid("'%(number)s' is not a phone number", "contact_phone", "P4", number=value)
    with svc.sessions() as session, session.begin():
        call = get_call(session, call_id, lock=True)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can work its script")
        script = load_script(flows, call, svc.now)
        if op == "end":
            raise Invalid("end the call with the end-call action", "op")
        try:
            script.apply(op, args)
        except ValueError as exc:
            raise Invalid.from_error(exc, "op") from None
        except CallFlowError as exc:
            raise engine_refusal(exc) from None
        call.script_state = script.to_state()
        if not script.session.is_live:
            call.compliance = script.session.compliance_record().to_dict()
        call.updated_at = svc.now()


def choose_customer(svc: Services, actor: Actor, call_id: int, account_number: str) -> None:
    """Attach a customer found by search to a call from an unknown number.

    Raises :class:`Forbidden`, :class:`NotFound` for the call or the account.
    """
    require_taker(actor)
    with svc.sessions() as session, session.begin():
        call = get_call(session, call_id, lock=True)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can change its caller")
        customer = session.scalar(
            select(Customer).where(Customer.account_number == (account_number or "").strip())
        )
        if customer is None:
            raise NotFound(
                "no customer with account '%(account)s'",
                "customer_account",
                account=account_number,
            )
        call.customer_id = customer.id
        call.updated_at = svc.now()
