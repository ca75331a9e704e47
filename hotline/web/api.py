"""The REST API's case routes (JSON): contacts, cases, actions, history, the lifecycle.

Views turn the request into one service call and the result into JSON; bad
input answers 422 naming the field, never 500. The API's plumbing (its
document, the caller check, the input rules) is :mod:`hotline.web.api_base`,
the commands' input schemas :mod:`hotline.web.schemas` (shared with the
pages), and the visits booked on a case :mod:`hotline.web.api_appointments`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from hotline import services
from hotline.domain import lifecycle
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category, Role
from hotline.services import CaseFilter, IntakeCommand
from hotline.services.routing import proposed_department
from hotline.web import api_base, privacy
from hotline.web.api_base import (
    DOCS_BLUEPRINT,
    PUBLIC_ENDPOINTS,
    ApiBlueprint,
    Day,
    ErrorSchema,
    Id,
    InputSchema,
    Moment,
    api,
    refusal,
    request_actor,
    rules,
)
from hotline.web.forms import MAX_INT, MAX_PAGE
from hotline.web.schemas import ActionSchema, IntakeSchema, action_parts
from hotline.web.session import db_session, fresh_db_session, wiring

if TYPE_CHECKING:
    from hotline.models import Case, CaseEvent

#: Kept importable from here for the call-flow and dispatch APIs.
__all__ = [
    "DOCS_BLUEPRINT",
    "PUBLIC_ENDPOINTS",
    "ApiBlueprint",
    "Day",
    "ErrorSchema",
    "Id",
    "InputSchema",
    "Moment",
    "api",
    "bp",
    "init_app",
    "refusal",
    "request_actor",
    "rules",
]

bp = ApiBlueprint(
    "api_cases",
    __name__,
    url_prefix="/api",
    description="Contacts and cases: intake, lookup, actions, history. "
    "来电受理、工单查询、办理与历史。",
)


# -- schemas ---------------------------------------------------------------------------


def _staff_ref_rule(name: str) -> Callable[[str], None]:
    """'me', or a staff id from 1 to 2**31 - 1 in ASCII digits."""

    def check(value: str) -> None:
        if value != "me" and not (_STAFF_ID.fullmatch(value) and int(value) <= MAX_INT):
            raise ValidationError(f"{name} must be 'me' or a staff id (1 to {MAX_INT})")

    return check


_STAFF_ID = re.compile(r"[1-9][0-9]{0,9}")


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
    area = fields.String(
        metadata={
            "description": "the service area's code (片区, config/areas.toml); routes the case"
        }
    )
    zone = fields.String(metadata={"description": "the area's zone: town, outskirts, villages"})
    grade = fields.Integer(
        allow_none=True, metadata={"description": "F12: severity grade 1, 2 or 3; none: not graded"}
    )
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
    proposed_department = fields.Method(
        "_proposed_department",
        metadata={
            "type": "object",
            "nullable": True,
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string"},
                "name_zh": {"type": "string"},
                "name_en": {"type": "string"},
                "rule": {"type": "string"},
            },
            "description": "while dispatch holds the case: the department the routing "
            "rules (config/routing.toml) propose for its category and area, for the "
            "dispatcher to confirm; null when no rule matches",
        },
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

    def _proposed_department(self, case: Case) -> dict[str, Any] | None:
        found = proposed_department(db_session(), wiring(), case)
        if found is None:
            return None
        department = found.department
        return {
            "id": department.id,
            "code": department.code,
            "name_zh": department.name_zh,
            "name_en": department.name_en,
            "rule": found.why,
        }


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
        shown = [privacy.case_for_api(actor, case, opened=False) for case in items]  # W7
        return {"items": shown, "total": total, "page": args["page"], "per_page": args["per_page"]}


@bp.route("/cases/<number>")
class CaseItem(MethodView):
    @bp.response(200, CaseSchema)
    @refusal(bp, 404, "no such case, or not one you may see")
    @refusal(bp, 503, "W7: the access log cannot be written, so the case is not shown")
    def get(self, number: str) -> Case:
        """One case (工单详情).

        W7: the caller's name, phone and address are whole for the roles that
        call or visit customers (the view is logged first; 503 when it cannot
        be) and masked for the others; ``GET /api/cases`` lists them masked.
        """
        actor = request_actor()
        case = services.get_case(db_session(), actor, number)
        return privacy.case_for_api(actor, case, opened=True)  # type: ignore[return-value]


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
        action, version, reason, data = action_parts(body)
        services.perform(
            wiring(),
            request_actor(),
            number,
            action,
            expected_version=version,
            reason=reason,
            data=data,
        )
        # Shown even if the action moved it out of the actor's sight (a return).
        case = services.case_by_number(fresh_db_session(), number)
        return privacy.case_for_api(request_actor(), case, opened=True)  # type: ignore[return-value]


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


def init_app(app: Flask) -> None:
    """Bind the API, its OpenAPI document and the case routes to ``app``."""
    from hotline.web import api_appointments, api_incidents

    api_base.init_app(app, bp, api_appointments.bp, api_incidents.bp)
