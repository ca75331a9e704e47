"""Each role's home page, and the contact form typed in after the fact.

``/`` sends each person to their role's home: the operator console, the
dispatch board, the crew's work (``dispatch.web.crew``), the supervisor's
list of every case, the staff accounts. The contact form (表单登记) is loaded with the same schema as
the API's intake (:class:`hotline.web.schemas.IntakeSchema`) and handed to
one service call; a refusal comes back on the form, filled in as it was, with
the field marked, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from hotline import services
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category, Channel, Grade, Priority, Role, TriageOutcome
from hotline.services import CaseFilter, IntakeCommand, IntakeOutcome, ServiceError
from hotline.services import promises as promise_service
from hotline.web import viewmodels
from hotline.web.auth import roles_required
from hotline.web.pages import actor, common, departments, page_of_cases
from hotline.web.refusals import refusal_text
from hotline.web.schemas import IntakeSchema, load_form
from hotline.web.session import db_session, wiring

bp = Blueprint("homes", __name__)

#: Each role's home page.
HOMES = {
    Role.OPERATOR: "console.home",
    Role.DISPATCHER: "board.page",
    Role.CREW: "crew.home",  # dispatch.web.crew
    Role.SUPERVISOR: "homes.supervisor_home",
    Role.ADMIN: "admin.staff",
    Role.BILLING: "api-docs.openapi_swagger_ui",  # an API account: the API's page
}


@bp.route("/")
@login_required
def home() -> Any:
    return redirect(url_for(HOMES[Role(current_user.role)]))


def _intake_choices() -> dict[str, Any]:
    return {
        "channels": list(Channel),
        "categories": list(Category),
        "priorities": list(Priority),
        "grades": [int(g) for g in Grade],
        "areas": services.areas_of(wiring()).areas,
        "triages": list(TriageOutcome),
        "outcomes": list(IntakeOutcome),
    }


@bp.route("/operator")
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def operator_home() -> Any:
    """The plain contact form (表单登记) and my cases: for web and field reports
    typed in after the fact; live calls and counter visits use the console."""
    me = actor()
    listing = page_of_cases(CaseFilter(first_responder_id=me.id, open_only=True))
    unseen = services.unseen_changes(db_session(), me, listing.cases)
    # G7: cases whose promised time moved, waiting for me to tell the caller.
    tasks = viewmodels.caller_tasks(promise_service.open_for(db_session(), me), me.id)
    return render_template(
        "operator.html",
        listing=listing,
        unseen=unseen,
        caller_tasks=tasks,
        form=request.args,
        departments=departments(),
        **_intake_choices(),
        **common(),
    )


@bp.route("/contacts/new", methods=["POST"])
@login_required
def new_contact() -> Any:
    """Turn the contact form into a contact and, where needed, a case."""
    form = request.form
    try:
        body = load_form(IntakeSchema(), form, wiring().timezone)
        result = services.intake(wiring(), actor(), IntakeCommand(**body))
    except ServiceError as exc:
        flash(_("未保存:%(message)s", message=refusal_text(exc)), "error")
        return (
            render_template(
                "intake_error.html",
                error=exc,
                form=form,
                departments=departments(),
                **_intake_choices(),
                **common(),
            ),
            exc.status,
        )
    if result.case_number:
        flash(_("工单号 %(number)s", number=result.case_number), "success")
        return redirect(url_for("pages.case_page", number=result.case_number, created=1))
    flash(_("来电已记录"), "success")
    return redirect(url_for("homes.home"))


@bp.route("/supervisor")
@roles_required(Role.SUPERVISOR)
def supervisor_home() -> Any:
    """All cases, filterable, each with its history one click away."""
    args = request.args
    try:
        states = [State(s) for s in args.getlist("state") if s]
        category = Category(args["category"]) if args.get("category") else None
    except ValueError:
        abort(400, description=_("筛选条件无效"))
    overdue = {"1": True, "0": False}.get(args.get("overdue", ""))
    listing = page_of_cases(CaseFilter(states=states, category=category, overdue=overdue))
    return render_template(
        "supervisor.html",
        listing=listing,
        states=list(State),
        categories=list(Category),
        args=args,
        **common(),
    )
