"""12345 transfers on the web: the platform's webhook, the orders API, the orders page,
the case page's 12345 section.

* ``POST /api/gov12345/orders``: the platform's webhook. The signature
  (header ``X-Gov12345-Signature``: hex HMAC-SHA256 of the raw body under the
  setting ``gov12345_secret``) is checked before anything of the body is read
  (401); then the order is read (422 naming the field) and taken in (201, or
  200 when the order number is already known); 503 when no dispatcher is
  there to own it, so the platform sends it again.
* ``GET /api/gov12345/orders`` and ``POST /api/gov12345/orders/<number>/...``
  (``acknowledge``, ``return``, ``extension``, ``reply``): the orders and the
  four actions, for the dispatch center and supervisors; the page forms load
  the same schemas and call the same services.
* ``/gov12345``: the orders page, the most pressing first, each 12345 deadline
  amber when near and red when over, with the actions open on each order.
* The case page of a 12345 case shows the order's section (the page-extras
  hook of :mod:`hotline.web.extras`), with the same actions.

The wiring (:class:`Gov12345Wiring`: the platform reported back to, who owns a
new order, the drop folder, the secret) is put in by the composition root.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import RAISE, Schema, fields, validate

from hotline import services
from hotline.domain.errors import Invalid, NotFound, ServiceError
from hotline.domain.gov12345 import (
    MAX_TEXT,
    SIGNATURE_HEADER,
    Gov12345Error,
    Platform,
    read_order,
    signature_valid,
)
from hotline.domain.taxonomy import Role
from hotline.services import gov12345 as orders
from hotline.services.access import Actor
from hotline.services.gov12345 import NoOwner, OrderView
from hotline.services.gov12345_platform import platform_from_settings
from hotline.services.ownership import OwnerLookup
from hotline.settings import SettingsError
from hotline.web.api_base import ApiBlueprint, InputSchema, Moment, refusal, register, request_actor
from hotline.web.auth import roles_required
from hotline.web.cases import case_page_refusal
from hotline.web.pages import actor, common
from hotline.web.schemas import load_form
from hotline.web.session import db_session, fresh_db_session, wiring

WIRING_KEY = "hotline.gov12345"
#: The webhook's endpoint: public, its caller proven by the signature.
WEBHOOK_ENDPOINT = "api_gov12345.webhook"

api_bp = ApiBlueprint(
    "api_gov12345",
    __name__,
    url_prefix="/api/gov12345",
    description="Orders from the city government's 12345 hotline. 12345转办工单。",
)
bp = Blueprint("gov12345", __name__)


@dataclass
class Gov12345Wiring:
    """What the 12345 parts need from outside, set up at start."""

    platform: Platform
    owner: OwnerLookup
    drop_folder: Path
    secret: str
    poll_seconds: int = 60


def gov_wiring(app: Flask | None = None) -> Gov12345Wiring:
    """The app's 12345 wiring."""
    return (app or current_app).extensions[WIRING_KEY]


class BadSignature(ServiceError):
    """The webhook's signature is missing or does not match the body."""

    status = 401


class NotNow(ServiceError):
    """The order cannot be taken now; the platform sends it again."""

    status = 503


# -- schemas ------------------------------------------------------------------------


class Gov12345AcknowledgeSchema(InputSchema):
    """签收: nothing to give."""

    class Meta:
        unknown = RAISE


class Gov12345ReturnSchema(InputSchema):
    """回退: the reason the order is not the utility's (G5)."""

    class Meta:
        unknown = RAISE

    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_TEXT),
        metadata={"description": "why the order is not ours (G5)"},
    )


class Gov12345ExtensionSchema(InputSchema):
    """延期申请: the reason and the new reply deadline asked for."""

    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))
    until = Moment(required=True, metadata={"description": "the new reply deadline asked for"})


class Gov12345ReplySchema(InputSchema):
    """答复: the public reply to the citizen."""

    class Meta:
        unknown = RAISE

    reply = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_TEXT),
        metadata={"description": "the public reply (答复), reported to the platform"},
    )


class Gov12345ListArgs(InputSchema):
    class Meta:
        unknown = RAISE

    open_only = fields.Boolean(load_default=True)


class Gov12345ReceivedSchema(Schema):
    order_number = fields.String()
    case_number = fields.String()
    created = fields.Boolean(metadata={"description": "false: the order was already known"})


class Gov12345ReportSchema(Schema):
    kind = fields.String(metadata={"description": "receipt, return, extension or reply"})
    status = fields.String(metadata={"description": "pending, sent or failed"})
    created_at = fields.DateTime()
    attempts = fields.Integer()
    last_error = fields.String()
    sent_at = fields.DateTime(allow_none=True)


class Gov12345OrderSchema(Schema):
    order_number = fields.String()
    source = fields.String()
    case_number = fields.String()
    status = fields.String(metadata={"description": "received, acknowledged, returned, replied"})
    received_at = fields.DateTime()
    citizen_name = fields.String()
    request_text = fields.String()
    acknowledge_due = fields.DateTime()
    return_due = fields.DateTime()
    reply_due = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    returned_at = fields.DateTime(allow_none=True)
    return_reason = fields.String()
    extension_requested_at = fields.DateTime(allow_none=True)
    extension_until = fields.DateTime(allow_none=True)
    extension_reason = fields.String()
    public_reply = fields.String()
    replied_at = fields.DateTime(allow_none=True)
    acknowledge_urgency = fields.String(metadata={"description": "ok, near, over, met, missed"})
    reply_urgency = fields.String(metadata={"description": "ok, near, over, met, missed"})
    offers = fields.List(fields.String(), metadata={"description": "the actions open now"})
    reports = fields.List(fields.Nested(Gov12345ReportSchema))


#: The four actions: their schema and the service taking the loaded body.
ACTIONS: dict[str, type[InputSchema]] = {
    "acknowledge": Gov12345AcknowledgeSchema,
    "return": Gov12345ReturnSchema,
    "extension": Gov12345ExtensionSchema,
    "reply": Gov12345ReplySchema,
}


def perform(name: str, me: Actor, order_number: str, body: dict[str, Any]) -> OrderView:
    """Run one of :data:`ACTIONS` for ``me``."""
    svc, platform = wiring(), gov_wiring().platform
    if name == "acknowledge":
        return orders.acknowledge(svc, platform, me, order_number)
    if name == "return":
        return orders.return_order(svc, platform, me, order_number, reason=body["reason"])
    if name == "extension":
        return orders.request_extension(
            svc, platform, me, order_number, reason=body["reason"], until=body["until"]
        )
    return orders.reply(svc, platform, me, order_number, text=body["reply"])


# -- the API ------------------------------------------------------------------------


@api_bp.route("/orders", methods=["POST"])
@api_bp.response(201, Gov12345ReceivedSchema)
@api_bp.alt_response(200, schema=Gov12345ReceivedSchema, description="the order was already known")
@refusal(api_bp, 401, "the signature header is missing or does not match the body")
@refusal(api_bp, 422, "the order is incomplete or malformed; the message names the field")
@refusal(api_bp, 503, "no dispatcher to own the order now; send it again later")
@api_bp.doc(security=[{"gov12345Signature": []}])
def webhook() -> Any:
    """The 12345 platform sends one order (JSON), signed with the shared secret.

    Header ``X-Gov12345-Signature``: the hex HMAC-SHA256 of the raw body under
    the setting ``gov12345_secret`` (``sha256=`` before it is allowed). The
    order becomes a case owned by the dispatcher on duty.
    """
    body = request.get_data(cache=True)
    if not signature_valid(gov_wiring().secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise BadSignature("missing or wrong %(header)s", SIGNATURE_HEADER, header=SIGNATURE_HEADER)
    try:
        data = json.loads(body.decode("utf-8"))
        order = read_order(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Invalid("the body is not JSON text", "body") from None
    except Gov12345Error as exc:
        raise Invalid.from_error(exc, exc.field) from None
    try:
        received = orders.receive(wiring(), order, source="webhook", owner=gov_wiring().owner)
    except NoOwner as exc:
        raise NotNow.from_error(exc, exc.field, exc.rule) from None
    return received, 201 if received.created else 200


@api_bp.route("/orders", methods=["GET"])
@api_bp.arguments(Gov12345ListArgs, location="query")
@api_bp.response(200, Gov12345OrderSchema(many=True))
@refusal(api_bp, 403, "only the dispatch center and supervisors work 12345 orders")
def list_orders(args: dict[str, Any]) -> Any:
    """12345 orders, the most pressing first (open ones only unless ``open_only=false``)."""
    return orders.list_orders(wiring(), db_session(), request_actor(), open_only=args["open_only"])


def _action_view(name: str, schema: type[InputSchema]) -> type[MethodView]:
    class Action(MethodView):
        @api_bp.arguments(schema)
        @api_bp.response(200, Gov12345OrderSchema)
        @refusal(api_bp, 403, "only the dispatch center and supervisors work 12345 orders")
        @refusal(api_bp, 404, "no such 12345 order")
        @refusal(api_bp, 422, "not possible now, or a field missing (the message names it)")
        def post(self, body: dict[str, Any], order_number: str) -> Any:
            return perform(name, request_actor(), order_number, body)

    Action.post.__doc__ = {
        "acknowledge": "签收: sign for the order; reported to the platform.",
        "return": "回退: hand the order back with the reason, within 2 working days (G5).",
        "extension": "延期申请: ask for a new reply deadline, with the reason, once.",
        "reply": "答复: the public reply to the citizen, reported to the platform (G2-checked).",
    }[name]
    Action.__name__ = f"Order{name.title()}"
    return Action


for _name, _schema in ACTIONS.items():
    api_bp.route(f"/orders/<order_number>/{_name}")(_action_view(_name, _schema))


# -- pages --------------------------------------------------------------------------


def _render_list(error: ServiceError | None = None, status: int = 200) -> Any:
    views = orders.list_orders(wiring(), fresh_db_session(), actor(), open_only=False)
    open_views = [v for v in views if v.status in ("received", "acknowledged")]
    return (
        render_template(
            "gov12345/orders.html",
            orders=views,
            open_count=len(open_views),
            over=sum(1 for v in open_views if v.worst == "over"),
            near=sum(1 for v in open_views if v.worst == "near"),
            error=error,
            **common(),
        ),
        status,
    )


@bp.route("/gov12345")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def page() -> Any:
    """12345 orders: open ones first, the most pressing at the top."""
    return _render_list()


@bp.route("/gov12345/<order_number>/<action>", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def act_from_page(order_number: str, action: str) -> Any:
    """One of the four actions from the orders page or the case page."""
    form = request.form
    number = form.get("case_number") or ""
    back_to_case = bool(number) and form.get("back") == "case"
    schema = ACTIONS.get(action)
    try:
        if schema is None:
            raise NotFound("no 12345 action '%(action)s'", "action", action=action)
        body = load_form(schema(), form, wiring().timezone)
        perform(action, actor(), order_number, body)
    except ServiceError as exc:
        if back_to_case:
            return case_page_refusal(number, exc)
        return _render_list(error=exc, status=exc.status)
    flash(_("已保存,并已上报12345平台"), "success")
    if back_to_case:
        return redirect(url_for("pages.case_page", number=number))
    return redirect(url_for("gov12345.page"))


# -- the case page's section --------------------------------------------------------


def case_gov12345(case_number: str) -> dict[str, Any] | None:
    """The 12345 order of the case page's case, and whether this person acts on it."""
    session = fresh_db_session()
    try:
        case = services.get_case(session, actor(), case_number)
    except ServiceError:
        return None
    view = orders.order_for_case(wiring(), session, case)
    if view is None:
        return None
    return {"order": view, "may_act": orders.may_read(actor())}


def _case_section() -> str | None:
    if request.endpoint != "pages.case_page" or not current_user.is_authenticated:
        return None
    return "gov12345/_case_gov12345.html"


def wiring_from_settings(
    app: Flask, settings: Mapping[str, Any], owner: OwnerLookup
) -> Gov12345Wiring:
    """The 12345 wiring the settings describe (``gov12345_*``, docs/gov12345.md)."""
    folder = str(settings.get("gov12345_drop_folder") or "").strip()
    drop = Path(folder) if folder else Path(app.instance_path) / "gov12345"
    seconds = settings.get("gov12345_poll_seconds", 60)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise SettingsError(
            f"setting 'gov12345_poll_seconds': expected a whole number of seconds, got {seconds!r}"
        )
    return Gov12345Wiring(
        platform=platform_from_settings(settings, drop),
        owner=owner,
        drop_folder=drop,
        secret=str(settings.get("gov12345_secret") or ""),
        poll_seconds=seconds,
    )


def scheduled_job(app: Flask) -> Callable[[], str | None]:
    """The scheduler's 12345 job: take in the drop folder, retry reports not yet taken.

    Polls the drop folder at most every ``gov12345_poll_seconds`` (0: never;
    the command ``hotline gov12345 import-drop`` still does). Returns a line
    to print when it did something.
    """
    last: list[datetime] = []

    def run() -> str | None:
        gw, svc = gov_wiring(app), app.extensions["hotline"]
        lines = []
        now = svc.now()
        if gw.poll_seconds and (not last or now - last[0] >= timedelta(seconds=gw.poll_seconds)):
            last[:] = [now]
            result = orders.import_drop(svc, gw.drop_folder, owner=gw.owner)
            if result.imported or result.failed or result.duplicates:
                lines.append(str(result))
        sent, failing = orders.retry_reports(svc, gw.platform)
        if sent or failing:
            lines.append(f"12345 reports: {sent} sent again, {failing} still failing")
        return "scheduler: " + "; ".join(lines) if lines else None

    return run


def init_app(
    app: Flask,
    settings: Mapping[str, Any],
    *,
    owner: OwnerLookup,
) -> None:
    """Bind the webhook, the API, the orders page and the case page's section to ``app``.

    ``owner`` finds the dispatcher who owns a new order (G4).
    Raises :class:`SettingsError` naming a ``gov12345_*`` setting that cannot be used.
    """
    from hotline.web import extras

    app.extensions[WIRING_KEY] = wiring_from_settings(app, settings, owner)
    register(api_bp)
    app.register_blueprint(bp)
    app.add_template_global(case_gov12345, "case_gov12345")
    extras.add_page_extra(app, _case_section)
