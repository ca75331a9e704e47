"""The operator console (接线台): one screen from ring to case number.

Pages (server-rendered, Chinese first):

* ``/console`` — calls ringing now (with the answer button), missed and
  abandoned calls waiting for a call-back, my open cases, and the counter-visit
  button (W1);
* ``/console/calls/<id>`` — the live call in three columns: the caller, the
  script, the case;
* ``/calls`` and ``/calls/<id>`` — the supervisors' call log: ring-to-answer
  time (P1), steps done, missed greeting or closing, G2 flags, the recording.

The JSON endpoints under ``/api/calls`` drive the live call. Each one parses
the request, calls one function of :mod:`callflows.services` and answers with
the call's whole console view, so the script engine runs on the server and
P4's read-back gate cannot be skipped from the browser. Refusals are JSON
naming the field (and the rule), never a 500. They are flask-smorest views
(``api_bp``), so they are in ``/api/openapi.json`` with their bodies and
refusals, and like every /api route they check the caller before the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import (
    EXCLUDE,
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
)
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callflows import services as calls
from callflows.domain.compliance import find_banned_phrases
from callflows.domain.engine import READ_BACK_FIELDS, CallSession, ReadBackRequired
from callflows.domain.live import OPERATIONS
from callflows.domain.scripts import FIELDS, StepKind
from callflows.models import Call, CallStatusEvent, ComplianceFlag, OutboundAttempt
from callflows.services import CallFlows, SubmitForm
from callflows.services.caller import caller_facts, search_customers, similar_open_cases
from callflows.services.flags import excerpt
from hotline import services as case_services
from hotline.domain.phones import display
from hotline.domain.taxonomy import Category, Priority, Role, TriageOutcome
from hotline.models import Case, Customer, Department, Staff
from hotline.services import Actor, CaseFilter, IntakeOutcome, Invalid, NotFound
from hotline.web import labels
from hotline.web.api import ApiBlueprint, InputSchema, refusal, request_actor, rules
from hotline.web.auth import db_session, fresh_db_session, roles_required
from hotline.web.auth import services as wiring
from hotline.web.forms import MAX_INT, form_int, page_number
from hotline.web.i18n import local_time
from hotline.web.pages import case_rows

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/callflows/static",
)
api_bp = ApiBlueprint(
    "console_api",
    __name__,
    url_prefix="/api",
    description="The live call on the operator console: answer, script, case, call-back. "
    "接线台:接听、话术、建单、回拨。",
)

#: Enum-valued script fields and the display names of their values.
_CHOICE_LABELS = {
    "category": labels.CATEGORY,
    "priority": labels.PRIORITY,
    "triage": labels.TRIAGE,
}
_MAX_TEXT = 4000
_LOG_PAGE = 50


def flows() -> CallFlows:
    """The call-flow wiring of the running app."""
    return current_app.extensions["callflows"]


def _actor() -> Actor:
    return Actor.of(current_user)


# -- the view of a call, as JSON -----------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _field_view(name: str, values: Mapping[str, str], *, required: bool) -> dict[str, Any]:
    spec = FIELDS[name]
    table = _CHOICE_LABELS.get(name)
    return {
        "name": name,
        "zh": spec.zh,
        "en": spec.en,
        "required": required,
        "value": values.get(name, ""),
        "choices": [
            {"value": value, "label": labels.label(table, value) if table else value}
            for value in spec.choices
        ],
    }


def _script_view(session: CallSession, now: datetime) -> dict[str, Any]:
    script = session.script
    values = session.fields
    step = session.current_step
    current = None
    if step is not None:
        current = {
            "id": step.id,
            "kind": str(step.kind),
            "zh": session.text(step, lang="zh"),
            "en": session.text(step, lang="en"),
            "note_zh": step.note_zh,
            "note_en": step.note_en,
            "rule": step.rule,
            "verbatim": step.verbatim,
            "required": step.required,
            "captures": [_field_view(n, values, required=True) for n in step.captures]
            + [_field_view(n, values, required=False) for n in step.optional_captures],
            "answers": [{"answer": b.answer, "zh": b.zh, "en": b.en} for b in step.branches],
            "read_back": step.kind is StepKind.READ_BACK,
        }
    titles = {s.id: s for s in script.steps}
    done = [
        {
            "step_id": record.step_id,
            "status": str(record.status),
            "at": local_time(record.at, "%H:%M:%S"),
            "answer": record.answer,
            "zh": titles[record.step_id].zh[:40],
            "answer_zh": next(
                (b.zh for b in titles[record.step_id].branches if b.answer == record.answer), ""
            ),
        }
        for record in session.history
    ]
    try:
        session.require_ready_to_submit()
        ready = True
    except ReadBackRequired:
        ready = False
    lookup_prompt = script.prompt("lookup")
    not_heard = script.prompt("not_heard")
    next_at = session.next_reassurance_at
    closing = next((s for s in script.steps if s.kind is StepKind.CLOSING), None)
    return {
        "id": script.id,
        "name_zh": script.name_zh,
        "name_en": script.name_en,
        "current": current,
        "done": done,
        "fields": values,
        "field_names": sorted(script.fields),
        "live": session.is_live,
        "read_back": {
            "items": [
                {"name": n, "zh": FIELDS[n].zh, "en": FIELDS[n].en, "value": values.get(n)}
                for n in READ_BACK_FIELDS
            ],
            "confirmed_at": local_time(session.read_back_confirmed_at, "%H:%M:%S"),
            "missing": list(session.missing_read_back_fields()),
        },
        "ready_to_submit": ready,
        "lookup": {
            "active": session.lookup_active,
            "next_at": _iso(next_at),
            "seconds_left": (
                max((next_at - now).total_seconds(), 0.0) if next_at is not None else None
            ),
            "due": len(session.due_reassurances(now)) if session.lookup_active else 0,
        },
        "prompts": {
            "lookup": {"zh": lookup_prompt.zh, "en": lookup_prompt.en} if lookup_prompt else None,
            "not_heard": {"zh": not_heard.zh, "en": not_heard.en} if not_heard else None,
        },
        "closing": {"zh": closing.zh, "en": closing.en} if closing else None,
    }


def _case_view(case: Any, now: datetime) -> dict[str, Any]:
    return {
        "number": case.number,
        "category": labels.label(labels.CATEGORY, case.category),
        "state": labels.label(labels.STATE, case.state),
        "address": case.address,
        "problem": case.problem,
        "promised_at": local_time(case.promised_at),
        "due_at": local_time(case.due_at),
        "overdue": bool(case.due_at and case.due_at < now),
        "url": url_for("pages.case_page", number=case.number),
    }


def call_view(session: Session, call: Call, actor: Actor) -> dict[str, Any]:
    """Everything the live-call page shows, as JSON-ready data."""
    wired = flows()
    now = wiring().now()
    facts = caller_facts(
        session,
        call.from_number,
        now,
        customer_ids=[call.customer_id] if call.customer_id else [],
    )
    script_view = None
    address = ""
    if call.script_state:
        script = calls.load_script(wired, call, wiring().now)
        script_view = _script_view(script.session, now)
        address = script.session.fields.get("address", "")
    if not address and len(facts.customers) == 1:
        address = facts.customers[0].address
    similar = similar_open_cases(session, address, customer_ids=[c.id for c in facts.customers])
    case = None
    if call.case_id:
        case = session.get(Case, call.case_id)
    flags = session.scalars(
        select(ComplianceFlag).where(ComplianceFlag.call_id == call.id).order_by(ComplianceFlag.id)
    ).all()
    attempts = session.scalars(
        select(OutboundAttempt)
        .where(OutboundAttempt.call_id == call.id)
        .order_by(OutboundAttempt.id)
    ).all()
    ring = call.ring_to_answer_seconds
    return {
        "call": {
            "id": call.id,
            "channel": str(call.channel),
            "provider": str(call.provider),
            "status": str(call.status),
            "from": display(call.from_number) if call.from_number else call.from_raw,
            "ringing_at": local_time(call.ringing_at, "%H:%M:%S"),
            "answered_at": local_time(call.answered_at, "%H:%M:%S"),
            "ended_at": local_time(call.ended_at, "%H:%M:%S"),
            "ring_to_answer_seconds": ring,
            "ring_limit_seconds": wired.ring_limit_seconds,
            "within_ring_limit": None if ring is None else ring <= wired.ring_limit_seconds,
            "hung_up_by": call.hung_up_by,
            "mine": call.answered_by_id == actor.id,
            "live": call.ended_at is None,
            "recorded": call.contact_id is not None,
        },
        "caller": {
            "number": display(facts.number) if facts.number else "",
            "known": facts.known,
            "customers": [
                {
                    "account_number": c.account_number,
                    "name": c.name,
                    "address": c.address,
                    "arrears": f"{c.arrears_cents / 100:.2f}",
                    "in_arrears": c.arrears_cents > 0,
                    "arrears_since": c.arrears_since.isoformat() if c.arrears_since else None,
                }
                for c in facts.customers
            ],
            "outages": [
                {
                    "area": o.area,
                    "reason": o.reason,
                    "starts_at": local_time(o.starts_at),
                    "ends_at": local_time(o.ends_at),
                    "planned": o.planned,
                    "under_way": o.starts_at <= now,
                }
                for o in facts.outages
            ],
            "open_cases": [
                {
                    "number": c.number,
                    "category": labels.label(labels.CATEGORY, c.category),
                    "state": labels.label(labels.STATE, c.state),
                    "address": c.address,
                    "promised_at": local_time(c.promised_at),
                    "url": url_for("pages.case_page", number=c.number),
                }
                for c in facts.open_cases
            ],
            "recent_contacts": [
                {
                    "at": local_time(c.started_at),
                    "channel": labels.label(labels.CHANNEL, c.channel),
                    "disposition": c.disposition or "",
                    "case_number": c.case_number,
                    "summary": c.summary,
                }
                for c in facts.recent_contacts
            ],
        },
        "script": script_view,
        "similar_cases": [
            {
                "number": c.number,
                "category": labels.label(labels.CATEGORY, c.category),
                "state": labels.label(labels.STATE, c.state),
                "address": c.address,
                "problem": c.problem,
                "promised_at": local_time(c.promised_at),
            }
            for c in similar
        ],
        "case": _case_view(case, now) if case is not None else None,
        "flags": [{"source": f.source, "phrase": f.phrase, "excerpt": f.excerpt} for f in flags],
        "attempts": [
            {"kind": str(a.kind), "status": str(a.status), "error": a.error} for a in attempts
        ],
    }


def _call_or_404(session: Session, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}", "call")
    return call


def _view_response(call_id: int, actor: Actor, extra: Mapping[str, Any] | None = None) -> Any:
    session = fresh_db_session()
    body = call_view(session, _call_or_404(session, call_id), actor)
    if extra:
        body.update(extra)
    return body


# -- JSON bodies and answers ----------------------------------------------------


class _Object(InputSchema):
    """A console request body: a JSON object (anything else answers 400); keys it
    does not know are left aside."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _an_object(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            abort(400, description="the request body must be a JSON object")
        return data


class _RangeUnlessEmpty(validate.Range):
    """A range check that lets ``None`` (an empty field) through."""

    def __call__(self, value: Any) -> Any:
        return value if value is None else super().__call__(value)


class Whole(fields.Integer):
    """A whole number, or its ASCII digits as text (as a form sends it); empty means none."""

    def __init__(self, *, minimum: int = 1, maximum: int = MAX_INT, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault(
            "description", "a whole number, or its digits as text; empty for none"
        )
        super().__init__(
            load_default=None,
            allow_none=True,
            validate=_RangeUnlessEmpty(min=minimum, max=maximum),
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("must be a whole number")
        if isinstance(value, str):
            if not re.fullmatch(r"\s*-?[0-9]{1,19}\s*", value):
                raise ValidationError("must be a whole number")
            value = int(value)
        return value


class Choice(fields.Enum):
    """One of an enum's values; empty (or null) means none chosen."""

    def __init__(self, enum: type, **kwargs: Any) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
        super().__init__(enum, by_value=True, allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return None if value == "" else super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """true or false, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def _text(limit: int = _MAX_TEXT, **kwargs: Any) -> fields.String:
    """Text of at most ``limit`` characters; null reads as empty."""
    return fields.String(
        load_default="", allow_none=True, validate=validate.Length(max=limit), **kwargs
    )


class ScriptOpSchema(_Object):
    """One operation; ``op`` names it, the other keys are its arguments (all text)."""

    class Meta:
        unknown = INCLUDE

    op = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"enum": [name for name in OPERATIONS if name != "end"]},
    )
    field = fields.String(validate=validate.Length(max=_MAX_TEXT))
    value = fields.String(validate=validate.Length(max=_MAX_TEXT))
    answer = fields.String(validate=validate.Length(max=_MAX_TEXT))
    step = fields.String(validate=validate.Length(max=_MAX_TEXT))

    @post_load
    def _text_arguments(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name, value in data.items():
            if not isinstance(value, str) or len(value) > _MAX_TEXT:
                raise ValidationError(
                    f"'{name}' must be text of at most {_MAX_TEXT} characters", name
                )
        return data


class CustomerChoiceSchema(_Object):
    account_number = _text(32, metadata={"description": "the customer's account number"})


class CustomerSearchArgs(InputSchema):
    q = fields.String(load_default="", validate=validate.Length(max=100))


class SubmitSchema(_Object):
    """What the operator submits at the end of the script (the rest was captured)."""

    outcome = Choice(IntakeOutcome, required=True)
    category = Choice(Category)
    priority = Choice(Priority)
    triage = Choice(TriageOutcome)
    pipe_size_dn = Whole(minimum=15, maximum=3000)
    customer_account = _text(32)
    answer = _text()
    target_department_id = Whole()
    told_caller = _text()
    join_case_number = _text(32)
    summary = _text()


class CallBackSchema(_Object):
    confirm_uncertain = StrictBoolean(
        load_default=False,
        metadata={"description": "call again after an attempt whose outcome is uncertain"},
    )


class ComplianceCheckSchema(_Object):
    text = _text(20000)


class IncomingSchema(Schema):
    waiting = fields.List(fields.Dict(), metadata={"description": "calls ringing now"})
    missed = fields.List(fields.Dict(), metadata={"description": "calls to call back"})


class AnsweredSchema(Schema):
    call_id = fields.Integer()
    url = fields.String(metadata={"description": "the live-call page"})


class CallViewSchema(Schema):
    """Everything the live-call page shows."""

    call = fields.Dict()
    caller = fields.Dict()
    script = fields.Dict(allow_none=True)
    similar_cases = fields.List(fields.Dict())
    case = fields.Dict(allow_none=True)
    flags = fields.List(fields.Dict())
    attempts = fields.List(fields.Dict())
    result = fields.Dict(metadata={"description": "after a submission: its case and promise"})


class CustomerFoundSchema(Schema):
    account_number = fields.String()
    name = fields.String()
    address = fields.String()


class CustomersSchema(Schema):
    customers = fields.List(fields.Nested(CustomerFoundSchema))


class AttemptResultSchema(Schema):
    attempt = fields.Dict(metadata={"description": "id, kind, status, provider_sid, error"})


class ComplianceFlagSchema(Schema):
    phrase = fields.String()
    matched = fields.String()
    start = fields.Integer()
    end = fields.Integer()
    rule = fields.String()
    excerpt = fields.String()


class ComplianceFlagsSchema(Schema):
    flags = fields.List(fields.Nested(ComplianceFlagSchema))


# -- pages ---------------------------------------------------------------------


def _common() -> dict[str, Any]:
    return {"labels": labels, "now": wiring().now(), "flows": flows()}


def _waiting_rows(session: Session) -> list[dict[str, Any]]:
    rows = []
    for call in calls.waiting_calls(session):
        customer = session.get(Customer, call.customer_id) if call.customer_id else None
        rows.append(
            {
                "id": call.id,
                "from": display(call.from_number) if call.from_number else call.from_raw,
                "customer": customer.name if customer else "",
                "ringing_at": local_time(call.ringing_at, "%H:%M:%S"),
                "ringing_iso": call.ringing_at.isoformat(),
            }
        )
    return rows


def _missed_rows(session: Session) -> list[dict[str, Any]]:
    missed = calls.missed_calls(session)
    last = calls.last_attempts(session, [c.id for c in missed])
    return [
        {
            "id": call.id,
            "from": display(call.from_number) if call.from_number else call.from_raw,
            "withheld": not call.from_number,
            "status": str(call.status),
            "ringing_at": local_time(call.ringing_at),
            "attempt": (
                {"status": str(last[call.id].status), "error": last[call.id].error}
                if call.id in last
                else None
            ),
        }
        for call in missed
    ]


@bp.route("/console")
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def home() -> Any:
    """Calls ringing, calls to call back, my open cases, the counter-visit button."""
    session = db_session()
    actor = _actor()
    mine, _total = case_services.list_cases(
        session,
        actor,
        CaseFilter(first_responder_id=actor.id, open_only=True),
        now=wiring().now(),
        per_page=15,
    )
    unseen = case_services.unseen_changes(session, actor, mine)
    now = wiring().now()
    live_call = session.scalar(
        select(Call.id)
        .where(Call.answered_by_id == actor.id, Call.ended_at.is_(None))
        .order_by(Call.id.desc())
    )
    return render_template(
        "callflows/console.html",
        waiting=_waiting_rows(session),
        missed=_missed_rows(session),
        mine=case_rows(session, mine, now),
        unseen=unseen,
        live_call=live_call,
        **_common(),
    )


@bp.route("/console/counter", methods=["POST"])
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def counter_visit() -> Any:
    """W1: start serving a visitor at the counter on the same console."""
    call_id = calls.start_counter_visit(
        wiring(), flows(), _actor(), caller_number=request.form.get("caller_number", "")
    )
    return redirect(url_for("console.call_page", call_id=call_id))


@bp.route("/console/calls/<id:call_id>")
@roles_required(Role.OPERATOR, Role.SUPERVISOR)
def call_page(call_id: int) -> Any:
    """The live call: caller, script and case side by side."""
    session = db_session()
    actor = _actor()
    call = _call_or_404(session, call_id)
    if call.answered_by_id != actor.id and actor.role != Role.SUPERVISOR:
        abort(403, description=_("这通电话由其他接线员接听"))
    departments = list(session.scalars(select(Department).order_by(Department.id)))
    return render_template(
        "callflows/call.html",
        call=call,
        view=call_view(session, call, actor),
        departments=departments,
        categories=list(Category),
        priorities=list(Priority),
        triages=list(TriageOutcome),
        outcomes=list(IntakeOutcome),
        **_common(),
    )


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
        **_common(),
    )


@bp.route("/calls/<id:call_id>")
@roles_required(Role.SUPERVISOR)
def call_detail(call_id: int) -> Any:
    """One call for review: timing, script steps, compliance, flags, recording, events."""
    session = db_session()
    call = _call_or_404(session, call_id)
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
        **_common(),
    )


# -- JSON: the live call --------------------------------------------------------

_CALL_RULES = (
    "Only operators and supervisors take calls (else 403); only the operator who answered "
    "a call may work its script, choose its customer, submit it or end it (else 403). "
    "409 when the call is not in a state that allows it (already answered, not answered, "
    "already ended, already recorded)."
)


def _taker() -> Actor:
    actor = request_actor()
    if actor.role not in calls.CALL_TAKERS:
        abort(403, description="your role does not take calls")
    return actor


@api_bp.route("/calls/incoming")
@api_bp.response(200, IncomingSchema)
@refusal(api_bp, 403, "your role does not take calls")
def incoming() -> Any:
    """Calls ringing and calls to call back (the console polls this as a fallback)."""
    _taker()
    session = fresh_db_session()
    return {"waiting": _waiting_rows(session), "missed": _missed_rows(session)}


@api_bp.route("/calls/<id:call_id>/answer", methods=["POST"])
@api_bp.response(200, AnsweredSchema)
@refusal(api_bp, 403, "your role does not take calls")
@refusal(api_bp, 404, "no such call")
@refusal(api_bp, 409, "the call was answered by someone else, or has ended")
def answer(call_id: int) -> Any:
    """Take a ringing call; answers with the live-call page to open.

    A call already answered or ended cannot be taken (409).
    """
    actor = _taker()
    calls.answer(wiring(), flows(), actor, call_id)
    return {"call_id": call_id, "url": url_for("console.call_page", call_id=call_id)}


@api_bp.route("/calls/<id:call_id>")
@api_bp.response(200, CallViewSchema)
@refusal(api_bp, 403, "another operator answered this call, or your role does not take calls")
@refusal(api_bp, 404, "no such call")
def view(call_id: int) -> Any:
    """The live call's whole console view.

    Only the operator who answered the call, or a supervisor, may see it (else 403).
    """
    actor = _taker()
    session = fresh_db_session()
    call = _call_or_404(session, call_id)
    if call.answered_by_id != actor.id and actor.role != Role.SUPERVISOR:
        abort(403, description="another operator answered this call")
    return call_view(session, call, actor)


@api_bp.route("/calls/<id:call_id>/script", methods=["POST"])
@api_bp.arguments(ScriptOpSchema)
@api_bp.response(200, CallViewSchema)
@refusal(api_bp, 400, "the body is not a JSON object")
@refusal(api_bp, 403, "only the operator who answered may work the script")
@refusal(api_bp, 404, "no such call")
@refusal(api_bp, 409, "the call is not answered, or the caller has gone")
@refusal(api_bp, 422, "the script refuses the step; `field` (and `rule`, e.g. P4) say why")
@rules(_CALL_RULES)
def script_op(body: dict[str, Any], call_id: int) -> Any:
    """One script operation: ``{"op": "complete"}``, ``{"op": "capture", "field", "value"}``…

    ``op`` is one of capture (``field``, ``value``), answer (``answer``),
    complete, skip, go_to (``step``), not_heard, start_lookup, reassure,
    end_lookup, confirm_read_back; the call itself ends with ``/end``. The
    engine refuses with 422 naming the field: a required step skipped, a step
    completed before its fields are captured, a value not among the field's
    choices, a ``contact_phone`` that is not a phone number, a read-back
    confirmed before problem, need and address are captured (P4).
    """
    actor = _taker()
    op = body.pop("op")
    calls.apply_script(wiring(), flows(), actor, call_id, op, body)
    return _view_response(call_id, actor)


@api_bp.route("/calls/<id:call_id>/customer", methods=["POST"])
@api_bp.arguments(CustomerChoiceSchema)
@api_bp.response(200, CallViewSchema)
@refusal(api_bp, 400, "the body is not a JSON object")
@refusal(api_bp, 403, "only the operator who answered may change the caller")
@refusal(api_bp, 404, "no such call, or no customer with that account")
@rules(_CALL_RULES)
def choose_customer(body: dict[str, Any], call_id: int) -> Any:
    """Attach the customer found by search to a call from an unknown number."""
    actor = _taker()
    calls.choose_customer(wiring(), actor, call_id, body["account_number"] or "")
    return _view_response(call_id, actor)


@api_bp.route("/customers")
@api_bp.arguments(CustomerSearchArgs, location="query")
@api_bp.response(200, CustomersSchema)
@refusal(api_bp, 403, "your role does not take calls")
def customers(args: dict[str, Any]) -> Any:
    """Search customers by account number, name or address (for unknown numbers).

    ``q`` is at most 100 characters.
    """
    _taker()
    return {
        "customers": [
            {"account_number": c.account_number, "name": c.name, "address": c.address}
            for c in search_customers(fresh_db_session(), args["q"])
        ]
    }


@api_bp.route("/calls/<id:call_id>/submit", methods=["POST"])
@api_bp.arguments(SubmitSchema)
@api_bp.response(200, CallViewSchema)
@refusal(api_bp, 400, "the body is not a JSON object")
@refusal(api_bp, 403, "only the operator who answered may submit")
@refusal(api_bp, 404, "no such call, department, customer or case to join")
@refusal(api_bp, 409, "the call was already recorded, or the case to join cannot take it")
@refusal(api_bp, 422, "a field is missing or breaks a rule (P4: the read-back, G5: transfer)")
@rules(_CALL_RULES)
def submit(body: dict[str, Any], call_id: int) -> Any:
    """Create the case (or answer on the call, transfer, join, record without a case).

    Refused with 422 naming the field when ``outcome`` is missing; a case
    (``outcome`` dispatch) needs category, triage and the captured problem,
    need, address and contact phone read back and confirmed (P4:
    ``field`` read_back, ``rule`` P4, with the ``missing`` items);
    answer_on_call needs ``answer``; transfer needs ``target_department_id``
    and ``told_caller`` (G5); join needs ``join_case_number``;
    ``pipe_size_dn`` runs from 15 to 3000. Numbers may come as their digits
    in text, and an empty text means none.
    """
    actor = _taker()
    outcome = body["outcome"]
    if outcome is None:
        raise Invalid("'outcome' is required", "outcome")
    form = SubmitForm(
        outcome=outcome,
        category=body["category"],
        priority=body["priority"],
        triage=body["triage"],
        pipe_size_dn=body["pipe_size_dn"],
        customer_account=body["customer_account"] or "",
        answer=body["answer"] or "",
        target_department_id=body["target_department_id"],
        told_caller=body["told_caller"] or "",
        join_case_number=(body["join_case_number"] or "").strip(),
        summary=body["summary"] or "",
    )
    result = calls.submit(wiring(), flows(), actor, call_id, form)
    return _view_response(
        call_id,
        actor,
        {
            "result": {
                "case_number": result.case_number,
                "promised_at": local_time(result.promised_at, "%Y-%m-%d %H:%M"),
                "promised_text": result.promised_text,
                "state": result.state,
                "contact_id": result.contact_id,
            }
        },
    )


@api_bp.route("/calls/<id:call_id>/end", methods=["POST"])
@api_bp.response(200, CallViewSchema)
@refusal(api_bp, 403, "only the operator who answered may end the call")
@refusal(api_bp, 404, "no such call")
@refusal(api_bp, 409, "the call has already ended")
@rules(_CALL_RULES)
def end(call_id: int) -> Any:
    """The operator ends the call (the record shows the operator hung up)."""
    actor = _taker()
    calls.end_call(wiring(), flows(), call_id=call_id, hung_up_by="operator", actor=actor)
    return _view_response(call_id, actor)


@api_bp.route("/calls/<id:call_id>/call-back", methods=["POST"])
@api_bp.arguments(CallBackSchema)
@api_bp.response(200, AttemptResultSchema)
@refusal(api_bp, 400, "the body is not a JSON object")
@refusal(api_bp, 403, "your role does not take calls")
@refusal(api_bp, 404, "no such call")
@refusal(api_bp, 409, "answered, already called back, or an uncertain attempt to confirm")
@refusal(api_bp, 422, "the number was withheld: nobody to call")
@refusal(api_bp, 502, "the phone system did not place the call (`uncertain`: it may have)")
def call_back(body: dict[str, Any], call_id: int) -> Any:
    """Call a missed caller back (after an uncertain attempt: ``confirm_uncertain``).

    Only a missed or abandoned call with a number can be called back (409 /
    422); after an attempt whose outcome is uncertain, a new one needs
    ``confirm_uncertain`` true (409).
    """
    actor = _taker()
    attempt = calls.call_back(
        wiring(), flows(), actor, call_id, confirm_uncertain=body["confirm_uncertain"]
    )
    return {"attempt": attempt.__dict__}


@api_bp.route("/calls/<id:call_id>/sms", methods=["POST"])
@api_bp.response(200, AttemptResultSchema)
@refusal(api_bp, 403, "your role does not take calls")
@refusal(api_bp, 404, "no such call")
@refusal(api_bp, 409, "the call has no case yet")
@refusal(api_bp, 422, "there is no mobile number to text")
@refusal(api_bp, 502, "the phone system did not send the message (`uncertain`: it may have)")
def case_sms(call_id: int) -> Any:
    """Text the caller their case number and promised time.

    The call needs a case (409) and a mobile number to text (422).
    """
    actor = _taker()
    attempt = calls.send_case_sms(wiring(), flows(), actor, call_id)
    return {"attempt": attempt.__dict__}


@api_bp.route("/compliance/check", methods=["POST"])
@api_bp.arguments(ComplianceCheckSchema)
@api_bp.response(200, ComplianceFlagsSchema)
@refusal(api_bp, 400, "the body is not a JSON object")
def compliance_check(body: dict[str, Any]) -> Any:
    """G2 while typing: the banned phrases in ``text``, to warn before it is saved.

    ``text`` is at most 20000 characters. Any member of staff may ask.
    """
    text = body["text"] or ""
    return {
        "flags": [
            {
                "phrase": flag.phrase,
                "matched": flag.matched,
                "start": flag.start,
                "end": flag.end,
                "rule": flag.rule,
                "excerpt": excerpt(text, flag),
            }
            for flag in find_banned_phrases(text)
        ]
    }


__all__ = ["api_bp", "bp", "call_view", "flows"]
