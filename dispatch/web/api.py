"""The dispatch API: stage deadlines, time-limit figures, the shut-off, the duty roster.

A flask-smorest blueprint on hotline's API (same OpenAPI document, same token
or session login). Views parse the request, call one service or query, and
return JSON; bad input answers 422 naming the field. The visits booked on a
case are beside the case routes, in ``hotline.web.api_appointments``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Flask
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError
from sqlalchemy.orm import Session

from dispatch.services import duty, figures
from hotline import services
from hotline.domain.taxonomy import Category, Role
from hotline.services import Actor, Forbidden, Invalid
from hotline.web.api_base import (
    ApiBlueprint,
    Day,
    Id,
    InputSchema,
    Moment,
    refusal,
    register,
    request_actor,
)
from hotline.web.schemas import ShutOffSchema
from hotline.web.session import db_session, fresh_db_session, wiring

bp = ApiBlueprint(
    "api_dispatch",
    __name__,
    url_prefix="/api",
    description="Deadlines, time-limit figures, the water shut-off and the duty roster. "
    "时限、达标率、关阀止水与调度值班。",
)

#: Who reads the figures and the roster (supervisor reports, dispatch board).
_OVERSIGHT = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
#: The longest period one figures request covers.
MAX_PERIOD = timedelta(days=366)


def _oversight(actor: Actor) -> None:
    if actor.role not in _OVERSIGHT:
        raise Forbidden("role '%(role)s' may not read the dispatch figures", role=actor.role)


# -- schemas -------------------------------------------------------------------------


class StageVerdictSchema(Schema):
    stage = fields.String()
    clock = fields.String(metadata={"description": "around_the_clock or working_days"})
    limit = fields.String()
    started_at = fields.DateTime()
    due_at = fields.DateTime()
    limit_due_at = fields.DateTime(
        metadata={"description": "due time before extensions and pauses"}
    )
    ended_at = fields.DateTime(allow_none=True)
    ended_by = fields.String()
    met = fields.Boolean(allow_none=True, metadata={"description": "null while open"})
    overdue = fields.Boolean()
    warned_at = fields.DateTime(allow_none=True)
    escalation_level = fields.Integer(
        metadata={"description": "0 handler, 1 dispatch center, 2 supervisor"}
    )
    escalated_at = fields.DateTime(allow_none=True)
    paused_seconds = fields.Integer()
    paused_until = fields.DateTime(allow_none=True)


class PromiseSchema(Schema):
    promised_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    kept = fields.Boolean(allow_none=True)


class CaseDeadlinesSchema(Schema):
    case = fields.String()
    state = fields.String()
    stage = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    escalation_level = fields.Integer()
    promise = fields.Nested(PromiseSchema)
    stages = fields.List(fields.Nested(StageVerdictSchema))


class PeriodArgs(InputSchema):
    """A period of local days, both ends included (default: the last 30 days)."""

    start = Day(data_key="from", load_default=None)
    end = Day(data_key="to", load_default=None)

    @validates_schema
    def _order(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise SchemaError("'from' must not be after 'to'", "from")
        if start and end and end - start > MAX_PERIOD:
            raise SchemaError(f"a period covers at most {MAX_PERIOD.days} days", "to")


class FiguresArgs(PeriodArgs):
    category = fields.Enum(Category, by_value=True, load_default=None)


class TallySchema(Schema):
    met = fields.Integer()
    missed = fields.Integer()
    share_met = fields.Float(allow_none=True)


class StageTallySchema(TallySchema):
    stage = fields.String()


class CategoryFiguresSchema(Schema):
    category = fields.String()
    met = fields.Integer(attribute="total.met")
    missed = fields.Integer(attribute="total.missed")
    share_met = fields.Float(attribute="total.share_met", allow_none=True)
    stages = fields.Method("_stages")

    def _stages(self, obj: figures.CategoryFigures) -> list[dict[str, Any]]:
        return [
            {"stage": stage, "met": t.met, "missed": t.missed, "share_met": t.share_met}
            for stage, t in obj.stages.items()
        ]


class FiguresSchema(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    judged_by = fields.String()
    categories = fields.List(fields.Nested(CategoryFiguresSchema))


class ShiftSchema(Schema):
    id = fields.Integer()
    staff_id = fields.Integer()
    staff_name = fields.Function(lambda shift: shift.staff.display_name)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    note = fields.String()
    cancelled_at = fields.DateTime(allow_none=True)


class ShiftInputSchema(InputSchema):
    class Meta:
        unknown = RAISE

    staff_id = Id(required=True)
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    note = fields.String(validate=validate.Length(max=200), load_default="")


class AlarmSchema(Schema):
    id = fields.Integer()
    hour_starts_at = fields.DateTime()
    raised_at = fields.DateTime()
    gaps = fields.List(fields.List(fields.String()))


# -- helpers ---------------------------------------------------------------------------


def _period(args: dict[str, Any]) -> tuple[date, date, datetime, datetime]:
    """The requested local days and the moments bounding them (end exclusive)."""
    svc = wiring()
    today = svc.now().astimezone(svc.timezone).date()
    end_day = args.get("end") or today
    start_day = args.get("start") or end_day - timedelta(days=29)
    if start_day > end_day:  # only 'to' given, before the default start
        start_day = end_day
    if end_day - start_day > MAX_PERIOD:  # only 'from' given, long before today
        raise Invalid("a period covers at most %(days)d days", "from", days=MAX_PERIOD.days)
    start = datetime.combine(start_day, time(0), tzinfo=svc.timezone)
    end = datetime.combine(end_day + timedelta(days=1), time(0), tzinfo=svc.timezone)
    return start_day, end_day, start, end


def _deadlines_body(session: Session, actor: Actor, number: str) -> dict[str, Any]:
    """A case's clocks judged now, and its promise; raises ``NotFound`` if not visible."""
    case = services.get_case(session, actor, number)
    now = wiring().now()
    verdicts = figures.case_verdicts(session, case, now)
    return {
        "case": case.number,
        "state": case.state,
        "stage": case.stage,
        "due_at": case.due_at,
        "escalation_level": case.escalation_level,
        "promise": figures.promise_verdict(case.promised_at, verdicts, now),
        "stages": verdicts,
    }


# -- views ------------------------------------------------------------------------------

_PERIOD_RULES = (
    "`from` and `to` are local days (YYYY-MM-DD) in the years 2000 to 2099, both "
    "included, `from` not after `to`, and the period covers at most 366 days (default: "
    "the last 30 days); otherwise 422 naming the field. Only dispatchers, supervisors "
    "and administrators may read it (else 403)."
)


@bp.route("/cases/<number>/deadlines")
class CaseDeadlines(MethodView):
    @bp.response(200, CaseDeadlinesSchema)
    @refusal(bp, 404, "no such case, or not one you may see")
    def get(self, number: str) -> dict[str, Any]:
        """Each stage's limit on this case and whether it was met (环节时限)."""
        return _deadlines_body(db_session(), request_actor(), number)


@bp.route("/figures/time-limits")
class TimeLimitFigures(MethodView):
    @bp.arguments(FiguresArgs, location="query")
    @bp.response(200, FiguresSchema)
    @refusal(bp, 403, "only dispatchers, supervisors and administrators read the figures")
    @refusal(bp, 422, "the period is malformed, reversed or longer than 366 days")
    @bp.doc(description="Stages count in the period their due time falls in. " + _PERIOD_RULES)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Per category, the share of stages that met their limit (时限达标率)."""
        _oversight(request_actor())
        start_day, end_day, start, end = _period(args)
        result = figures.time_limit_figures(
            db_session(), start=start, end=end, now=wiring().now(), category=args["category"]
        )
        return {
            "start": start_day,
            "end": end_day,
            "judged_by": "stages whose due time falls in the period",
            "categories": result,
        }


@bp.route("/cases/<number>/shut-off")
class ShutOff(MethodView):
    @bp.arguments(ShutOffSchema)
    @bp.response(200, CaseDeadlinesSchema)
    @refusal(bp, 403, "your role, or your department, may not report this")
    @refusal(bp, 404, "no such case, or not one you may see")
    @refusal(bp, 409, "no shut-off is pending on this case")
    @refusal(bp, 422, "pipe_size_dn is outside DN15..DN3000")
    def post(self, body: dict[str, Any], number: str) -> dict[str, Any]:
        """The leak's water is shut off (关阀止水, F12); the repair clock starts.

        Only a leak waiting for its shut-off takes it (else 409);
        ``pipe_size_dn`` runs from 15 to 3000.
        """
        actor = request_actor()
        services.record_shut_off(wiring(), actor, number, **body)
        return _deadlines_body(fresh_db_session(), actor, number)


@bp.route("/duty/shifts")
class Shifts(MethodView):
    @bp.arguments(PeriodArgs, location="query")
    @bp.response(200, ShiftSchema(many=True))
    @refusal(bp, 403, "only dispatchers, supervisors and administrators read the roster")
    @refusal(bp, 422, "the period is malformed, reversed or longer than 366 days")
    @bp.doc(description=_PERIOD_RULES)
    def get(self, args: dict[str, Any]) -> Any:
        """The dispatchers' shifts in the period (调度值班表)."""
        _oversight(request_actor())
        _start_day, _end_day, start, end = _period(args)
        return duty.shifts_between(db_session(), start, end)

    @bp.arguments(ShiftInputSchema)
    @bp.response(201, ShiftSchema)
    @refusal(bp, 403, "only dispatchers and supervisors change the roster")
    @refusal(bp, 404, "no active staff member with that id")
    @refusal(bp, 422, "P1: the shift is over, reversed, longer than 24 hours, or not a dispatcher")
    def post(self, body: dict[str, Any]) -> Any:
        """Put a dispatcher on duty (排班, P1).

        Refused with 422 (P1) naming the field when the shift does not end
        after it starts, lasts more than 24 hours, has already ended, or
        ``staff_id`` is not a dispatcher; 404 when ``staff_id`` names no active
        member of staff. Only dispatchers and supervisors may (else 403).
        """
        return duty.add_shift(wiring(), request_actor(), **body)


@bp.route("/duty/shifts/<id:shift_id>/cancel")
class CancelShift(MethodView):
    @bp.response(200, ShiftSchema)
    @refusal(bp, 403, "only dispatchers and supervisors change the roster")
    @refusal(bp, 404, "no such shift")
    @refusal(bp, 409, "the shift is already cancelled or over")
    def post(self, shift_id: int) -> Any:
        """Cancel a shift entered by mistake; it stays on file.

        A shift already cancelled or over cannot be (409).
        """
        shift = duty.cancel_shift(wiring(), request_actor(), shift_id)
        return fresh_db_session().get(type(shift), shift.id)


@bp.route("/duty/alarms")
class Alarms(MethodView):
    @bp.arguments(PeriodArgs, location="query")
    @bp.response(200, AlarmSchema(many=True))
    @refusal(bp, 403, "only dispatchers, supervisors and administrators read the alarms")
    @refusal(bp, 422, "the period is malformed, reversed or longer than 366 days")
    @bp.doc(description=_PERIOD_RULES)
    def get(self, args: dict[str, Any]) -> Any:
        """Hours found without a dispatcher on duty (无人值班告警, P1)."""
        _oversight(request_actor())
        _start_day, _end_day, start, end = _period(args)
        return duty.alarms_between(db_session(), start, end)


def init_app(app: Flask) -> None:
    """Register the blueprint on hotline's API (after ``hotline.web.api.init_app``)."""
    register(bp)
