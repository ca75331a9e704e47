"""The supervisors' call log (通话记录): every call with its timing, review and G2 flags.

``/calls`` lists calls newest first, filterable by a range of days (or one
``day``), operator, flag (:data:`~callflows.services.call_log.LOG_FLAGS`:
banned phrase, slow, missing greeting or closing, a required step left out),
outcome (the contact's disposition), and the older ``flagged`` and ``slow``
boxes; the filters are read by :class:`CallLogArgs` and a bad value answers
a 400 page naming it. Each row shows the ring-to-answer time, the duration,
the outcome, the script and the compliance score (``callflows.domain.quality``).
``/calls/<id>`` shows one call for review: ring-to-answer time, the script
steps done in words, the compliance checks and score, flags, the recording
(or why there is none), its quality checks and the provider's status events.
Both pages are on the console blueprint (``console.call_log``,
``console.call_detail``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import EXCLUDE, ValidationError, fields, validate, validates_schema

from callflows import services as calls
from callflows.services import flag_review
from callflows.services import quality as quality_service
from callflows.services.call_log import LOG_FLAGS
from callflows.web import quality as quality_web
from callflows.web.console import bp, call_or_404, common_context, flows
from hotline.domain.phones import display
from hotline.domain.taxonomy import Disposition, Role
from hotline.web import privacy
from hotline.web.api_base import InputSchema
from hotline.web.auth import roles_required
from hotline.web.forms import form_int, page_number
from hotline.web.session import db_session, wiring

if TYPE_CHECKING:
    from callflows.models import Call

__all__ = ["CallLogArgs", "call_detail", "call_log"]

_LOG_PAGE = 50
_FIRST_DAY = date(2000, 1, 1)
_LAST_DAY = date(2099, 12, 31)
_DAY_RANGE = validate.Range(
    min=_FIRST_DAY, max=_LAST_DAY, error="must lie between the years 2000 and 2099"
)
_YES = validate.OneOf(("1",), error="must be 1 or left out")


class CallLogArgs(InputSchema):
    """The call log's filters from the query string (empty values count as not given).

    ``operator`` and ``page`` are read by the shared page helpers (a number out
    of range answers 422 naming it, as on every listing).
    """

    class Meta:
        unknown = EXCLUDE

    day = fields.Date(format="%Y-%m-%d", validate=_DAY_RANGE, load_default=None)
    first = fields.Date(data_key="from", format="%Y-%m-%d", validate=_DAY_RANGE, load_default=None)
    last = fields.Date(data_key="to", format="%Y-%m-%d", validate=_DAY_RANGE, load_default=None)
    flag = fields.String(validate=validate.OneOf(LOG_FLAGS), load_default=None)
    outcome = fields.Enum(Disposition, by_value=True, load_default=None)
    flagged = fields.String(validate=_YES, load_default=None)
    slow = fields.String(validate=_YES, load_default=None)

    @validates_schema
    def _order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("day") and (data.get("first") or data.get("last")):
            raise ValidationError("give one day or a range of days (from, to), not both", "day")
        if data.get("first") and data.get("last") and data["first"] > data["last"]:
            raise ValidationError("'from' must not be after 'to'", "to")


def _log_args(args: Any) -> dict[str, Any]:
    """The filters, loaded; a 400 page naming the field when one is malformed."""
    raw = {
        key: args.get(key, "")
        for key in args
        if key not in ("operator", "page") and args.get(key, "").strip()
    }
    try:
        return CallLogArgs().load(raw)
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        text = messages[0] if isinstance(messages, list) else str(messages)
        if text == "Not a valid date.":
            text = _("日期格式应为 YYYY-MM-DD")
        abort(400, description=f"'{field}': {text}")


def _call_log_row(call: Call, flags: int, outcome: Any = None, score: Any = None) -> dict[str, Any]:
    """One line of the call log: the call and what its review found."""
    record = call.compliance or {}
    seconds = call.ring_to_answer_seconds
    return {
        "call": call,
        "outcome": outcome,
        "score": score,
        "duration": quality_web.duration_text(call),
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
    """The supervisors' call log, newest first, filterable by days, operator, flag and outcome."""
    session = db_session()
    args = request.args
    zone = wiring().timezone
    wanted = _log_args(args)
    operator = form_int(args.get("operator"), "operator", minimum=1)
    page = page_number(args.get("page"))
    first = wanted["day"] or wanted["first"]
    last = wanted["day"] or wanted["last"]
    start = end = None
    if first is not None or last is not None:
        start, end = quality_service.day_range(first or _FIRST_DAY, last or _LAST_DAY, zone)
    limit = flows().ring_limit_seconds
    flag = wanted["flag"]
    flt = calls.CallLogFilter(
        day_start=start if first is not None else None,
        day_end=end,
        operator_id=operator,
        flagged=wanted["flagged"] == "1" or flag == "banned",
        slower_than_seconds=limit if wanted["slow"] == "1" or flag == "slow" else None,
        flag=flag if flag not in ("banned", "slow") else None,
        outcome=wanted["outcome"],
    )
    found = calls.call_log_page(session, flt, page=page, per_page=_LOG_PAGE)
    total = found.total
    scores = quality_service.call_scores(
        found.calls, found.flag_counts, scripts=flows().scripts, ring_limit=limit
    )
    query = {
        key: args.get(key, "")
        for key in ("day", "from", "to", "operator", "flag", "outcome", "flagged", "slow")
    }
    return render_template(
        "callflows/call_log.html",
        rows=[
            _call_log_row(
                call,
                found.flag_counts.get(call.id, 0),
                found.outcomes.get(call.id),
                scores[call.id].score,
            )
            for call in found.calls
        ],
        operators=found.operators,
        args=args,
        query=query,
        log_flags=quality_web.LOG_FLAG_NAMES,
        outcomes=quality_web.OUTCOME,
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
    # W7: the caller's number as this role may see it; a whole one is logged first.
    caller = privacy.shown(privacy.current_role(), phone=call.from_number or call.from_raw)
    privacy.log_if_whole(current_user.id, caller, "call", str(call.id))
    limit = flows().ring_limit_seconds
    score = quality_service.call_scores(
        [call], {call.id: len(review.flags)}, scripts=flows().scripts, ring_limit=limit
    )[call.id]
    return render_template(
        "callflows/call_detail.html",
        call=call,
        caller=caller,
        score=score,
        check_names=quality_web.CHECK_NAMES,
        steps_done=quality_web.steps_in_words(call, flows().scripts),
        missed_steps=quality_web.missed_in_words(call, flows().scripts),
        duration=quality_web.duration_text(call),
        checks=quality_service.checks_of_call(session, call.id),
        quality_standard=quality_web.current_standard(),
        flags=review.flags,
        events=review.events,
        attempts=review.attempts,
        case=review.case,
        marked=flag_review.split_excerpt,  # the excerpt with the banned phrase to mark
        display=display,
        **common_context(),
    )
