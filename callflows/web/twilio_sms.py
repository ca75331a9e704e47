"""Twilio's inbound SMS webhook: a resident texts a case number, the reply is its status.

Twilio posts each text sent to the hotline number to ``/twilio/sms``, signed
like the voice webhooks (``X-Twilio-Signature`` over the configured public
base URL; anything else answers 403 and nothing is read). The reply is TwiML
``<Message>`` built by ``callflows.services.sms_status``: the stage, promised
time and next step of the case, only when the texting number is the case's
contact number. Texts are counted per number (:data:`TEXTS_PER_NUMBER`);
beyond that the text gets no reply at all, so nobody can make the hotline
text a number over and over. The simulator page sends a text the same way
(:func:`reply_to_text`).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from limits import parse as parse_limit
from twilio.twiml.messaging_response import MessagingResponse

from callflows.services import CallFlows
from callflows.services.sms_status import status_reply
from callflows.web.twilio_voice import signed
from hotline.services import Invalid
from hotline.web.auth import throttle
from hotline.web.session import wiring

bp = Blueprint("twilio_sms", __name__)

#: Status texts one number may send (every text counts, answered or not).
TEXTS_PER_NUMBER = parse_limit("5 per hour")
#: The longest text read (Twilio joins a long SMS into one body of at most 1,600).
BODY_MAX = 1600


def reply_to_text(from_raw: str, body: str) -> str | None:
    """The reply to a text from ``from_raw``, or None when the number has texted too often.

    Raises :class:`Invalid` naming ``From`` or ``Body`` for a missing number or
    an over-long text, before anything is counted.
    """
    sender = (from_raw or "").strip()
    if not sender or len(sender) > 40:
        raise Invalid("'From' must be the sender's number (at most 40 characters)", "From")
    if len(body or "") > BODY_MAX:
        raise Invalid("'Body' is longer than %(limit)d characters", "Body", limit=BODY_MAX)
    guard = throttle()
    checks = [(TEXTS_PER_NUMBER, "sms-status-number", sender)]
    if guard.wait(checks):
        return None
    guard.failed(checks)
    flows: CallFlows = current_app.extensions["callflows"]
    return status_reply(wiring(), flows, sender, body or "")


@bp.route("/twilio/sms", methods=["POST"])
@signed
def inbound_sms() -> Response:
    """A text to the hotline number: answer with the case's status (or nothing, throttled)."""
    reply = reply_to_text(request.form.get("From", ""), request.form.get("Body", ""))
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), mimetype="text/xml")
