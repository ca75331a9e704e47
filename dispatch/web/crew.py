"""The crew page (班组, phone-sized first): my work in order of deadline.

Each case is a card: the next sensible step first and big (acknowledge, set
out, arrive, complete: :func:`dispatch.domain.crew.crew_offer`), the hand-back
and the extension request below it, smaller, with their reasons; the
customer's number to tap and call (the crew sees the numbers of its own
cases), the visit booked, the address, the promised time and the countdown.
After an action the page comes back at the same card (``/crew#case-<number>``)
with a message; after a hand-back the case is no longer the crew's and the
page comes back at the list, saying so.

Also here: a case reported from the field (自开单, F8) with its photos, the
photos served to staff who may see the case, and the meter well's on-site
check (F10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required

from dispatch.domain import crew as crew_rules
from dispatch.services import crew as crew_service
from hotline import services
from hotline.domain import actions as case_actions
from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Priority, Role
from hotline.services import CaseFilter, ServiceError
from hotline.web import labels, privacy, viewmodels
from hotline.web.auth import roles_required
from hotline.web.pages import actor, common, page_of_cases, staff_list
from hotline.web.refusals import refusal_text
from hotline.web.schemas import ActionSchema, action_parts, load_form
from hotline.web.session import db_session, wiring

bp = Blueprint(
    "crew",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/crew/static",
)


@dataclass(frozen=True)
class CrewCard:
    """One case on the crew page: the case, its countdown, what to do next, the visit."""

    row: viewmodels.CaseRow
    offer: crew_rules.CrewOffer
    visit: Any | None

    @property
    def case(self) -> Any:
        return self.row.case

    @property
    def anchor(self) -> str:
        """The card's element id: the page comes back here after an action."""
        return f"case-{self.case.number}"

    @property
    def next_form(self) -> viewmodels.ActionForm | None:
        """The next step's form (big, first), with the inputs its rule needs."""
        return _form(self.offer.next_action) if self.offer.next_action else None

    @property
    def side_actions(self) -> tuple[viewmodels.ActionForm, ...]:
        """The hand-back and the extension request, with the inputs their rules need."""
        return tuple(_form(action) for action in self.offer.side_actions)


def _form(action: Action) -> viewmodels.ActionForm:
    fields = tuple(viewmodels.form_field(action, name) for name in case_actions.inputs_of(action))
    return viewmodels.ActionForm(action, fields)


def _cards(listing: viewmodels.CaseListing, me: services.Actor) -> list[CrewCard]:
    visits = crew_service.next_visits(db_session(), list(listing.cases))
    return [
        CrewCard(
            row,
            crew_rules.crew_offer(
                case_actions.available_actions(me.role, State(row.case.state)),
                named_worker=row.case.handler_staff_id in (None, me.id),
            ),
            visits.get(row.case.id),
        )
        for row in listing.items
    ]


def _render(error: ServiceError | None = None, form: Any = None, status: int = 200) -> Any:
    me = actor()
    listing = page_of_cases(
        CaseFilter(
            handler_department_id=me.department_id,
            states=[State.ASSIGNED, *sorted(lifecycle.WORKING), State.EXTENSION_REQUESTED],
        )
    )
    mine = page_of_cases(CaseFilter(first_responder_id=me.id, open_only=True))
    shown = {case.id for case in listing.cases}
    checks = crew_service.open_site_checks(db_session(), me)
    # W7: the crew's own work is shown whole (addresses, phones to dial): logged first.
    numbers = [case.number for case in listing.cases] + [case.number for _, case in checks]
    if numbers:
        privacy.log_view(me.id, "crew_work", " ".join(numbers))
    return (
        render_template(
            "dispatch/crew.html",
            listing=listing,
            cards=_cards(listing, me),
            mine=[row for row in mine.items if row.case.id not in shown],
            checks=checks,
            workers=[s for s in staff_list(Role.CREW) if s.department_id == me.department_id],
            field_categories=crew_rules.FIELD_CATEGORIES,
            priorities=list(Priority),
            max_photos=crew_rules.MAX_PHOTOS_PER_CASE,
            error=error,
            form=form or {},
            **common(),
        ),
        status,
    )


@bp.route("/crew")
@roles_required(Role.CREW)
def home() -> Any:
    """My department's work in order of deadline, the next step of each first."""
    return _render()


@bp.route("/crew/cases/<number>/action", methods=["POST"])
@roles_required(Role.CREW)
def act(number: str) -> Any:
    """Take one step on a case from the crew page, and come back to its card."""
    me = actor()
    try:
        body = load_form(ActionSchema(), request.form, wiring().timezone)
        action, version, reason, data = action_parts(body)
        services.perform(
            wiring(),
            me,
            number,
            action,
            expected_version=version,
            reason=reason,
            data=case_actions.with_implied(action, data),
        )
    except ServiceError as exc:
        flash(_("未保存:%(message)s", message=refusal_text(exc)), "error")
        return redirect(url_for("crew.home", _anchor=f"case-{number}"))
    if action == Action.RETURN_WORK:
        flash(_("已退单:工单 %(number)s 已交回调度中心", number=number), "success")
    else:
        flash(
            _(
                "工单 %(number)s:已%(action)s",
                number=number,
                action=labels.label(labels.ACTION, action),
            ),
            "success",
        )
    if not crew_service.case_still_mine(db_session(), me, number):
        return redirect(url_for("crew.home"))
    return redirect(url_for("crew.home", _anchor=f"case-{number}"))


def _limit_field_report() -> None:
    """A field report carries photos: its request may be larger than other pages' (F8)."""
    if request.endpoint == "crew.field_case":
        request.max_content_length = crew_rules.FIELD_REPORT_MAX_BYTES


# Runs before the app's own request checks, which read the form.
bp.url_value_preprocessor(lambda endpoint, values: _limit_field_report())


@bp.route("/crew/field-cases", methods=["POST"])
@roles_required(Role.CREW)
def field_case() -> Any:
    """F8: a case reported on the spot (自开单), with photos, to my own work today."""
    form = request.form
    photos = [
        crew_rules.PhotoUpload(upload.filename or "", upload.read())
        for upload in request.files.getlist("photos")
        if upload.filename
    ]
    try:
        case = crew_service.open_field_case(
            wiring(),
            actor(),
            crew_service.FieldReport(
                category=form.get("category", ""),
                problem=form.get("problem", ""),
                need=form.get("need", ""),
                address=form.get("address", ""),
                contact_name=form.get("contact_name", ""),
                contact_phone=form.get("contact_phone", ""),
                priority=_priority(form.get("priority")),
            ),
            photos,
            current_app.instance_path,
        )
    except ServiceError as exc:
        return _render(error=exc, form=form, status=exc.status)
    flash(_("已自开单 %(number)s,今日内办理", number=case.number), "success")
    return redirect(url_for("crew.home", _anchor=f"case-{case.number}"))


def _priority(value: str | None) -> Priority:
    try:
        return Priority(value or Priority.NORMAL)
    except ValueError:
        raise services.Invalid("unknown priority '%(value)s'", "priority", value=value) from None


@bp.route("/cases/<number>/photos/<int:photo_id>")
@login_required
def photo(number: str, photo_id: int) -> Any:
    """One photo of a case, to staff who may see the case (404 to anyone else)."""
    path, content_type = crew_service.photo_file(
        db_session(), actor(), number, photo_id, current_app.instance_path
    )
    response = send_file(path, mimetype=content_type, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/crew/site-checks/<int:check_id>", methods=["POST"])
@roles_required(Role.CREW, Role.DISPATCHER, Role.SUPERVISOR)
def site_check(check_id: int) -> Any:
    """F10: the repaired meter well was checked on site (现场核实)."""
    try:
        crew_service.record_site_check(wiring(), actor(), check_id, request.form.get("finding", ""))
    except ServiceError as exc:
        flash(_("未保存:%(message)s", message=refusal_text(exc)), "error")
        return redirect(url_for("crew.home", _anchor=f"check-{check_id}"))
    flash(_("现场核实已记录"), "success")
    return redirect(url_for("crew.home"))


def case_photos_for(number: str) -> list[Any]:
    """The photos of a case for the case page (none when the person may not see them)."""
    try:
        return crew_service.case_photos(db_session(), actor(), number)
    except ServiceError:
        return []


def init_app(app: Any) -> None:
    """Register the crew page, and the case page's photo list (``case_photos(number)``)."""
    app.register_blueprint(bp)
    app.jinja_env.globals["case_photos"] = case_photos_for
