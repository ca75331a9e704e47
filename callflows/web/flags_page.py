"""The supervisors' list of G2 flags (禁语标记): ``/flags``.

Every banned phrase found in stored staff text, newest first: the phrase, the
text around it with the phrase marked, who wrote it, when (local time) and
where (the case page or the call's review). Filters: a range of days, the
writer, the phrase, one case (``case``: its number), one call (``call``: its
id); 50 a page. Supervisors only.

Two things every staff page is given from here, through context processors
(the case core's templates do not know this area, so they ask with
``is defined``):

* ``phrase_check()``: the banned phrases, their allowances and the warning's
  words in the page's language, for ``phrase_check.js`` to warn while typing
  (G2). Built from the same lists the server's check uses.
* ``case_flag_marks(case, events)``: the case page's flags, each placed on
  the history entry whose text it was found in, with the link to this list
  filtered to the case for those who may open it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from callflows.domain.compliance import rules_for_pages
from callflows.services import flag_review
from callflows.web.console import common_context
from hotline.domain.taxonomy import Role
from hotline.web.auth import roles_required
from hotline.web.forms import form_int, page_number
from hotline.web.session import db_session, wiring

__all__ = ["bp", "may_review", "page"]

bp = Blueprint("flags", __name__, template_folder="templates")

_PAGE = 50
#: Case numbers are short; a longer ``case`` filter is refused, not looked up.
_CASE_NUMBER_LIMIT = 40
#: Who may open the list (the marks on the case page link to it for them only).
REVIEWERS = (Role.SUPERVISOR,)


def _day(raw: str) -> datetime | None:
    """A ``YYYY-MM-DD`` query value as that day's local midnight (None when empty)."""
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=wiring().timezone)
    except ValueError:
        abort(400, description=_("日期格式应为 YYYY-MM-DD"))


def _case_number(raw: str) -> str | None:
    """The ``case`` filter: a case number, or None when empty."""
    number = raw.strip()
    if len(number) > _CASE_NUMBER_LIMIT:
        abort(
            400, description=_("case 应为工单号(最多 %(limit)s 个字符)", limit=_CASE_NUMBER_LIMIT)
        )
    return number or None


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
        case_number=_case_number(args.get("case", "")),
        call_id=form_int(args.get("call"), "call", minimum=1),
    )
    number = page_number(args.get("page"))
    found = flag_review.flag_page(db_session(), flt, page=number, per_page=_PAGE)
    query = {k: args.get(k, "") for k in ("from", "to", "author", "phrase", "case", "call")}
    return render_template(
        "callflows/flags.html",
        found=found,
        args=args,
        query=query,
        listing={"page": number, "pages": max((found.total + _PAGE - 1) // _PAGE, 1)},
        **common_context(),
    )


def may_review() -> bool:
    """Whether the person logged in may open the list of flags."""
    return bool(current_user.is_authenticated and current_user.role in REVIEWERS)


_RULES = rules_for_pages()
_RULES_BY_LOCALE: dict[str, dict[str, Any]] = {}


def _phrase_check() -> dict[str, Any]:
    """The data of ``phrase_check.js``: the rules and the warning's words, per language."""
    locale = str(get_locale() or "")
    data = _RULES_BY_LOCALE.get(locale)
    if data is None:
        data = {
            **_RULES,
            "words": {
                "warning": _("禁语提示(G2):请勿使用"),
                "recorded": _("保存时仍会记录禁语标记,供主管复核。"),
            },
        }
        _RULES_BY_LOCALE[locale] = data
    return data


def _case_flag_marks(case: Any, events: Any) -> dict[str, Any]:
    """The case page's flags: every row, the flags by history entry, the list's link."""
    marks = flag_review.case_marks(db_session(), case.id, events)
    return {
        "rows": marks.rows,
        "by_event": marks.by_event,
        "link": url_for("flags.page", case=case.number) if may_review() else None,
    }


@bp.app_context_processor
def _flag_helpers() -> dict[str, Any]:
    return {
        "phrase_check": _phrase_check,
        "case_flag_marks": _case_flag_marks,
        "transcript_flag_marks": flag_review.transcript_marks,
    }
