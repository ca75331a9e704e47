"""The duty roster page (值班表, P1: the dispatch center is never unattended).

Shows who is on duty now, the shifts of the coming week, the hours nobody
covered and the alarms raised for them, with forms to add or cancel a shift.
A shift is loaded with the same schema as the roster API's
(``dispatch.web.api.ShiftInputSchema``); changes go through
``dispatch.services.duty``, and a refusal comes back on the page with the
field marked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from dispatch.services import duty
from dispatch.web.api import ShiftInputSchema
from hotline.domain.taxonomy import Role
from hotline.services import ServiceError
from hotline.web import labels
from hotline.web.auth import roles_required
from hotline.web.forms import required_int
from hotline.web.pages import actor
from hotline.web.schemas import window_form
from hotline.web.session import db_session, fresh_db_session, wiring

bp = Blueprint("duty", __name__, template_folder="templates")

WEEK = timedelta(days=7)
#: A shift's length when the form does not say.
DEFAULT_SHIFT_HOURS = "12"


def _render(error: ServiceError | None = None, status: int = 200) -> Any:
    session = fresh_db_session()
    now = wiring().now()
    dispatchers = duty.active_dispatchers(session)
    shifts = duty.shifts_between(session, now, now + WEEK)
    return (
        render_template(
            "dispatch/duty.html",
            on_duty=duty.on_duty(session, now),
            shifts=shifts,
            gaps=duty.uncovered(now, now + WEEK, [(s.starts_at, s.ends_at) for s in shifts]),
            alarms=duty.alarms_between(session, now - WEEK, now + timedelta(hours=1)),
            dispatchers=dispatchers,
            error=error,
            now=now,
            labels=labels,
        ),
        status,
    )


@bp.route("/duty")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def roster() -> Any:
    """The roster for the coming week."""
    db_session()
    return _render()


@bp.route("/duty/shifts", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def add() -> Any:
    """Add one shift from the form (a start and a length in hours)."""
    form = request.form
    try:
        hours = required_int(form.get("hours") or DEFAULT_SHIFT_HOURS, "hours")
        body = window_form(ShiftInputSchema(), form, wiring().timezone, hours)
        duty.add_shift(wiring(), actor(), **body)
    except ServiceError as exc:
        return _render(exc, exc.status)
    flash(_("已排班"), "success")
    return redirect(url_for("duty.roster"))


@bp.route("/duty/shifts/<id:shift_id>/cancel", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def cancel(shift_id: int) -> Any:
    """Cancel a shift entered by mistake."""
    try:
        duty.cancel_shift(wiring(), actor(), shift_id)
    except ServiceError as exc:
        return _render(exc, exc.status)
    flash(_("已取消"), "success")
    return redirect(url_for("duty.roster"))
