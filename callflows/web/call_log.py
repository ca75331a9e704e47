"""The supervisors' call log (通话记录): every call with its timing, review and G2 flags.

``/calls`` lists calls newest first, filterable by day, operator, flagged
and slow (rung longer than P1's limit); ``/calls/<id>`` shows one call for
review: ring-to-answer time, script steps, the compliance record, flags,
the recording and the provider's status events. Both pages are on the
console blueprint (``console.call_log``, ``console.call_detail``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import abort, render_template, request
from flask_babel import gettext as _

from callflows import services as calls
from callflows.services import flag_review
from callflows.web.console import bp, call_or_404, common_context, flows
from hotline.domain.phones import display
from hotline.domain.taxonomy import Role
from hotline.web.auth import roles_required
from hotline.web.forms import form_int, page_number
from hotline.web.session import db_session, wiring

if TYPE_CHECKING:
    from callflows.models import Call

__all__ = ["call_detail", "call_log"]

_LOG_PAGE = 50


def _call_log_row(call: Call, flags: int) -> dict[str, Any]:
    """One line of the call log: the call and what its review found."""
    record = call.compliance or {}
    seconds = call.ring_to_answer_seconds
    return {
        "call": call,
        "ring_seconds": seconds,
        "slow": seconds is not None and seconds > flows().ring_limit_seconds,
        "reviewed": bool(record),
        "done_steps": len(record.get("done_steps", [])),
        "missed_greeting": bool(record.get("missed_greeting")),
        "missed_closing": bool(record.get("missed_closing")),
        "missed_required": len(record.get("missed_required") or []),
        "reassurance_gaps": bool(record.get("reassurance_gaps")),
        "flags": flags,
    }


@bp.route("/calls")
@roles_required(Role.SUPERVISOR)
def call_log() -> Any:
    """The supervisors' call log, newest first, filterable by day, operator and flag."""
    session = db_session()
    args = request.args
    day = args.get("day", "")
    start = None
    if day:
        try:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=wiring().timezone)
        except ValueError:
            abort(400, description=_("日期格式应为 YYYY-MM-DD"))
    operator = form_int(args.get("operator"), "operator", minimum=1)
    flt = calls.CallLogFilter(
        day_start=start,
        operator_id=operator,
        flagged=args.get("flagged") == "1",
        slower_than_seconds=flows().ring_limit_seconds if args.get("slow") == "1" else None,
    )
    page = page_number(args.get("page"))
    found = calls.call_log_page(session, flt, page=page, per_page=_LOG_PAGE)
    total = found.total
    return render_template(
        "callflows/call_log.html",
        rows=[_call_log_row(call, found.flag_counts.get(call.id, 0)) for call in found.calls],
        operators=found.operators,
        args=args,
        listing={"page": page, "pages": max((total + _LOG_PAGE - 1) // _LOG_PAGE, 1)},
        total=total,
        display=display,
        **common_context(),
    )


@bp.route("/calls/<id:call_id>")
@roles_required(Role.SUPERVISOR)
def call_detail(call_id: int) -> Any:
    """One call for review: timing, script steps, compliance, flags, recording, events."""
    session = db_session()
    call = call_or_404(session, call_id)
    review = calls.call_review(session, call)
    return render_template(
        "callflows/call_detail.html",
        call=call,
        flags=review.flags,
        events=review.events,
        attempts=review.attempts,
        case=review.case,
        marked=flag_review.split_excerpt,  # the excerpt with the banned phrase to mark
        display=display,
        **common_context(),
    )
