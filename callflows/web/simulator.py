"""The simulator (模拟来电): place a call into the hotline as a caller would.

With ``telephony = "simulator"`` (the embedded default) anyone logged in can
ring the hotline from ``/simulator``: the call pops up on every operator's
console exactly as a real one does, and the simulated caller can hang up
before or after it is answered. ``hotline simulate-call`` does the same from
the command line. Outbound calls and SMS the product sends are listed on the
same page, since the simulator has no phone to ring. The simulated caller's
page shows what the caller hears before the queue (the greeting and any
outage at their address, P8), and the page can text the hotline a case
number as a resident would (the reply is the case's status).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from callflows import services as calls
from callflows.services import CallFlows, Provider, outage_notices
from callflows.telephony import SimulatorTelephony
from callflows.web.twilio_sms import reply_to_text
from callflows.web.twilio_voice import GREETING
from hotline.domain.phones import display
from hotline.services import Invalid, Services
from hotline.web import labels
from hotline.web.i18n import local_time
from hotline.web.session import fresh_db_session, wiring

if TYPE_CHECKING:
    from callflows.models import Call

bp = Blueprint("simulator", __name__, template_folder="templates")

#: The caller a newcomer tries first: a demo customer with an account.
DEFAULT_CALLER = "13805341234"


def _flows() -> CallFlows:
    flows: CallFlows = current_app.extensions["callflows"]
    if not flows.simulator_enabled:
        abort(404, description=_("模拟来电仅在模拟电话模式下可用"))
    return flows


def place_call(svc: Services, flows: CallFlows, from_number: str) -> int:
    """Ring the hotline from ``from_number`` as a simulated caller; returns the call id.

    Raises :class:`Invalid` naming ``from`` for an empty or unreadable number.
    """
    text = (from_number or "").strip()
    if not text:
        raise Invalid("give the number the call comes from", "from")
    if calls.read_number(svc, text) is None:
        raise Invalid("'%(number)s' is not a phone number", "from", number=text)
    call_id, _created = calls.ring(
        svc,
        flows,
        provider=Provider.SIMULATOR,
        sid=f"SIM-{uuid.uuid4().hex}",
        from_raw=text,
        to_raw=flows.hotline_number,
    )
    return call_id


def _status(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "status": str(call.status),
        "answered": call.answered_at is not None,
        "answered_by": call.answered_by.display_name if call.answered_by else "",
        "ended": call.ended_at is not None,
        "ringing_at": local_time(call.ringing_at, "%H:%M:%S"),
        "answered_at": local_time(call.answered_at, "%H:%M:%S"),
        "ended_at": local_time(call.ended_at, "%H:%M:%S"),
    }


def _call(call_id: int) -> Call:
    return calls.simulated_call(fresh_db_session(), call_id)


@bp.route("/simulator", methods=["GET", "POST"])
@login_required
def page() -> Any:
    """The caller's side: a number to ring from, and what the line has sent out."""
    flows = _flows()
    if request.method == "POST":
        try:
            call_id = place_call(wiring(), flows, request.form.get("from", ""))
        except Invalid as exc:
            return _page(flows, error=exc, status=exc.status)
        return redirect(url_for("simulator.call", call_id=call_id))
    return _page(flows)


def _page(flows: CallFlows, *, error: Invalid | None = None, status: int = 200, **sms: Any) -> Any:
    """The simulator page; ``sms`` holds the text sent to the hotline and its reply."""
    telephony = flows.telephony
    sent = telephony if isinstance(telephony, SimulatorTelephony) else None
    return (
        render_template(
            "callflows/simulator.html",
            error=error,
            number=request.form.get("from", DEFAULT_CALLER) if error else DEFAULT_CALLER,
            calls_out=list(reversed(sent.calls)) if sent else [],
            messages=list(reversed(sent.messages)) if sent else [],
            display=display,
            labels=labels,
            sms_from=sms.get("sms_from", DEFAULT_CALLER),
            sms_body=sms.get("sms_body", ""),
            sms_reply=sms.get("sms_reply"),
            sms_error=sms.get("sms_error"),
        ),
        status,
    )


@bp.route("/simulator/sms", methods=["POST"])
@login_required
def text_hotline() -> Any:
    """Text the hotline as a resident would (a case number); the page shows the reply."""
    flows = _flows()
    sender = request.form.get("from", "")
    body = request.form.get("body", "")
    try:
        reply = reply_to_text(sender, body)
    except Invalid as exc:
        return _page(flows, sms_from=sender, sms_body=body, sms_error=exc, status=exc.status)
    if reply is None:
        return _page(
            flows,
            sms_from=sender,
            sms_body=body,
            sms_reply=_("发送过于频繁,热线不再回复这个号码"),
            status=429,
        )
    return _page(flows, sms_from=sender, sms_body=body, sms_reply=reply)


@bp.route("/simulator/calls/<id:call_id>")
@login_required
def call(call_id: int) -> Any:
    """The simulated caller on the line: ringing, answered, ended; a hang-up button."""
    flows = _flows()
    found = _call(call_id)
    heard = [GREETING.format(company=flows.company_name)]
    outage = outage_notices.caller_announcement(wiring(), found.from_number)
    if outage:
        heard.append(outage)
    return render_template(
        "callflows/simulator_call.html",
        call=found,
        state=_status(found),
        heard=heard,
        caller=display(found.from_number) if found.from_number else found.from_raw,
        labels=labels,
    )


@bp.route("/simulator/calls/<id:call_id>/status")
@login_required
def call_status(call_id: int) -> Any:
    """The simulated call's state as JSON (the caller's page polls it)."""
    _flows()
    return _status(_call(call_id))


@bp.route("/simulator/calls/<id:call_id>/hang-up", methods=["POST"])
@login_required
def hang_up(call_id: int) -> Any:
    """The simulated caller hangs up (unanswered: the call becomes abandoned)."""
    flows = _flows()
    _call(call_id)
    calls.end_call(wiring(), flows, call_id=call_id, hung_up_by="caller")
    return redirect(url_for("simulator.call", call_id=call_id))
