"""Reaching the caller afterwards: calling a missed caller back, texting the case number.

Every outbound request is written first as an :class:`OutboundAttempt` and
committed, then the provider is asked once, then the outcome is recorded.
An attempt whose outcome is unknown (the provider may have acted) is never
repeated without someone confirming.

A missed call stays on the call-back list until the caller was reached:
placing the call-back is not enough. The phone system says so when it can
(the caller answered the call-back, :mod:`callflows.services.provider_events`);
otherwise the operator records whether the caller was reached
(:func:`record_call_back_outcome`). Until the last call-back has an outcome,
no other is placed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callflows.models import (
    AttemptKind,
    AttemptStatus,
    Call,
    CallStatus,
    Direction,
    OutboundAttempt,
)
from callflows.services import task_making
from callflows.services.context import CallFlows, TelephonyFailed, get_call, require_taker
from callflows.services.numbers import is_mobile
from callflows.services.submission import promised_text
from callflows.telephony import OutboundCall, OutboundSms, TelephonyError, TelephonyUncertain
from hotline.domain.errors import wording
from hotline.domain.taxonomy import Disposition
from hotline.models import Case, Contact
from hotline.services import Actor, Conflict, Forbidden, Invalid, Services

__all__ = [
    "CALL_BACK",
    "AttemptView",
    "call_back",
    "case_sms_body",
    "mark_reached",
    "record_call_back_outcome",
    "send_case_sms",
]

CALL_BACK = "call_back"
"""The purpose of an attempt that calls a missed caller back."""

#: A call-back placed whose outcome nobody knows yet (the phone system may still tell).
_AWAITING_OUTCOME = frozenset({AttemptStatus.REQUESTED, AttemptStatus.RINGING})


@dataclass(frozen=True)
class AttemptView:
    """An outbound attempt as the console shows it."""

    id: int
    kind: str
    status: str
    provider_sid: str | None
    error: str


def _view(attempt: OutboundAttempt) -> AttemptView:
    return AttemptView(
        attempt.id, str(attempt.kind), str(attempt.status), attempt.provider_sid, attempt.error
    )


def _send(
    svc: Services,
    flows: CallFlows,
    attempt_id: int,
    request: Callable[[], str],
    on_success: Callable[[Session, OutboundAttempt], None] | None = None,
) -> AttemptView:
    """Ask the provider once for an attempt already committed; record the outcome."""
    try:
        provider_sid = request()
    except TelephonyError as exc:
        uncertain = isinstance(exc, TelephonyUncertain)
        with svc.sessions() as session, session.begin():
            attempt = session.get(OutboundAttempt, attempt_id)
            assert attempt is not None
            attempt.status = AttemptStatus.UNCERTAIN if uncertain else AttemptStatus.REFUSED
            attempt.error = str(exc)[:2000]
            attempt.updated_at = svc.now()
        template, params = wording(exc)
        raise TelephonyFailed(template, uncertain=uncertain, **params) from None
    with svc.sessions() as session, session.begin():
        attempt = session.get(OutboundAttempt, attempt_id)
        assert attempt is not None
        attempt.status = AttemptStatus.REQUESTED
        attempt.provider_sid = provider_sid
        attempt.updated_at = svc.now()
        if on_success is not None:
            on_success(session, attempt)
        return _view(attempt)


def _write_attempt(svc: Services, flows: CallFlows, **values: Any) -> int:
    """Write and commit the attempt row before anything is sent."""
    now = svc.now()
    with svc.sessions() as session, session.begin():
        attempt = OutboundAttempt(
            status=AttemptStatus.PENDING,
            provider=flows.telephony.name,
            created_at=now,
            updated_at=now,
            **values,
        )
        session.add(attempt)
        session.flush()
        return attempt.id


def call_back(
    svc: Services,
    flows: CallFlows,
    actor: Actor,
    call_id: int,
    *,
    confirm_uncertain: bool = False,
) -> AttemptView:
    """Call a missed or abandoned caller back through the phone system.

    The attempt is written first; the provider is asked once. The call stays
    on the call-back list until the caller is reached (the phone system says
    the call-back was answered, or :func:`record_call_back_outcome`). Raises
    :class:`Forbidden`, :class:`NotFound`, :class:`Conflict` when the call was
    answered or its caller already reached, or an attempt is still in flight,
    or the last one is placed without an outcome yet (field ``reached``), or
    its outcome is unknown and ``confirm_uncertain`` is not set (someone must
    check before calling again), :class:`Invalid` when the number was
    withheld, and :class:`TelephonyFailed` when the provider did not place
    the call.
    """
    require_taker(actor)
    with svc.sessions() as session:
        call = get_call(session, call_id)
        if call.direction != Direction.INBOUND or call.status not in (
            CallStatus.ABANDONED,
            CallStatus.MISSED,
        ):
            raise Conflict("only a missed or abandoned call is called back", "call")
        if call.called_back_at is not None:
            raise Conflict("this caller has already been reached", "call")
        if not call.from_number:
            raise Invalid("the caller's number was withheld; there is nothing to call", "call")
        last = session.scalar(
            select(OutboundAttempt)
            .where(OutboundAttempt.call_id == call.id, OutboundAttempt.kind == AttemptKind.CALL)
            .order_by(OutboundAttempt.id.desc())
        )
        if last is not None and last.status == AttemptStatus.PENDING:
            raise Conflict("a call-back to this caller is being placed", "call")
        if last is not None and last.status in _AWAITING_OUTCOME:
            raise Conflict(
                "the last call-back has no outcome yet; record whether the caller was reached",
                "reached",
            )
        if last is not None and last.status == AttemptStatus.UNCERTAIN and not confirm_uncertain:
            raise Conflict(
                "the last call-back may have gone out (no clear answer from the phone "
                "system); check, then confirm to call again",
                "confirm_uncertain",
            )
        number = call.from_number
    attempt_id = _write_attempt(
        svc,
        flows,
        kind=AttemptKind.CALL,
        purpose=CALL_BACK,
        to_number=number,
        call_id=call_id,
        requested_by_id=actor.id,
    )

    view = _send(
        svc, flows, attempt_id, lambda: flows.telephony.place_call(OutboundCall(attempt_id, number))
    )
    flows.publish("call_called_back", {"call_id": call_id})
    return view


def mark_reached(session: Session, call: Call, staff_id: int | None, now: datetime) -> bool:
    """The caller of a missed ``call`` was reached: it leaves the call-back list.

    Returns False when it had already left it. Runs in the caller's transaction.
    """
    if call.called_back_at is not None:
        return False
    call.called_back_at = now
    call.called_back_by_id = staff_id
    task_making.call_reached(session, call, now)
    if call.contact_id is not None:
        contact = session.get(Contact, call.contact_id)
        if contact is not None:
            contact.disposition = Disposition.CALLED_BACK
    return True


def record_call_back_outcome(
    svc: Services, flows: CallFlows, actor: Actor, call_id: int, *, reached: bool
) -> AttemptView:
    """Record whether the last call-back reached the caller (one transaction).

    Reached: the call leaves the call-back list. Not reached: it stays, and
    another call-back may be placed. Raises :class:`Forbidden`,
    :class:`NotFound`, and :class:`Conflict` when no call-back is waiting for
    an outcome (none placed, or its outcome already known).
    """
    require_taker(actor)
    with svc.sessions() as session, session.begin():
        call = get_call(session, call_id, lock=True)
        last = session.scalar(
            select(OutboundAttempt)
            .where(OutboundAttempt.call_id == call.id, OutboundAttempt.kind == AttemptKind.CALL)
            .order_by(OutboundAttempt.id.desc())
            .with_for_update()
        )
        if call.called_back_at is not None:
            raise Conflict("this caller has already been reached", "call")
        if last is None or last.status not in _AWAITING_OUTCOME | {AttemptStatus.UNCERTAIN}:
            raise Conflict("no call-back to this caller is waiting for its outcome", "call")
        now = svc.now()
        last.status = AttemptStatus.COMPLETED if reached else AttemptStatus.NOT_REACHED
        last.updated_at = now
        if reached:
            mark_reached(session, call, actor.id, now)
        view = _view(last)
    flows.publish("call_called_back", {"call_id": call_id})
    return view


def case_sms_body(flows: CallFlows, case_number: str, promised: str) -> str:
    """The SMS that gives the caller the case number and promised time."""
    sender = f"【{flows.company_short}】" if flows.company_short else ""
    when = f",我们会在{promised}前处理并给您答复" if promised else ""
    phone = f"。如有疑问请致电{flows.hotline_number}" if flows.hotline_number else ""
    return f"{sender}您好,您的工单号是{case_number}{when}{phone}。感谢您的来电。"


def send_case_sms(svc: Services, flows: CallFlows, actor: Actor, call_id: int) -> AttemptView:
    """Text the caller their case number and promised time (attempt written first).

    Raises :class:`Forbidden`, :class:`NotFound`, :class:`Conflict` when the
    call has no case, :class:`Invalid` when there is no mobile number, and
    :class:`TelephonyFailed`.
    """
    require_taker(actor)
    with svc.sessions() as session:
        call = get_call(session, call_id)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can text its caller")
        case = session.get(Case, call.case_id) if call.case_id else None
        if case is None:
            raise Conflict("the call has no case yet", "call")
        to = case.contact_phone or call.from_number or ""
        if not is_mobile(to):
            raise Invalid("the contact phone is not a mobile number", "contact_phone")
        body = case_sms_body(flows, case.number, promised_text(svc, case.promised_at))
        case_id = case.id
    attempt_id = _write_attempt(
        svc,
        flows,
        kind=AttemptKind.SMS,
        purpose="case_number",
        to_number=to,
        body=body,
        call_id=call_id,
        case_id=case_id,
        requested_by_id=actor.id,
    )
    return _send(
        svc, flows, attempt_id, lambda: flows.telephony.send_sms(OutboundSms(attempt_id, to, body))
    )
