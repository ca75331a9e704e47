"""In a real browser: a caller hangs up before anyone answers; the operator
calls back from the console, is told the call-back went out, records that the
caller was not reached (the call stays listed), calls again and records that
the caller was reached (the call leaves the list), each time with a message
saying what happened."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import log_in
from tests.e2e.test_browser_console import _ring


@pytest.mark.browser
def test_a_call_back_is_listed_until_the_caller_is_reached(live_server, page, new_page) -> None:
    base = live_server.url
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    caller: Any = _ring(new_page, base)
    with caller.expect_navigation():
        caller.click("#hang-up")

    row = page.locator("#missed-calls tbody tr", has_text="138 0534 1234")
    expect(row).to_contain_text("来电人已挂断")
    row.locator(".call-back").click()
    done = page.locator("#console-done")
    expect(done).to_contain_text("已回拨")
    expect(row).to_contain_text("请记录是否联系上")
    expect(row.locator(".call-back")).to_have_count(0)

    row.locator(".call-back-not-reached").click()
    expect(done).to_contain_text("未联系上,该来电仍在待回拨列表中")
    expect(row).to_contain_text("回拨未联系上")

    row.locator(".call-back").click()
    expect(row.locator(".call-back-reached")).to_be_visible()
    row.locator(".call-back-reached").click()
    expect(done).to_contain_text("已联系上来电人")
    expect(page.locator("#missed-calls tbody tr", has_text="138 0534 1234")).to_have_count(0)
    expect(page.locator("#console-error")).to_be_hidden()


@pytest.mark.browser
def test_no_case_after_the_caller_hung_up_says_what_was_recorded(
    live_server, page, new_page
) -> None:
    from tests.e2e.test_browser_console import _take_the_call

    base = live_server.url
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    caller: Any = _ring(new_page, base)
    _take_the_call(page, base)
    with caller.expect_navigation():
        caller.click("#hang-up")

    page.fill("#case-form textarea[name=summary]", "来电询问停水时间,未说完即挂断")
    page.click("#submit-no-case")

    recorded = page.locator("#contact-recorded")
    expect(recorded).to_be_visible()
    expect(recorded).to_have_text("来电人已挂断;来电已记录,未立案。")
    expect(page.locator("#submit-no-case")).to_be_disabled()
    expect(page.locator("#console-error")).to_be_hidden()
