"""The audit page (P6): the tamper check of the whole store or of one case, and a
case's history in words, for supervisors and admins (docs/audit.md).

Each check is a POST (with the CSRF token) read in one read-only snapshot and
rolled back: nothing is written. The whole store is checked in one request,
like ``hotline audit verify``; the page says so. The anchors' seals are
checked with the audit key when this server holds one (the setting, or the
key file the ``hotline audit`` command keeps in the instance folder); the page
never makes a key, and says when the seals were not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from hotline import services
from hotline.domain.taxonomy import Role
from hotline.services import audit_report
from hotline.services import staff as staff_service
from hotline.settings import AUDIT_KEY_MIN_LENGTH
from hotline.web import audit_findings, labels
from hotline.web.auth import roles_required
from hotline.web.pages import actor
from hotline.web.session import db_session

bp = Blueprint("audit_page", __name__)

#: Who checks the store: supervisors (the standard's review) and admins (docs/audit.md).
AUDITORS = (Role.SUPERVISOR, Role.ADMIN)
#: The longest case number the form takes.
_NUMBER_MAX = 40


def _key() -> str | None:
    """The audit key if this server holds one; never generated here."""
    configured = str(current_app.config["HOTLINE"].get("audit_key") or "")
    if len(configured) >= AUDIT_KEY_MIN_LENGTH:
        return configured
    keyfile = Path(current_app.instance_path) / "audit_key"
    if keyfile.is_file():
        return keyfile.read_text().strip() or None
    return None


def _snapshot() -> Any:
    """The request's session, its transaction restarted as one read-only snapshot."""
    session = db_session()
    session.rollback()
    audit_report.read_only_snapshot(session)
    return session


def _check(case_number: str | None = None) -> audit_report.AuditReport:
    session = _snapshot()
    try:
        return audit_report.check(
            session,
            key=_key(),
            prefix=current_app.config["HOTLINE"]["case_prefix"],
            case_number=case_number,
        )
    finally:
        session.rollback()


def _history(number: str) -> list[labels.HistoryLine] | None:
    """The case's history in words, or None when there is no such case."""
    session = _snapshot()
    try:
        events = services.history(session, actor(), number)
        staff_names = {s.id: s.display_name for s in staff_service.active_staff(session)}
        department_names = {
            d.id: labels.department_name(d) for d in staff_service.departments(session)
        }
        return labels.history_lines(events, staff_names, department_names)
    except services.NotFound:
        return None
    finally:
        session.rollback()


def _number(raw: str | None) -> str:
    return (raw or "").strip()[:_NUMBER_MAX]


def _render(**extra: Any) -> Any:
    report = extra.get("report")
    findings = [audit_findings.problem_line(p) for p in report.problems] if report else []
    return render_template("audit.html", findings=findings, **extra)


@bp.route("/audit")
@roles_required(*AUDITORS)
def page() -> Any:
    """The two checks' forms; with ``?case=NUMBER``, that case's history in words."""
    number = _number(request.args.get("case"))
    if not number:
        return _render()
    lines = _history(number)
    if lines is None:
        return _render(number=number, error=_("没有编号为 %(number)s 的工单。", number=number)), 404
    return _render(number=number, history=lines)


@bp.route("/audit/check", methods=["POST"])
@roles_required(*AUDITORS)
def check_store() -> Any:
    """Check every case's history, row, number and the anchors."""
    return _render(report=_check())


@bp.route("/audit/case", methods=["POST"])
@roles_required(*AUDITORS)
def check_case() -> Any:
    """Check one case by number and show its history in words."""
    number = _number(request.form.get("number"))
    if not number:
        return _render(error=_("请填写工单编号。")), 422
    report = _check(number)
    lines = _history(number) if report.found else None
    status = 200 if report.found or report.problems else 404
    error = None if report.found else _("没有编号为 %(number)s 的工单。", number=number)
    return _render(report=report, number=number, history=lines, error=error), status
