"""The operator console (接线台): the pages from ring to case number.

* ``/console`` — calls ringing now (with the answer button), missed and
  abandoned calls waiting for a call-back, my open cases, and the
  counter-visit button (W1);
* ``/console/calls/<id>`` — the live call in three columns: the caller, the
  script, the case.

This module owns the ``console`` blueprint (with the console's templates and
static files); the supervisors' call log (:mod:`callflows.web.call_log`)
adds its pages to it. What the pages show is built in
:mod:`callflows.web.viewmodels`; the live call is driven through the JSON
API in :mod:`callflows.web.console_api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from callflows import services as calls
from callflows.services import CallFlows
from callflows.web.viewmodels import call_view, missed_rows, waiting_rows
from hotline import services as case_services
from hotline.domain.taxonomy import Category, Grade, Priority, Role, TriageOutcome
from hotline.services import Actor, CaseFilter, IntakeOutcome
from hotline.web import labels, privacy
from hotline.web.auth import roles_required
from hotline.web.pages import case_rows  # countdowns with the calendar of the running app
from hotline.web.session import db_session, wiring

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callflows.models import Call

__all__ = ["bp", "call_or_404", "common_context", "flows"]

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/callflows/static",
)


def flows() -> CallFlows:
    """The call-flow wiring of the running app."""
    return current_app.extensions["callflows"]


def _actor() -> Actor:
    return Actor.of(current_user)


def call_or_404(session: Session, call_id: int) -> Call:
    """The call ``call_id``; :class:`NotFound` (404) if there is none."""
    return calls.find_call(session, call_id)


def common_context() -> dict[str, Any]:
    """What every console and call-log template is given."""
    return {"labels": labels, "now": wiring().now(), "flows": flows()}


@bp.route("/console")
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def home() -> Any:
    """Calls ringing, calls to call back, my open cases, the counter-visit button."""
    session = db_session()
    actor = _actor()
    mine, _total = case_services.list_cases(
        session,
        actor,
        CaseFilter(first_responder_id=actor.id, open_only=True),
        now=wiring().now(),
        per_page=15,
    )
    unseen = case_services.unseen_changes(session, actor, mine)
    now = wiring().now()
    live_call = calls.live_call_id(session, actor.id)
    return render_template(
        "callflows/console.html",
        waiting=waiting_rows(session),
        missed=missed_rows(session),
        mine=case_rows(session, mine, now),
        unseen=unseen,
        live_call=live_call,
        **common_context(),
    )


@bp.route("/console/counter", methods=["POST"])
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def counter_visit() -> Any:
    """W1: start serving a visitor at the counter on the same console."""
    call_id = calls.start_counter_visit(
        wiring(), flows(), _actor(), caller_number=request.form.get("caller_number", "")
    )
    return redirect(url_for("console.call_page", call_id=call_id))


@bp.route("/console/calls/<id:call_id>")
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def call_page(call_id: int) -> Any:
    """The live call: caller, script and case side by side."""
    session = db_session()
    actor = _actor()
    call = call_or_404(session, call_id)
    if call.answered_by_id != actor.id and actor.role != Role.SUPERVISOR:
        abort(403, description=_("这通电话由其他接线员接听"))
    privacy.log_view(actor.id, "call", str(call.id))  # W7: the caller is shown whole
    departments = calls.departments(session)
    return render_template(
        "callflows/call.html",
        call=call,
        view=call_view(session, call, actor),
        departments=departments,
        categories=list(Category),
        priorities=list(Priority),
        grades=[int(g) for g in Grade],
        areas=case_services.areas_of(wiring()).areas,
        triages=list(TriageOutcome),
        outcomes=list(IntakeOutcome),
        **common_context(),
    )


# The call log's pages are on this blueprint too; importing them registers them.
from callflows.web import call_log  # noqa: E402, F401
