"""The call service: every change to a call goes through here, one transaction each.

Both telephony adapters feed the same functions: the simulator page and
Twilio's webhooks call :func:`ring` when a call arrives, :func:`record_status`
and :func:`end_call` as it goes, :func:`record_recording` when a recording is
ready. The console calls :func:`answer`, :func:`apply_script` (the script
engine, server-side), :func:`submit` (the call becomes a contact and, where
needed, a case, through ``hotline.services.intake``), :func:`call_back` and
:func:`send_case_sms`.

Refusals are hotline's :class:`~hotline.services.ServiceError` subclasses,
carrying an HTTP status and the field at fault; when one is raised nothing has
been written. Live updates go to the operators only after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflows.domain import live
from callflows.domain.engine import (
    CallEnded,
    CallFlowError,
    InvalidFieldValue,
    MissingCapture,
    ReadBackRequired,
    UnknownField,
)
from callflows.domain.scripts import Script
from callflows.models import (
    ENDED_STATUSES,
    AttemptKind,
    AttemptStatus,
    Call,
    CallStatus,
    CallStatusEvent,
    ComplianceFlag,
    Direction,
    OutboundAttempt,
    Provider,
)
from callflows.services.flags import check_staff_text
from callflows.telephony import (
    OutboundCall,
    OutboundSms,
    Telephony,
    TelephonyError,
    TelephonyUncertain,
    TwilioConfig,
)
from hotline import services
from hotline.domain.phones import InvalidPhoneNumber, display, normalise
from hotline.domain.taxonomy import Category, Channel, Disposition, Priority, Role, TriageOutcome
from hotline.models import Case, Contact, Customer, CustomerPhone
from hotline.services import (
    Actor,
    Conflict,
    Forbidden,
    IntakeCommand,
    IntakeOutcome,
    IntakeResult,
    Invalid,
    NotFound,
    ServiceError,
    Services,
)

log = logging.getLogger(__name__)

__all__ = [
    "OPERATORS_ROOM",
    "CallFlows",
    "ReadBackMissing",
    "SubmitForm",
    "SubmitResult",
    "TelephonyFailed",
    "answer",
    "apply_script",
    "attach_transcript",
    "call_back",
    "choose_customer",
    "end_call",
    "load_script",
    "missed_calls",
    "record_recording",
    "record_sms_status",
    "record_status",
    "requeue",
    "ring",
    "send_case_sms",
    "start_counter_visit",
    "submit",
    "waiting_calls",
]

#: The Socket.IO room every operator's console listens in.
OPERATORS_ROOM = "operators"

#: Roles that take calls on the console.
CALL_TAKERS = frozenset({Role.OPERATOR, Role.SUPERVISOR})

#: A claimed submission not finished within this long is taken to have died.
SUBMIT_CLAIM_TIMEOUT = timedelta(seconds=60)

#: Outcomes that open a case, and so pass P4's read-back gate first.
CASE_OUTCOMES = frozenset(
    {IntakeOutcome.DISPATCH, IntakeOutcome.ANSWER_ON_CALL, IntakeOutcome.TRANSFER}
)

Emitter = Callable[[str, str, Mapping[str, Any]], None]


# -- wiring ------------------------------------------------------------------


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

    def __init__(self, message: str, *, uncertain: bool, field: str | None = None) -> None:
        super().__init__(message, field)
        self.uncertain = uncertain

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "uncertain": self.uncertain}


class ReadBackMissing(Invalid):
    """P4: the case needs problem, need, address and contact, read back and confirmed."""

    def __init__(self, message: str, missing: Sequence[str], confirmed: bool) -> None:
        super().__init__(message, "read_back", "P4")
        self.missing = tuple(missing)
        self.confirmed = confirmed

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "missing": list(self.missing), "confirmed": self.confirmed}


# -- helpers -----------------------------------------------------------------


def read_number(svc: Services, raw: str) -> str | None:
    """E.164 for a caller ID, or ``None`` when withheld or unreadable."""
    if not raw or not raw.strip():
        return None
    try:
        return normalise(raw, region=svc.phone_region, default_area_code=svc.area_code)
    except InvalidPhoneNumber:
        return None


def is_mobile(number: str) -> bool:
    """True when the E.164 ``number`` can receive an SMS (a mobile number)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def _national(number: str | None) -> str:
    return display(number) if number else ""


def _single_customer(session: Session, number: str | None) -> int | None:
    if not number:
        return None
    ids = set(
        session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.number == number))
    )
    return ids.pop() if len(ids) == 1 else None


def _require_taker(actor: Actor) -> None:
    if actor.role not in CALL_TAKERS:
        raise Forbidden(f"role '{actor.role}' does not take calls")


def _get_call(session: Session, call_id: Any, *, lock: bool = False) -> Call:
    query = select(Call).where(Call.id == call_id) if isinstance(call_id, int) else None
    call = session.scalar(query.with_for_update() if lock else query) if query is not None else None
    if call is None:
        raise NotFound(f"no call {call_id!r}", "call")
    return call


def _incoming_payload(session: Session, call: Call) -> dict[str, Any]:
    customer = session.get(Customer, call.customer_id) if call.customer_id else None
    return {
        "call_id": call.id,
        "channel": str(call.channel),
        "from": _national(call.from_number) or call.from_raw,
        "customer": customer.name if customer else None,
        "ringing_at": call.ringing_at.isoformat(),
    }


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
        raise Conflict(str(exc), "call") from None


def _start_script(flows: CallFlows, call: Call, now: Callable[[], datetime]) -> live.LiveScript:
    script = flows.scripts.get(flows.inbound_script)
    if script is None:
        raise Conflict(f"the call script '{flows.inbound_script}' is not loaded", "script")
    known = {}
    if call.from_number and "contact_phone" in script.fields:
        known["contact_phone"] = _national(call.from_number)
    return live.start(script, now, known=known)


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
            customer_id=_single_customer(session, number),
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
    _require_taker(actor)
    number = None
    if caller_number.strip():
        number = read_number(svc, caller_number)
        if number is None:
            raise Invalid(f"'{caller_number}' is not a phone number", "caller_number")
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
            customer_id=_single_customer(session, number),
            created_at=now,
            updated_at=now,
        )
        script = _start_script(flows, call, svc.now)
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
    _require_taker(actor)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = _get_call(session, call_id)
        if call.direction != Direction.INBOUND or call.channel != Channel.PHONE:
            raise Conflict("only incoming phone calls are answered here", "call")
        script = _start_script(flows, call, svc.now)
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
                f"the caller could not be connected: {exc}",
                uncertain=isinstance(exc, TelephonyUncertain),
                field="call",
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
            raise NotFound(f"no call '{sid}'", "CallSid")
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


# -- the script, server-side ---------------------------------------------------


def _engine_refusal(exc: CallFlowError) -> ServiceError:
    """The engine's refusal as a service error naming the field or rule."""
    if isinstance(exc, ReadBackRequired):
        return ReadBackMissing(str(exc), exc.missing, exc.confirmed)
    if isinstance(exc, MissingCapture):
        return Invalid(str(exc), exc.fields[0] if exc.fields else "step")
    if isinstance(exc, CallEnded):
        return Conflict(str(exc), "call")
    if isinstance(exc, UnknownField | InvalidFieldValue):
        return Invalid(str(exc), "field")
    return Invalid(str(exc), "op")


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
    _require_taker(actor)
    args = dict(args or {})
    if op == "capture" and args.get("field") == "contact_phone":
        value = str(args.get("value") or "")
        if value.strip() and read_number(svc, value) is None:
            raise Invalid(f"'{value}' is not a phone number", "contact_phone", "P4")
    with svc.sessions() as session, session.begin():
        call = _get_call(session, call_id, lock=True)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can work its script")
        script = load_script(flows, call, svc.now)
        if op == "end":
            raise Invalid("end the call with the end-call action", "op")
        try:
            script.apply(op, args)
        except ValueError as exc:
            raise Invalid(str(exc), "op") from None
        except CallFlowError as exc:
            raise _engine_refusal(exc) from None
        call.script_state = script.to_state()
        if not script.session.is_live:
            call.compliance = script.session.compliance_record().to_dict()
        call.updated_at = svc.now()


def choose_customer(svc: Services, actor: Actor, call_id: int, account_number: str) -> None:
    """Attach a customer found by search to a call from an unknown number.

    Raises :class:`Forbidden`, :class:`NotFound` for the call or the account.
    """
    _require_taker(actor)
    with svc.sessions() as session, session.begin():
        call = _get_call(session, call_id, lock=True)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can change its caller")
        customer = session.scalar(
            select(Customer).where(Customer.account_number == (account_number or "").strip())
        )
        if customer is None:
            raise NotFound(f"no customer with account '{account_number}'", "customer_account")
        call.customer_id = customer.id
        call.updated_at = svc.now()


# -- the end of a call ---------------------------------------------------------

#: Provider statuses that end a call, and which of them mean it never got through.
_ENDING = {"completed", "canceled", "busy", "no-answer", "failed"}
_NOT_THROUGH = {"busy", "no-answer", "failed"}


def _finish(
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
    elif provider_status in _NOT_THROUGH:
        call.status = CallStatus.MISSED
    else:
        call.status = CallStatus.ABANDONED
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
            call = _get_call(session, call_id, lock=True)
        else:
            call = session.scalar(
                select(Call).where(Call.provider_call_sid == (sid or "")).with_for_update()
            )
            if call is None:
                raise NotFound(f"no call '{sid}'", "CallSid")
        if actor is not None and call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can end it")
        events = _finish(
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


# -- provider callbacks --------------------------------------------------------

#: When a provider sends no sequence number, each status still counts once.
_STATUS_ORDER = (
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "answered",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
_ATTEMPT_STATUS = {
    "ringing": AttemptStatus.RINGING,
    "in-progress": AttemptStatus.ANSWERED,
    "answered": AttemptStatus.ANSWERED,
    "busy": AttemptStatus.NOT_REACHED,
    "no-answer": AttemptStatus.NOT_REACHED,
    "failed": AttemptStatus.NOT_REACHED,
    "canceled": AttemptStatus.NOT_REACHED,
}


def fallback_sequence(status: str) -> int:
    """The sequence number used when the provider sent none: one per status."""
    return 1000 + (_STATUS_ORDER.index(status) if status in _STATUS_ORDER else len(_STATUS_ORDER))


def record_status(
    svc: Services,
    flows: CallFlows,
    *,
    sid: str,
    status: str,
    sequence_number: int | None,
    at: datetime | None = None,
    parent_sid: str | None = None,
    from_raw: str = "",
    to_raw: str = "",
    direction: str = "",
    data: Mapping[str, Any] | None = None,
) -> bool:
    """Record one status callback; returns False when it was a repeat (and changed nothing).

    The event row and its effect are written together, once per call id and
    sequence number: ringing (ringing time), answered (an outbound call's
    answer time), and the end (completed, or missed / abandoned when nobody
    answered). A child leg (the operator's line) is recorded against its
    parent and changes nothing else. Raises :class:`Invalid` naming the
    parameter for a missing call id or status.
    """
    sid = (sid or "").strip()
    status = (status or "").strip().lower()
    if not sid or len(sid) > 64:
        raise Invalid("the call id is missing or too long", "CallSid")
    if not status or len(status) > 20:
        raise Invalid("the call status is missing", "CallStatus")
    sequence = sequence_number if sequence_number is not None else fallback_sequence(status)
    now = svc.now()
    moment = at or now
    events: list[tuple[str, dict[str, Any]]] = []
    with svc.sessions() as session:
        try:
            with session.begin():
                session.add(
                    CallStatusEvent(
                        call_sid=sid,
                        parent_call_sid=parent_sid or None,
                        sequence_number=sequence,
                        status=status,
                        at=moment,
                        received_at=now,
                        data=dict(data or {}),
                    )
                )
                session.flush()
                if not parent_sid:
                    events = _apply_status(
                        svc, session, flows, sid, status, moment, now, from_raw, to_raw, direction
                    )
        except IntegrityError:
            seen = session.scalar(
                select(CallStatusEvent.id).where(
                    CallStatusEvent.call_sid == sid, CallStatusEvent.sequence_number == sequence
                )
            )
            if seen is None:
                raise  # another constraint: let the provider retry later
            # Twilio retried a callback already recorded: same call, same sequence number.
            return False
    for event, payload in events:
        flows.publish(event, payload)
    return True


def _apply_status(
    svc: Services,
    session: Session,
    flows: CallFlows,
    sid: str,
    status: str,
    moment: datetime,
    now: datetime,
    from_raw: str,
    to_raw: str,
    direction: str,
) -> list[tuple[str, dict[str, Any]]]:
    attempt = session.scalar(
        select(OutboundAttempt).where(OutboundAttempt.provider_sid == sid).with_for_update()
    )
    call = session.scalar(select(Call).where(Call.provider_call_sid == sid).with_for_update())
    if call is None:
        outbound = attempt is not None or direction.startswith("outbound")
        number = read_number(svc, to_raw if outbound else from_raw)
        call = Call(
            provider=Provider.TWILIO,
            provider_call_sid=sid,
            channel=Channel.PHONE,
            direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
            from_number=number,
            from_raw=((to_raw if outbound else from_raw) or "")[:64],
            to_number=read_number(svc, from_raw if outbound else to_raw),
            status=CallStatus.RINGING,
            ringing_at=moment,
            customer_id=_single_customer(session, number),
            case_id=attempt.case_id if attempt is not None else None,
            created_at=now,
            updated_at=now,
        )
        session.add(call)
        session.flush()
    if attempt is not None and status in _ATTEMPT_STATUS:
        attempt.status = _ATTEMPT_STATUS[status]
        attempt.updated_at = now
    events: list[tuple[str, dict[str, Any]]] = []
    outbound = call.direction == Direction.OUTBOUND
    if status == "ringing" and (outbound or call.ringing_at > moment):
        # An outbound call's row may have been made at 'initiated'; it rings now.
        call.ringing_at = moment
    elif status in ("in-progress", "answered") and outbound:
        if call.answered_at is None:
            call.answered_at = moment
            call.status = CallStatus.IN_PROGRESS
    elif status in _ENDING:
        if attempt is not None and status == "completed":
            attempt.status = (
                AttemptStatus.COMPLETED
                if call.answered_at is not None or attempt.status == AttemptStatus.ANSWERED
                else AttemptStatus.NOT_REACHED
            )
            attempt.updated_at = now
        events = _finish(
            session,
            call,
            hung_up_by="caller",
            provider_status=status,
            at=moment,
            now=now,
            flows=flows,
        )
    if outbound and call.answered_at is not None:
        # Callbacks can arrive out of order; measure once both times are known.
        call.ring_to_answer_seconds = max((call.answered_at - call.ringing_at).total_seconds(), 0.0)
    call.updated_at = now
    return events


def record_recording(svc: Services, *, sid: str, recording_sid: str, recording_url: str) -> bool:
    """Store a call's recording link (for the supervisor's call log).

    Idempotent: the same callback again changes nothing and returns False.
    Raises :class:`Invalid` for a missing parameter and :class:`NotFound` for
    an unknown call.
    """
    for name, value in (
        ("CallSid", sid),
        ("RecordingSid", recording_sid),
        ("RecordingUrl", recording_url),
    ):
        if not value or not value.strip():
            raise Invalid(f"'{name}' is required", name)
    if not recording_url.startswith("https://") or len(recording_url) > 500:
        raise Invalid("'RecordingUrl' must be an https link", "RecordingUrl")
    with svc.sessions() as session, session.begin():
        call = session.scalar(select(Call).where(Call.provider_call_sid == sid).with_for_update())
        if call is None:
            raise NotFound(f"no call '{sid}'", "CallSid")
        if call.recording_sid == recording_sid and call.recording_url == recording_url:
            return False
        call.recording_sid = recording_sid
        call.recording_url = recording_url
        call.updated_at = svc.now()
    return True


def record_sms_status(svc: Services, *, message_sid: str, status: str) -> bool:
    """Move an SMS attempt on from Twilio's delivery callback; False if unknown or unchanged."""
    mapping = {
        "sent": AttemptStatus.REQUESTED,
        "delivered": AttemptStatus.COMPLETED,
        "undelivered": AttemptStatus.NOT_REACHED,
        "failed": AttemptStatus.NOT_REACHED,
    }
    target = mapping.get((status or "").strip().lower())
    if not message_sid or target is None:
        return False
    with svc.sessions() as session, session.begin():
        attempt = session.scalar(
            select(OutboundAttempt)
            .where(OutboundAttempt.provider_sid == message_sid)
            .with_for_update()
        )
        if attempt is None or attempt.status == target:
            return False
        attempt.status = target
        attempt.updated_at = svc.now()
    return True


def attach_transcript(
    svc: Services,
    *,
    call_id: int,
    turns: Sequence[Mapping[str, str]],
    staff_id: int | None = None,
) -> int:
    """Store a call's transcript and flag G2 phrases in the staff's turns; returns the flags.

    ``turns`` are ``{"speaker": "staff" | "caller", "text": ...}`` in order;
    only staff turns are checked (a caller may say anything). A new transcript
    replaces the old one and its flags. Raises :class:`Invalid` for a turn
    without a known speaker or text and :class:`NotFound` for the call.
    """
    cleaned: list[dict[str, str]] = []
    for index, turn in enumerate(turns):
        speaker, text = turn.get("speaker"), turn.get("text")
        if speaker not in ("staff", "caller") or not isinstance(text, str):
            raise Invalid(f"turn {index + 1} needs a speaker (staff or caller) and text", "turns")
        cleaned.append({"speaker": speaker, "text": text})
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = _get_call(session, call_id, lock=True)
        session.query(ComplianceFlag).filter(
            ComplianceFlag.call_id == call.id, ComplianceFlag.source == "transcript"
        ).delete(synchronize_session=False)
        call.transcript = cleaned
        staff = staff_id if staff_id is not None else call.answered_by_id
        flags = check_staff_text(
            session,
            session.get(Case, call.case_id) if call.case_id is not None else None,
            None,
            [("transcript", turn["text"]) for turn in cleaned if turn["speaker"] == "staff"],
            staff,
            at=now,
            call_id=call.id,
        )
        call.updated_at = now
        return len(flags)


# -- the call becomes a case ---------------------------------------------------


@dataclass
class SubmitForm:
    """What the console's case column sends besides what the script captured.

    Script fields (category, priority, triage, told_caller…) come from the
    script session when it has them; P4's four (problem, need, address,
    contact phone) come only from it, since only those were read back.
    """

    outcome: IntakeOutcome
    category: Category | None = None
    priority: Priority | None = None
    triage: TriageOutcome | None = None
    pipe_size_dn: int | None = None
    customer_account: str = ""
    answer: str = ""
    target_department_id: int | None = None
    told_caller: str = ""
    join_case_number: str = ""
    summary: str = ""


@dataclass(frozen=True)
class SubmitResult:
    """What the operator reads to the caller."""

    contact_id: int
    case_number: str | None
    state: str | None
    promised_at: datetime | None
    promised_text: str
    due_at: datetime | None
    flags: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def promised_text(svc: Services, moment: datetime | None) -> str:
    """A promised time as the script says it: ``11月27日09:00`` in the utility's zone."""
    if moment is None:
        return ""
    local = moment.astimezone(svc.timezone)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def _claim_submission(svc: Services, call_id: int, now: datetime) -> None:
    with svc.sessions() as session, session.begin():
        call = _get_call(session, call_id)
        claimed = session.execute(
            update(Call)
            .where(
                Call.id == call_id,
                Call.contact_id.is_(None),
                (Call.submit_claimed_at.is_(None))
                | (Call.submit_claimed_at < now - SUBMIT_CLAIM_TIMEOUT),
            )
            .values(submit_claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.refresh(call)
            if call.case_id is not None:
                number = session.scalar(select(Case.number).where(Case.id == call.case_id))
                raise Conflict(f"this call was already recorded as case {number}", "call")
            if call.contact_id is not None:
                raise Conflict("this call was already recorded", "call")
            raise Conflict("this call is being recorded right now; wait a moment", "call")


def _release_submission(svc: Services, call_id: int) -> None:
    with svc.sessions() as session, session.begin():
        session.execute(
            update(Call)
            .where(Call.id == call_id, Call.contact_id.is_(None))
            .values(submit_claimed_at=None)
            .execution_options(synchronize_session=False)
        )


def _command(
    session: Session,
    call: Call,
    fields: Mapping[str, str],
    form: SubmitForm,
    *,
    read_back_confirmed: bool,
) -> IntakeCommand:
    def choice(enum_cls: type, name: str, given: Any) -> Any:
        raw = fields.get(name)
        if raw:
            return enum_cls(raw)
        return given

    account = form.customer_account.strip()
    if not account and call.customer_id is not None:
        account = (
            session.scalar(select(Customer.account_number).where(Customer.id == call.customer_id))
            or ""
        )
    return IntakeCommand(
        channel=Channel(call.channel),
        outcome=form.outcome,
        caller_number=call.from_number or "",
        caller_name=fields.get("caller_name", ""),
        customer_account=account,
        category=choice(Category, "category", form.category),
        priority=choice(Priority, "priority", form.priority) or Priority.NORMAL,
        problem=fields.get("problem", ""),
        need=fields.get("need", ""),
        address=fields.get("address", ""),
        contact_name=fields.get("caller_name", ""),
        contact_phone=fields.get("contact_phone", ""),
        triage=choice(TriageOutcome, "triage", form.triage),
        pipe_size_dn=form.pipe_size_dn,
        read_back_confirmed=read_back_confirmed,
        answer=form.answer,
        target_department_id=form.target_department_id,
        told_caller=fields.get("caller_told", "") or form.told_caller,
        join_case_number=form.join_case_number,
        summary=form.summary,
        started_at=call.ringing_at,
        answered_at=call.answered_at,
    )


def submit(
    svc: Services, flows: CallFlows, actor: Actor, call_id: int, form: SubmitForm
) -> SubmitResult:
    """Turn the call into a contact and, for a case outcome, a case (one per call).

    P4 is enforced here, on the server: a case outcome goes to
    ``hotline.services.intake`` with the read-back confirmed only when the
    script engine's :meth:`~callflows.domain.engine.CallSession.require_ready_to_submit`
    passes. Raises :class:`ReadBackMissing` (P4), :class:`Forbidden`,
    :class:`NotFound`, :class:`Conflict` (already recorded), and every
    refusal of ``intake`` (:class:`Invalid` naming the field…). Nothing is
    written when one is raised.
    """
    _require_taker(actor)
    with svc.sessions() as session:
        call = _get_call(session, call_id)
        if call.answered_by_id != actor.id:
            raise Forbidden("only the operator who answered this call can record it")
        script = load_script(flows, call, svc.now)
        # P4: the engine alone says whether the read-back was confirmed.
        confirmed = False
        if form.outcome in CASE_OUTCOMES:
            try:
                script.session.require_ready_to_submit()
            except ReadBackRequired as exc:
                raise ReadBackMissing(str(exc), exc.missing, exc.confirmed) from None
            confirmed = True
        try:
            command = _command(
                session, call, script.session.fields, form, read_back_confirmed=confirmed
            )
        except ValueError as exc:
            raise Invalid(str(exc), "field") from None
    now = svc.now()
    _claim_submission(svc, call_id, now)
    try:
        result: IntakeResult = services.intake(svc, actor, command)
    except Exception:
        _release_submission(svc, call_id)
        raise
    text = promised_text(svc, result.promised_at)
    try:
        flags = _link_submission(svc, flows, actor, call_id, result, form, text, now)
    except Exception:
        # The case exists and its number must be read to the caller; the claim
        # stays, so the call cannot open a second case. The link is logged.
        log.exception(
            "call %s became contact %s but could not be linked", call_id, result.contact_id
        )
        flags = ()
    return SubmitResult(
        contact_id=result.contact_id,
        case_number=result.case_number,
        state=str(result.state) if result.state else None,
        promised_at=result.promised_at,
        promised_text=text,
        due_at=result.due_at,
        flags=flags,
    )


def _link_submission(
    svc: Services,
    flows: CallFlows,
    actor: Actor,
    call_id: int,
    result: IntakeResult,
    form: SubmitForm,
    text: str,
    claimed_at: datetime,
) -> tuple[dict[str, Any], ...]:
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = _get_call(session, call_id, lock=True)
        call.contact_id = result.contact_id
        case_id = (
            session.scalar(select(Case.id).where(Case.number == result.case_number))
            if result.case_number
            else None
        )
        call.case_id = case_id
        contact = session.get(Contact, result.contact_id)
        if contact is not None and call.ended_at is not None:
            contact.ended_at = call.ended_at
        if case_id is not None:
            # The flags this submission's own case events raised (hotline's
            # intake stored them with the case) now belong to the call as well.
            session.execute(
                update(ComplianceFlag)
                .where(
                    ComplianceFlag.case_id == case_id,
                    ComplianceFlag.call_id.is_(None),
                    ComplianceFlag.staff_id == actor.id,
                    ComplianceFlag.at >= claimed_at,
                )
                .values(call_id=call.id)
                .execution_options(synchronize_session=False)
            )
        if result.case_number is None:
            # No case, so no case event carried the summary: flag it on the call.
            check_staff_text(
                session, None, None, [("summary", form.summary)], actor.id, at=now, call_id=call.id
            )
        script = load_script(flows, call, svc.now)
        for name, value in (("case_number", result.case_number), ("promised_time", text)):
            if value and name in script.session.script.fields:
                script.apply("capture", {"field": name, "value": value})
        call.script_state = script.to_state()
        if not script.session.is_live:
            call.compliance = script.session.compliance_record().to_dict()
        call.updated_at = now
        session.flush()
        flags = session.scalars(
            select(ComplianceFlag)
            .where(ComplianceFlag.call_id == call.id)
            .order_by(ComplianceFlag.id)
        ).all()
        return tuple({"source": f.source, "phrase": f.phrase, "excerpt": f.excerpt} for f in flags)


# -- calls going out -----------------------------------------------------------


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
        raise TelephonyFailed(str(exc), uncertain=uncertain) from None
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

    The attempt is written first; the provider is asked once. On success the
    call leaves the missed list. Raises :class:`Forbidden`, :class:`NotFound`,
    :class:`Conflict` when the call was answered or already called back, or
    an attempt is still in flight, or the last one's outcome is unknown and
    ``confirm_uncertain`` is not set (someone must check before calling
    again), :class:`Invalid` when the number was withheld, and
    :class:`TelephonyFailed` when the provider did not place the call.
    """
    _require_taker(actor)
    with svc.sessions() as session:
        call = _get_call(session, call_id)
        if call.direction != Direction.INBOUND or call.status not in (
            CallStatus.ABANDONED,
            CallStatus.MISSED,
        ):
            raise Conflict("only a missed or abandoned call is called back", "call")
        if call.called_back_at is not None:
            raise Conflict("this caller has already been called back", "call")
        if not call.from_number:
            raise Invalid("the caller's number was withheld; there is nothing to call", "call")
        last = session.scalar(
            select(OutboundAttempt)
            .where(OutboundAttempt.call_id == call.id, OutboundAttempt.kind == AttemptKind.CALL)
            .order_by(OutboundAttempt.id.desc())
        )
        if last is not None and last.status == AttemptStatus.PENDING:
            raise Conflict("a call-back to this caller is being placed", "call")
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
        purpose="call_back",
        to_number=number,
        call_id=call_id,
        requested_by_id=actor.id,
    )

    def mark_called_back(session: Session, attempt: OutboundAttempt) -> None:
        called = session.get(Call, call_id)
        assert called is not None
        called.called_back_at = svc.now()
        called.called_back_by_id = actor.id
        if called.contact_id is not None:
            contact = session.get(Contact, called.contact_id)
            if contact is not None:
                contact.disposition = Disposition.CALLED_BACK

    view = _send(
        svc,
        flows,
        attempt_id,
        lambda: flows.telephony.place_call(OutboundCall(attempt_id, number)),
        mark_called_back,
    )
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
    _require_taker(actor)
    with svc.sessions() as session:
        call = _get_call(session, call_id)
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


# -- reading -------------------------------------------------------------------


def waiting_calls(session: Session, *, limit: int = 20) -> list[Call]:
    """Incoming calls ringing now, longest waiting first."""
    return list(
        session.scalars(
            select(Call)
            .where(
                Call.status == CallStatus.RINGING,
                Call.direction == Direction.INBOUND,
                Call.ended_at.is_(None),
            )
            .order_by(Call.ringing_at)
            .limit(limit)
        )
    )


def missed_calls(session: Session, *, limit: int = 50) -> list[Call]:
    """Missed and abandoned calls nobody has called back yet, newest first."""
    return list(
        session.scalars(
            select(Call)
            .where(
                Call.status.in_([CallStatus.ABANDONED, CallStatus.MISSED]),
                Call.direction == Direction.INBOUND,
                Call.called_back_at.is_(None),
            )
            .order_by(Call.ringing_at.desc())
            .limit(limit)
        )
    )


def last_attempts(session: Session, call_ids: Sequence[int]) -> dict[int, OutboundAttempt]:
    """The latest outbound attempt for each call id that has one."""
    if not call_ids:
        return {}
    latest: dict[int, OutboundAttempt] = {}
    for attempt in session.scalars(
        select(OutboundAttempt)
        .where(OutboundAttempt.call_id.in_(call_ids))
        .order_by(OutboundAttempt.id)
    ):
        assert attempt.call_id is not None
        latest[attempt.call_id] = attempt
    return latest


def is_ended(call: Call) -> bool:
    """True when the call has ended (by status or end time)."""
    return call.ended_at is not None or call.status in ENDED_STATUSES
