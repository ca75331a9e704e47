"""The supervisors' list of G2 flags (禁语标记): ``/flags``.

Every banned phrase found in stored staff text, newest first: the phrase, the
text around it with the phrase marked, who wrote it, when (local time) and
where (the case page or the call's review). Filters: a range of days, the
writer, the phrase; 50 a page. Supervisors only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from callflows.services import flag_review
from callflows.web.console import common_context
from hotline.domain.taxonomy import Role
from hotline.web.auth import roles_required
from hotline.web.forms import form_int, page_number
from hotline.web.session import db_session, wiring

__all__ = ["bp", "page"]

bp = Blueprint("flags", __name__, template_folder="templates")

_PAGE = 50


def _day(raw: str) -> datetime | None:
    """A ``YYYY-MM-DD`` query value as that day's local midnight (None when empty)."""
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=wiring().timezone)
    except ValueError:
        abort(400, description=_("日期格式应为 YYYY-MM-DD"))


@bp.route("/flags")
@roles_required(Role.SUPERVISOR)
def page() -> Any:
    """Every stored G2 flag, newest first, filterable by days, writer and phrase."""
    args = request.args
    first = _day(args.get("from", ""))
    last = _day(args.get("to", ""))
    flt = flag_review.FlagFilter(
        start=first,
        end=last + timedelta(days=1) if last is not None else None,
        staff_id=form_int(args.get("author"), "author", minimum=1),
        phrase=args.get("phrase", "").strip() or None,
    )
    number = page_number(args.get("page"))
    found = flag_review.flag_page(db_session(), flt, page=number, per_page=_PAGE)
    query = {k: args.get(k, "") for k in ("from", "to", "author", "phrase")}
    return render_template(
        "callflows/flags.html",
        found=found,
        args=args,
        query=query,
        listing={"page": number, "pages": max((found.total + _PAGE - 1) // _PAGE, 1)},
        **common_context(),
    )
