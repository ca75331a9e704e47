"""In a real browser: an operator takes the next outbound task (a case's
follow-up), runs the follow-up script step by step, records the customer
dissatisfied with their words, and the case is back with dispatch (P7)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hotline.domain.lifecycle import State
from tests.e2e.browser import log_in
from tests.support import bring_case_to


def _answer(page, answer: str) -> None:
    with page.expect_navigation():
        page.click(f"#script-step button[data-answer={answer}]")


def _next_step(page) -> None:
    with page.expect_navigation():
        page.click("#step-done")


@pytest.mark.browser
def test_a_dissatisfied_follow_up_puts_the_case_back_with_dispatch(live_server, page) -> None:
    """P7: rated once from the script; dissatisfied reopens the case to dispatch."""
    base = live_server.url
    number = bring_case_to(
        live_server.app.extensions["hotline"], live_server.org, State.AWAITING_FOLLOW_UP
    )
    log_in(page, base, "operator")
    page.goto(f"{base}/")
    with page.expect_navigation():
        page.click("#outbound-link a")
    expect(page.locator("#task-queue")).to_contain_text(number)
    with page.expect_navigation():
        page.click("#next-task")
    expect(page.locator("#task-case")).to_have_text(number)
    expect(page.locator("#script-step")).to_contain_text("拨打来电人留下的联系电话")

    _answer(page, "answered")
    expect(page.locator("#script-step")).to_contain_text(
        "路边冒水"
    )  # the case's problem, in the greeting
    _answer(page, "confirmed")
    _next_step(page)
    for rating in ("satisfied", "satisfied", "basically_satisfied", "dissatisfied"):
        _answer(page, rating)
    page.fill("textarea[data-capture=follow_up_comment]", "修完第二天又漏了")
    with page.expect_navigation():
        page.click("form.capture button[type=submit]")
    _next_step(page)
    _answer(page, "dissatisfied")
    expect(page.locator("#script-step")).to_contain_text("很抱歉没有让您满意")
    _next_step(page)
    _next_step(page)
    expect(page.locator("#script-ended")).to_be_visible()
    with page.expect_navigation():
        page.click("#finish-follow-up button")
    expect(page.locator(".flash.error")).to_have_count(0)
    expect(page.locator("#task-state")).to_have_attribute("data-state", "done")

    with page.expect_navigation():
        page.click("#task-case")
    expect(page.locator("h1 small")).to_have_text("已重启")
    expect(page.locator("body")).to_contain_text("修完第二天又漏了")
