"""Supervision orders (督办 / 催办) on the web: the API, the case page's section, the list.

The API (``/api/cases/<number>/supervision-orders``, ``/api/supervision-orders``
and ``/api/supervision-orders/<id>/answer``) and the page forms load the
same schemas (:class:`IssueSchema`, :class:`AnswerSchema`) and call the same
services (``dispatch.services.supervision``); bad input answers 422 naming
the field, on the page as a message with the field marked. The case page
shows ``dispatch/_case_supervision.html`` as one of its page extras
(``hotline.web.extras``), which reads its rows through the template global
``case_supervision``. The
list page ``/supervision`` shows open and overdue orders first.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import RAISE, Schema, fields, validate

from dispatch.domain.supervision import (
    DEFAULT_DUE_MINUTES,
    FINISHED_STATES,
    MAX_DUE_MINUTES,
    MAX_TEXT,
    MIN_DUE_MINUTES,
    OrderKind,
)
from dispatch.services import supervision
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role
from hotline.services import ServiceError
from hotline.web.api_base import ApiBlueprint, Id, InputSchema, refusal, register, request_actor
from hotline.web.cases import case_page_refusal
from hotline.web.extras import add_page_extra
from hotline.web.pages import actor, common, departments, staff_list
from hotline.web.schemas import load_form
from hotline.web.session import db_session, fresh_db_session, wiring

api_bp = ApiBlueprint(
    "api_supervision",
    __name__,
    url_prefix="/api",
    description="Supervision orders on a case: issued, answered, overdue. 督办、催办。",
)
bp = Blueprint("supervision", __name__, template_folder="templates")

#: The deadlines the case page's form offers, in minutes (the API takes any in range).
DUE_CHOICES = (60, 120, 240, 480, 1440)
#: Who may be named in person as an addressee on the page's form.
_ADDRESSEES = (Role.CREW, Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR)


# -- schemas -------------------------------------------------------------------------


class IssueSchema(InputSchema):
    """A supervision order: to one department or one person, with a deadline."""

    class Meta:
        unknown = RAISE

    kind = fields.Enum(
        OrderKind,
        by_value=True,
        load_default=OrderKind.SUPERVISE,
        metadata={"description": "supervise (督办) or urge (催办)"},
    )
    instruction = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_TEXT),
        metadata={"description": "what the addressee must do"},
    )
    to_department_id = Id(load_default=None, allow_none=True)
    to_staff_id = Id(load_default=None, allow_none=True)
    due_in_minutes = fields.Integer(
        strict=True,
        load_default=DEFAULT_DUE_MINUTES,
        validate=validate.Range(min=MIN_DUE_MINUTES, max=MAX_DUE_MINUTES),
        metadata={"description": "the order's own deadline, from now (default 120)"},
    )


class AnswerSchema(InputSchema):
    """The addressee's answer, in words."""

    class Meta:
        unknown = RAISE

    answer = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))


class ListArgs(InputSchema):
    class Meta:
        unknown = RAISE

    open_only = fields.Boolean(load_default=False)


class OrderSchema(Schema):
    id = fields.Integer()
    case_number = fields.String()
    kind = fields.String(metadata={"description": "supervise (督办) or urge (催办)"})
    status = fields.String(metadata={"description": "overdue, open, answered_late or answered"})
    issued_by_id = fields.Integer()
    issued_by_name = fields.String()
    issued_at = fields.DateTime()
    to_department_id = fields.Integer(allow_none=True)
    to_department_name = fields.String()
    to_staff_id = fields.Integer(allow_none=True)
    to_staff_name = fields.String()
    instruction = fields.String()
    due_at = fields.DateTime()
    answer = fields.String()
    answered_at = fields.DateTime(allow_none=True)
    answered_by_id = fields.Integer(allow_none=True)
    answered_by_name = fields.String()


_ISSUE_RULES = (
    "Only supervisors and dispatchers issue orders (else 403). Exactly one of "
    "`to_department_id` and `to_staff_id` names the addressee; `instruction` must not "
    "be blank; `due_in_minutes` runs from 10 to 10080 (default 120): otherwise 422 "
    "naming the field. 404 for an unknown case, department or person; 409 when the "
    "case is closed or merged."
)


# -- the API -------------------------------------------------------------------------


@api_bp.route("/cases/<number>/supervision-orders")
class CaseOrders(MethodView):
    @api_bp.response(200, OrderSchema(many=True))
    @refusal(api_bp, 404, "no such case, or not one you may see")
    def get(self, number: str) -> Any:
        """The case's supervision orders: overdue first, then open, then answered (督办)."""
        return supervision.orders_for_case(db_session(), request_actor(), number, wiring().now())

    @api_bp.arguments(IssueSchema)
    @api_bp.response(201, OrderSchema)
    @refusal(api_bp, 403, "only supervisors and dispatchers issue supervision orders")
    @refusal(api_bp, 404, "no such case, department or person")
    @refusal(api_bp, 409, "the case is closed or merged")
    @refusal(api_bp, 422, "G7: no or two addressees, no instruction, or a deadline out of range")
    @api_bp.doc(description=_ISSUE_RULES)
    def post(self, body: dict[str, Any], number: str) -> Any:
        """Issue a supervision order (督办 / 催办) to a department or a person.

        The addressee is told live; the case's history records the order.
        """
        return supervision.issue(wiring(), request_actor(), number, **body)


@api_bp.route("/supervision-orders")
class Orders(MethodView):
    @api_bp.arguments(ListArgs, location="query")
    @api_bp.response(200, OrderSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Supervision orders: overdue first, then open, then the latest answered.

        Supervisors, dispatchers and administrators see every order; anyone
        else those addressed to them or their department.
        """
        return supervision.list_orders(
            db_session(), request_actor(), wiring().now(), open_only=args["open_only"]
        )


@api_bp.route("/supervision-orders/<id:order_id>/answer")
class Answer(MethodView):
    @api_bp.arguments(AnswerSchema)
    @api_bp.response(200, OrderSchema)
    @refusal(api_bp, 403, "G7: only the addressee answers the order")
    @refusal(api_bp, 404, "no such supervision order")
    @refusal(api_bp, 409, "the order is already answered")
    @refusal(api_bp, 422, "the answer is blank")
    def post(self, body: dict[str, Any], order_id: int) -> Any:
        """Answer a supervision order addressed to you or your department (督办回复).

        ``answer`` must not be blank (422); an order is answered once (409).
        """
        return supervision.answer(wiring(), request_actor(), order_id, **body)


# -- the case page's section -----------------------------------------------------------


def case_supervision(case: Any) -> dict[str, Any]:
    """What the case page's supervision section shows this person (a template global)."""
    me = actor()
    now = wiring().now()
    orders = supervision.orders_for_case(fresh_db_session(), me, case.number, now)
    may_issue = supervision.may_issue(me) and State(case.state) not in FINISHED_STATES
    return {
        "orders": orders,
        "answerable": {o.id for o in orders if o.is_open and supervision.addressed_to(me, o)},
        "may_issue": may_issue,
        "departments": departments() if may_issue else [],
        "people": staff_list(*_ADDRESSEES) if may_issue else [],
        "due_choices": DUE_CHOICES,
        "default_due": DEFAULT_DUE_MINUTES,
        "kinds": list(OrderKind),
    }


# -- pages -----------------------------------------------------------------------------


def _render_list(error: ServiceError | None = None, status: int = 200) -> Any:
    me = actor()
    now = wiring().now()
    orders = supervision.list_orders(fresh_db_session(), me, now)
    return (
        render_template(
            "dispatch/supervision.html",
            orders=orders,
            answerable={o.id for o in orders if o.is_open and supervision.addressed_to(me, o)},
            overdue=sum(1 for o in orders if o.overdue),
            open_count=sum(1 for o in orders if o.is_open),
            sees_all=supervision.may_read_all(me),
            error=error,
            **common(),
        ),
        status,
    )


@bp.route("/supervision")
@login_required
def page() -> Any:
    """Supervision orders (督办): open and overdue first; yours, or all for supervisors."""
    return _render_list()


@bp.route("/cases/<number>/supervision-orders", methods=["POST"])
@login_required
def issue_from_case(number: str) -> Any:
    """Issue an order from the case page (the API's command, from a form)."""
    form = request.form
    try:
        body = load_form(IssueSchema(), form, wiring().timezone)
        supervision.issue(wiring(), actor(), number, **body)
    except ServiceError as exc:
        return case_page_refusal(number, exc)
    flash(_("已督办"), "success")
    return redirect(url_for("pages.case_page", number=number))


@bp.route("/supervision-orders/<id:order_id>/answer", methods=["POST"])
@login_required
def answer_from_page(order_id: int) -> Any:
    """Answer an order from the case page or the supervision list."""
    form = request.form
    number = form.get("case_number") or ""
    try:
        body = load_form(AnswerSchema(), form, wiring().timezone)
        supervision.answer(wiring(), actor(), order_id, **body)
    except ServiceError as exc:
        if number and form.get("back") == "case":
            return case_page_refusal(number, exc)
        return _render_list(error=exc, status=exc.status)
    flash(_("已回复督办"), "success")
    if number and form.get("back") == "case":
        return redirect(url_for("pages.case_page", number=number))
    return redirect(url_for("supervision.page"))


def init_app(app: Flask) -> None:
    """Bind the API, the pages and the case page's section to ``app``."""
    register(api_bp)
    app.register_blueprint(bp)
    app.add_template_global(case_supervision, "case_supervision")
    add_page_extra(app, _case_section)


def _case_section() -> str | None:
    """The supervision section, on a case page for someone logged in."""
    if request.endpoint != "pages.case_page" or not current_user.is_authenticated:
        return None
    return "dispatch/_case_supervision.html"
