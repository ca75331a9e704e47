"""Wiring call flows into the application (called by ``hotline.app.create_app``).

Loads the call scripts at start-up, so a malformed script stops the start with
a :class:`~callflows.domain.scripts.ScriptError` naming the file, the step and the
key; chooses the telephony adapter from the ``telephony`` setting (tests and
embedding programs pass their own); gives hotline's services the G2 check
they call on the staff text they store (``Services.text_checker``); registers
the console, the simulator and the Twilio webhooks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from flask import Flask

from callflows.domain.scripts import load_all
from callflows.services import CallFlows, Emitter, flags, incident_sms
from callflows.telephony import Telephony, TwilioConfig, make_telephony
from hotline.services import Actor, Services
from hotline.settings import SettingsError, resolve_path

__all__ = ["flows_of", "init_app", "load_scripts"]

DEFAULT_SCRIPTS = "callflows/scripts"


def load_scripts(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Every call script, with the utility's names from the settings filled in.

    ``company_name`` fills ``{company}``, ``company_short`` ``{company_short}``
    and ``official_account`` ``{official_account}``. Raises
    :class:`~callflows.domain.scripts.ScriptError` naming the file, step and key of
    the first malformed script, and :class:`SettingsError` for an empty name.
    """
    names = {
        "company": "company_name",
        "company_short": "company_short",
        "official_account": "official_account",
    }
    values: dict[str, str] = {}
    for argument, key in names.items():
        value = settings.get(key)
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"setting '{key}' must be a non-empty text (the scripts say it)")
        if "{" in value or "}" in value:
            raise SettingsError(f"setting '{key}' may not contain braces")
        values[argument] = value
    folder = resolve_path(str(settings.get("call_scripts_path") or DEFAULT_SCRIPTS))
    return load_all(folder, **values)


def _ring_limit(settings: Mapping[str, Any]) -> float:
    value = settings.get("ring_limit_seconds", 15)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SettingsError("setting 'ring_limit_seconds' must be a positive number of seconds")
    return float(value)


def init_app(
    app: Flask,
    settings: Mapping[str, Any],
    *,
    telephony: Telephony | None = None,
    emit: Emitter | None = None,
) -> CallFlows:
    """Bind call flows to ``app``; returns the wiring (also at ``app.extensions["callflows"]``).

    Raises :class:`~callflows.domain.scripts.ScriptError` for a malformed script and
    :class:`SettingsError` naming the key for an unusable setting.
    """
    from callflows.web import console, console_api, flags_page, ring, simulator, twilio_voice
    from hotline.web.api_incidents import SMS_SENDER
    from hotline.web.auth import csrf
    from hotline.web.realtime import emit_to

    scripts = load_scripts(settings)
    inbound = str(settings.get("inbound_script") or "inbound_hotline")
    if inbound not in scripts:
        raise SettingsError(
            f"setting 'inbound_script': no script '{inbound}'; loaded: {', '.join(sorted(scripts))}"
        )
    chosen = settings.get("telephony", "simulator")
    twilio = TwilioConfig.from_settings(settings) if chosen == "twilio" else None
    adapter = telephony if telephony is not None else make_telephony(settings)
    flows = CallFlows(
        scripts=scripts,
        telephony=adapter,
        twilio=twilio,
        emit=emit if emit is not None else emit_to,
        ring_limit_seconds=_ring_limit(settings),
        inbound_script=inbound,
        company_name=str(settings.get("company_name", "")),
        company_short=str(settings.get("company_short", "")),
        hotline_number=str(settings.get("hotline_number", "")),
        simulator_enabled=chosen == "simulator",
    )
    app.extensions["callflows"] = flows
    flags.install(app.extensions["hotline"])  # G2: services flag the staff text they store
    # Incident updates posted on hotline's pages and API are texted to the callers from here.
    app.extensions[SMS_SENDER] = functools.partial(_text_incident_update, flows=flows)
    app.register_blueprint(console.bp)  # the console's pages and the call log
    app.register_blueprint(console_api.api_bp)
    app.register_blueprint(flags_page.bp)  # the supervisors' list of G2 flags
    # JSON endpoints check the X-CSRFToken header themselves (hotline.web.auth.api_actor);
    # Twilio signs its webhooks instead of sending a CSRF token.
    csrf.exempt(console_api.api_bp)
    ring.init_app(app)  # the ringing-call banner on every page of a call taker
    app.register_blueprint(simulator.bp)
    app.register_blueprint(twilio_voice.bp)
    csrf.exempt(twilio_voice.bp)
    return flows


def _text_incident_update(
    svc: Services, actor: Actor, update_id: int, *, flows: CallFlows
) -> incident_sms.SmsReport:
    return incident_sms.send_update_sms(svc, flows, actor, update_id)


def flows_of(app: Flask) -> CallFlows:
    """The call-flow wiring of ``app``."""
    return app.extensions["callflows"]
