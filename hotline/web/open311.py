"""Open311 GeoReport v2 under ``/open311/v2/``, and the administrator's page of app keys.

The specification's five operations, each as ``.json`` or ``.xml``:

* ``GET services``: the service list (one service per case category);
* ``GET services/<code>``: a service's definition, its attributes;
* ``POST requests``: a resident's request from an app, form-encoded, with
  the app's ``api_key``; it becomes a case through the same intake as a call
  (channel ``web``), owned by the dispatcher on duty (G4);
* ``GET requests``: requests by ``service_request_id``, ``service_code``,
  ``start_date``, ``end_date`` and ``status``;
* ``GET requests/<id>``: one request; its id is the case number.

Refusals use the specification's error list (``[{"code", "description"}]``
or ``<errors>``) with 400 (bad input, naming the field), 403 (no or a bad
``api_key``), 404 (no such service or request), 413, 422 (an
``Idempotency-Key`` reused for another submission), 429 (too many) and 503
(nothing saved, try again). The key is checked before anything else of the
body. Reading needs no key and shows nothing personal. See docs/open311.md.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse as parse_limit
from marshmallow import EXCLUDE, ValidationError, fields, validate
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from webargs.fields import DelimitedList
from werkzeug.exceptions import HTTPException

from hotline.domain import open311 as rules
from hotline.domain.public_status import resident_status
from hotline.domain.taxonomy import Category, Role
from hotline.services import ServiceError
from hotline.services import open311 as service
from hotline.services.ownership import OwnerLookup
from hotline.web import labels
from hotline.web.api_base import InputSchema, Moment
from hotline.web.auth import csrf, roles_required, throttle
from hotline.web.i18n import LANGUAGES, local_time
from hotline.web.pages import common
from hotline.web.public_status import NEXT_STEP_WORDS, STAGE_WORDS
from hotline.web.refusals import refusal_text
from hotline.web.schemas import describe_errors, first_field
from hotline.web.session import db_session, wiring

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
admin_bp = Blueprint("open311_admin", __name__)

#: Submissions one app may make (accepted or refused after its key was checked).
SUBMISSIONS_PER_CLIENT = parse_limit("30 per minute")
#: Reads one address may make.
READS_PER_ADDRESS = parse_limit("120 per minute")
#: Longest ``Idempotency-Key`` header kept.
IDEMPOTENCY_KEY_MAX = 200

FORMATS = ("json", "xml")

#: The services' descriptions, by code.
SERVICE_DESCRIPTION = {
    Category.LEAK: _l("路面、水表井或户内漏水、冒水、爆管。"),
    Category.NO_WATER: _l("没有水或水压太低。"),
    Category.WATER_QUALITY: _l("自来水发黄、浑浊、有异味或杂质。"),
    Category.METER_FAULT: _l("水表不走、走得异常或损坏。"),
    Category.METER_WELL: _l("水表井井盖、表箱损坏或丢失。"),
    Category.BILLING: _l("水费、缴费方面的问题。"),
    Category.CONSULTATION: _l("用水业务咨询。"),
    Category.COMPLAINT: _l("对供水服务的投诉。"),
    Category.SUGGESTION: _l("对供水服务的意见和建议。"),
    Category.OUTAGE_ENQUIRY: _l("询问停水的原因和恢复时间。"),
}

GROUP = {"repair": _l("报修"), "service": _l("业务")}

#: The services' questions and their answers (``hotline.domain.open311``), translated.
WORDS = {
    "漏水位置": _l("漏水位置"),
    "路面或人行道": _l("路面或人行道"),
    "水表井": _l("水表井"),
    "户内": _l("户内"),
    "其他": _l("其他"),
    "影响范围": _l("影响范围"),
    "仅我家": _l("仅我家"),
    "整栋楼": _l("整栋楼"),
    "附近一片": _l("附近一片"),
    "水的情况": _l("水的情况"),
    "发黄或浑浊": _l("发黄或浑浊"),
    "有异味": _l("有异味"),
    "有杂质": _l("有杂质"),
    "水表号(表盘上的编号)": _l("水表号(表盘上的编号)"),
}


def word(text: str) -> str:
    """A question or answer of a service in the request's language."""
    return str(WORDS.get(text, text))


# -- the input schemas -------------------------------------------------------------------


class SubmitSchema(InputSchema):
    """``POST requests``: one service request, as the specification names its fields."""

    class Meta:
        unknown = EXCLUDE  # apps send fields of other servers' extensions

    api_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    jurisdiction_id = fields.String(validate=validate.Length(max=100))
    service_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    lat = fields.Float(
        allow_nan=False,
        load_default=None,
        validate=validate.Range(min=-90, max=90, error="must lie between -90 and 90"),
    )
    long = fields.Float(
        allow_nan=False,
        load_default=None,
        validate=validate.Range(min=-180, max=180, error="must lie between -180 and 180"),
    )
    address_string = fields.String(validate=validate.Length(max=300), load_default="")
    address_id = fields.String(validate=validate.Length(max=100), load_default="")
    email = fields.Email(validate=validate.Length(max=254), load_default="")
    device_id = fields.String(validate=validate.Length(max=100), load_default="")
    account_id = fields.String(validate=validate.Length(max=100), load_default="")
    # Together (with a space) within the case's contact name of 100 characters.
    first_name = fields.String(validate=validate.Length(max=40), load_default="")
    last_name = fields.String(validate=validate.Length(max=40), load_default="")
    phone = fields.String(
        validate=validate.Length(max=40),
        required=True,
        error_messages={"required": "is required: the utility calls back about every request"},
    )
    description = fields.String(
        required=True, validate=validate.Length(min=1, max=rules.DESCRIPTION_MAX)
    )
    media_url = fields.Url(
        schemes={"http", "https"}, validate=validate.Length(max=2000), load_default=""
    )
    attribute = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=50)),
        values=fields.List(fields.String(), validate=validate.Length(max=20)),
        load_default=dict,
    )


def _comma_list(**kwargs: Any) -> DelimitedList:
    return DelimitedList(fields.String(validate=validate.Length(min=1, max=32)), **kwargs)


class QuerySchema(InputSchema):
    """``GET requests``: the specification's filters."""

    class Meta:
        unknown = EXCLUDE

    jurisdiction_id = fields.String(validate=validate.Length(max=100))
    service_request_id = _comma_list(validate=validate.Length(max=100), load_default=list)
    service_code = _comma_list(validate=validate.Length(max=20), load_default=list)
    start_date = Moment(load_default=None)
    end_date = Moment(load_default=None)
    status = _comma_list(
        validate=validate.ContainsOnly(rules.STATUSES, error="must be open, closed or both"),
        load_default=list,
    )
    locale = fields.String(validate=validate.OneOf(LANGUAGES), load_default=None)


def _form_values(form: Any) -> dict[str, Any]:
    """A form as the schema reads it: empty fields left out, ``attribute[code]`` gathered."""
    values: dict[str, Any] = {}
    attributes: dict[str, list[str]] = {}
    for name in form:
        if name.startswith("attribute[") and "]" in name:
            code = name[len("attribute[") : name.index("]")]
            attributes.setdefault(code, []).extend(v for v in form.getlist(name) if v != "")
            continue
        value = form.get(name, "")
        if value != "":
            values[name] = value
    if attributes:
        values["attribute"] = attributes
    return values


def _load(schema: InputSchema, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _Refused(400, _messages(exc.normalized_messages())) from None


def _messages(messages: Any) -> list[str]:
    if isinstance(messages, Mapping):
        if len(messages) == 1 and first_field(messages):
            return [f"{first_field(messages)}: {describe_errors(messages)}"]
        return [describe_errors({key: value}) for key, value in messages.items()]
    return [describe_errors(messages)]


# -- answers -------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, status: int, messages: Sequence[str]) -> None:
        super().__init__(messages[0] if messages else "")
        self.status, self.messages = status, list(messages)


def _format() -> str:
    return "xml" if request.path.endswith(".xml") else "json"


def _answer(root: str, body: Any, status: int = 200) -> Response:
    if _format() == "xml":
        response = Response(rules.xml_document(root, body), status=status)
        response.mimetype = "text/xml"
        response.charset = "utf-8"
        return response
    response = jsonify(body)
    response.status_code = status
    return response


def _error(status: int, messages: Sequence[str]) -> Response:
    response = _answer("errors", rules.error_rows(status, messages), status)
    if status == 429 and g.get("retry_after"):
        response.headers["Retry-After"] = str(g.retry_after)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


@bp.errorhandler(_Refused)
def _refused(exc: _Refused) -> Response:
    return _error(exc.status, exc.messages)


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    status = exc.status
    if status == 422 and not isinstance(exc, service.KeyReused):
        status = 400  # the specification's code for input it cannot use
    message = exc.message
    if exc.field and exc.field not in message:
        message = f"{exc.field}: {message}"
    return _error(status, [message])


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    message = exc.description or exc.name
    if code == 413:
        message = (
            f"the request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
        )
    return _error(code, [message])


@bp.errorhandler(PoolTimeout)
@bp.errorhandler(OperationalError)
def _busy(exc: Exception) -> Response:
    current_app.logger.warning("Open311: database unavailable, answered 503: %s", exc)
    return _error(503, ["the service is busy; nothing was saved, try again in a moment"])


def _throttled(checks: list[Any], message: str) -> None:
    guard = throttle()
    wait = guard.wait(checks)
    if wait:
        g.retry_after = wait
        raise _Refused(429, [message])
    guard.failed(checks)


def _read_throttle() -> None:
    address = get_remote_address() or "unknown"
    _throttled(
        [(READS_PER_ADDRESS, "open311-read-address", address)],
        "too many requests from this address; try again later",
    )


def _locale() -> str | None:
    chosen = request.args.get("locale")
    if chosen is not None and chosen not in LANGUAGES:
        raise _Refused(400, [f"locale: must be one of {', '.join(LANGUAGES)}"])
    return chosen


def _in_locale(build: Any) -> Any:
    chosen = _locale()
    if chosen is None:
        return build()
    with force_locale(chosen):
        return build()


# -- the documents ---------------------------------------------------------------------------


def _service_row(svc: rules.Service) -> dict[str, Any]:
    return {
        "service_code": svc.code,
        "service_name": labels.label(labels.CATEGORY, svc.category),
        "description": str(SERVICE_DESCRIPTION[svc.category]),
        "metadata": svc.metadata,
        "type": "realtime",
        "keywords": ",".join(svc.keywords),
        "group": str(GROUP[svc.group]),
    }


def _definition(svc: rules.Service) -> dict[str, Any]:
    return {
        "service_code": svc.code,
        "attributes": [
            {
                "variable": True,
                "code": attribute.code,
                "datatype": attribute.datatype,
                "required": attribute.required,
                "datatype_description": None,
                "order": attribute.order,
                "description": word(attribute.description),
                "values": [{"key": v.key, "name": word(v.name)} for v in attribute.values],
            }
            for attribute in svc.attributes
        ],
    }


def status_notes(found: service.PublicRequest) -> str:
    """Where the case stands and what happens next, as the public status page says it."""
    status = resident_status(found.state)
    return f"{STAGE_WORDS[status.stage]} · {NEXT_STEP_WORDS[status.next_step]}"


def request_row(found: service.PublicRequest) -> dict[str, Any]:
    """One request as the specification shows it: nothing personal, no staff."""
    zone = wiring().timezone
    svc = rules.service(found.service_code)
    return {
        "service_request_id": found.number,
        "status": rules.request_status(found.state),
        "status_notes": status_notes(found),
        "service_name": labels.label(labels.CATEGORY, svc.category) if svc else "",
        "service_code": found.service_code,
        "description": found.description,
        "agency_responsible": found.department,
        "service_notice": "",
        "requested_datetime": rules.w3c_time(found.requested_at, zone),
        "updated_datetime": rules.w3c_time(found.updated_at, zone),
        "expected_datetime": rules.w3c_time(found.promised_at, zone),
        "address": found.address,
        "address_id": "",
        "zipcode": "",
        "lat": found.lat,
        "long": found.long,
        "media_url": found.media_url,
    }


# -- the operations ----------------------------------------------------------------------------


def services() -> Response:
    """The service list."""
    _read_throttle()
    rows = _in_locale(lambda: [_service_row(svc) for svc in rules.SERVICES])
    return _answer("services", rows)


def definition(code: str) -> Response:
    """A service's definition: its attributes (an empty list when it asks nothing more).

    One address per service; any other code is answered by :func:`_unmatched`.
    """
    _read_throttle()
    found = rules.service(code)
    assert found is not None
    return _answer("service_definition", _in_locale(lambda: _definition(found)))


def create() -> Response:
    """A resident's request: checked key first, then the body; a case in one transaction."""
    guard = throttle()
    key_checks = guard.token_checks()
    wait = guard.wait(key_checks)
    if wait:
        g.retry_after = wait
        raise _Refused(429, ["too many invalid api_key values from this address; try later"])
    key = request.form.get("api_key", "")
    client = service.active_client(db_session(), key) if len(key) <= 200 else None
    if client is None:
        guard.failed(key_checks)
        raise _Refused(403, ["api_key: missing, unknown or revoked"])
    _throttled(
        [(SUBMISSIONS_PER_CLIENT, "open311-submit-client", str(client.id))],
        "too many submissions from this app; try again later",
    )
    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or not idempotency_key.isprintable():
        raise _Refused(
            400, [f"Idempotency-Key: at most {IDEMPOTENCY_KEY_MAX} printable characters"]
        )
    values = _load(SubmitSchema(), _form_values(request.form))
    submission = service.Submission(
        service_code=values["service_code"],
        description=values["description"],
        phone=values["phone"],
        lat=values["lat"],
        long=values["long"],
        address_string=values["address_string"],
        address_id=values["address_id"],
        email=values["email"],
        device_id=values["device_id"],
        account_id=values["account_id"],
        first_name=values["first_name"],
        last_name=values["last_name"],
        media_url=values["media_url"],
        attributes=values["attribute"],
    )
    if rules.service(submission.service_code) is None:
        raise _Refused(400, [f"service_code: no service '{submission.service_code}'"])
    done = service.submit(
        wiring(),
        key,
        submission,
        owner=current_app.extensions["hotline.open311_owner"],
        idempotency_key=idempotency_key or None,
    )
    if done.promised_at is not None:
        notice = _(
            "已受理,工单号 %(number)s,我们承诺在 %(time)s 前处理。",
            number=done.number,
            time=local_time(done.promised_at),
        )
    else:
        notice = _("已受理,工单号 %(number)s。", number=done.number)
    row = {
        "service_request_id": done.number,
        "service_notice": notice,
        "account_id": done.account_id or None,
    }
    response = _answer("service_requests", [row], 200 if done.replayed else 201)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def query() -> Response:
    """Requests by the specification's filters, newest first."""
    _read_throttle()
    values = _load(QuerySchema(), {k: v for k, v in request.args.items() if v != ""})
    start, end = values["start_date"], values["end_date"]
    if start is not None and end is not None:
        if end < start:
            raise _Refused(400, ["end_date: must not be before start_date"])
        if (end - start).days > rules.DEFAULT_QUERY_DAYS:
            raise _Refused(
                400, [f"end_date: a query spans at most {rules.DEFAULT_QUERY_DAYS} days"]
            )
    found = service.find_requests(
        db_session(),
        service.RequestQuery(
            numbers=tuple(values["service_request_id"]),
            service_codes=tuple(values["service_code"]),
            start=start,
            end=end,
            statuses=tuple(values["status"]),
        ),
        now=wiring().now(),
    )
    return _answer("service_requests", _in_locale(lambda: [request_row(r) for r in found]))


def one(number: str) -> Response:
    """One request by its id (the case number)."""
    _read_throttle()
    found = service.find_request(db_session(), number) if len(number) <= 32 else None
    if found is None:
        raise _Refused(404, [f"service_request_id: no request '{number[:32]}'"])
    return _answer("service_requests", _in_locale(lambda: [request_row(found)]))


def unknown(rest: str) -> Response:
    """A post to anything else under ``/open311/v2/``: the specification's 404."""
    raise _Refused(404, [f"no such resource: /open311/v2/{rest[:100]}"])


def _route(rule: str, endpoint: str, view: Any, method: str = "GET") -> None:
    """``rule`` as ``.json`` and as ``.xml``, each an address of its own (the answer's
    format follows the address: :func:`_format`)."""
    for fmt in FORMATS:
        bp.add_url_rule(
            f"{rule}.{fmt}", endpoint=f"{endpoint}_{fmt}", view_func=view, methods=[method]
        )


_route("/services", "services", services)
for _service in rules.SERVICES:
    _route(
        f"/services/{_service.code}",
        f"definition_{_service.code}",
        functools.partial(definition, _service.code),
    )
_route("/requests", "create", create, "POST")
_route("/requests", "query", query)
_route("/requests/<number>", "one", one)
bp.add_url_rule("/<path:rest>", endpoint="unknown", view_func=unknown, methods=["POST"])


@bp.before_app_request
def _unmatched() -> Response | None:
    """A read of an address under ``/open311/v2/`` that names nothing: the
    specification's 404 (an unknown service code among them), not a page."""
    prefix = f"{bp.url_prefix}/"
    if request.url_rule is not None or not request.path.startswith(prefix):
        return None
    rest = request.path[len(prefix) :]
    if rest.startswith("services/"):
        code = rest.removeprefix("services/").rsplit(".", 1)[0]
        return _error(404, [f"service_code: no service '{code[:32]}'"])
    return _error(404, [f"no such resource: {request.path[:120]}"])


# -- the administrator's page ----------------------------------------------------------------


def _admin_page(status: int = 200, **context: Any) -> Any:
    values: dict[str, Any] = {
        "clients": service.list_clients(db_session()),
        "new_key": None,
        "new_name": "",
        "message": "",
        "endpoint": request.host_url.rstrip("/") + "/open311/v2/",
    }
    values.update(context)
    return render_template("admin_open311.html", **values, **common()), status


@admin_bp.route("/admin/open311", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def clients() -> Any:
    """The apps that may submit requests; a new app's key is shown once, on this answer."""
    if request.method == "GET":
        return _admin_page()
    try:
        with wiring().sessions() as session, session.begin():
            client, key = service.add_client(
                session, request.form.get("name", ""), now=wiring().now(), by_id=current_user.id
            )
            name = client.name
    except ServiceError as exc:
        return _admin_page(exc.status, message=refusal_text(exc))
    return _admin_page(201, new_key=key, new_name=name)


@admin_bp.post("/admin/open311/<id:client_id>/revoke")
@roles_required(Role.ADMIN)
def revoke(client_id: int) -> Any:
    """Revoke an app's key: it submits no more; its requests stay readable."""
    try:
        with wiring().sessions() as session, session.begin():
            client = service.revoke_client(session, now=wiring().now(), client_id=client_id)
            name = client.name
    except ServiceError as exc:
        return _admin_page(exc.status, message=refusal_text(exc))
    return _admin_page(message=_("已撤销 %(name)s 的密钥。", name=name))


def init_app(app: Flask, *, owner: OwnerLookup) -> None:
    """Serve Open311 with ``owner`` naming who owns a new request (G4)."""
    app.extensions["hotline.open311_owner"] = owner
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    csrf.exempt(bp)  # apps post with their api_key, not a browser session


__all__ = ["admin_bp", "bp", "init_app"]
