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

from callflows.domain.compliance import find_banned_phrases
from callflows.domain.scripts import load_all
from callflows.services import CallFlows, Emitter, flags, incident_sms, outage_notices
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


def _banned_phrases(text: str) -> list[str]:
    """G2: the banned phrases in ``text`` (for the knowledge base's article versions)."""
    return [flag.phrase for flag in find_banned_phrases(text)]


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
    from callflows.web import (
        console,
        console_api,
        flags_page,
        outage_notices,
        quality,
        ring,
        simulator,
        twilio_sms,
        twilio_voice,
    )
    from dispatch.services.scheduler import JOBS_KEY
    from hotline.web.api_base import register as api_register
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
    # G2 in the knowledge base: each article version saved records the banned phrases in it.
    app.extensions["hotline.knowledge.phrase_finder"] = _banned_phrases
    # Incident updates posted on hotline's pages and API are texted to the callers from here.
    app.extensions[SMS_SENDER] = functools.partial(_text_incident_update, flows=flows)
    app.register_blueprint(console.bp)  # the console's pages and the call log
    app.register_blueprint(console_api.api_bp)
    app.register_blueprint(flags_page.bp)  # the supervisors' list of G2 flags
    # Quality checks (质检): the items' file is read now, so a malformed one stops the start.
    quality.standard_of(settings)
    app.register_blueprint(quality.bp)
    api_register(quality.api_bp)
    # JSON endpoints check the X-CSRFToken header themselves (hotline.web.auth.api_actor);
    # Twilio signs its webhooks instead of sending a CSRF token.
    csrf.exempt(console_api.api_bp)
    ring.init_app(app)  # the ringing-call banner on every page of a call taker
    app.register_blueprint(simulator.bp)
    app.register_blueprint(twilio_voice.bp)
    csrf.exempt(twilio_voice.bp)
    app.register_blueprint(twilio_sms.bp)  # case status by SMS reply
    csrf.exempt(twilio_sms.bp)
    app.register_blueprint(outage_notices.bp)  # P8: a new restore time, water back
    # Outbound work as one queue: tasks made where the work arises, pulled one at a time.
    from callflows.services import task_making
    from callflows.web import outbound

    task_making.install(app.extensions["hotline"])
    app.register_blueprint(outbound.bp)
    app.register_blueprint(outbound.api_bp)  # W14: anomalies from the metering system
    csrf.exempt(outbound.api_bp)
    # P8: the leading scheduler texts outage notices to the affected areas.
    app.extensions.setdefault(JOBS_KEY, []).append(
        (
            "outage-notices",
            functools.partial(_send_outage_notices, app, flows),
        )
    )
    return flows


def _text_incident_update(
    svc: Services, actor: Actor, update_id: int, *, flows: CallFlows
) -> incident_sms.SmsReport:
    return incident_sms.send_update_sms(svc, flows, actor, update_id)


def _send_outage_notices(app: Flask, flows: CallFlows) -> str | None:
    """The scheduler's job: outage notices by SMS, and to linked WeChat accounts."""
    from hotline.web.wechat_form import NOTIFIER_KEY

    report = outage_notices.run(
        app.extensions["hotline"],
        flows,
        notifier=app.extensions.get(NOTIFIER_KEY),
        link_base=str(app.config["HOTLINE"].get("wechat_public_base_url") or ""),
    )
    return f"scheduler: {report}" if report.acted else None


def flows_of(app: Flask) -> CallFlows:
    """The call-flow wiring of ``app``."""
    return app.extensions["callflows"]
