"""The REST API's incident updates (事件进展), and the one way pages post them too.

``POST /api/cases/<number>/incident-updates`` (dispatchers and supervisors)
records an update on an incident and in every caller's case merged into it
(:func:`hotline.services.incidents.post_update`); ``GET`` lists the updates of
the incident a case belongs to. The case page's form loads the same
:class:`IncidentUpdateSchema` and calls :func:`post_incident_update`.

Texting the update to the callers is the call-flow area's
(``callflows.services.incident_sms``): it registers a sender under
:data:`SMS_SENDER` at start-up, and ``send_sms`` hands the saved update to it
once the request's work is committed, after the response is made. A failed
text never turns the saved update into an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, after_this_request, current_app, has_request_context
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from hotline.db import run_guarded
from hotline.domain.lifecycle import OPEN_STATES, State
from hotline.services import Actor, Invalid, Services
from hotline.services.incidents import (
    MAX_CAUSE,
    MAX_TEXT,
    UPDATE_ROLES,
    UpdateView,
    list_updates,
    notice_body,
    post_update,
)
from hotline.web.api_base import ApiBlueprint, InputSchema, Moment, refusal, request_actor, rules
from hotline.web.realtime import emit_to
from hotline.web.session import db_session, wiring

__all__ = ["SMS_SENDER", "IncidentUpdateSchema", "bp", "post_incident_update"]


#: The live room of everyone who takes calls, and the event the consoles hear.
OPERATORS_ROOM = "operators"
INCIDENT_EVENT = "incident_update"

#: ``app.extensions`` key of the texting of updates: ``sender(svc, actor, update_id)``.
SMS_SENDER = "hotline.incident_sms"
#: How a failure to text an update is counted (``hotline.db.after_commit_failures``, /health).
SMS_FAILURE_KIND = "incident sms"

bp = ApiBlueprint(
    "api_incidents",
    __name__,
    url_prefix="/api",
    description="Incidents (a main break, many callers): updates to every caller's case. "
    "事件进展:同步到每个来电人的工单。",
)


class IncidentUpdateSchema(InputSchema):
    """An update on an incident: at least one of cause, estimated restore time, text."""

    class Meta:
        unknown = RAISE

    cause = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_CAUSE),
        metadata={"description": "what happened (原因), e.g. a burst DN300 main"},
    )
    estimated_restore_at = Moment(
        load_default=None,
        allow_none=True,
        metadata={"description": "when water is expected back (预计恢复供水时间); ahead of now"},
    )
    text = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_TEXT),
        metadata={"description": "free text"},
    )
    send_sms = fields.Boolean(
        load_default=False,
        metadata={"description": "also text the update to each caller's contact phone, once"},
    )


class IncidentUpdateOutSchema(Schema):
    id = fields.Integer()
    incident = fields.String(metadata={"description": "the incident's case number"})
    cause = fields.String()
    estimated_restore_at = fields.DateTime(allow_none=True)
    text = fields.String()
    by_id = fields.Integer()
    by_name = fields.String()
    at = fields.DateTime()
    children = fields.Integer(metadata={"description": "callers' cases the update reached"})
    sms_requested = fields.Boolean()


def _dispatch_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 for a role that does not run incidents, before the body is read."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request_actor().role not in UPDATE_ROLES:
            abort(403, description="only dispatchers and supervisors post incident updates")
        return view(*args, **kwargs)

    return wrapper


def _texts_later(svc: Services, actor: Actor) -> Callable[[UpdateView], None]:
    """Work for after the commit: text the update once the request's work is done."""
    sender = current_app.extensions.get(SMS_SENDER)
    if sender is None:
        raise Invalid("texting is not set up on this server", "send_sms")

    def send(view: UpdateView) -> None:
        def run() -> None:
            # A text never undoes the saved update: a failure is logged and counted.
            run_guarded(SMS_FAILURE_KIND, lambda: sender(svc, actor, view.id))

        if has_request_context():
            # Runs once the response is made, so the request's session is free again.
            @after_this_request
            def _after(response: Any) -> Any:
                run()
                return response

        else:
            run()

    return send


def post_incident_update(
    svc: Services, actor: Actor, number: str, body: dict[str, Any]
) -> UpdateView:
    """Post the update ``body`` (loaded with :class:`IncidentUpdateSchema`) on case ``number``."""
    after: list[tuple[str, Callable[[UpdateView], Any]]] = [
        # The consoles show the incident's latest update to whoever takes the next call.
        ("incident notice", lambda view: emit_to(OPERATORS_ROOM, INCIDENT_EVENT, notice_body(view)))
    ]
    if body.get("send_sms"):
        after.append(("incident sms", _texts_later(svc, actor)))
    return post_update(
        svc,
        actor,
        number,
        body.get("cause") or "",
        body.get("estimated_restore_at"),
        body.get("text") or "",
        after=after,
    )


_UPDATE_RULES = (
    "Only dispatchers and supervisors post (else 403, before the body is read). 422 naming "
    "the field when none of `cause`, `estimated_restore_at` and `text` is given, when "
    "`estimated_restore_at` is not ahead or has no time zone, or text is too long; 409 when "
    "the case is closed or merged into another incident itself."
)


@bp.route("/cases/<number>/incident-updates")
class IncidentUpdates(MethodView):
    @bp.response(200, IncidentUpdateOutSchema(many=True))
    @refusal(bp, 404, "no such case, or not one you may see")
    def get(self, number: str) -> Any:
        """The updates of the incident this case is (or joined), oldest first (事件进展)."""
        return list_updates(db_session(), request_actor(), number)

    @_dispatch_only
    @bp.arguments(IncidentUpdateSchema)
    @bp.response(201, IncidentUpdateOutSchema)
    @refusal(bp, 403, "only dispatchers and supervisors post incident updates")
    @refusal(bp, 404, "no such case, or not one you may see")
    @refusal(bp, 409, "the case is closed, or merged into another incident")
    @refusal(bp, 422, "a field is missing or wrong; `field` names it")
    @rules(_UPDATE_RULES)
    def post(self, body: dict[str, Any], number: str) -> Any:
        """Post an update on an incident; every caller's case merged into it shows it.

        With ``send_sms`` each caller with a mobile contact phone is texted
        the update once, after it is saved; a failed text is recorded on its
        attempt and does not change this answer.
        """
        view = post_incident_update(wiring(), request_actor(), number, body)
        return {**view.__dict__, "sms_requested": bool(body.get("send_sms"))}


@bp.app_context_processor
def _incident_panel() -> dict[str, Any]:
    """Give the case page ``incident_panel(case)``: the updates it shows and whether to offer the form."""

    def incident_panel(case: Any) -> dict[str, Any]:
        from hotline.web.pages import actor  # the page's login, not an API caller

        me = actor()
        updates = list_updates(db_session(), me, case.number)
        return {
            "updates": list(reversed(updates)),
            "may_post": me.role in UPDATE_ROLES and str(case.state) in _POSTABLE,
        }

    return {"incident_panel": incident_panel}


#: States in which a case takes updates as an incident (the service has the last word).
_POSTABLE = frozenset(
    str(s) for s in OPEN_STATES - {State.MERGED, State.ANSWERED_ON_CALL, State.TRANSFERRED}
)
