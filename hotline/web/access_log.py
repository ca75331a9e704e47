"""The access log page (W7): who saw customers' whole personal data, and every export.

``GET /access-log`` for supervisors: the rows of ``access_log`` newest first,
filtered by person, day range (Beijing days), kind and reference, 50 a page.
The filters are loaded with :class:`AccessLogArgs`; a malformed one answers
400 naming it. A view anywhere that cannot write its row answers 503 with
the reason (:func:`unlogged`), as a page or as the API's error body. Reading the log writes nothing (and shows no personal data
beyond the references the rows hold). See docs/privacy.md.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, ValidationError, fields, validate, validates_schema

from hotline.domain.taxonomy import Role
from hotline.services import access_log
from hotline.services import staff as staff_service
from hotline.web.api_base import InputSchema
from hotline.web.auth import roles_required
from hotline.web.forms import MAX_INT, MAX_PAGE
from hotline.web.refusals import refusal_text
from hotline.web.session import db_session, wiring

bp = Blueprint("access_log", __name__)

#: Who reads the log: the supervisors (UX: the audit of personal data).
READERS = (Role.SUPERVISOR,)
PER_PAGE = 50
_FIRST_DAY = date(2000, 1, 1)
_LAST_DAY = date(2099, 12, 31)
_DAY_RANGE = validate.Range(
    min=_FIRST_DAY, max=_LAST_DAY, error="must lie between the years 2000 and 2099"
)
#: What each kind of row is, as the page names it.
KIND_NAMES = {
    "case": _l("工单详情"),
    "call": _l("通话详情"),
    "task": _l("外呼任务"),
    "customer": _l("用户资料"),
    "crew_work": _l("班组工单"),
    "export": _l("导出"),
}


class AccessLogArgs(InputSchema):
    """The log's filters from the query string (empty values count as not given)."""

    class Meta:
        unknown = EXCLUDE

    staff = fields.Integer(
        strict=False, validate=validate.Range(min=1, max=MAX_INT), load_default=None
    )
    first = fields.Date(data_key="from", format="%Y-%m-%d", validate=_DAY_RANGE, load_default=None)
    last = fields.Date(data_key="to", format="%Y-%m-%d", validate=_DAY_RANGE, load_default=None)
    kind = fields.String(validate=validate.OneOf(access_log.KINDS), load_default=None)
    ref = fields.String(validate=validate.Length(max=100), load_default=None)
    page = fields.Integer(
        strict=False, validate=validate.Range(min=1, max=MAX_PAGE), load_default=1
    )

    @validates_schema
    def _order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("first") and data.get("last") and data["first"] > data["last"]:
            raise ValidationError("'from' must not be after 'to'", "to")


def load_args(args: Any) -> dict[str, Any]:
    """The filters, loaded; 400 naming the field when one is malformed."""
    raw = {key: args.get(key, "").strip() for key in args if args.get(key, "").strip()}
    try:
        return AccessLogArgs().load(raw)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        text = messages[0] if isinstance(messages, list) else str(messages)
        abort(400, description=f"'{field}': {text}")


def _moment(day: date, zone: Any) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone)


@bp.app_errorhandler(access_log.AccessLogUnavailable)
def unlogged(exc: access_log.AccessLogUnavailable) -> Any:
    """A view that could not be logged (W7, fail closed): 503 saying why, nothing shown."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        body = {**exc.to_dict(), "display": refusal_text(exc)}
        return jsonify(body), exc.status, {"Retry-After": "5"}
    page = render_template("access_log_unavailable.html", message=refusal_text(exc))
    return page, exc.status, {"Retry-After": "5"}


@bp.route("/access-log")
@roles_required(*READERS)
def page() -> Any:
    """The access log, newest first, with its filters and pages."""
    wanted = load_args(request.args)
    zone = wiring().timezone
    flt = access_log.LogFilter(
        staff_id=wanted["staff"],
        since=_moment(wanted["first"], zone) if wanted["first"] else None,
        until=_moment(wanted["last"] + timedelta(days=1), zone) if wanted["last"] else None,
        kind=wanted["kind"],
        ref=wanted["ref"],
    )
    session = db_session()
    rows, total = access_log.search(session, flt, page=wanted["page"], per_page=PER_PAGE)
    query = {key: request.args.get(key, "") for key in ("staff", "from", "to", "kind", "ref")}
    return render_template(
        "access_log.html",
        rows=rows,
        total=total,
        query=query,
        people=staff_service.all_staff(session),
        kinds=KIND_NAMES,
        listing={"page": wanted["page"], "pages": max((total + PER_PAGE - 1) // PER_PAGE, 1)},
    )


__all__ = ["AccessLogArgs", "bp", "page"]
