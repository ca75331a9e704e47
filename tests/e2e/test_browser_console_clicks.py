"""In a real browser: one obvious way through a call on the console.

The leak report is walked as ``bench/console_clicks.py`` walks it, counting the
clicks and keystrokes this test really makes, and held to its budget; at every
step exactly one control is the main one and the cursor is on it (or in the
step's first empty box). The case number and promised time sit at the top of the
page, the steps done read as said, the priority suggested from the caller's
words goes into the case, and the shortcuts walk a whole call with one click.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bench.console_clicks import CALLS, LEAK_CLICK_BUDGET, Operator, walk_call
from hotline.models import Case
from tests.e2e.browser import log_in

LEAK = next(walk for walk in CALLS if walk.key == "leak")
COMPLAINT = next(walk for walk in CALLS if walk.key == "complaint")

#: Where the cursor is, and whether it is on the one main control.
FOCUS = """() => {
  const root = document.getElementById('call-console');
  const mains = root.querySelectorAll('.primary');
  const active = document.activeElement;
  return {
    mains: mains.length,
    onMain: mains.length === 1 && active === mains[0],
    inStepBox: !!active.closest('#step-captures') && /^(INPUT|TEXTAREA)$/.test(active.tagName),
    inAnswer: active.name === 'answer',
    onChoice: !!active.closest('#step-answers'),
    next: root.dataset.next,
  };
}"""


def _people(new_page: Any, base: str) -> tuple[Any, Any]:
    operator = new_page()
    log_in(operator, base, "operator")
    caller = new_page()
    log_in(caller, base, "crew")
    return operator, caller


def _cases(live_server: Any) -> list[tuple[str, str]]:
    with live_server.app.extensions["hotline"].sessions() as session:
        return [(str(c), str(p)) for c, p in session.execute(select(Case.category, Case.priority))]


@pytest.mark.browser
def test_f12_the_leak_report_takes_at_most_ten_clicks_with_the_cursor_on_the_next_action(
    live_server, new_page
) -> None:
    """F12 and P4, P5: a leak report from the ring to the closing in at most 10 real
    clicks (answering included); after every step one main control has the focus;
    "井盖冒水,水流很大" goes in as 紧急."""
    page, caller = _people(new_page, live_server.url)
    operator = Operator(page)
    seen: list[dict[str, Any]] = []

    def check_focus(hands: Operator) -> None:
        state = hands.page.evaluate(FOCUS)
        seen.append(state)
        assert state["mains"] <= 1, state
        if state["next"] not in ("none", "choose"):
            assert state["mains"] == 1, state
        assert state["onMain"] or state["inStepBox"] or state["inAnswer"] or state["onChoice"], (
            state
        )

    tally = walk_call(operator, caller, live_server.url, LEAK, on_step=check_focus)

    assert tally.clicks <= LEAK_CLICK_BUDGET, tally
    # The clicks counted are the clicks made: one per mouse act, plus answering.
    mouse_acts = sum(1 for act in LEAK.acts if act.kind in ("main", "choose"))
    assert tally.clicks == mouse_acts + 1
    assert tally.keystrokes == sum(len(a.arg) for a in LEAK.acts if a.kind == "type") + sum(
        1 for a in LEAK.acts if a.kind == "enter"
    )
    assert _cases(live_server) == [("leak", "emergency")]
    # Typed steps had the cursor in their box, the rest on the main button.
    assert any(s["inStepBox"] for s in seen) and any(s["onMain"] for s in seen)

    # The case number and the promise are at the top of the page, not far below.
    number = page.locator("#result-case-number")
    expect(number).to_have_text(re.compile(r"^RY-\d{8}-\d{4}$"))
    # Beijing time as the product shows it: 11-26 14:05.
    expect(page.locator("#result-promised")).to_have_text(
        re.compile(r"^承诺时限 \d{2}-\d{2} \d{2}:\d{2}$")
    )
    assert (
        page.evaluate(
            "() => document.getElementById('result-case-number').getBoundingClientRect().top"
        )
        < 250
    )
    # The steps done read as said: the read-back with the caller's words, no {placeholders}.
    done = page.locator("#done-steps").inner_text()
    assert "{" not in done, done
    assert "井盖冒水,水流很大" in done
    assert number.inner_text() in done


@pytest.mark.browser
def test_the_script_never_shows_empty_boxes_for_the_case_number_before_the_case(
    live_server, new_page
) -> None:
    """F11: the promise step shows where the number will come from, not a box to type it."""
    page, caller = _people(new_page, live_server.url)
    operator = Operator(page)
    # Walk the leak up to (not including) 立案并专报调度中心.
    stop = len(LEAK.acts) - 4
    page.goto(f"{live_server.url}/console")
    from bench.console_clicks import ring

    ring(caller, live_server.url)
    operator.answer_ringing_call()
    for act in LEAK.acts[:stop]:
        operator.do(act)
    expect(page.locator("#step-box")).to_have_attribute("data-step", "hand_to_dispatch")
    page.locator("#step-complete").click()  # the hand-over said, the case not yet created
    operator.settle()

    expect(page.locator("#step-box")).to_have_attribute("data-step", "promised_time")
    assert page.locator("#step-captures input, #step-captures textarea").count() == 0
    expect(page.locator("#step-captures [data-from-case=case_number]")).to_contain_text(
        "立案后自动填入"
    )
    expect(page.locator("#step-complete")).to_be_hidden()
    main = page.locator("#submit-dispatch")
    expect(main).to_have_class(re.compile(r"\bprimary\b"))
    expect(main).to_be_focused()

    main.click()
    operator.settle()
    number = page.locator("#result-case-number").inner_text()
    expect(page.locator("#step-captures [data-from-case=case_number]")).to_contain_text(number)
    expect(page.locator("#step-text")).to_contain_text(number)


@pytest.mark.browser
def test_the_keyboard_shortcuts_walk_a_complaint_with_one_click(live_server, new_page) -> None:
    """G6 and P3: a complaint goes to dispatch, walked with Alt+Enter and Alt+digits only."""
    page, caller = _people(new_page, live_server.url)
    operator = Operator(page, keyboard=True)

    tally = walk_call(operator, caller, live_server.url, COMPLAINT)

    assert tally.clicks == 1  # answering the ringing call
    assert _cases(live_server) == [("complaint", "normal")]


@pytest.mark.browser
def test_the_shortcuts_are_listed_in_a_help_popover(live_server, new_page) -> None:
    page, caller = _people(new_page, live_server.url)
    page.goto(f"{live_server.url}/console")
    from bench.console_clicks import ring

    ring(caller, live_server.url)
    Operator(page).answer_ringing_call()
    help_list = page.locator("#shortcut-help .shortcut-list")
    expect(help_list).to_be_hidden()

    page.keyboard.press("Alt+H")

    expect(help_list).to_be_visible()
    expect(help_list).to_contain_text("Alt+R")
    expect(help_list).to_contain_text("来电人确认无误")
    page.keyboard.press("Alt+H")
    expect(help_list).to_be_hidden()
