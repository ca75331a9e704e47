"""One obvious way through a call, over HTTP: the console's view names the next action,
suggests the priority from the caller's words, fills the promise step from the case and
lists the steps done in the words said.

Rules checked here: P4 (the read-back still gates the case), P5 (the first judgement
is suggested and hands to dispatch), F11 (the case number and promised time are read
out from the case, never typed), F12 (a leak spilling water is suggested 紧急).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from hotline.models import Case
from tests.integration.callhelp import P4_FIELDS
from tests.integration.pagehelp import logged_in, text_of
from tests.integration.test_console import Console, _place_call

NIGHT_REPORT = "井盖冒水,水流很大"


@pytest.fixture
def console(client, app_org) -> Console:
    return Console(logged_in(client, "operator"))


def _answered(console: Console) -> int:
    call_id = _place_call(console.client)
    assert console.answer(call_id).status_code == 200
    return call_id


def _view(console: Console, call_id: int) -> dict[str, Any]:
    return console.client.get(f"/api/calls/{call_id}").get_json()


def _walk_leak_to_classify(console: Console, call_id: int) -> dict[str, Any]:
    console.ok(call_id, "complete")
    console.ok(call_id, "answer", answer="leak_report")
    console.ok(call_id, "complete")
    console.ok(call_id, "complete")
    for name, value in (
        ("problem", NIGHT_REPORT),
        ("need", P4_FIELDS["need"]),
        ("address", P4_FIELDS["address"]),
    ):
        console.ok(call_id, "capture", field=name, value=value)
        view = console.ok(call_id, "complete")
    return view


def _capture(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in view["script"]["current"]["captures"] if c["name"] == name)


def test_the_greeting_offers_what_the_caller_wants_as_its_answers(app, console):
    view = _view(console, _answered(console))

    current = view["script"]["current"]
    assert current["id"] == "greeting"
    assert {a["answer"] for a in current["then_answers"]} >= {"help", "leak_report", "enquiry"}
    assert view["script"]["next"] == {"kind": "choose"}


def test_f12_the_night_leak_report_is_suggested_as_an_emergency_and_goes_in_as_chosen(app, console):
    """F12: "井盖冒水,水流很大" is suggested 紧急 at the category step; the case gets
    what the operator confirmed, no longer 一般."""
    call_id = _answered(console)
    view = _walk_leak_to_classify(console, call_id)

    assert view["script"]["current"]["id"] == "classify"
    priority = _capture(view, "priority")
    assert priority["value"] == ""
    assert priority["suggested"]["value"] == "emergency"
    assert set(priority["suggested"]["words"]) == {"冒水", "水流很大"}
    assert priority["suggested"]["label"] == "紧急"

    # The console sends the pre-selected suggestion with the step.
    console.ok(call_id, "capture", field="priority", value=priority["suggested"]["value"])
    console.ok(call_id, "complete")
    console.ok(call_id, "confirm_read_back")
    console.ok(call_id, "complete")
    console.ok(call_id, "answer", answer="utility")
    console.ok(call_id, "complete")
    created = console.post(f"/api/calls/{call_id}/submit", {"outcome": "dispatch"})

    assert created.status_code == 200, created.get_json()
    with app.extensions["hotline"].sessions() as session:
        assert session.scalar(select(Case.priority)) == "emergency"


def test_a_category_is_suggested_when_no_answer_set_one(app, console):
    call_id = _answered(console)
    console.ok(call_id, "complete")
    console.ok(call_id, "answer", answer="enquiry")
    console.ok(call_id, "complete")
    for name, value in (
        ("problem", "想查一下这个月的水费"),
        ("need", "告知金额"),
        ("address", "汉槐街 1 号"),
    ):
        console.ok(call_id, "capture", field=name, value=value)
        view = console.ok(call_id, "complete")

    category = _capture(view, "category")
    assert category["suggested"]["value"] == "billing"
    assert category["suggested"]["words"] == ["水费"]


def test_p5_and_f11_from_the_read_back_to_the_promise_read_out(app, console):
    """P4: the read-back is the next action and still gates; P5: the suggested judgement
    leads to 立案并专报调度中心; F11: the promise step is filled from the case."""
    call_id = _answered(console)
    _walk_leak_to_classify(console, call_id)
    view = console.ok(call_id, "complete")
    assert view["script"]["current"]["id"] == "read_back"
    assert view["script"]["next"] == {"kind": "read_back"}
    # P4: the gate is the engine's: skipping the confirmation is refused.
    assert console.op(call_id, "complete").status_code == 422

    console.ok(call_id, "confirm_read_back")
    view = console.ok(call_id, "complete")
    assert view["script"]["current"]["id"] == "triage"
    assert view["script"]["next"] == {"kind": "answer", "answer": "utility"}

    view = console.ok(call_id, "answer", answer="utility")
    assert view["script"]["current"]["id"] == "hand_to_dispatch"
    assert view["script"]["next"] == {"kind": "hand_over", "outcome": "dispatch"}

    view = console.ok(call_id, "complete")
    current = view["script"]["current"]
    assert current["id"] == "promised_time"
    # Before the case exists: no empty box to type the number or the time into.
    assert [(c["name"], c["from_case"], c["value"]) for c in current["captures"]] == [
        ("case_number", True, ""),
        ("promised_time", True, ""),
    ]
    assert view["script"]["next"] == {"kind": "submit", "outcome": "dispatch"}

    created = console.post(f"/api/calls/{call_id}/submit", {"outcome": "dispatch"}).get_json()
    number = created["result"]["case_number"]
    current = created["script"]["current"]
    assert number in current["zh"] and created["result"]["promised_text"] in current["zh"]
    assert {c["name"]: c["value"] for c in current["captures"]}["case_number"] == number
    assert created["script"]["next"] == {"kind": "complete"}


def test_the_steps_done_are_listed_in_the_words_said_never_placeholders(app, console):
    call_id = _answered(console)
    _walk_leak_to_classify(console, call_id)
    console.ok(call_id, "complete")
    console.ok(call_id, "confirm_read_back")
    console.ok(call_id, "complete")
    console.ok(call_id, "answer", answer="utility")
    console.ok(call_id, "complete")
    created = console.post(f"/api/calls/{call_id}/submit", {"outcome": "dispatch"}).get_json()
    done = console.ok(call_id, "complete")["script"]["done"]

    words = " ".join(record["zh"] + record["en"] for record in done)
    assert not re.search(r"\{\w+\}", words), words
    read_back = next(r for r in done if r["step_id"] == "read_back")
    assert NIGHT_REPORT in read_back["zh"] and P4_FIELDS["address"] in read_back["zh"]
    promise = next(r for r in done if r["step_id"] == "promised_time")
    assert created["result"]["case_number"] in promise["zh"]
    assert "禹城市润禹水务有限公司" in done[0]["zh"]


def test_an_answer_on_the_call_is_recorded_before_the_closing(app, console):
    call_id = _answered(console)
    console.ok(call_id, "complete")
    console.ok(call_id, "answer", answer="enquiry")
    console.ok(call_id, "complete")
    for name, value in (("problem", "想查水费"), ("need", "告知金额"), ("address", "汉槐街 1 号")):
        console.ok(call_id, "capture", field=name, value=value)
        console.ok(call_id, "complete")
    console.ok(call_id, "capture", field="category", value="billing")
    console.ok(call_id, "complete")
    console.ok(call_id, "confirm_read_back")
    view = console.ok(call_id, "complete")
    assert view["script"]["next"] == {"kind": "answer", "answer": "not_a_repair"}
    view = console.ok(call_id, "answer", answer="not_a_repair")
    assert view["script"]["next"] == {"kind": "answer", "answer": "answered"}
    view = console.ok(call_id, "answer", answer="answered")

    assert view["script"]["current"]["id"] == "anything_else"
    assert view["script"]["next"] == {"kind": "submit", "outcome": "answer_on_call"}


def test_the_call_page_documents_its_keyboard_shortcuts(app, console):
    call_id = _answered(console)
    html = text_of(console.client.get(f"/console/calls/{call_id}"))

    assert 'id="shortcut-help"' in html
    for key in ("Alt</kbd>+<kbd>Enter", "Alt</kbd>+<kbd>R", "Alt</kbd>+<kbd>1"):
        assert key in html
    assert 'id="step-dispatch"' in html
    # The case number and promised time sit above the three columns.
    assert html.index('id="case-result"') < html.index('class="three-columns"')
