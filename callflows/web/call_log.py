"""The supervisors' call log (通话记录): every call with its timing, review and G2 flags.

``/calls`` lists calls newest first, filterable by day, operator, flagged
and slow (rung longer than P1's limit); ``/calls/<id>`` shows one call for
review: ring-to-answer time, script steps, the compliance record, flags,
the recording and the provider's status events. Both pages are on the
console blueprint (``console.call_log``, ``console.call_detail``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from callflows.models import Call, CallStatusEvent, ComplianceFlag, OutboundAttempt
from callflows.web.console import bp, call_or_404, common_context, flows
from hotline.domain.phones import display
from hotline.domain.taxonomy import Role
from hotline.models import Case, Staff
from hotline.web.auth import roles_required
from hotline.web.forms import form_int, page_number
from hotline.web.session import db_session, wiring

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
    query = select(Call).order_by(Call.ringing_at.desc())
    day = args.get("day", "")
    if day:
        try:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=wiring().timezone)
        except ValueError:
            abort(400, description=_("日期格式应为 YYYY-MM-DD"))
        query = query.where(Call.ringing_at >= start, Call.ringing_at < start + timedelta(days=1))
    operator = form_int(args.get("operator"), "operator", minimum=1)
    if operator:
        query = query.where(Call.answered_by_id == operator)
    if args.get("flagged") == "1":
        query = query.where(Call.id.in_(select(ComplianceFlag.call_id)))
    if args.get("slow") == "1":
        query = query.where(Call.ring_to_answer_seconds > flows().ring_limit_seconds)
    page = page_number(args.get("page"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.offset((page - 1) * _LOG_PAGE).limit(_LOG_PAGE)).all()
    flag_counts = dict(
        session.execute(
            select(ComplianceFlag.call_id, func.count())
            .where(ComplianceFlag.call_id.in_([c.id for c in rows]))
            .group_by(ComplianceFlag.call_id)
        ).all()
    )
    operators = list(
        session.scalars(
            select(Staff)
            .where(Staff.role.in_([str(Role.OPERATOR), str(Role.SUPERVISOR)]))
            .order_by(Staff.display_name)
        )
    )
    return render_template(
        "callflows/call_log.html",
        rows=[_call_log_row(call, flag_counts.get(call.id, 0)) for call in rows],
        operators=operators,
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
    flags = session.scalars(
        select(ComplianceFlag).where(ComplianceFlag.call_id == call.id).order_by(ComplianceFlag.id)
    ).all()
    events = session.scalars(
        select(CallStatusEvent)
        .where(
            or_(
                CallStatusEvent.call_sid == call.provider_call_sid,
                CallStatusEvent.parent_call_sid == call.provider_call_sid,
            )
        )
        .order_by(CallStatusEvent.at, CallStatusEvent.sequence_number)
    ).all()
    attempts = session.scalars(
        select(OutboundAttempt)
        .where(OutboundAttempt.call_id == call.id)
        .order_by(OutboundAttempt.id)
    ).all()
    case = None
    if call.case_id:
        case = session.get(Case, call.case_id)
    return render_template(
        "callflows/call_detail.html",
        call=call,
        flags=flags,
        events=events,
        attempts=attempts,
        case=case,
        display=display,
        **common_context(),
    )
