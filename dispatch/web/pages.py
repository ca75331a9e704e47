"""The dispatch center's own pages: the duty roster and outage notices.

The roster (值班表, P1: never unattended) shows who is on duty now, the shifts
of the coming week, the hours nobody covered, and forms to add or cancel a
shift; changes go through ``dispatch.services.duty``. Outage notices (停水通知, P8) are
published here with their notice period checked by ``dispatch.services.outages``; the
operator console shows them to callers at the affected addresses.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from dispatch.services import duty
from dispatch.services.outages import OutageNotice, OutageRefused, publish_outage
from hotline.domain.taxonomy import Role
from hotline.models import Outage, Staff
from hotline.services import Actor, Invalid, ServiceError
from hotline.web import labels
from hotline.web.auth import db_session, fresh_db_session, roles_required
from hotline.web.auth import services as wiring
from hotline.web.forms import form_local_datetime, required_int

bp = Blueprint("duty", __name__, template_folder="templates")

WEEK = timedelta(days=7)


def _render(error: ServiceError | None = None, status: int = 200) -> Any:
    session = fresh_db_session()
    now = wiring().now()
    dispatchers = list(
        session.scalars(
            select(Staff)
            .where(Staff.role == Role.DISPATCHER, Staff.active.is_(True))
            .order_by(Staff.display_name)
        )
    )
    return (
        render_template(
            "dispatch/duty.html",
            on_duty=duty.on_duty(session, now),
            shifts=duty.shifts_between(session, now, now + WEEK),
            gaps=duty.uncovered(
                now,
                now + WEEK,
                [(s.starts_at, s.ends_at) for s in duty.shifts_between(session, now, now + WEEK)],
            ),
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
    """Add one shift from the form."""
    form = request.form
    try:
        starts_at = form_local_datetime(form.get("starts_at"), "starts_at", wiring().timezone)
        hours = required_int(form.get("hours") or "12", "hours")
        duty.add_shift(
            wiring(),
            Actor.of(current_user),
            staff_id=required_int(form.get("staff_id"), "staff_id"),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
            note=form.get("note", ""),
        )
    except ServiceError as exc:
        return _render(exc, exc.status)
    flash(_("已排班"), "success")
    return redirect(url_for("duty.roster"))


@bp.route("/duty/shifts/<id:shift_id>/cancel", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def cancel(shift_id: int) -> Any:
    """Cancel a shift entered by mistake."""
    try:
        duty.cancel_shift(wiring(), Actor.of(current_user), shift_id)
    except ServiceError as exc:
        return _render(exc, exc.status)
    flash(_("已取消"), "success")
    return redirect(url_for("duty.roster"))


def init_app(app: Flask) -> None:
    """Bind the roster page to ``app``."""
    app.register_blueprint(bp)


# -- outage notices (停水通知, P8) ------------------------------------------------------


@bp.route("/outages")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR)
def outages_page(error: ServiceError | None = None, status: int = 200) -> Any:
    """Outages under way or coming, and (for dispatch) the form to publish one."""
    session = fresh_db_session()
    now = wiring().now()
    rows = list(
        session.scalars(
            select(Outage)
            .where(Outage.ends_at >= now - timedelta(days=1), Outage.cancelled_at.is_(None))
            .order_by(Outage.starts_at)
        )
    )
    return (
        render_template(
            "dispatch/outages.html",
            outages=rows,
            now=now,
            error=error,
            may_publish=Role(current_user.role) in (Role.DISPATCHER, Role.SUPERVISOR),
            labels=labels,
        ),
        status,
    )


@bp.route("/outages", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def publish() -> Any:
    """Publish an outage notice from the form; a planned one must give notice in time."""
    form = request.form
    try:
        notice = OutageNotice(
            area=form.get("area", ""),
            area_keywords=form.get("area_keywords", "")
            .replace(",", " ")
            .replace("，", " ")
            .split(),
            reason=form.get("reason", ""),
            starts_at=form_local_datetime(form.get("starts_at"), "starts_at", wiring().timezone),
            ends_at=form_local_datetime(form.get("ends_at"), "ends_at", wiring().timezone),
            planned=form.get("planned") == "on",
        )
        with wiring().sessions() as session, session.begin():
            publish_outage(session, notice, by_id=current_user.id, now=wiring().now())
    except OutageRefused as exc:
        error = Invalid(str(exc), exc.field, "P8")
        return outages_page(error, error.status)
    except ServiceError as exc:
        return outages_page(exc, exc.status)
    flash(_("停水通知已发布"), "success")
    return redirect(url_for("duty.outages_page"))


# -- one card of the dispatch board, for live updates -----------------------------------


def _board_sections() -> dict[str, frozenset[str]]:
    """The dispatch board's tables (``hotline.web.pages.dispatch_home``) and the states each shows."""
    from hotline.domain.lifecycle import DISPATCH_QUEUE, WORKING, State

    return {
        "queue": frozenset(DISPATCH_QUEUE),
        "pending": frozenset({State.EXTENSION_REQUESTED, State.DONE}),
        "working": frozenset({State.ASSIGNED, *WORKING}),
    }


def board_section(state: str) -> str | None:
    """Which table of the dispatch board shows a case in ``state`` (None: not on the board)."""
    return next((name for name, states in _board_sections().items() if state in states), None)


def board_counts(session: Any) -> dict[str, int]:
    """How many cases each table of the dispatch board holds (one grouped query)."""
    from sqlalchemy import func

    from hotline.models import Case

    sections = _board_sections()
    on_board = [str(state) for states in sections.values() for state in states]
    rows = session.execute(
        select(Case.state, func.count()).where(Case.state.in_(on_board)).group_by(Case.state)
    )
    counts = dict.fromkeys(sections, 0)
    for state, number in rows:
        counts[board_section(state) or ""] += number
    return counts


@bp.route("/dispatch/cards/<number>")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def board_card(number: str) -> Any:
    """One case's row of the dispatch board, the table it belongs in and the tables' sizes.

    ``{"case", "version", "section", "html", "counts"}``; ``section`` is None
    (and ``html`` empty) for a case no table shows; 404 for no such case.
    """
    from flask import jsonify

    from hotline.services import NotFound, get_case

    session = fresh_db_session()
    try:
        case = get_case(session, Actor.of(current_user), number)
    except NotFound:
        response = jsonify(case=number, version=None, section=None, html="")
        response.status_code = 404
    else:
        section = board_section(case.state)
        html = ""
        if section is not None:
            from hotline.web.pages import case_rows

            now = wiring().now()
            html = render_template(
                "dispatch/_card.html",
                case=case_rows(session, [case], now)[0],
                labels=labels,
                now=now,
            )
        response = jsonify(
            case=case.number,
            version=case.version,
            section=section,
            html=html,
            counts=board_counts(session),
        )
    response.headers["Cache-Control"] = "no-store"
    return response
