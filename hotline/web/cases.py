"""The case page: its details, its clocks and visits, its history and its forms.

Each form is loaded with the same schema as the API's command (an action
with :class:`~hotline.web.schemas.ActionSchema`, a visit with
:class:`~hotline.web.schemas.BookingSchema` and its kin, the shut-off with
:class:`~hotline.web.schemas.ShutOffSchema`) and handed to one service call.
A refusal comes back as a message on the case page with the field marked, and
nothing is written. What the page offers this person is worked out by
:func:`hotline.web.viewmodels.case_offer` from the rules of
:mod:`hotline.domain.actions`.

The blueprint keeps the name ``pages``: every area links a case as
``pages.case_page``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from marshmallow import RAISE, fields, validate
from sqlalchemy.exc import IntegrityError

from hotline import services
from hotline.domain import actions as case_actions
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import FollowUpOutcome, Role
from hotline.services import ServiceError
from hotline.services import promises as promise_service
from hotline.services.routing import proposed_department
from hotline.web import labels, privacy, viewmodels
from hotline.web.api_base import InputSchema
from hotline.web.forms import form_int, required_int
from hotline.web.pages import actor, common, departments, staff_list
from hotline.web.schemas import (
    ActionSchema,
    BookingSchema,
    CancelSchema,
    NoShowSchema,
    ShutOffSchema,
    action_parts,
    load_form,
    window_form,
)
from hotline.web.session import fresh_db_session, wiring

bp = Blueprint("pages", __name__)

#: Who may be named as a case's new first responder (they act on cases).
_WORKING_ROLES = (Role.OPERATOR, Role.CREW, Role.DISPATCHER, Role.SUPERVISOR)
#: The follow-up outcomes a closing records (a dissatisfied one reopens instead).
_CLOSING_OUTCOMES = (FollowUpOutcome.SATISFIED, FollowUpOutcome.BASICALLY_SATISFIED)


@bp.route("/cases/<number>")
@login_required
def case_page(number: str) -> Any:
    """A case: its details, the actions this role may take, and its whole history."""
    return _render_case(number)


def _refused(number: str, exc: ServiceError) -> Any:
    """The case page again with the refusal shown; an unknown case stays a 404."""
    if isinstance(exc, services.NotFound) and exc.field == "case":
        raise exc
    return _render_case(number, error=exc, status=exc.status)


def case_page_refusal(number: str, exc: ServiceError) -> Any:
    """The case page again with ``exc`` shown, for forms other areas add to it."""
    return _refused(number, exc)


def _render_case(number: str, error: ServiceError | None = None, status: int = 200) -> Any:
    me = actor()
    session = fresh_db_session()  # read the case as it is now, after any change
    case = services.get_case(session, me, number)
    personal = privacy.case_personal(me, case)
    privacy.log_if_whole(me.id, personal, "case", case.number)  # W7: before it is shown
    events = services.history(session, me, number)
    clocks = services.case_clocks(session, case)
    visits = services.case_visits(session, case)
    all_departments = departments()
    proposed = proposed_department(session, wiring(), case)
    staff = staff_list()
    now = wiring().now()
    calendar = wiring().policy.calendar
    return (
        render_template(
            "case.html",
            case=case,
            personal=personal,
            proposed=proposed,
            events=events,
            error=error,
            offer=viewmodels.case_offer(me.role, State(case.state), visits, clocks),
            case_due=viewmodels.case_due(clocks, now, calendar, fallback_due=case.due_at),
            departments=all_departments,
            crew=[s for s in staff if s.role == Role.CREW],
            everyone=[s for s in staff if s.role in _WORKING_ROLES],
            follow_up_outcomes=list(_CLOSING_OUTCOMES),
            created=request.args.get("created") == "1",
            clocks=viewmodels.clock_rows(clocks, now, calendar),
            caller_tasks=viewmodels.caller_tasks(promise_service.for_case(session, case), me.id),
            staff_names={s.id: s.display_name for s in staff},
            department_names={d.id: labels.department_name(d) for d in all_departments},
            **common(),
        ),
        status,
    )


@bp.route("/cases/<number>/seen", methods=["POST"])
@login_required
def case_seen(number: str) -> Any:
    """The case page was on screen showing the case up to its change ``seq``.

    The page's script posts this once the page is shown, so opening a case
    writes nothing; changes made after the page was drawn stay unread on the
    person's lists. Answers 204; a bad ``seq`` is refused naming it.
    """
    seq = required_int(request.form.get("seq"), "seq")
    me = actor()
    for attempt in (1, 2):
        try:
            with wiring().sessions() as session, session.begin():
                services.mark_seen(session, me, services.get_case(session, me, number), seq)
        except IntegrityError:
            if attempt == 2:
                raise
            # The same page in another tab recorded it first; count from its row.
        else:
            break
    return "", 204


@bp.route("/cases/<number>/action", methods=["POST"])
@login_required
def case_action(number: str) -> Any:
    """Take one action from the case page (the API's command, from a form)."""
    try:
        body = load_form(ActionSchema(), request.form, wiring().timezone)
        action, version, reason, data = action_parts(body)
        services.perform(
            wiring(),
            actor(),
            number,
            action,
            expected_version=version,
            reason=reason,
            data=case_actions.with_implied(action, data),
        )
    except ServiceError as exc:
        return _refused(number, exc)
    me = actor()
    case = services.case_by_number(fresh_db_session(), number)
    if case is None or not services.can_view(me, case):
        # A hand-back (G7) leaves the case with dispatch: the crew lands on its list.
        flash(_("已退单:工单 %(number)s 已交回调度中心", number=number), "success")
        return redirect(url_for("homes.home"))
    flash(_("已%(action)s", action=labels.label(labels.ACTION, action)), "success")
    return redirect(url_for("pages.case_page", number=number))


@bp.route("/cases/<number>/appointments", methods=["POST"])
@login_required
def case_appointment(number: str) -> Any:
    """F1: book, cancel or record a no-show for a visit, from the case page."""
    form = request.form
    me = actor()
    zone = wiring().timezone
    try:
        what = form.get("what", "book")
        if what == "book":
            hours = form_int(form.get("hours") or "2", "hours") or 2
            body = window_form(BookingSchema(), form, zone, hours)
            services.book_appointment(wiring(), me, number, **body)
        elif what == "no_show":
            appointment = required_int(form.get("appointment_id"), "appointment_id")
            body = load_form(NoShowSchema(), form, zone)
            services.record_no_show(wiring(), me, number, appointment, **body)
        elif what == "cancel":
            appointment = required_int(form.get("appointment_id"), "appointment_id")
            body = load_form(CancelSchema(), form, zone)
            services.cancel_appointment(wiring(), me, number, appointment, **body)
        else:
            raise services.Invalid("unknown appointment action '%(what)s'", "what", what=what)
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("预约已更新"), "success")
    return redirect(url_for("pages.case_page", number=number))


@bp.route("/cases/<number>/shut-off", methods=["POST"])
@login_required
def case_shut_off(number: str) -> Any:
    """F12: the crew reports the water shut off; the repair clock starts."""
    try:
        body = load_form(ShutOffSchema(), request.form, wiring().timezone)
        services.record_shut_off(wiring(), actor(), number, **body)
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("已关阀止水"), "success")
    return redirect(url_for("pages.case_page", number=number))


class CallerToldSchema(InputSchema):
    """G7: what the first responder told the caller about the new time."""

    class Meta:
        unknown = RAISE

    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


@bp.route("/cases/<number>/caller-told/<id:update_id>", methods=["POST"])
@login_required
def caller_told(number: str, update_id: int) -> Any:
    """G7: "done, caller told": the first responder told the caller the new time."""
    try:
        body = load_form(CallerToldSchema(), request.form, wiring().timezone)
        promise_service.mark_told(wiring(), actor(), update_id, **body)
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("已告知来电人新的承诺时限"), "success")
    if request.form.get("back") == "home":
        return redirect(url_for("homes.operator_home"))
    return redirect(url_for("pages.case_page", number=number))


@bp.route("/cases/<number>/incident-updates", methods=["POST"])
@login_required
def case_incident_update(number: str) -> Any:
    """Post an update on an incident from its case page (the API's schema and service)."""
    from hotline.web.api_incidents import IncidentUpdateSchema, post_incident_update

    try:
        body = load_form(IncidentUpdateSchema(), request.form, wiring().timezone)
        post_incident_update(wiring(), actor(), number, body)
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("事件进展已发布"), "success")
    return redirect(url_for("pages.case_page", number=number))
