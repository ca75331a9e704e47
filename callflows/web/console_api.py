"""The console's JSON API under ``/api``: the live call, driven from the browser.

Each endpoint parses the request (:mod:`callflows.web.schemas`), calls one
function of :mod:`callflows.services` and answers with the call's whole
console view (:func:`callflows.web.viewmodels.call_view`), so the script
engine runs on the server and P4's read-back gate cannot be skipped from the
browser. Refusals are JSON naming the field (and the rule), never a 500.
They are flask-smorest views (``api_bp``, blueprint ``console_api``), so
they are in ``/api/openapi.json`` with their bodies and refusals, and like
every /api route they check the caller before the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, url_for

from callflows import services as calls
from callflows.domain.compliance import find_banned_phrases
from callflows.services import SubmitForm
from callflows.services.caller import search_customers
from callflows.services.flags import excerpt
from callflows.web.console import call_or_404, flows
from callflows.web.schemas import (
    AnsweredSchema,
    AttemptResultSchema,
    CallBackOutcomeSchema,
    CallBackSchema,
    CallViewSchema,
    ComplianceCheckSchema,
    ComplianceFlagsSchema,
    CustomerChoiceSchema,
    CustomerSearchArgs,
    CustomersSchema,
    IncomingSchema,
    ScriptOpSchema,
    SubmitSchema,
)
from callflows.web.viewmodels import call_view, missed_rows, waiting_rows
from hotline.domain.taxonomy import Role
from hotline.services import Actor, Invalid
from hotline.web import privacy
from hotline.web.api_base import ApiBlueprint, refusal, request_actor, rules
from hotline.web.i18n import local_time
from hotline.web.session import fresh_db_session, wiring

__all__ = ["api_bp"]

api_bp = ApiBlueprint(
    "console_api",
    __name__,
    url_prefix="/api",
    description="The live call on the operator console: answer, script, case, call-back. "
    "接线台:接听、话术、建单、回拨。",
)


def _view_response(call_id: int, actor: Actor, extra: Mapping[str, Any] | None = None) -> Any:
    session = fresh_db_session()
    body = call_view(session, call_or_404(session, call_id), actor)
    if extra:
        body.update(extra)
    return body


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
    return {"waiting": waiting_rows(session), "missed": missed_rows(session)}


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
    call = call_or_404(session, call_id)
    if call.answered_by_id != actor.id and actor.role != Role.SUPERVISOR:
        abort(403, description="another operator answered this call")
    privacy.log_view(actor.id, "call", str(call.id))  # W7: the caller is shown whole
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
    actor = _taker()
    found = search_customers(fresh_db_session(), args["q"])
    if found:  # W7: customers shown whole to the call taker, logged first
        privacy.log_view(actor.id, "customer", f"search {args['q']}")
    return {
        "customers": [
            {"account_number": c.account_number, "name": c.name, "address": c.address}
            for c in found
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
    ``pipe_size_dn`` runs from 15 to 3000; ``grade`` (F12) is 1, 2 or 3, and
    only for a graded category (a leak); ``area`` is a code of
    ``config/areas.toml`` (left empty, the address's area). Numbers may come as their digits
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
        grade=body["grade"],
        area=(body["area"] or "").strip(),
        customer_account=body["customer_account"] or "",
        answer=body["answer"] or "",
        target_department_id=body["target_department_id"],
        told_caller=body["told_caller"] or "",
        join_case_number=(body["join_case_number"] or "").strip(),
        summary=body["summary"] or "",
        article_id=body["article_id"],
        ask_answerer_id=body["ask_answerer_id"],
        question=body["question"] or "",
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
@refusal(api_bp, 409, "answered, caller reached, a call-back without outcome, or an uncertain one")
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


@api_bp.route("/calls/<id:call_id>/call-back/outcome", methods=["POST"])
@api_bp.arguments(CallBackOutcomeSchema)
@api_bp.response(200, AttemptResultSchema)
@refusal(api_bp, 400, "the body is not a JSON object")
@refusal(api_bp, 403, "your role does not take calls")
@refusal(api_bp, 404, "no such call")
@refusal(api_bp, 409, "no call-back is waiting for its outcome, or the caller was reached")
@refusal(api_bp, 422, "`reached` is missing or not true/false")
def call_back_outcome(body: dict[str, Any], call_id: int) -> Any:
    """Record whether the last call-back reached the caller.

    Reached: the missed call leaves the call-back list. Not reached: it stays,
    and the caller may be called back again.
    """
    actor = _taker()
    attempt = calls.record_call_back_outcome(
        wiring(), flows(), actor, call_id, reached=body["reached"]
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
