"""The REST API (JSON), documented by flask-smorest as OpenAPI.

``/api/openapi.json`` is the document; ``/api/docs`` a browsable page served
from the packaged Swagger UI (no outside network needed). Views turn the
request into one service call and the result into JSON; bad input answers
422 naming the field, never 500.
"""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from flask import Flask, send_from_directory
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import EXCLUDE, RAISE, Schema, fields, validate
from sqlalchemy import select

from hotline import lifecycle, services
from hotline.auth import api_actor, csrf, db_session, fresh_db_session
from hotline.auth import services as wiring
from hotline.lifecycle import Action, State
from hotline.models import Case, CaseEvent
from hotline.services import CaseFilter, IntakeCommand, IntakeOutcome
from hotline.taxonomy import Category, Channel, FollowUpOutcome, Priority, Role, TriageOutcome


class _HotlineApi(Api):
    """flask-smorest's Api, leaving error pages to the app's own handlers."""

    def _register_error_handlers(self) -> None:
        return None


api = _HotlineApi()
bp = Blueprint(
    "api_cases",
    __name__,
    url_prefix="/api",
    description="Contacts and cases: intake, lookup, actions, history. "
    "来电受理、工单查询、办理与历史。",
)

_text = {"load_default": ""}


class IntakeSchema(Schema):
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
    pipe_size_dn = fields.Integer(load_default=None, allow_none=True, strict=True)
    read_back_confirmed = fields.Boolean(load_default=False)
    answer = fields.String(validate=validate.Length(max=4000), **_text)
    target_department_id = fields.Integer(load_default=None, allow_none=True, strict=True)
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
    parent_case_number = fields.Function(lambda case: case.parent.number if case.parent else None)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class CaseListArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    state = fields.List(fields.Enum(State, by_value=True), load_default=list)
    category = fields.Enum(Category, by_value=True, load_default=None)
    owner = fields.String(
        load_default=None,
        metadata={"description": "first responder's staff id, or 'me'"},
        validate=validate.Regexp(r"^(me|\d+)$", error="owner must be 'me' or a staff id"),
    )
    handler_department = fields.Integer(load_default=None)
    handler = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^(me|\d+)$", error="handler must be 'me' or a staff id"),
    )
    overdue = fields.Boolean(load_default=None)
    open = fields.Boolean(load_default=False)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class ActionSchema(Schema):
    """One action on a case; ``version`` is the version you last saw."""

    class Meta:
        unknown = RAISE

    action = fields.Enum(Action, by_value=True, required=True)
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    reason = fields.String(validate=validate.Length(max=2000), **_text)
    department_id = fields.Integer(load_default=None, strict=True)
    staff_id = fields.Integer(load_default=None, strict=True)
    target_department_id = fields.Integer(load_default=None, strict=True)
    told_caller = fields.String(validate=validate.Length(max=4000), **_text)
    answer = fields.String(validate=validate.Length(max=4000), **_text)
    result_note = fields.String(validate=validate.Length(max=4000), **_text)
    customer_rating = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 5))
    no_rating_reason = fields.String(validate=validate.Length(max=500), **_text)
    extra_working_days = fields.Integer(load_default=None, strict=True)
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


class RefusalSchema(Schema):
    error = fields.String()
    message = fields.String()
    field = fields.String()
    rule = fields.String()


def _staff_ref(value: str | None, actor: services.Actor) -> int | None:
    if value is None:
        return None
    return actor.id if value == "me" else int(value)


@bp.route("/contacts")
class Contacts(MethodView):
    @bp.arguments(IntakeSchema)
    @bp.response(201, IntakeResultSchema)
    @bp.alt_response(422, schema=RefusalSchema, description="a field is missing or breaks a rule")
    def post(self, body: dict[str, Any]) -> Any:
        """Record a contact and open its case where needed (受理来电)."""
        result = services.intake(wiring(), api_actor(), IntakeCommand(**body))
        return result


@bp.route("/cases")
class Cases(MethodView):
    @bp.arguments(CaseListArgs, location="query")
    @bp.response(200, CasePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List the cases you may see, most urgent first (工单列表)."""
        actor = api_actor()
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
    @bp.alt_response(404, schema=RefusalSchema)
    def get(self, number: str) -> Case:
        """One case (工单详情)."""
        return services.get_case(db_session(), api_actor(), number)


@bp.route("/cases/<number>/actions")
class CaseActions(MethodView):
    @bp.arguments(ActionSchema)
    @bp.response(200, CaseSchema)
    @bp.alt_response(
        409, schema=RefusalSchema, description="changed by someone else, or not legal now"
    )
    @bp.alt_response(422, schema=RefusalSchema, description="a rule of the standard refuses it")
    def post(self, body: dict[str, Any], number: str) -> Case:
        """Take an action on a case (办理): assign, acknowledge, return, complete, follow up..."""
        action = body.pop("action")
        version = body.pop("version")
        reason = body.pop("reason")
        actor = api_actor()
        services.perform(
            wiring(), actor, number, action, expected_version=version, reason=reason, data=body
        )
        # Shown even if the action moved it out of the actor's sight (a return).
        return fresh_db_session().scalar(select(Case).where(Case.number == number))


@bp.route("/cases/<number>/history")
class CaseHistory(MethodView):
    @bp.response(200, EventSchema(many=True))
    def get(self, number: str) -> list[CaseEvent]:
        """Every event of the case, oldest first (处理记录)."""
        return services.history(db_session(), api_actor(), number)


@bp.route("/lifecycle")
class Lifecycle(MethodView):
    @bp.response(200)
    def get(self) -> dict[str, Any]:
        """The lifecycle table: every legal move and who may make it."""
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


def init_app(app: Flask) -> None:
    """Bind the API and its OpenAPI document to ``app``."""
    app.config.setdefault("API_TITLE", "Water hotline 供水服务热线")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/static/")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api.init_app(app)
    api.register_blueprint(bp)
    csrf.exempt(bp)  # the API checks X-CSRFToken itself for session callers
    app.add_url_rule("/api/docs/static/<path:filename>", "swagger_static", _serve_swagger)
