"""The console's one next action (its main button) from the script's state."""

from __future__ import annotations

from typing import Any

from callflows.web.viewmodels import next_action, pending_outcome


def _step(
    step_id: str,
    *,
    kind: str = "say",
    required: bool = True,
    captures: tuple[str, ...] = (),
    answers: tuple[str, ...] = (),
    then_answers: tuple[str, ...] = (),
    read_back: bool = False,
    next_captures: tuple[str, ...] = (),
    suggested_answer: str | None = None,
) -> dict[str, Any]:
    return {
        "id": step_id,
        "kind": kind,
        "required": required,
        "captures": [{"name": name} for name in captures],
        "answers": [{"answer": a} for a in answers],
        "then_answers": [{"answer": a} for a in then_answers],
        "read_back": read_back,
        "next_captures": list(next_captures),
        "suggested_answer": suggested_answer,
    }


def _script(step: dict[str, Any] | None, **fields: str) -> dict[str, Any]:
    return {"current": step, "fields": fields}


def _next(step: dict[str, Any] | None, *, live=True, mine=True, recorded=False, **fields: str):
    return next_action(_script(step, **fields), live=live, mine=mine, recorded=recorded)


def test_a_plain_step_is_completed_and_a_greeting_offers_the_callers_answers() -> None:
    assert _next(_step("apology")) == {"kind": "complete"}
    greeting = _step("greeting", kind="greeting", then_answers=("help", "leak_report"))
    assert _next(greeting) == {"kind": "choose"}


def test_p4_the_read_back_is_one_action() -> None:
    """P4: at the read-back the main button is the caller's confirmation (done in one)."""
    assert _next(_step("read_back", kind="read_back", read_back=True)) == {"kind": "read_back"}


def test_p5_the_suggested_judgement_is_the_main_button_and_only_one_it_offers() -> None:
    """P5: the first judgement is suggested; a suggestion not among the answers is ignored."""
    triage = _step("triage", kind="listen", answers=("utility", "undetermined"))
    assert _next({**triage, "suggested_answer": "utility"}) == {
        "kind": "answer",
        "answer": "utility",
    }
    assert _next({**triage, "suggested_answer": "no_such"}) == {"kind": "choose"}
    assert _next(triage) == {"kind": "choose"}


def test_p5_after_handing_to_dispatch_the_main_button_creates_the_case() -> None:
    """P5 (hand to the department by procedure): 立案并专报调度中心 follows the hand-over."""
    hand = _step("hand_to_dispatch", next_captures=("case_number", "promised_time"))
    assert _next(hand, triage="utility") == {"kind": "hand_over", "outcome": "dispatch"}
    assert _next(hand, triage="undetermined") == {"kind": "hand_over", "outcome": "dispatch"}


def test_f11_the_promise_step_waits_for_the_case_then_is_read_out() -> None:
    """F11: the promised time is read out only once the case exists."""
    promise = _step("promised_time", captures=("case_number", "promised_time"))
    assert _next(promise, disposition="case_created") == {"kind": "submit", "outcome": "dispatch"}
    assert _next(promise, recorded=True, disposition="case_created") == {"kind": "complete"}


def test_answered_and_transferred_calls_are_recorded_before_the_closing() -> None:
    anything = _step("anything_else", kind="ask", required=False)
    closing = _step("closing", kind="closing")
    assert _next(anything, disposition="answered") == {
        "kind": "submit",
        "outcome": "answer_on_call",
    }
    assert _next(closing, triage="out_of_scope") == {"kind": "submit", "outcome": "transfer"}
    assert _next(anything, recorded=True, disposition="answered") == {"kind": "complete"}
    # A required step still to say comes first.
    assert _next(_step("guide_by_phone"), triage="customer_side") == {"kind": "complete"}


def test_after_the_call_the_console_leads_home_or_records_the_call() -> None:
    assert _next(None, live=False, recorded=True) == {"kind": "home"}
    assert _next(None, live=False) == {"kind": "submit", "outcome": "no_case"}
    assert _next(_step("ask_problem"), live=False, triage="utility") == {
        "kind": "submit",
        "outcome": "dispatch",
    }


def test_a_call_someone_else_answered_offers_nothing() -> None:
    assert _next(_step("apology"), mine=False) == {"kind": "none"}
    assert next_action(None, live=True, mine=True, recorded=False) == {"kind": "none"}


def test_the_disposition_decides_over_the_first_judgement() -> None:
    assert pending_outcome({"triage": "not_a_repair"}) is None
    assert pending_outcome({"triage": "not_a_repair", "disposition": "joined_case"}) == "join"
    assert pending_outcome({"triage": "utility"}) == "dispatch"
    assert pending_outcome({}) is None
