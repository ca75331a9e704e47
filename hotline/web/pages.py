"""Server-rendered pages: each role's home, the case page, the contact form.

Views parse the form, call one service function and render or redirect;
refusals from the service come back as a message on the same page with the
field marked, and nothing is written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline import services
from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    FollowUpOutcome,
    Priority,
    Role,
    TriageOutcome,
)
from hotline.models import ApiToken, Appointment, CaseDeadline, Department, Staff
from hotline.services import Actor, CaseFilter, IntakeCommand, IntakeOutcome, ServiceError
from hotline.web import labels, viewmodels
from hotline.web.auth import db_session, fresh_db_session, roles_required
from hotline.web.auth import services as wiring
from hotline.web.forms import form_enum, form_int, form_local_datetime, page_number, required_int

bp = Blueprint("pages", __name__)

#: What each action's form asks for: only what its rule needs.
ACTION_FIELDS: dict[Action, tuple[str, ...]] = {
    Action.DISPATCH: (),
    Action.ANSWER_ON_CALL: ("answer",),
    Action.TRANSFER: ("target_department_id", "told_caller"),
    Action.ASSIGN: ("department_id", "staff_id"),
    Action.ACKNOWLEDGE: (),
    Action.RETURN_WORK: ("reason",),
    Action.REQUEST_EXTENSION: ("extra_working_days", "reason"),
    Action.APPROVE_EXTENSION: (),
    Action.REJECT_EXTENSION: ("reason",),
    Action.START_WORK: (),
    Action.ARRIVE: (),
    Action.COMPLETE: ("result_note", "customer_rating", "no_rating_reason"),
    Action.CONFIRM_DONE: (),
    Action.FOLLOW_UP_UNREACHABLE: ("note",),
    Action.CLOSE: ("outcome", "attitude", "quality", "timeliness", "result", "note"),
    Action.REOPEN: ("attitude", "quality", "timeliness", "result", "note"),
    Action.CLOSE_UNREACHABLE: ("reason",),
    Action.MERGE: ("parent_case_number",),
    Action.INCIDENT_RESOLVED: (),
    Action.REASSIGN_FIRST_RESPONDER: ("new_first_responder", "reason"),
    Action.ADD_NOTE: ("note",),
}
_INT_FIELDS = {
    "department_id",
    "staff_id",
    "target_department_id",
    "extra_working_days",
    "attitude",
    "quality",
    "timeliness",
    "result",
    "customer_rating",
}


def _actor() -> Actor:
    return Actor.of(current_user)


def _departments() -> list[Department]:
    return list(db_session().scalars(select(Department).order_by(Department.id)))


def _staff_list(*roles: Role) -> list[Staff]:
    query = select(Staff).where(Staff.active.is_(True)).order_by(Staff.display_name)
    if roles:
        query = query.where(Staff.role.in_([str(r) for r in roles]))
    return list(db_session().scalars(query))


def available_actions(actor: Actor, state: State) -> list[Action]:
    """The actions ``actor``'s role may take on a case in ``state``."""
    return [
        action
        for action in lifecycle.actions_from(state)
        if lifecycle.may_take(actor.role, action) and action != Action.INCIDENT_RESOLVED
    ]


def case_rows(session: Any, cases: list[Any], now: Any) -> list[viewmodels.CaseRow]:
    """``cases`` with their countdowns, from their open stage clocks (one query)."""
    clocks: dict[int, list[CaseDeadline]] = {}
    ids = [case.id for case in cases]
    if ids:
        with session.no_autoflush:
            for row in session.scalars(
                select(CaseDeadline)
                .where(CaseDeadline.case_id.in_(ids), CaseDeadline.ended_at.is_(None))
                .order_by(CaseDeadline.id)
            ):
                clocks.setdefault(row.case_id, []).append(row)
    return viewmodels.case_rows(cases, clocks, now, wiring().policy.calendar)


def _page_of_cases(flt: CaseFilter, per_page: int = 25) -> dict[str, Any]:
    """One page of cases: ``cases`` as listed, ``items`` the rows shown (with countdowns)."""
    page = page_number(request.args.get("page"))  # 1..MAX_PAGE, else 422 naming 'page'
    now = wiring().now()
    session = db_session()
    cases, total = services.list_cases(
        session, _actor(), flt, now=now, page=page, per_page=per_page
    )
    pages = max((total + per_page - 1) // per_page, 1)
    return {
        "cases": cases,
        "items": case_rows(session, cases, now),
        "total": total,
        "page": page,
        "pages": pages,
    }


def _common() -> dict[str, Any]:
    return {"labels": labels, "now": wiring().now(), "State": State, "Role": Role}


@bp.route("/")
@login_required
def home() -> Any:
    role = Role(current_user.role)
    target = {
        Role.OPERATOR: "console.home",
        Role.DISPATCHER: "pages.dispatch_home",
        Role.CREW: "pages.crew_home",
        Role.SUPERVISOR: "pages.supervisor_home",
        Role.ADMIN: "pages.admin_staff",
    }[role]
    return redirect(url_for(target))


@bp.route("/operator")
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def operator_home() -> Any:
    """The plain contact form (表单登记) and my cases: for web and field reports
    typed in after the fact; live calls and counter visits use the console."""
    actor = _actor()
    listing = _page_of_cases(CaseFilter(first_responder_id=actor.id, open_only=True))
    unseen = services.unseen_changes(db_session(), actor, listing["cases"])
    return render_template(
        "operator.html",
        listing=listing,
        unseen=unseen,
        form=request.args,
        departments=_departments(),
        **_intake_choices(),
        **_common(),
    )


def _intake_choices() -> dict[str, Any]:
    return {
        "channels": list(Channel),
        "categories": list(Category),
        "priorities": list(Priority),
        "triages": list(TriageOutcome),
        "outcomes": list(IntakeOutcome),
    }


@bp.route("/contacts/new", methods=["POST"])
@login_required
def new_contact() -> Any:
    """Turn the contact form into a contact and, where needed, a case."""
    form = request.form
    try:
        cmd = IntakeCommand(
            channel=form_enum(Channel, form.get("channel"), "channel"),
            outcome=form_enum(IntakeOutcome, form.get("outcome"), "outcome"),
            caller_number=form.get("caller_number", ""),
            caller_name=form.get("caller_name", ""),
            customer_account=form.get("customer_account", ""),
            category=form_enum(Category, form.get("category"), "category", optional=True),
            priority=form_enum(Priority, form.get("priority") or "normal", "priority"),
            problem=form.get("problem", ""),
            need=form.get("need", ""),
            address=form.get("address", ""),
            contact_name=form.get("contact_name", ""),
            contact_phone=form.get("contact_phone", ""),
            triage=form_enum(TriageOutcome, form.get("triage"), "triage", optional=True),
            pipe_size_dn=form_int(form.get("pipe_size_dn"), "pipe_size_dn"),
            read_back_confirmed=form.get("read_back_confirmed") == "on",
            answer=form.get("answer", ""),
            target_department_id=form_int(form.get("target_department_id"), "target_department_id"),
            told_caller=form.get("told_caller", ""),
            join_case_number=form.get("join_case_number", "").strip(),
            summary=form.get("summary", ""),
        )
        result = services.intake(wiring(), _actor(), cmd)
    except ServiceError as exc:
        flash(_("未保存:%(message)s", message=exc.message), "error")
        return (
            render_template(
                "intake_error.html",
                error=exc,
                form=form,
                departments=_departments(),
                **_intake_choices(),
                **_common(),
            ),
            exc.status,
        )
    if result.case_number:
        flash(_("工单号 %(number)s", number=result.case_number), "success")
        return redirect(url_for("pages.case_page", number=result.case_number, created=1))
    flash(_("来电已记录"), "success")
    return redirect(url_for("pages.home"))


@bp.route("/dispatch")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def dispatch_home() -> Any:
    """Cases with dispatch first, then every open case by deadline."""
    queue = _page_of_cases(CaseFilter(states=sorted(lifecycle.DISPATCH_QUEUE)), per_page=50)
    pending = _page_of_cases(
        CaseFilter(states=[State.EXTENSION_REQUESTED, State.DONE]), per_page=50
    )
    working = _page_of_cases(
        CaseFilter(states=[State.ASSIGNED, *sorted(lifecycle.WORKING)]), per_page=50
    )
    return render_template(
        "dispatch.html", queue=queue, pending=pending, working=working, **_common()
    )


@bp.route("/crew")
@roles_required(Role.CREW)
def crew_home() -> Any:
    """My department's work in order of deadline."""
    actor = _actor()
    listing = _page_of_cases(
        CaseFilter(
            handler_department_id=actor.department_id,
            states=[State.ASSIGNED, *sorted(lifecycle.WORKING), State.EXTENSION_REQUESTED],
        )
    )
    mine = _page_of_cases(CaseFilter(first_responder_id=actor.id, open_only=True))
    return render_template("crew.html", listing=listing, mine=mine, **_common())


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
    listing = _page_of_cases(CaseFilter(states=states, category=category, overdue=overdue))
    return render_template(
        "supervisor.html",
        listing=listing,
        states=list(State),
        categories=list(Category),
        args=args,
        **_common(),
    )


@bp.route("/admin/staff", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def admin_staff() -> Any:
    """Staff accounts and API tokens: list, add; the buttons post to the views below."""
    from hotline.web.auth import AccountError, create_staff

    status = 200
    if request.method == "POST":
        try:
            department = form_int(request.form.get("department_id"), "department_id")
            with wiring().sessions() as session, session.begin():
                if department is not None and session.get(Department, department) is None:
                    raise AccountError("unknown department")
                create_staff(
                    session,
                    username=request.form.get("username", ""),
                    password=request.form.get("password", ""),
                    role=request.form.get("role", ""),
                    display_name=request.form.get("display_name", ""),
                    department_id=department,
                    now=wiring().now(),
                )
            flash(_("已添加"), "success")
            return redirect(url_for("pages.admin_staff"))
        except (AccountError, ServiceError) as exc:
            flash(str(exc), "error")
            status = 422
    session = db_session()
    return (
        render_template(
            "admin_staff.html",
            staff=list(session.scalars(select(Staff).order_by(Staff.active.desc(), Staff.id))),
            tokens=list(
                session.scalars(
                    select(ApiToken)
                    .where(ApiToken.revoked_at.is_(None))
                    .order_by(ApiToken.staff_id, ApiToken.id)
                )
            ),
            departments=_departments(),
            roles=list(Role),
            **_common(),
        ),
        status,
    )


def _admin_change(staff_id: int, change: Any) -> Any:
    """Apply ``change(session, staff)`` in one unit of work; back to the staff page.

    ``change`` returns the message shown; a refusal is shown instead and
    nothing is written.
    """
    from hotline.web.auth import AccountError

    try:
        with wiring().sessions() as session, session.begin():
            staff = session.get(Staff, staff_id)
            if staff is None:
                abort(404, description=_("没有这名人员。"))
            message = change(session, staff)
        flash(message, "success")
    except AccountError as exc:
        flash(str(exc), "error")
    return redirect(url_for("pages.admin_staff"))


@bp.route("/admin/staff/<id:staff_id>/deactivate", methods=["POST"])
@roles_required(Role.ADMIN)
def admin_deactivate_staff(staff_id: int) -> Any:
    """Close an account: no login, every session ended, every API token revoked."""
    from hotline.web.auth import AccountError, deactivate_staff

    def change(session: Any, staff: Staff) -> str:
        if staff.id == current_user.id:
            raise AccountError(_("不能停用自己的账号。"))
        count = deactivate_staff(session, staff, now=wiring().now()) if staff.active else 0
        return _(
            "已停用 %(username)s:登录已全部结束,撤销 API 令牌 %(count)s 个。",
            username=staff.username,
            count=count,
        )

    return _admin_change(staff_id, change)


@bp.route("/admin/staff/<id:staff_id>/activate", methods=["POST"])
@roles_required(Role.ADMIN)
def admin_activate_staff(staff_id: int) -> Any:
    """Open a deactivated account again."""
    from hotline.web.auth import activate_staff

    def change(session: Any, staff: Staff) -> str:
        activate_staff(staff)
        return _("已启用 %(username)s。", username=staff.username)

    return _admin_change(staff_id, change)


@bp.route("/admin/staff/<id:staff_id>/password", methods=["POST"])
@roles_required(Role.ADMIN)
def admin_reset_password(staff_id: int) -> Any:
    """Set a new password for someone; their sessions end (one's own stays open)."""
    from hotline.web.auth import reset_password

    changed: list[Staff] = []

    def change(session: Any, staff: Staff) -> str:
        reset_password(staff, request.form.get("password", ""))
        changed.append(staff)
        return _("已重置 %(username)s 的密码,其登录已全部结束。", username=staff.username)

    response = _admin_change(staff_id, change)
    if changed and changed[0].id == current_user.id:
        login_user(changed[0])  # the admin's own new password: stay logged in here
    return response


@bp.route("/admin/tokens/<id:token_id>/revoke", methods=["POST"])
@roles_required(Role.ADMIN)
def admin_revoke_token(token_id: int) -> Any:
    """Revoke one API token."""
    from hotline.web.auth import revoke_tokens

    with wiring().sessions() as session, session.begin():
        revoked = revoke_tokens(session, now=wiring().now(), token_id=token_id)
    if revoked:
        flash(_("已撤销令牌 %(name)s。", name=revoked[0].name or revoked[0].id), "success")
    else:
        flash(_("没有这个有效的令牌。"), "error")
    return redirect(url_for("pages.admin_staff"))


@bp.route("/cases/<number>")
@login_required
def case_page(number: str) -> Any:
    """A case: its details, the actions this role may take, and its whole history."""
    return _render_case(number)


_TEXT_FIELDS = ("answer", "told_caller", "result_note", "note")


def _required_text(action: Action) -> frozenset[str]:
    """The free-text fields ``action``'s form must have filled in (a note only for a note)."""
    return frozenset(
        name
        for name in ACTION_FIELDS.get(action, ())
        if name in _TEXT_FIELDS and (name != "note" or action == Action.ADD_NOTE)
    )


def _refused(number: str, exc: ServiceError) -> Any:
    """The case page again with the refusal shown; an unknown case stays a 404."""
    if isinstance(exc, services.NotFound) and exc.field == "case":
        raise exc
    return _render_case(number, error=exc, status=exc.status)


def _render_case(number: str, error: ServiceError | None = None, status: int = 200) -> Any:
    actor = _actor()
    session = fresh_db_session()  # read the case as it is now, after any change
    case = services.get_case(session, actor, number)
    events = services.history(session, actor, number)
    clocks = list(
        session.scalars(
            select(CaseDeadline).where(CaseDeadline.case_id == case.id).order_by(CaseDeadline.id)
        )
    )
    visits = list(
        session.scalars(
            select(Appointment).where(Appointment.case_id == case.id).order_by(Appointment.id)
        )
    )
    departments = _departments()
    staff = _staff_list()
    working = (Role.OPERATOR, Role.CREW, Role.DISPATCHER, Role.SUPERVISOR)
    now = wiring().now()
    calendar = wiring().policy.calendar
    may_book = actor.role != Role.ADMIN and State(case.state) not in (State.CLOSED, State.MERGED)
    actions = available_actions(actor, State(case.state))
    return (
        render_template(
            "case.html",
            case=case,
            events=events,
            error=error,
            actions=actions,
            action_fields=ACTION_FIELDS,
            required_text={action: _required_text(action) for action in actions},
            case_due=viewmodels.case_due(clocks, now, calendar, fallback_due=case.due_at),
            departments=departments,
            crew=[s for s in staff if s.role == Role.CREW],
            everyone=[s for s in staff if s.role in working],
            follow_up_outcomes=[FollowUpOutcome.SATISFIED, FollowUpOutcome.BASICALLY_SATISFIED],
            created=request.args.get("created") == "1",
            clocks=viewmodels.clock_rows(clocks, now, calendar),
            visits=[{"visit": v, "may_change": may_book and v.status == "booked"} for v in visits],
            may_book=may_book,
            may_shut_off=actor.role in (Role.CREW, Role.DISPATCHER, Role.SUPERVISOR)
            and any(c.stage == "shut_off" and c.ended_at is None for c in clocks),
            staff_names={s.id: s.display_name for s in staff},
            department_names={d.id: d.name_zh for d in departments},
            **_common(),
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
    actor = _actor()
    for attempt in (1, 2):
        try:
            with wiring().sessions() as session, session.begin():
                services.mark_seen(session, actor, services.get_case(session, actor, number), seq)
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
    """Take one action from the case page."""
    form = request.form
    try:
        action = form_enum(Action, form.get("action"), "action")
        version = form_int(form.get("version"), "version")
        if version is None:
            raise services.Invalid("'version' is required", "version")
        data: dict[str, Any] = {}
        for name in ACTION_FIELDS.get(action, ()):
            if name == "reason":
                continue
            raw = form.get(name, "")
            if name == "new_first_responder":
                data["staff_id"] = form_int(raw, "new_first_responder")
            elif name in _INT_FIELDS:
                data[name] = form_int(raw, name)
            else:
                data[name] = raw
        if action == Action.REOPEN:
            data["outcome"] = FollowUpOutcome.DISSATISFIED.value
        services.perform(
            wiring(),
            _actor(),
            number,
            action,
            expected_version=version,
            reason=form.get("reason", ""),
            data=data,
        )
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("已%(action)s", action=labels.label(labels.ACTION, action)), "success")
    return redirect(url_for("pages.case_page", number=number))


def _navigation() -> dict[str, Any]:
    """The top bar's links for the person logged in (``nav``: endpoints, in order)."""
    role = current_user.role if current_user and current_user.is_authenticated else None
    return {"nav": viewmodels.nav_endpoints(role)}


def init_app(app: Flask) -> None:
    """Bind the pages to ``app``."""
    app.register_blueprint(bp)
    app.context_processor(_navigation)


@bp.route("/cases/<number>/appointments", methods=["POST"])
@login_required
def case_appointment(number: str) -> Any:
    """F1: book, cancel or record a no-show for a visit, from the case page."""
    form = request.form
    actor = _actor()
    try:
        what = form.get("what", "book")
        if what == "book":
            starts_at = form_local_datetime(form.get("starts_at"), "starts_at", wiring().timezone)
            hours = form_int(form.get("hours") or "2", "hours") or 2
            services.book_appointment(
                wiring(),
                actor,
                number,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=hours),
                requested_by_customer=form.get("requested_by_customer") == "on",
                note=form.get("note", ""),
            )
        elif what == "no_show":
            services.record_no_show(
                wiring(),
                actor,
                number,
                required_int(form.get("appointment_id"), "appointment_id"),
                told_customer=form.get("told_customer", ""),
            )
        elif what == "cancel":
            services.cancel_appointment(
                wiring(),
                actor,
                number,
                required_int(form.get("appointment_id"), "appointment_id"),
                reason=form.get("reason", ""),
            )
        else:
            raise services.Invalid(f"unknown appointment action '{what}'", "what")
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("预约已更新"), "success")
    return redirect(url_for("pages.case_page", number=number))


@bp.route("/cases/<number>/shut-off", methods=["POST"])
@login_required
def case_shut_off(number: str) -> Any:
    """F12: the crew reports the water shut off; the repair clock starts."""
    try:
        services.record_shut_off(
            wiring(),
            _actor(),
            number,
            pipe_size_dn=form_int(request.form.get("pipe_size_dn"), "pipe_size_dn"),
            note=request.form.get("note", ""),
        )
    except ServiceError as exc:
        return _refused(number, exc)
    flash(_("已关阀止水"), "success")
    return redirect(url_for("pages.case_page", number=number))
