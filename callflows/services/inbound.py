"""A call coming in, from the first ring to its end.

Both telephony adapters feed these: :func:`ring` when a call arrives,
:func:`requeue` when the operator's line does not pick up, :func:`end_call`
when someone hangs up. The console calls :func:`answer` (the first operator
wins, the script starts) and :func:`start_counter_visit` (W1). :func:`finish`
closes a call inside the caller's transaction, for :func:`end_call` and for
the provider's status callbacks alike.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflows.domain import live
from callflows.domain.engine import CallFlowError
from callflows.models import Call, CallStatus, Direction, Provider
from callflows.services import task_making
from callflows.services.context import (
    CallFlows,
    TelephonyFailed,
    get_call,
    require_taker,
)
from callflows.services.numbers import national, read_number, single_customer
from callflows.services.script import start_script
from callflows.telephony import TelephonyError, TelephonyUncertain
from hotline.domain.taxonomy import Channel, Disposition
from hotline.models import Contact, Customer
from hotline.services import Actor, Conflict, Forbidden, Invalid, NotFound, Services

log = logging.getLogger(__name__)

__all__ = [
    "ENDING_STATUSES",
    "answer",
    "end_call",
    "finish",
    "requeue",
    "ring",
    "start_counter_visit",
]

#: Provider statuses that end a call, and which of them mean it never got through.
ENDING_STATUSES = frozenset({"completed", "canceled", "busy", "no-answer", "failed"})
_NOT_THROUGH = frozenset({"busy", "no-answer", "failed"})


def _incoming_payload(session: Session, call: Call) -> dict[str, Any]:
    customer = session.get(Customer, call.customer_id) if call.customer_id else None
    return {
        "call_id": call.id,
        "channel": str(call.channel),
        "from": national(call.from_number) or call.from_raw,
        "customer": customer.name if customer else None,
        "ringing_at": call.ringing_at.isoformat(),
    }


# -- a call arrives ------------------------------------------------------------


def ring(
    svc: Services,
    flows: CallFlows,
    *,
    provider: Provider,
    sid: str,
    from_raw: str,
    to_raw: str = "",
) -> tuple[int, bool]:
    """Record an incoming call, once per provider call id (a retried webhook changes nothing).

    Returns the call's id and whether it was new; a new call pops up on every
    operator's console. Raises :class:`Invalid` for an empty ``sid``.
    """
    sid = (sid or "").strip()
    if not sid or len(sid) > 64:
        raise Invalid("the provider's call id is missing or too long", "CallSid")
    now = svc.now()
    number = read_number(svc, from_raw)
    with svc.sessions() as session:
        existing = session.scalar(select(Call).where(Call.provider_call_sid == sid))
        if existing is not None:
            return existing.id, False
        call = Call(
            provider=provider,
            provider_call_sid=sid,
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            from_number=number,
            from_raw=(from_raw or "")[:64],
            to_number=read_number(svc, to_raw),
            status=CallStatus.RINGING,
            ringing_at=now,
            customer_id=single_customer(session, number),
            created_at=now,
            updated_at=now,
        )
        session.add(call)
        try:
            session.commit()
        except IntegrityError:
            # The same webhook, retried while the first was still being handled.
            session.rollback()
            existing = session.scalar(select(Call).where(Call.provider_call_sid == sid))
            if existing is None:
                raise
            return existing.id, False
        payload = _incoming_payload(session, call)
    flows.publish("incoming_call", payload)
    return call.id, True


def start_counter_visit(
    svc: Services, flows: CallFlows, actor: Actor, *, caller_number: str = ""
) -> int:
    """W1: a counter visit on the console, without telephony; returns the call id.

    The visitor is being served by ``actor`` at once, so the script starts
    now. Raises :class:`Forbidden` for a role that does not take contacts and
    :class:`Invalid` for a number that is given but cannot be read.
    """
    require_taker(actor)
    number = None
    if caller_number.strip():
        number = read_number(svc, caller_number)
        if number is None:
            raise Invalid(
                "'%(number)s' is not a phone number", "caller_number", number=caller_number
            )
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = Call(
            provider=Provider.COUNTER,
            provider_call_sid=f"counter-{uuid.uuid4().hex}",
            channel=Channel.COUNTER,
            direction=Direction.INBOUND,
            from_number=number,
            from_raw=caller_number.strip()[:64],
            status=CallStatus.IN_PROGRESS,
            ringing_at=now,
            answered_at=now,
            answered_by_id=actor.id,
            customer_id=single_customer(session, number),
            created_at=now,
            updated_at=now,
        )
        script = start_script(flows, call, svc.now)
        call.script_id = script.session.script.id
        call.script_state = script.to_state()
        session.add(call)
        session.flush()
        return call.id


# -- the operator answers ------------------------------------------------------


def answer(svc: Services, flows: CallFlows, actor: Actor, call_id: int) -> None:
    """Take a ringing call: the first operator to answer wins, the script starts.

    Records the answer time and the ring-to-answer seconds (P1), then asks
    the phone system to connect the caller. Raises :class:`Forbidden` for a
    role that does not take calls, :class:`NotFound`, :class:`Conflict` when
    someone else answered first or the caller has hung up, and
    :class:`TelephonyFailed` when the caller could not be connected (the call
    then rings on for the others).
    """
    require_taker(actor)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = get_call(session, call_id)
        if call.direction != Direction.INBOUND or call.channel != Channel.PHONE:
            raise Conflict("only incoming phone calls are answered here", "call")
        script = start_script(flows, call, svc.now)
        claimed = session.execute(
            update(Call)
            .where(Call.id == call.id, Call.answered_by_id.is_(None), Call.ended_at.is_(None))
            .values(
                answered_by_id=actor.id,
                answered_at=now,
                status=CallStatus.IN_PROGRESS,
                ring_to_answer_seconds=max((now - call.ringing_at).total_seconds(), 0.0),
                script_id=script.session.script.id,
                script_state=script.to_state(),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.refresh(call)
            if call.ended_at is not None:
                raise Conflict("the caller has already hung up", "call")
            raise Conflict("another operator has answered this call", "call")
        provider, sid = call.provider, call.provider_call_sid
    if provider == flows.telephony.name:
        try:
            flows.telephony.connect_to_operator(sid)
        except TelephonyError as exc:
            _release_answer(svc, call_id, actor)
            raise TelephonyFailed(
                "the caller could not be connected: %(reason)s",
                uncertain=isinstance(exc, TelephonyUncertain),
                field="call",
                reason=str(exc),
            ) from None
    flows.publish("call_taken", {"call_id": call_id, "by": actor.id})


def _release_answer(svc: Services, call_id: int, actor: Actor) -> None:
    """Undo a claim whose caller could not be connected, so the call rings on."""
    with svc.sessions() as session, session.begin():
        session.execute(
            update(Call)
            .where(Call.id == call_id, Call.answered_by_id == actor.id, Call.ended_at.is_(None))
            .values(
                answered_by_id=None,
                answered_at=None,
                status=CallStatus.RINGING,
                ring_to_answer_seconds=None,
                script_id=None,
                script_state=None,
            )
            .execution_options(synchronize_session=False)
        )


def requeue(svc: Services, flows: CallFlows, sid: str) -> bool:
    """The operator's line did not pick up: the call rings on every console again.

    Returns False when the call is not waiting on an operator (already back in
    the queue, or ended), so a retried webhook changes nothing. Raises
    :class:`NotFound` for an unknown call id.
    """
    with svc.sessions() as session, session.begin():
        call = session.scalar(select(Call).where(Call.provider_call_sid == sid).with_for_update())
        if call is None:
            raise NotFound("no call '%(sid)s'", "CallSid", sid=sid)
        if call.answered_by_id is None or call.ended_at is not None or call.contact_id is not None:
            return False
        call.answered_by_id = None
        call.answered_at = None
        call.status = CallStatus.RINGING
        call.ring_to_answer_seconds = None
        call.script_id = None
        call.script_state = None
        call.updated_at = svc.now()
        payload = _incoming_payload(session, call)
    flows.publish("incoming_call", payload)
    return True


# -- the end of a call ---------------------------------------------------------


def finish(
    session: Session,
    call: Call,
    *,
    hung_up_by: str,
    provider_status: str | None,
    at: datetime,
    now: datetime,
    flows: CallFlows,
) -> list[tuple[str, dict[str, Any]]]:
    """End ``call`` inside the caller's transaction; returns what to publish after it."""
    if call.ended_at is not None:
        return []
    call.ended_at = max(at, call.ringing_at)
    call.hung_up_by = hung_up_by
    call.updated_at = now
    if call.answered_at is not None:
        call.status = CallStatus.COMPLETED
    else:
        call.status = CallStatus.MISSED if provider_status in _NOT_THROUGH else CallStatus.ABANDONED
        task_making.call_missed(session, call, now)  # the caller gets a call-back task
    if call.script_state:
        try:
            script = live.restore(flows.scripts, call.script_state, lambda: call.ended_at)
            if script.session.is_live:
                script.apply("end", {"hung_up_by": hung_up_by})
            call.script_state = script.to_state()
            call.compliance = script.session.compliance_record().to_dict()
        except (live.StateError, CallFlowError) as exc:
            log.warning("call %s ended; its script record could not be closed: %s", call.id, exc)
    if call.contact_id is not None:
        contact = session.get(Contact, call.contact_id)
        if contact is not None and contact.ended_at is None:
            contact.ended_at = call.ended_at
    elif call.answered_at is None and call.direction == Direction.INBOUND:
        # P6: a call nobody answered is still a contact on record, to be called back.
        contact = Contact(
            channel=call.channel,
            caller_number=call.from_number,
            caller_name="",
            customer_id=call.customer_id,
            started_at=call.ringing_at,
            answered_at=None,
            ended_at=call.ended_at,
            handled_by_id=None,
            disposition=(
                Disposition.MISSED if call.status == CallStatus.MISSED else Disposition.ABANDONED
            ),
            summary="",
        )
        session.add(contact)
        session.flush()
        call.contact_id = contact.id
    return [("call_ended", {"call_id": call.id, "status": str(call.status)})]


def end_call(
    svc: Services,
    flows: CallFlows,
    *,
    call_id: int | None = None,
    sid: str | None = None,
    hung_up_by: str,
    provider_status: str | None = None,
    actor: Actor | None = None,
) -> bool:
    """End a call, by id or by provider call id; returns False if it had already ended.

    ``hung_up_by`` is ``"caller"`` or ``"operator"`` (P3: the caller hangs up
    first; the record shows who did). An unanswered call becomes a missed or
    abandoned contact, listed until someone calls back. When ``actor`` is
    given, only the operator who answered may end the call. Raises
    :class:`Invalid`, :class:`NotFound` and :class:`Forbidden`.
    """
    if hung_up_by not in ("caller", "operator"):
        raise Invalid("hung_up_by must be 'caller' or 'operator'", "hung_up_by")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        if call_id is not None:
            call = get_call(session, call_id, lock=True)
        else:
            call = session.scalar(
                select(Call).where(Call.provider_call_sid == (sid or "")).with_for_update()
            )
            if call is None:
                raise NotFound("no call '%(sid)s'", "CallSid", sid=sid)
        if actor is not None and call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can end it")
        events = finish(
            session,
            call,
            hung_up_by=hung_up_by,
            provider_status=provider_status,
            at=now,
            now=now,
            flows=flows,
        )
    for event, payload in events:
        flows.publish(event, payload)
    return bool(events)
