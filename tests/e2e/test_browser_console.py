"""In a real browser: a simulated call rings, an operator takes it on the console,
walks the script, confirms the read-back and reads out the case number (P3, P4,
F11); and without the read-back the case is refused (P4), on the server.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from hotline.models import Case
from tests.e2e.browser import log_in

CASE_NUMBER = re.compile(r"^RY-\d{8}-\d{4}$")
GREETING = "您好,这里是禹城市润禹水务有限公司,请问有什么可以帮您"


def _ring(new_page: Any, base_url: str) -> Any:
    """A caller rings the hotline from the simulator page (模拟来电)."""
    caller = new_page()
    log_in(caller, base_url, "crew")
    caller.goto(f"{base_url}/simulator")
    caller.fill("input[name=from]", "13805341234")
    with caller.expect_navigation():
        caller.click("#place-call")
    expect(caller.locator("#sim-status")).to_have_attribute("data-status", "ringing")
    return caller


def _take_the_call(page: Any, base_url: str) -> None:
    """The call pops up on the console; the operator answers it."""
    banner = page.locator("#incoming-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("138 0534 1234")
    with page.expect_navigation(url=re.compile(r"/console/calls/\d+$")):
        banner.locator(".incoming-answer").click()
    expect(page.locator("#step-text")).to_have_text(GREETING)


def _at(page: Any, step: str) -> None:
    expect(page.locator("#step-box")).to_have_attribute("data-step", step)


def _walk_to_read_back(page: Any) -> None:
    page.click("#step-complete")
    _at(page, "purpose")
    page.click("#step-answers button[data-answer=help]")
    _at(page, "apology")
    expect(page.locator("#step-text")).to_have_text("很抱歉,对您的用水造成不便")
    page.click("#step-complete")
    _at(page, "ask_name")
    expect(page.locator("#step-captures [data-field=contact_phone]")).to_have_value("138 0534 1234")
    page.fill("#step-captures [data-field=caller_name]", "孙")
    page.click("#step-complete")
    for step, value in (
        ("ask_problem", "汉槐街路边冒水"),
        ("ask_need", "派人维修"),
        ("ask_address", "禹城市汉槐街 18 号"),
    ):
        _at(page, step)
        field = step.removeprefix("ask_")
        page.fill(f"#step-captures [data-field={field}]", value)
        page.click("#step-complete")
    _at(page, "classify")
    page.select_option("#step-captures select[data-field=category]", "leak")
    page.click("#step-complete")
    _at(page, "read_back")
    # The intake form filled as the steps captured.
    expect(page.locator("#case-form [data-field=problem]")).to_have_value("汉槐街路边冒水")
    expect(page.locator("#read-back-items")).to_contain_text("禹城市汉槐街 18 号")


def _cases(live_server: Any) -> int:
    with live_server.app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


@pytest.mark.browser
def test_operator_takes_a_simulated_call_from_ring_to_case_number(
    live_server, page, new_page
) -> None:
    base = live_server.url
    log_in(page, base, "operator")
    page.click("#nav-console")
    expect(page).to_have_url(f"{base}/console")
    caller = _ring(new_page, base)

    _take_the_call(page, base)
    expect(caller.locator("#sim-status")).to_have_attribute("data-status", "in_progress")
    _walk_to_read_back(page)
    # P4 in one action: the caller's confirmation also finishes the read-back.
    expect(page.locator("#confirm-read-back")).to_have_class(re.compile(r"\bprimary\b"))
    page.click("#confirm-read-back")
    _at(page, "triage")
    expect(page.locator("#read-back-flag")).to_have_class(re.compile(r"\bok\b"))
    page.click("#step-answers button[data-answer=utility]")
    _at(page, "hand_to_dispatch")
    # P5: the hand-over line, then the case: 立案并专报调度中心 is the main button.
    dispatch = page.locator("#step-dispatch")
    expect(dispatch).to_have_class(re.compile(r"\bprimary\b"))
    expect(dispatch).to_be_focused()
    dispatch.click()
    _at(page, "promised_time")

    number_box = page.locator("#result-case-number")
    expect(number_box).to_be_visible()
    number = number_box.inner_text().strip()
    assert CASE_NUMBER.match(number), number
    expect(page.locator("#result-promised")).to_contain_text(re.compile(r"\d{2}-\d{2} \d{2}:\d{2}"))
    # The script now has the number to read to the caller (F11).
    expect(page.locator("#step-text")).to_contain_text(number)
    page.click("#step-complete")
    _at(page, "anything_else")
    page.click("#step-skip")
    _at(page, "closing")
    expect(page.locator("#step-text")).to_have_text("感谢您的来电,再见")
    expect(page.locator("#console-error")).to_be_hidden()
    assert _cases(live_server) == 1


@pytest.mark.browser
def test_creating_the_case_without_the_read_back_is_refused(live_server, page, new_page) -> None:
    base = live_server.url
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    _ring(new_page, base)
    _take_the_call(page, base)
    _walk_to_read_back(page)
    page.select_option("#case-form select[data-field=triage]", "utility")

    page.click("#submit-dispatch")

    error = page.locator("#console-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("P4")
    expect(error).to_contain_text("复述")
    expect(page.locator("#case-result")).to_be_hidden()
    expect(page.locator("#read-back-flag")).to_have_class(re.compile(r"\bpending\b"))
    assert _cases(live_server) == 0
