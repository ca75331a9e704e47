"""The dispatch API: stage deadlines, time-limit figures, appointments, the duty roster.

A flask-smorest blueprint on hotline's API (same OpenAPI document, same token
or session login). Views parse the request, call one service or query, and
return JSON; bad input answers 422 naming the field.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError
from sqlalchemy.orm import Session

from dispatch import duty, figures
from hotline import services
from hotline.api import RefusalSchema
from hotline.auth import api_actor, csrf, db_session, fresh_db_session
from hotline.auth import services as wiring
from hotline.services import Actor, Forbidden
from hotline.taxonomy import Category, Role

bp = Blueprint(
    "api_dispatch",
    __name__,
    url_prefix="/api",
    description="Deadlines, time-limit figures, appointments and the duty roster. "
    "时限、达标率、预约与调度值班。",
)

#: Who reads the figures and the roster (supervisor reports, dispatch board).
_OVERSIGHT = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
#: The longest period one figures request covers.
MAX_PERIOD = timedelta(days=366)


def _oversight(actor: Actor) -> None:
    if actor.role not in _OVERSIGHT:
        raise Forbidden(f"role '{actor.role}' may not read the dispatch figures")


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


class PeriodArgs(Schema):
    """A period of local days, both ends included (default: the last 30 days)."""

    start = fields.Date(data_key="from", load_default=None)
    end = fields.Date(data_key="to", load_default=None)

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


class AppointmentSchema(Schema):
    id = fields.Integer()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    status = fields.String()
    note = fields.String()
    created_at = fields.DateTime()


class BookingSchema(Schema):
    """F1: a visit agreed with the customer."""

    class Meta:
        unknown = RAISE

    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    requested_by_customer = fields.Boolean(
        required=True,
        metadata={"description": "the customer chose the time: the clocks pause until it"},
    )
    note = fields.String(validate=validate.Length(max=2000), load_default="")


class RescheduleSchema(Schema):
    class Meta:
        unknown = RAISE

    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    requested_by_customer = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class NoShowSchema(Schema):
    class Meta:
        unknown = RAISE

    told_customer = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CancelSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ShutOffSchema(Schema):
    """F12: the water is shut off; the pipe size seen on site picks the repair limit."""

    class Meta:
        unknown = RAISE

    pipe_size_dn = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=15, max=3000)
    )
    note = fields.String(validate=validate.Length(max=2000), load_default="")


class ShiftSchema(Schema):
    id = fields.Integer()
    staff_id = fields.Integer()
    staff_name = fields.Function(lambda shift: shift.staff.display_name)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    note = fields.String()
    cancelled_at = fields.DateTime(allow_none=True)


class ShiftInputSchema(Schema):
    class Meta:
        unknown = RAISE

    staff_id = fields.Integer(required=True, strict=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
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


@bp.route("/cases/<number>/deadlines")
class CaseDeadlines(MethodView):
    @bp.response(200, CaseDeadlinesSchema)
    @bp.alt_response(404, schema=RefusalSchema)
    def get(self, number: str) -> dict[str, Any]:
        """Each stage's limit on this case and whether it was met (环节时限)."""
        return _deadlines_body(db_session(), api_actor(), number)


@bp.route("/figures/time-limits")
class TimeLimitFigures(MethodView):
    @bp.arguments(FiguresArgs, location="query")
    @bp.response(200, FiguresSchema)
    @bp.alt_response(403, schema=RefusalSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Per category, the share of stages that met their limit (时限达标率).

        Stages count in the period their due time falls in; ``from`` and
        ``to`` are local days, both included (default: the last 30 days).
        """
        _oversight(api_actor())
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


@bp.route("/cases/<number>/appointments")
class Appointments(MethodView):
    @bp.response(200, AppointmentSchema(many=True))
    def get(self, number: str) -> Any:
        """The visits booked with the customer, whatever became of them (F1)."""
        return services.appointments(db_session(), api_actor(), number)

    @bp.arguments(BookingSchema)
    @bp.response(201, AppointmentSchema)
    @bp.alt_response(409, schema=RefusalSchema, description="a booked visit is still ahead")
    @bp.alt_response(422, schema=RefusalSchema)
    def post(self, body: dict[str, Any], number: str) -> Any:
        """Book a visit (预约上门); a time the customer chose pauses the case's clocks."""
        return services.book_appointment(wiring(), api_actor(), number, **body)


@bp.route("/cases/<number>/appointments/<int:appointment_id>/reschedule")
class Reschedule(MethodView):
    @bp.arguments(RescheduleSchema)
    @bp.response(201, AppointmentSchema)
    @bp.alt_response(409, schema=RefusalSchema)
    @bp.alt_response(422, schema=RefusalSchema)
    def post(self, body: dict[str, Any], number: str, appointment_id: int) -> Any:
        """Move a booked visit, saying why (改约, F1); returns the new appointment."""
        return services.reschedule_appointment(
            wiring(), api_actor(), number, appointment_id, **body
        )


@bp.route("/cases/<number>/appointments/<int:appointment_id>/no-show")
class NoShow(MethodView):
    @bp.arguments(NoShowSchema)
    @bp.response(200, AppointmentSchema)
    @bp.alt_response(409, schema=RefusalSchema)
    @bp.alt_response(422, schema=RefusalSchema)
    def post(self, body: dict[str, Any], number: str, appointment_id: int) -> Any:
        """The customer was absent (用户未在场, F1): record how they were told."""
        return services.record_no_show(wiring(), api_actor(), number, appointment_id, **body)


@bp.route("/cases/<number>/appointments/<int:appointment_id>/cancel")
class CancelAppointment(MethodView):
    @bp.arguments(CancelSchema)
    @bp.response(200, AppointmentSchema)
    @bp.alt_response(409, schema=RefusalSchema)
    @bp.alt_response(422, schema=RefusalSchema)
    def post(self, body: dict[str, Any], number: str, appointment_id: int) -> Any:
        """Cancel a booked visit, saying why; the clocks run again."""
        return services.cancel_appointment(wiring(), api_actor(), number, appointment_id, **body)


@bp.route("/cases/<number>/shut-off")
class ShutOff(MethodView):
    @bp.arguments(ShutOffSchema)
    @bp.response(200, CaseDeadlinesSchema)
    @bp.alt_response(409, schema=RefusalSchema, description="no shut-off is pending")
    @bp.alt_response(422, schema=RefusalSchema)
    def post(self, body: dict[str, Any], number: str) -> dict[str, Any]:
        """The leak's water is shut off (关阀止水, F12); the repair clock starts."""
        actor = api_actor()
        services.record_shut_off(wiring(), actor, number, **body)
        return _deadlines_body(fresh_db_session(), actor, number)


@bp.route("/duty/shifts")
class Shifts(MethodView):
    @bp.arguments(PeriodArgs, location="query")
    @bp.response(200, ShiftSchema(many=True))
    @bp.alt_response(403, schema=RefusalSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The dispatchers' shifts in the period (调度值班表)."""
        _oversight(api_actor())
        _start_day, _end_day, start, end = _period(args)
        return duty.shifts_between(db_session(), start, end)

    @bp.arguments(ShiftInputSchema)
    @bp.response(201, ShiftSchema)
    @bp.alt_response(403, schema=RefusalSchema)
    @bp.alt_response(422, schema=RefusalSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Put a dispatcher on duty (排班, P1)."""
        return duty.add_shift(wiring(), api_actor(), **body)


@bp.route("/duty/shifts/<int:shift_id>/cancel")
class CancelShift(MethodView):
    @bp.response(200, ShiftSchema)
    @bp.alt_response(409, schema=RefusalSchema)
    def post(self, shift_id: int) -> Any:
        """Cancel a shift entered by mistake; it stays on file."""
        shift = duty.cancel_shift(wiring(), api_actor(), shift_id)
        return fresh_db_session().get(type(shift), shift.id)


@bp.route("/duty/alarms")
class Alarms(MethodView):
    @bp.arguments(PeriodArgs, location="query")
    @bp.response(200, AlarmSchema(many=True))
    @bp.alt_response(403, schema=RefusalSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Hours found without a dispatcher on duty (无人值班告警, P1)."""
        _oversight(api_actor())
        _start_day, _end_day, start, end = _period(args)
        return duty.alarms_between(db_session(), start, end)


def init_app(app: Flask) -> None:
    """Register the blueprint on hotline's API (after ``hotline.api.init_app``)."""
    from hotline.api import api

    api.register_blueprint(bp)
    csrf.exempt(bp)  # the API checks X-CSRFToken itself for session callers
