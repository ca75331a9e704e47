"""The REST API (JSON), documented by flask-smorest as OpenAPI.

``/api/openapi.json`` is the document; ``/api/docs`` a browsable page served
from the packaged Swagger UI (no outside network needed). Views turn the
request into one service call and the result into JSON; bad input answers
422 naming the field, never 500.

Every route under ``/api`` needs a bearer token or a login session (with the
``X-CSRFToken`` header for a change), except the public ones
(:data:`PUBLIC_ENDPOINTS`: the document, its page, the lifecycle table). The
caller is checked before anything of the body is read, so a stranger's
request answers 401 whatever it carries. Every refusal has the body of
:class:`ErrorSchema`, and the document says so for every operation.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import swagger_ui_bundle
from flask import Flask, request, send_from_directory
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import select
from webargs.flaskparser import FlaskParser, abort

from hotline import services
from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    FollowUpOutcome,
    Priority,
    Role,
    TriageOutcome,
)
from hotline.models import Case, CaseEvent
from hotline.services import Actor, CaseFilter, IntakeCommand, IntakeOutcome, NotFound
from hotline.web.auth import api_actor, csrf, db_session, fresh_db_session
from hotline.web.auth import services as wiring
from hotline.web.forms import (
    EARLIEST,
    EARLIEST_DAY,
    LATEST,
    LATEST_DAY,
    MAX_INT,
    MAX_PAGE,
    bad_text,
    text_problem,
)

#: The blueprint flask-smorest serves the document and its page from.
DOCS_BLUEPRINT = "api-docs"
#: Endpoints under /api that answer without a token or login.
PUBLIC_ENDPOINTS = frozenset({"api_cases.Lifecycle", "swagger_static"})


# -- the error body ------------------------------------------------------------------


class ErrorSchema(Schema):
    """Every refusal and error under /api, whatever its status."""

    class Meta:
        unknown = INCLUDE  # a few refusals add facts (P4's "missing", a call's "uncertain")

    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    error = fields.String(
        required=True,
        metadata={"description": "what kind of refusal, one word: Invalid, NotFound, Conflict…"},
    )
    message = fields.String(required=True, metadata={"description": "what to do about it"})
    field = fields.String(metadata={"description": "the field (or header) at fault"})
    rule = fields.String(metadata={"description": "the rule of the standard that refuses, e.g. P4"})
    errors = fields.Dict(
        metadata={"description": "validation messages by location (json, query) and field"}
    )


class _HotlineApi(Api):
    """flask-smorest's Api, leaving error pages to the app's own handlers.

    Its documented error responses (one per status) use :class:`ErrorSchema`,
    the body the app's handlers really send.
    """

    ERROR_SCHEMA = ErrorSchema
    #: No catch-all "default" response: each operation lists the statuses it answers.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        return None


api = _HotlineApi()


# -- blueprints whose every operation documents its refusals -----------------------------

#: Refusals any operation may answer, by kind of operation.
_SECURED_REFUSALS = {
    "401": "UNAUTHORIZED",  # no token or login, or a token unknown, expired or revoked
    "429": "TOO_MANY_REQUESTS",  # too many unknown tokens from this address
}
_COMMAND_REFUSALS = {
    "400": "BAD_REQUEST",  # a login session without X-CSRFToken, a body that is not JSON
    "413": "REQUEST_ENTITY_TOO_LARGE",  # a body over the max_request_bytes setting
}


class _Parser(FlaskParser):
    """webargs' parser, answering 400 for JSON nested too deeply to parse."""

    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            abort(400, messages={"json": ["the JSON body is nested too deeply"]})


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint under /api whose operations document their refusals.

    Each operation lists 401 and 429 unless it is public (``security: []``),
    400 and 413 when it is a POST, and 503 (the database is busy), all with
    :class:`ErrorSchema`. Registered straight on the app (``app.register_blueprint``)
    it is put in hotline's document all the same.
    """

    ARGUMENTS_PARSER = _Parser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_refusals_doc)

    @staticmethod
    def _prepare_refusals_doc(
        doc: dict[str, Any], doc_info: dict[str, Any], *, method: str, **kwargs: Any
    ) -> dict[str, Any]:
        responses = doc.setdefault("responses", {})
        public = doc_info.get("manual_doc", {}).get("security") == []
        standard = {} if public else dict(_SECURED_REFUSALS)
        if method.lower() == "post":
            standard.update(_COMMAND_REFUSALS)
        standard["503"] = "SERVICE_UNAVAILABLE"
        for status, name in standard.items():
            if status not in responses and int(status) not in responses:
                responses[status] = name
        return doc

    def register(self, app: Flask, options: dict[str, Any]) -> None:
        super().register(app, options)
        name = options.get("name", self.name)
        known = app.extensions.get("flask-smorest", {}).get("blp_name_to_api", {})
        if name not in known and api.spec is not None and api._app is app:
            known[name] = api
            self.register_views_in_doc(api, app, api.spec, name=name, parameters=None)
            api.spec.tag({"name": name, "description": self.description})


def rules(text: str) -> Callable[[Any], Any]:
    """Add ``text`` (the rules that refuse valid-looking requests) to a view's description.

    Put it right above the view, under the other decorators, which copy the docstring.
    """

    def decorator(func: Any) -> Any:
        func.__doc__ = inspect.cleandoc(func.__doc__ or "") + "\n\n" + text
        return func

    return decorator


def refusal(bp: Blueprint, status: int, description: str) -> Callable[[Any], Any]:
    """Document one refusal of an operation, with the rule that makes it."""
    return bp.alt_response(status, schema=ErrorSchema, description=description)


bp = ApiBlueprint(
    "api_cases",
    __name__,
    url_prefix="/api",
    description="Contacts and cases: intake, lookup, actions, history. "
    "来电受理、工单查询、办理与历史。",
)


# -- who calls ------------------------------------------------------------------------


def request_actor() -> Actor:
    """The caller of this API request (checked once per request, then kept)."""
    return api_actor()


def _authenticate() -> None:
    """Before anything of the body is read: the caller of a non-public /api route.

    Answers 401 (no or a bad token, no login), 429 (too many bad tokens) or 400
    (a session's change without X-CSRFToken); a path with text that cannot be
    stored names nothing that exists: 404.
    """
    if not request.path.startswith("/api/") or request.endpoint is None:
        return
    if request.blueprint == DOCS_BLUEPRINT or request.endpoint in PUBLIC_ENDPOINTS:
        return
    request_actor()
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and text_problem(value):
            raise NotFound(f"no {name} {value!r}", name)


# -- input schemas ---------------------------------------------------------------------


class InputSchema(Schema):
    """A request body or query string: no text in it may hold NUL or a lone surrogate."""

    @pre_load
    def _storable_text(self, data: Any, **kwargs: Any) -> Any:
        raw = getattr(data, "data", data)  # webargs' MultiDictProxy wraps the MultiDict
        if hasattr(raw, "getlist"):
            items: Any = {key: raw.getlist(key) for key in raw}
            found = bad_text(items)
            if found:
                found = (found[0].rsplit(".", 1)[0], found[1])  # the field, not its n-th value
        else:
            found = bad_text(raw)
        if found:
            name, problem = found
            raise ValidationError(problem, field_name=name or "_schema")
        return data


def Id(**kwargs: Any) -> fields.Integer:
    """A row id: a whole number from 1 to 2**31 - 1."""
    kwargs.setdefault("strict", True)
    return fields.Integer(validate=validate.Range(min=1, max=MAX_INT), **kwargs)


def Moment(**kwargs: Any) -> fields.AwareDateTime:
    """A time with its zone, in the years 2000 to 2099."""
    return fields.AwareDateTime(
        validate=validate.Range(
            min=EARLIEST, max=LATEST, error="must lie between the years 2000 and 2099"
        ),
        **kwargs,
    )


def Day(**kwargs: Any) -> fields.Date:
    """A local day, in the years 2000 to 2099."""
    return fields.Date(
        validate=validate.Range(
            min=EARLIEST_DAY, max=LATEST_DAY, error="must lie between the years 2000 and 2099"
        ),
        **kwargs,
    )


def _staff_ref_rule(name: str) -> Callable[[str], None]:
    """'me', or a staff id from 1 to 2**31 - 1 in ASCII digits."""

    def check(value: str) -> None:
        if value != "me" and not (_STAFF_ID.fullmatch(value) and int(value) <= MAX_INT):
            raise ValidationError(f"{name} must be 'me' or a staff id (1 to {MAX_INT})")

    return check


_STAFF_ID = re.compile(r"[1-9][0-9]{0,9}")


_text = {"load_default": ""}


class IntakeSchema(InputSchema):
    """One contact, as the first responder records it (P4)."""

    class Meta:
        unknown = RAISE

    channel = fields.Enum(Channel, by_value=True, required=True)
    outcome = fields.Enum(IntakeOutcome, by_value=True, required=True)
    caller_number = fields.String(validate=validate.Length(max=40), **_text)
    caller_name = fields.String(validate=validate.Length(max=100), **_text)
    customer_account = fields.String(validate=validate.Length(max=32), **_text)
    category = fields.Enum(Category, by_value=True, load_default=None)
    priority = fields.Enum(Priority, by_value=True, load_default=Priority.NORMAL)
    problem = fields.String(validate=validate.Length(max=4000), **_text)
    need = fields.String(validate=validate.Length(max=4000), **_text)
    address = fields.String(validate=validate.Length(max=300), **_text)
    contact_name = fields.String(validate=validate.Length(max=100), **_text)
    contact_phone = fields.String(validate=validate.Length(max=40), **_text)
    triage = fields.Enum(TriageOutcome, by_value=True, load_default=None)
    pipe_size_dn = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=15, max=3000),
        metadata={"description": "the pipe's nominal size in mm (DN15 to DN3000)"},
    )
    read_back_confirmed = fields.Boolean(load_default=False)
    answer = fields.String(validate=validate.Length(max=4000), **_text)
    target_department_id = Id(load_default=None, allow_none=True)
    told_caller = fields.String(validate=validate.Length(max=4000), **_text)
    join_case_number = fields.String(validate=validate.Length(max=32), **_text)
    repeats_case_number = fields.String(
        validate=validate.Length(max=32),
        metadata={"description": "a new report about a closed or answered case: that case"},
        **_text,
    )
    summary = fields.String(validate=validate.Length(max=4000), **_text)


class IntakeResultSchema(Schema):
    contact_id = fields.Integer()
    case_number = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    promised_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)


class PersonSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class DepartmentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()


class CaseSchema(Schema):
    number = fields.String()
    category = fields.String()
    priority = fields.String()
    channel = fields.String()
    problem = fields.String()
    need = fields.String()
    address = fields.String()
    contact_name = fields.String()
    contact_phone = fields.String()
    triage = fields.String()
    pipe_size_dn = fields.Integer(allow_none=True)
    state = fields.String()
    stage = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    promised_at = fields.DateTime(allow_none=True)
    escalation_level = fields.Integer()
    first_responder = fields.Nested(PersonSchema)
    handler_department = fields.Nested(DepartmentSchema, allow_none=True)
    handler_staff = fields.Nested(PersonSchema, allow_none=True)
    transfer_department = fields.Nested(
        DepartmentSchema,
        allow_none=True,
        metadata={"description": "G5: the department the case was transferred (guided) to"},
    )
    result_note = fields.String()
    customer_rating = fields.Integer(allow_none=True)
    no_rating_reason = fields.String()
    answer = fields.String()
    told_caller = fields.String()
    follow_up_attempts = fields.Integer()
    follow_up_outcome = fields.String(allow_none=True)
    parent_case_number = fields.Function(
        lambda case: case.parent.number if case.parent else None,
        metadata={"type": "string", "nullable": True},
    )
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class CaseListArgs(InputSchema):
    class Meta:
        unknown = EXCLUDE

    state = fields.List(fields.Enum(State, by_value=True), load_default=list)
    category = fields.Enum(Category, by_value=True, load_default=None)
    owner = fields.String(
        load_default=None,
        metadata={"description": "first responder's staff id, or 'me'"},
        validate=_staff_ref_rule("owner"),
    )
    handler_department = Id(load_default=None, strict=False)
    handler = fields.String(
        load_default=None,
        metadata={"description": "handler's staff id, or 'me'"},
        validate=_staff_ref_rule("handler"),
    )
    overdue = fields.Boolean(load_default=None)
    open = fields.Boolean(load_default=False)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class ActionSchema(InputSchema):
    """One action on a case; ``version`` is the version you last saw."""

    class Meta:
        unknown = RAISE

    action = fields.Enum(Action, by_value=True, required=True)
    version = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_INT)
    )
    reason = fields.String(validate=validate.Length(max=2000), **_text)
    department_id = Id(load_default=None)
    staff_id = Id(load_default=None)
    target_department_id = Id(load_default=None)
    told_caller = fields.String(validate=validate.Length(max=4000), **_text)
    answer = fields.String(validate=validate.Length(max=4000), **_text)
    result_note = fields.String(validate=validate.Length(max=4000), **_text)
    customer_rating = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    no_rating_reason = fields.String(validate=validate.Length(max=500), **_text)
    extra_working_days = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=1, max=MAX_INT)
    )
    outcome = fields.Enum(FollowUpOutcome, by_value=True, load_default=None)
    attitude = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    quality = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    timeliness = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    result = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    note = fields.String(validate=validate.Length(max=4000), **_text)
    parent_case_number = fields.String(validate=validate.Length(max=32), **_text)


class EventSchema(Schema):
    seq = fields.Integer()
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    actor = fields.Nested(PersonSchema, allow_none=True)
    at = fields.DateTime()
    reason = fields.String()
    data = fields.Dict()
    hash = fields.String()


class TransitionSchema(Schema):
    source = fields.String(data_key="from", attribute="from")
    action = fields.String()
    to = fields.String()
    guards = fields.List(fields.String())
    roles = fields.List(fields.String())


class LifecycleSchema(Schema):
    transitions = fields.List(fields.Nested(TransitionSchema))
    roles = fields.List(fields.String())


def _staff_ref(value: str | None, actor: services.Actor) -> int | None:
    if value is None:
        return None
    return actor.id if value == "me" else int(value)


# -- views ------------------------------------------------------------------------------


@bp.route("/contacts")
class Contacts(MethodView):
    @bp.arguments(IntakeSchema)
    @bp.response(201, IntakeResultSchema)
    @refusal(bp, 404, "a department, customer or case named in the report does not exist")
    @refusal(bp, 409, "the case to join or repeat cannot take the report now")
    @refusal(bp, 422, "a field is missing, malformed or breaks a rule of the standard")
    def post(self, body: dict[str, Any]) -> Any:
        """Record a contact and open its case where needed (受理来电).

        Refused with 422 naming the field when: ``caller_number`` or
        ``contact_phone`` is not a phone number of the configured region
        (e.g. 13805341234, 0534-2122110 or +86 534 2122110; a fixed line
        without its area code gets the configured one); a case is opened
        (``outcome`` dispatch) without ``category``, ``problem``, ``need``,
        ``address``, ``contact_phone``, ``triage`` or without
        ``read_back_confirmed`` true (P4); ``outcome`` answer_on_call lacks
        ``answer``; transfer lacks ``target_department_id`` or
        ``told_caller`` (G5); join lacks ``join_case_number``;
        ``pipe_size_dn`` is outside DN15..DN3000. Text may not contain NUL
        characters or unpaired surrogates.
        """
        result = services.intake(wiring(), request_actor(), IntakeCommand(**body))
        return result


@bp.route("/cases")
class Cases(MethodView):
    @bp.arguments(CaseListArgs, location="query")
    @bp.response(200, CasePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List the cases you may see, most urgent first (工单列表).

        ``page`` runs from 1 to 100000 and ``per_page`` from 1 to 100; ``owner``
        and ``handler`` are 'me' or a staff id (1 to 2147483647). A crew sees
        only its department's cases.
        """
        actor = request_actor()
        flt = CaseFilter(
            states=args["state"],
            category=args["category"],
            first_responder_id=_staff_ref(args["owner"], actor),
            handler_department_id=args["handler_department"],
            handler_staff_id=_staff_ref(args["handler"], actor),
            overdue=args["overdue"],
            open_only=args["open"],
        )
        items, total = services.list_cases(
            db_session(),
            actor,
            flt,
            now=wiring().now(),
            page=args["page"],
            per_page=args["per_page"],
        )
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@bp.route("/cases/<number>")
class CaseItem(MethodView):
    @bp.response(200, CaseSchema)
    @refusal(bp, 404, "no such case, or not one you may see")
    def get(self, number: str) -> Case:
        """One case (工单详情)."""
        return services.get_case(db_session(), request_actor(), number)


@bp.route("/cases/<number>/actions")
class CaseActions(MethodView):
    @bp.arguments(ActionSchema)
    @bp.response(200, CaseSchema)
    @refusal(bp, 403, "your role may not take this action (the lifecycle table says who may)")
    @refusal(bp, 404, "no such case, department or person, or not one you may see")
    @refusal(bp, 409, "changed by someone else since `version`, or the action is not legal now")
    @refusal(bp, 422, "a rule of the standard refuses it; `field` and `rule` say which")
    def post(self, body: dict[str, Any], number: str) -> Case:
        """Take an action on a case (办理): assign, acknowledge, return, complete, follow up...

        ``version`` must be the case's current version (else 409). Which
        actions are legal from which state, and for which roles, is
        ``GET /api/lifecycle``. Refused with 422 naming the field when the
        action's rule needs what is missing: assign needs ``department_id``
        (G7), transfer ``target_department_id`` (G5), a return or an
        extension request a ``reason``, ``extra_working_days`` within the
        policy's limit, ``customer_rating`` and the follow-up scores 1..5 (F6).
        """
        action = body.pop("action")
        version = body.pop("version")
        reason = body.pop("reason")
        actor = request_actor()
        services.perform(
            wiring(), actor, number, action, expected_version=version, reason=reason, data=body
        )
        # Shown even if the action moved it out of the actor's sight (a return).
        return fresh_db_session().scalar(select(Case).where(Case.number == number))


@bp.route("/cases/<number>/history")
class CaseHistory(MethodView):
    @bp.response(200, EventSchema(many=True))
    @refusal(bp, 404, "no such case, or not one you may see")
    def get(self, number: str) -> list[CaseEvent]:
        """Every event of the case, oldest first (处理记录)."""
        return services.history(db_session(), request_actor(), number)


@bp.route("/lifecycle")
class Lifecycle(MethodView):
    @bp.response(200, LifecycleSchema)
    @bp.doc(security=[])
    def get(self) -> dict[str, Any]:
        """The lifecycle table: every legal move and who may make it (public)."""
        return {
            "transitions": [
                {
                    "from": source,
                    "action": action,
                    "to": target,
                    "guards": [guard.__name__ for guard in guards],
                    "roles": sorted(r.value for r in lifecycle.ALLOWED_ROLES[action]),
                }
                for (source, action), (target, guards) in lifecycle.TRANSITIONS.items()
            ],
            "roles": [r.value for r in Role],
        }


def _serve_swagger(filename: str) -> Any:
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def _document_the_document(app: Flask) -> None:
    """The document's own address, public like the page that shows it."""
    api.spec.path(
        rule=next(app.url_map.iter_rules(f"{DOCS_BLUEPRINT}.openapi_json")),
        operations={
            "get": {
                "summary": "This OpenAPI document (public)",
                "tags": [DOCS_BLUEPRINT],
                "security": [],
                "responses": {
                    "200": {
                        "description": "the document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    )


def init_app(app: Flask) -> None:
    """Bind the API and its OpenAPI document to ``app``."""
    app.config.setdefault("API_TITLE", "Water hotline 供水服务热线")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/static/")
    limit = app.config.get("MAX_CONTENT_LENGTH")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Every operation needs `Authorization: Bearer <token>` or a login session "
                    "(sending `X-CSRFToken` with a change), except those marked public; the "
                    f"caller is checked before the body is read. A body over {limit} bytes "
                    "(setting max_request_bytes) answers 413. Ids run from 1 to 2147483647, "
                    "text may not hold NUL characters or unpaired surrogates, and times lie "
                    "in the years 2000 to 2099. Every refusal has the body ErrorSchema: code, "
                    "error, message and, where they apply, field, rule and errors."
                ),
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api.init_app(app)
    api.register_blueprint(bp)
    _document_the_document(app)
    csrf.exempt(bp)  # the API checks X-CSRFToken itself for session callers
    app.add_url_rule("/api/docs/static/<path:filename>", "swagger_static", _serve_swagger)
    app.before_request(_authenticate)
