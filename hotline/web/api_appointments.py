"""The REST API's visits booked with the customer on a case (F1).

Booking, moving, cancelling a visit and recording the customer absent, beside
the case routes (:mod:`hotline.web.api`) and with the same input schemas as
the case page's visit forms (:mod:`hotline.web.schemas`). Each view is one
service call; bad input answers 422 naming the field.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from hotline import services
from hotline.web.api_base import ApiBlueprint, refusal, request_actor
from hotline.web.schemas import BookingSchema, CancelSchema, NoShowSchema, RescheduleSchema
from hotline.web.session import db_session, wiring

bp = ApiBlueprint(
    "api_appointments",
    __name__,
    url_prefix="/api",
    description="Visits booked with the customer on a case (F1). 预约上门。",
)


class AppointmentSchema(Schema):
    id = fields.Integer()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    status = fields.String()
    note = fields.String()
    created_at = fields.DateTime()


_BOOKING_RULES = (
    "Refused with 422 (rule F1) naming the field when `starts_at` is not still ahead, "
    "or more than 30 days ahead, or the window does not end after it starts or lasts "
    "more than 12 hours; times need their zone and lie in the years 2000 to 2099. 409 "
    "while another booked visit is still ahead, or when the case is closed or merged; "
    "403 for a crew whose department does not handle the case."
)


@bp.route("/cases/<number>/appointments")
class Appointments(MethodView):
    @bp.response(200, AppointmentSchema(many=True))
    @refusal(bp, 404, "no such case, or not one you may see")
    def get(self, number: str) -> Any:
        """The visits booked with the customer, whatever became of them (F1)."""
        return services.appointments(db_session(), request_actor(), number)

    @bp.arguments(BookingSchema)
    @bp.response(201, AppointmentSchema)
    @refusal(bp, 403, "your role, or your department, may not book on this case")
    @refusal(bp, 404, "no such case, or not one you may see")
    @refusal(bp, 409, "a booked visit is still ahead, or the case is closed or merged")
    @refusal(bp, 422, "F1: the time is past, over 30 days ahead, or the window is wrong")
    @bp.doc(description=_BOOKING_RULES)
    def post(self, body: dict[str, Any], number: str) -> Any:
        """Book a visit (预约上门); a time the customer chose pauses the case's clocks."""
        return services.book_appointment(wiring(), request_actor(), number, **body)


@bp.route("/cases/<number>/appointments/<id:appointment_id>/reschedule")
class Reschedule(MethodView):
    @bp.arguments(RescheduleSchema)
    @bp.response(201, AppointmentSchema)
    @refusal(bp, 403, "your role, or your department, may not change this visit")
    @refusal(bp, 404, "no such case, or no such appointment on it")
    @refusal(bp, 409, "the appointment is no longer booked, or the case is closed or merged")
    @refusal(bp, 422, "F1: no reason, or the new time is past, too far ahead or wrong")
    @bp.doc(description="``reason`` must not be blank. " + _BOOKING_RULES)
    def post(self, body: dict[str, Any], number: str, appointment_id: int) -> Any:
        """Move a booked visit, saying why (改约, F1); returns the new appointment."""
        return services.reschedule_appointment(
            wiring(), request_actor(), number, appointment_id, **body
        )


@bp.route("/cases/<number>/appointments/<id:appointment_id>/no-show")
class NoShow(MethodView):
    @bp.arguments(NoShowSchema)
    @bp.response(200, AppointmentSchema)
    @refusal(bp, 403, "your role, or your department, may not record this")
    @refusal(bp, 404, "no such case, or no such appointment on it")
    @refusal(bp, 409, "the appointment is no longer booked, or the case is closed or merged")
    @refusal(bp, 422, "F1: how the customer was told is missing, or the visit has not started")
    def post(self, body: dict[str, Any], number: str, appointment_id: int) -> Any:
        """The customer was absent (用户未在场, F1): record how they were told.

        Refused with 422 (F1) while the visit has not started yet, or when
        ``told_customer`` is blank.
        """
        return services.record_no_show(wiring(), request_actor(), number, appointment_id, **body)


@bp.route("/cases/<number>/appointments/<id:appointment_id>/cancel")
class CancelAppointment(MethodView):
    @bp.arguments(CancelSchema)
    @bp.response(200, AppointmentSchema)
    @refusal(bp, 403, "your role, or your department, may not cancel this visit")
    @refusal(bp, 404, "no such case, or no such appointment on it")
    @refusal(bp, 409, "the appointment is no longer booked, or the case is closed or merged")
    @refusal(bp, 422, "F1: the reason is missing")
    def post(self, body: dict[str, Any], number: str, appointment_id: int) -> Any:
        """Cancel a booked visit, saying why; the clocks run again.

        ``reason`` must not be blank (422, F1).
        """
        return services.cancel_appointment(
            wiring(), request_actor(), number, appointment_id, **body
        )
