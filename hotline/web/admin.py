"""The administrator's staff pages: accounts and API tokens.

List and add staff; close an account (no login, every session ended, every
token revoked), open it again, set a new password, revoke one token. Each
change is one unit of work through :mod:`hotline.services.accounts`; a refusal
is shown on the staff page and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from hotline.domain.taxonomy import Role
from hotline.services import ServiceError, accounts
from hotline.services import staff as staff_service
from hotline.services.accounts import AccountError
from hotline.web.auth import roles_required
from hotline.web.forms import form_int
from hotline.web.pages import common, departments
from hotline.web.session import db_session, wiring

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hotline.models import Staff

bp = Blueprint("admin", __name__)


@bp.route("/admin/staff", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def staff() -> Any:
    """Staff accounts and API tokens: list, add; the buttons post to the views below."""
    status = 200
    if request.method == "POST":
        try:
            department = form_int(request.form.get("department_id"), "department_id")
            with wiring().sessions() as session, session.begin():
                if department is not None and staff_service.department(session, department) is None:
                    raise AccountError("unknown department")
                accounts.create_staff(
                    session,
                    username=request.form.get("username", ""),
                    password=request.form.get("password", ""),
                    role=request.form.get("role", ""),
                    display_name=request.form.get("display_name", ""),
                    department_id=department,
                    now=wiring().now(),
                )
            flash(_("已添加"), "success")
            return redirect(url_for("admin.staff"))
        except (AccountError, ServiceError) as exc:
            flash(str(exc), "error")
            status = 422
    session = db_session()
    return (
        render_template(
            "admin_staff.html",
            staff=staff_service.all_staff(session),
            tokens=accounts.list_tokens(session),
            departments=departments(),
            roles=list(Role),
            **common(),
        ),
        status,
    )


def _change(staff_id: int, change: Callable[[Session, Staff], str]) -> Any:
    """Apply ``change(session, staff)`` in one unit of work; back to the staff page.

    ``change`` returns the message shown; a refusal is shown instead and
    nothing is written.
    """
    try:
        with wiring().sessions() as session, session.begin():
            person = staff_service.staff_member(session, staff_id)
            if person is None:
                abort(404, description=_("没有这名人员。"))
            message = change(session, person)
        flash(message, "success")
    except AccountError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.staff"))


@bp.route("/admin/staff/<id:staff_id>/deactivate", methods=["POST"])
@roles_required(Role.ADMIN)
def deactivate_staff(staff_id: int) -> Any:
    """Close an account: no login, every session ended, every API token revoked."""

    def change(session: Session, person: Staff) -> str:
        if person.id == current_user.id:
            raise AccountError(_("不能停用自己的账号。"))
        count = (
            accounts.deactivate_staff(session, person, now=wiring().now()) if person.active else 0
        )
        return _(
            "已停用 %(username)s:登录已全部结束,撤销 API 令牌 %(count)s 个。",
            username=person.username,
            count=count,
        )

    return _change(staff_id, change)


@bp.route("/admin/staff/<id:staff_id>/activate", methods=["POST"])
@roles_required(Role.ADMIN)
def activate_staff(staff_id: int) -> Any:
    """Open a deactivated account again."""

    def change(session: Session, person: Staff) -> str:
        accounts.activate_staff(person)
        return _("已启用 %(username)s。", username=person.username)

    return _change(staff_id, change)


@bp.route("/admin/staff/<id:staff_id>/password", methods=["POST"])
@roles_required(Role.ADMIN)
def reset_password(staff_id: int) -> Any:
    """Set a new password for someone; their sessions end (one's own stays open)."""
    changed: list[Staff] = []

    def change(session: Session, person: Staff) -> str:
        accounts.reset_password(person, request.form.get("password", ""))
        changed.append(person)
        return _("已重置 %(username)s 的密码,其登录已全部结束。", username=person.username)

    response = _change(staff_id, change)
    if changed and changed[0].id == current_user.id:
        login_user(changed[0])  # the admin's own new password: stay logged in here
    return response


@bp.route("/admin/tokens/<id:token_id>/revoke", methods=["POST"])
@roles_required(Role.ADMIN)
def revoke_token(token_id: int) -> Any:
    """Revoke one API token."""
    with wiring().sessions() as session, session.begin():
        revoked = accounts.revoke_tokens(session, now=wiring().now(), token_id=token_id)
    if revoked:
        flash(_("已撤销令牌 %(name)s。", name=revoked[0].name or revoked[0].id), "success")
    else:
        flash(_("没有这个有效的令牌。"), "error")
    return redirect(url_for("admin.staff"))
