"""What the console shows, as JSON-ready data: the live call, its script, its case, the queues.

:func:`call_view` is the whole live-call page (caller, script, case) that the
page renders and every console API answer returns; :func:`waiting_rows` and
:func:`missed_rows` are the console's lists of calls ringing and calls to
call back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from callflows import services as calls
from callflows.domain.engine import READ_BACK_FIELDS, CallSession, ReadBackRequired
from callflows.domain.scripts import FIELDS, Script, Step, StepKind
from callflows.domain.triage import suggest_answer, suggest_category, suggest_priority
from callflows.services import CallFlows
from callflows.services.caller import caller_facts, similar_open_cases
from hotline.domain.phones import display
from hotline.services import Actor
from hotline.web import labels
from hotline.web.i18n import local_time
from hotline.web.session import wiring

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callflows.models import Call
    from hotline.services.incidents import IncidentFacts

__all__ = ["call_view", "missed_rows", "next_action", "pending_outcome", "waiting_rows"]

#: Enum-valued script fields and the display names of their values.
_CHOICE_LABELS = {
    "category": labels.CATEGORY,
    "priority": labels.PRIORITY,
    "triage": labels.TRIAGE,
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


#: Fields the case fills in when it is created (F11): never typed, never an empty box.
CASE_FIELDS = frozenset({"case_number", "promised_time"})


def _field_view(
    name: str,
    values: Mapping[str, str],
    *,
    required: bool,
    suggestion: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
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
        # Filled by the case when it is created: shown, never asked for.
        "from_case": name in CASE_FIELDS,
        # A proposal the operator confirms or changes (pre-selected while empty).
        "suggested": suggestion,
    }


def _suggestions(values: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The category and priority the caller's words suggest (see :mod:`callflows.domain.triage`)."""
    words = (values.get("problem"), values.get("need"))
    found: dict[str, dict[str, Any]] = {}
    category = values.get("category") or None
    if category is None:
        guess = suggest_category(*words)
        if guess is not None:
            category = str(guess.category)
            found["category"] = {
                "value": category,
                "label": labels.label(labels.CATEGORY, guess.category),
                "words": list(guess.words),
            }
    priority = suggest_priority(category, *words)
    found["priority"] = {
        "value": str(priority.priority),
        "label": labels.label(labels.PRIORITY, priority.priority),
        "words": list(priority.words),
    }
    return found


def _then_answers(script: Script, step: Step) -> list[dict[str, str]]:
    """The answers of the next step when this one only asks for them (the greeting asks
    "how may I help you?": what the caller wants is its answer, chosen at once)."""
    if step.branches or step.captures or step.optional_captures or step.kind is StepKind.READ_BACK:
        return []
    if step.next is None:
        return []
    following = script.step(step.next)
    if following.captures or following.kind is StepKind.READ_BACK:
        return []
    return [{"answer": b.answer, "zh": b.zh, "en": b.en} for b in following.branches]


def _script_view(session: CallSession, now: datetime) -> dict[str, Any]:
    script = session.script
    values = session.fields
    step = session.current_step
    current = None
    suggestions = _suggestions(values)
    if step is not None:
        category = values.get("category") or suggestions.get("category", {}).get("value")
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
            "captures": [
                _field_view(n, values, required=True, suggestion=suggestions.get(n))
                for n in step.captures
            ]
            + [
                _field_view(n, values, required=False, suggestion=suggestions.get(n))
                for n in step.optional_captures
            ],
            "answers": [{"answer": b.answer, "zh": b.zh, "en": b.en} for b in step.branches],
            "suggested_answer": suggest_answer(step.answer_field, category),
            "then_answers": _then_answers(script, step),
            "read_back": step.kind is StepKind.READ_BACK,
            "next_captures": list(script.step(step.next).captures) if step.next else [],
        }
    titles = {s.id: s for s in script.steps}
    done = [
        {
            "step_id": record.step_id,
            "status": str(record.status),
            "at": local_time(record.at, "%H:%M:%S"),
            "answer": record.answer,
            # The words as said: placeholders filled with what the call captured.
            "zh": session.text(titles[record.step_id], lang="zh"),
            "en": session.text(titles[record.step_id], lang="en"),
            "answer_zh": next(
                (b.zh for b in titles[record.step_id].branches if b.answer == record.answer), ""
            ),
            "answer_en": next(
                (b.en for b in titles[record.step_id].branches if b.answer == record.answer), ""
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


#: The submission the script's answers point to: how the call is handled
#: (``disposition``) or, for a repair, the first judgement (P5, ``triage``).
_OUTCOME_BY_DISPOSITION = {
    "case_created": "dispatch",
    "joined_case": "join",
    "answered": "answer_on_call",
    "transferred": "transfer",
}
_OUTCOME_BY_TRIAGE = {
    "customer_side": "answer_on_call",
    "out_of_scope": "transfer",
    "utility": "dispatch",
    "undetermined": "dispatch",
}


def pending_outcome(fields: Mapping[str, str]) -> str | None:
    """The submission the answers so far lead to, or ``None`` while they lead to none."""
    disposition = fields.get("disposition")
    if disposition:
        return _OUTCOME_BY_DISPOSITION.get(disposition)
    return _OUTCOME_BY_TRIAGE.get(fields.get("triage", ""))


def next_action(
    script: Mapping[str, Any] | None, *, live: bool, mine: bool, recorded: bool
) -> dict[str, Any]:
    """The one thing to do next on the live call, which the console makes its main button.

    ``script`` is the script's view (:func:`call_view`'s ``script``). Kinds:
    ``complete`` the step; ``read_back`` (confirmed and done in one action,
    P4); ``answer`` (the suggested ``answer``) or ``choose`` (among the
    caller's answers); ``hand_over`` (say the step and create the case with
    ``outcome``); ``submit`` (record the call as ``outcome``); ``home`` (back to
    the console); ``none`` (nothing for this person to do).
    """
    if not mine or script is None:
        return {"kind": "none"}
    step = script.get("current")
    outcome = None if recorded else pending_outcome(script.get("fields") or {})
    if step is None or not live:
        if recorded:
            return {"kind": "home"}
        return {"kind": "submit", "outcome": outcome or "no_case"}
    captures = {c["name"] for c in step["captures"]}
    if outcome is not None:
        if "case_number" in captures:
            return {"kind": "submit", "outcome": outcome}
        plain = not step["answers"] and not captures and not step["read_back"]
        if plain and outcome == "dispatch" and "case_number" in step.get("next_captures", ()):
            return {"kind": "hand_over", "outcome": outcome}
        if not step["required"] or step["kind"] == str(StepKind.CLOSING):
            return {"kind": "submit", "outcome": outcome}
    if step["read_back"]:
        return {"kind": "read_back"}
    if step["answers"]:
        suggested = step.get("suggested_answer")
        if suggested and any(a["answer"] == suggested for a in step["answers"]):
            return {"kind": "answer", "answer": suggested}
        return {"kind": "choose"}
    if step.get("then_answers"):
        return {"kind": "choose"}
    return {"kind": "complete"}


def _incident_view(incident: IncidentFacts) -> dict[str, Any]:
    """An incident and its latest update, as the caller column and similar cases show it."""
    latest = incident.latest
    return {
        "number": incident.number,
        "address": incident.address,
        "problem": incident.problem,
        "callers": incident.children,
        "url": url_for("pages.case_page", number=incident.number),
        "latest": (
            {
                "cause": latest.cause,
                "estimated_restore_at": local_time(latest.estimated_restore_at),
                "text": latest.text,
                "at": local_time(latest.at),
            }
            if latest is not None
            else None
        ),
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
    wired: CallFlows = current_app.extensions["callflows"]
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
    case = calls.call_case(session, call)
    flags = calls.call_flags(session, call.id)
    attempts = calls.call_attempts(session, call.id)
    ring = call.ring_to_answer_seconds
    mine = call.answered_by_id == actor.id
    if script_view is not None:
        # The console's main button (inside ``script``, which the API returns whole).
        script_view["next"] = next_action(
            script_view, live=call.ended_at is None, mine=mine, recorded=call.contact_id is not None
        )
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
            "mine": mine,
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
            # The incident's latest update, to read out to a caller from it or its area.
            "incidents": [_incident_view(i) for i in facts.incidents],
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
                "incident": _incident_view(c.incident) if c.incident else None,
            }
            for c in similar
        ],
        "case": _case_view(case, now) if case is not None else None,
        "flags": [{"source": f.source, "phrase": f.phrase, "excerpt": f.excerpt} for f in flags],
        "attempts": [
            {"kind": str(a.kind), "status": str(a.status), "error": a.error} for a in attempts
        ],
    }


def waiting_rows(session: Session) -> list[dict[str, Any]]:
    """The calls ringing now, as the console lists them."""
    rows = []
    for call in calls.waiting_calls(session):
        customer = calls.find_customer(session, call.customer_id)
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


#: What the last call-back came to, as the console says it.
_ATTEMPT_WORDS = {
    "pending": _l("正在回拨"),
    "requested": _l("已回拨,请记录是否联系上"),
    "ringing": _l("回拨振铃中"),
    "answered": _l("回拨已接通"),
    "completed": _l("已联系上"),
    "not_reached": _l("回拨未联系上,可再次回拨"),
    "refused": _l("回拨失败"),
    "uncertain": _l("回拨结果不明"),
}

#: A call-back placed whose outcome someone must record (or the phone system tell).
_AWAITING_OUTCOME = frozenset({"requested", "ringing", "uncertain"})


def missed_rows(session: Session) -> list[dict[str, Any]]:
    """The missed and abandoned calls to call back, with their last attempt.

    A call stays listed until its caller was reached. ``situation`` says what
    happened so far; ``awaiting_outcome`` asks the operator whether the last
    call-back reached the caller; ``may_call_back`` offers another one.
    """
    missed = calls.missed_calls(session)
    last = calls.last_attempts(session, [c.id for c in missed])
    rows = []
    for call in missed:
        attempt = last.get(call.id)
        status = str(attempt.status) if attempt is not None else None
        situation = _("未接通") if call.status == "missed" else _("来电人已挂断")
        if status is not None:
            situation += " · " + str(_ATTEMPT_WORDS.get(status, status))
        awaiting = status in _AWAITING_OUTCOME
        rows.append(
            {
                "id": call.id,
                "from": display(call.from_number) if call.from_number else call.from_raw,
                "withheld": not call.from_number,
                "status": str(call.status),
                "ringing_at": local_time(call.ringing_at),
                "situation": situation,
                "awaiting_outcome": awaiting,
                "may_call_back": bool(call.from_number)
                and status not in ("pending", "requested", "ringing"),
                "attempt": (
                    {"status": status, "error": attempt.error} if attempt is not None else None
                ),
            }
        )
    return rows
