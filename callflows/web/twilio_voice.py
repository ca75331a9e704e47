"""Twilio's webhooks: the inbound voice call, the hold queue, status and recordings.

A call to the hotline number reaches ``/twilio/voice``: the caller hears the
greeting in Mandarin (``<Say>`` with the configured voice, ``cmn-CN``), then
waits in the hotline queue (``<Enqueue>``), where the hold message starts
every 30 seconds (P3's half minute) until an operator answers on the console.
Answering moves the call to ``/twilio/voice/connect``, which dials the
operator's line and records the conversation.

Every request must carry a valid ``X-Twilio-Signature`` for the configured
public base URL (not the URL the app sees behind a proxy); anything else gets
403. Twilio retries webhooks, so each handler is keyed on the CallSid (and the
SequenceNumber for status callbacks) and a repeat changes nothing. A signed
request with a field the hotline cannot keep (text holding a NUL character, a
SequenceNumber that is not ASCII digits within 0..2**31-1, a value too long)
answers 4xx naming the field; a webhook never answers 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from callflows import services as calls
from callflows.domain.engine import REASSURANCE_INTERVAL
from callflows.services import CallFlows, Provider, outage_notices
from callflows.services.outbound_tasks import PURPOSE as TASK_CALL_PURPOSE
from callflows.telephony import (
    DIAL_RESULT_PATH,
    HOLD_PATH,
    OUTBOUND_EVENTS,
    RECORDING_PATH,
    STATUS_PATH,
    TwilioConfig,
)
from hotline.services import Invalid
from hotline.web.forms import MAX_INT, check_fields, check_moment, parse_int
from hotline.web.session import db_session, wiring

bp = Blueprint("twilio_voice", __name__)

F = TypeVar("F", bound=Callable[..., Any])

#: What the caller hears (G1's polite words). {company} is the configured name.
GREETING = "您好,欢迎致电{company}供水服务热线。请您稍等,话务员马上为您服务。"
HOLD_MESSAGE = "您好,话务员正在为其他用户服务,请您稍等,我们会尽快为您接通。"
CONNECTING = "正在为您接通话务员,请稍等。"
OPERATOR_UNAVAILABLE = "对不起,话务员暂时没有接通,请您稍等。"
CALL_BACK_INTRO = "您好,这里是{company}。很抱歉刚才没能及时接听您的来电,现在为您转接话务员,请稍等。"
#: What a customer hears on answering a call placed from an outbound task (a
#: follow-up, a dunning or an abnormal-usage call): no apology for a missed call.
TASK_CALL_INTRO = "您好,这里是{company},现在为您接通客服人员,请稍等。"

#: Mandarin speech runs at about four characters a second; used to time the hold loop.
_CHARS_PER_SECOND = 4
#: How long the operator's line rings before the caller goes back to the queue.
OPERATOR_RING_SECONDS = 20


def _flows() -> CallFlows:
    return current_app.extensions["callflows"]


def _config() -> TwilioConfig:
    config = _flows().twilio
    if config is None:
        abort(404, description="Twilio is not the configured telephony")
    return config


def signed(view: F) -> F:
    """Refuse (403) any request without a valid Twilio signature for the public URL."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        config = _config()
        path = request.path
        if request.query_string:
            path += "?" + request.query_string.decode("utf-8", "replace")
        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(config.auth_token)
        if not signature or not validator.validate(config.url(path), request.form, signature):
            abort(403, description="invalid Twilio signature")
        check_fields(request.form)  # 422 naming a field whose text cannot be stored
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _say(response: VoiceResponse | Dial, text: str, config: TwilioConfig) -> None:
    response.say(text, voice=config.voice, language=config.language)


def _param(name: str, *, required: bool = True, limit: int = 64) -> str:
    value = (request.form.get(name) or "").strip()
    if required and not value:
        raise Invalid("'%(name)s' is required", name, name=name)
    if len(value) > limit:
        raise Invalid("'%(name)s' is too long", name, name=name)
    return value


def _sequence() -> int | None:
    """Twilio's ``SequenceNumber``: ASCII digits from 0 to 2**31 - 1, or none."""
    raw = request.form.get("SequenceNumber") or ""
    if not raw.strip():
        return None
    return parse_int(raw, "SequenceNumber", minimum=0, maximum=MAX_INT)


def _timestamp() -> datetime | None:
    raw = (request.form.get("Timestamp") or "").strip()
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, OverflowError, IndexError):
        raise Invalid("'Timestamp' must be an RFC 2822 date", "Timestamp") from None
    return check_moment(
        moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC), "Timestamp"
    )


def _queue(response: VoiceResponse, config: TwilioConfig) -> None:
    response.enqueue(config.queue_name, wait_url=config.url(HOLD_PATH), wait_url_method="POST")


def hold_pause_seconds(message: str = HOLD_MESSAGE) -> int:
    """The pause after the hold message so that it starts again every 30 seconds (P3)."""
    spoken = math.ceil(len(message) / _CHARS_PER_SECOND)
    return max(int(REASSURANCE_INTERVAL.total_seconds()) - spoken, 1)


@bp.route("/twilio/voice", methods=["POST"])
@signed
def voice() -> Response:
    """An incoming call: record it, greet the caller in Mandarin, queue them."""
    config = _config()
    flows = _flows()
    calls.ring(
        wiring(),
        flows,
        provider=Provider.TWILIO,
        sid=_param("CallSid"),
        from_raw=_param("From", required=False),
        to_raw=_param("To", required=False),
    )
    response = VoiceResponse()
    _say(response, GREETING.format(company=flows.company_name), config)
    # P8: a caller from an address with an outage hears it before the queue.
    outage = outage_notices.caller_announcement(wiring(), request.form.get("From"))
    if outage:
        _say(response, outage, config)
    _queue(response, config)
    return _twiml(response)


@bp.route(HOLD_PATH, methods=["POST"])
@signed
def hold() -> Response:
    """The queue's wait TwiML: the hold message, then silence to the half minute.

    Twilio requests it again whenever it has been played, so the message
    starts every 30 seconds for as long as the caller waits.
    """
    config = _config()
    response = VoiceResponse()
    _say(response, HOLD_MESSAGE, config)
    response.pause(length=hold_pause_seconds())
    return _twiml(response)


@bp.route("/twilio/voice/connect", methods=["POST"])
@signed
def connect() -> Response:
    """The answered caller leaves the queue: dial the operator's line, record the call."""
    config = _config()
    _param("CallSid")
    response = VoiceResponse()
    _say(response, CONNECTING, config)
    dial = response.dial(
        action=config.url(DIAL_RESULT_PATH),
        method="POST",
        timeout=OPERATOR_RING_SECONDS,
        caller_id=config.from_number,
        record="record-from-answer-dual" if config.record_calls else None,
        recording_status_callback=config.url(RECORDING_PATH) if config.record_calls else None,
        recording_status_callback_method="POST" if config.record_calls else None,
    )
    dial.number(
        config.operator_number,
        status_callback=config.url(STATUS_PATH),
        status_callback_method="POST",
        status_callback_event=" ".join(OUTBOUND_EVENTS),
    )
    return _twiml(response)


@bp.route(DIAL_RESULT_PATH, methods=["POST"])
@signed
def dial_result() -> Response:
    """After the operator's line: hang up if they talked; else back to the queue.

    A caller must never be left unattended: when the operator's line did not
    answer, the caller hears an apology, waits in the queue again and the
    call rings on every console.
    """
    config = _config()
    sid = _param("CallSid")
    status = _param("DialCallStatus", required=False).lower()
    response = VoiceResponse()
    if status == "completed":
        response.hangup()
        return _twiml(response)
    calls.requeue(wiring(), _flows(), sid)
    _say(response, OPERATOR_UNAVAILABLE, config)
    _queue(response, config)
    return _twiml(response)


@bp.route(STATUS_PATH, methods=["POST"])
@signed
def status() -> Response:
    """A call progress event (ringing, answered, completed…), kept once per sequence number."""
    _config()
    keep = (
        "CallStatus",
        "CallDuration",
        "Direction",
        "CallbackSource",
        "SequenceNumber",
        "Timestamp",
        "ParentCallSid",
        "AnsweredBy",
    )
    calls.record_status(
        wiring(),
        _flows(),
        sid=_param("CallSid"),
        status=_param("CallStatus", limit=20),
        sequence_number=_sequence(),
        at=_timestamp(),
        parent_sid=_param("ParentCallSid", required=False) or None,
        from_raw=_param("From", required=False),
        to_raw=_param("To", required=False),
        direction=_param("Direction", required=False).lower(),
        data={name: request.form[name] for name in keep if name in request.form},
    )
    return Response(status=204)


@bp.route(RECORDING_PATH, methods=["POST"])
@signed
def recording() -> Response:
    """A recording is ready: keep its link with the call for the supervisors."""
    _config()
    state = _param("RecordingStatus", required=False).lower()
    if state and state != "completed":
        return Response(status=204)  # in-progress or absent: nothing to link yet
    calls.record_recording(
        wiring(),
        sid=_param("CallSid"),
        recording_sid=_param("RecordingSid"),
        recording_url=_param("RecordingUrl", limit=500),
    )
    return Response(status=204)


@bp.route("/twilio/voice/outbound/<id:attempt_id>", methods=["POST"])
@signed
def outbound(attempt_id: int) -> Response:
    """An outbound call was answered: a call-back apologises for the missed call, a
    task's call (follow-up, dunning, abnormal usage) just introduces the utility;
    then the operator who placed it is connected."""
    config = _config()
    flows = _flows()
    attempt = calls.outbound_call_attempt(db_session(), attempt_id)
    if attempt is None:
        abort(404, description=f"no outbound call attempt {attempt_id}")
    intro = TASK_CALL_INTRO if attempt.purpose == TASK_CALL_PURPOSE else CALL_BACK_INTRO
    response = VoiceResponse()
    _say(response, intro.format(company=flows.company_name), config)
    dial = response.dial(
        timeout=OPERATOR_RING_SECONDS,
        caller_id=config.from_number,
        record="record-from-answer-dual" if config.record_calls else None,
        recording_status_callback=config.url(RECORDING_PATH) if config.record_calls else None,
        recording_status_callback_method="POST" if config.record_calls else None,
    )
    dial.number(config.operator_number)
    return _twiml(response)


@bp.route("/twilio/sms/status", methods=["POST"])
@signed
def sms_status() -> Response:
    """An SMS delivery report: move its attempt on."""
    _config()
    calls.record_sms_status(
        wiring(),
        message_sid=_param("MessageSid"),
        status=_param("MessageStatus", limit=20),
    )
    return Response(status=204)
