"""What the phone system tells us after the fact: call status, recordings, SMS delivery, transcripts.

Every callback is idempotent: a provider retries webhooks, so a repeat is
recognised (by call id and sequence number, or by the value already stored)
and changes nothing. A transcript is stored with the G2 flags found in the
staff's turns, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callflows.models import (
    AttemptStatus,
    Call,
    CallStatus,
    CallStatusEvent,
    ComplianceFlag,
    Direction,
    OutboundAttempt,
    Provider,
)
from callflows.services.context import CallFlows, get_call
from callflows.services.flags import check_staff_text
from callflows.services.inbound import ENDING_STATUSES, finish
from callflows.services.numbers import read_number, single_customer
from callflows.services.outbound import CALL_BACK, mark_reached
from hotline.domain.taxonomy import Channel
from hotline.models import Case
from hotline.services import Invalid, NotFound, Services

__all__ = [
    "attach_transcript",
    "fallback_sequence",
    "record_recording",
    "record_sms_status",
    "record_status",
]

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
            customer_id=single_customer(session, number),
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
    elif status in ENDING_STATUSES:
        if attempt is not None and status == "completed":
            attempt.status = (
                AttemptStatus.COMPLETED
                if call.answered_at is not None or attempt.status == AttemptStatus.ANSWERED
                else AttemptStatus.NOT_REACHED
            )
            attempt.updated_at = now
        events = finish(
            session,
            call,
            hung_up_by="caller",
            provider_status=status,
            at=moment,
            now=now,
            flows=flows,
        )
    if (
        attempt is not None
        and attempt.purpose == CALL_BACK
        and attempt.call_id is not None
        and attempt.status in (AttemptStatus.ANSWERED, AttemptStatus.COMPLETED)
    ):
        # The caller answered the call-back: the missed call leaves the list.
        missed = session.get(Call, attempt.call_id, with_for_update=True)
        if missed is not None and mark_reached(session, missed, attempt.requested_by_id, now):
            events.append(("call_called_back", {"call_id": missed.id}))
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
            raise Invalid("'%(name)s' is required", name, name=name)
    if not recording_url.startswith("https://") or len(recording_url) > 500:
        raise Invalid("'RecordingUrl' must be an https link", "RecordingUrl")
    with svc.sessions() as session, session.begin():
        call = session.scalar(select(Call).where(Call.provider_call_sid == sid).with_for_update())
        if call is None:
            raise NotFound("no call '%(sid)s'", "CallSid", sid=sid)
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
            raise Invalid(
                "turn %(turn)s needs a speaker (staff or caller) and text", "turns", turn=index + 1
            )
        cleaned.append({"speaker": speaker, "text": text})
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = get_call(session, call_id, lock=True)
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
