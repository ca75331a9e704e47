"""In a real browser: a call rings while the operator reads a case page (P1).

The banner reaches the operator outside the console, with the caller's number
and the time rung against the three-ring limit, and the tab title flashes;
answering from the case page opens the console on that call, which then
walks to a case number. Muting the tone is kept across pages. People who do
not take calls see no banner.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from hotline.domain.lifecycle import State
from tests.e2e.browser import log_in
from tests.e2e.test_browser_console import CASE_NUMBER, _ring, _walk_to_read_back
from tests.support import bring_case_to


def _a_case_page(live_server: Any, page: Any) -> str:
    number = bring_case_to(
        live_server.app.extensions["hotline"], live_server.org, State.WITH_DISPATCH
    )
    log_in(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/cases/{number}")
    expect(page.locator("#ring-banner")).to_be_hidden()
    return number


@pytest.mark.browser
def test_a_call_rings_on_a_case_page_and_is_answered_from_there(
    live_server, page, new_page
) -> None:
    base = live_server.url
    number = _a_case_page(live_server, page)
    title = page.title()

    _ring(new_page, base)

    banner = page.locator("#ring-banner")
    expect(banner).to_be_visible()
    expect(banner.locator(".ring-from")).to_have_text("138 0534 1234")
    expect(banner.locator(".ring-time")).to_contain_text(re.compile(r"已响铃 \d+ 秒"))
    # The tab title flashes between the page's title and the call.
    expect(page).to_have_title(re.compile(r"^来电!"), timeout=3000)
    assert page.url.endswith(f"/cases/{number}")

    with page.expect_navigation(url=re.compile(r"/console/calls/\d+$")):
        banner.locator(".ring-answer").click()
    # Answered: the console is on the call's script, and nothing rings any more.
    expect(page.locator("#step-box")).to_have_attribute("data-step", "greeting")
    expect(page.locator("#ring-banner")).to_be_hidden()
    expect(page).not_to_have_title(re.compile(r"^来电!"))
    assert title

    _walk_to_read_back(page)
    page.click("#confirm-read-back")  # confirmed and done in one action
    page.click("#step-answers button[data-answer=utility]")
    page.click("#step-dispatch")  # the hand-over line said, the case created
    expect(page.locator("#result-case-number")).to_have_text(CASE_NUMBER)


@pytest.mark.browser
def test_the_banner_counts_past_the_three_ring_limit_and_mute_is_kept(
    live_server, page, new_page
) -> None:
    base = live_server.url
    _a_case_page(live_server, page)
    _ring(new_page, base)
    banner = page.locator("#ring-banner")
    expect(banner).to_be_visible()
    mute = banner.locator(".ring-mute")
    expect(mute).to_have_attribute("aria-pressed", "false")
    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "true")

    # The limit is 15 s by default; the mark turns once the call has rung longer.
    expect(banner.locator(".ring-time")).to_have_class(re.compile(r"\bover\b"), timeout=20000)
    expect(banner.locator(".ring-time")).to_contain_text("已超过三声响铃时限")

    page.goto(f"{base}/operator")
    expect(page.locator("#ring-banner")).to_be_visible()
    expect(page.locator("#ring-banner .ring-mute")).to_have_attribute("aria-pressed", "true")


@pytest.mark.browser
def test_a_call_answered_elsewhere_leaves_the_banner(live_server, page, new_page) -> None:
    base = live_server.url
    _a_case_page(live_server, page)
    _ring(new_page, base)
    expect(page.locator("#ring-banner")).to_be_visible()

    other = new_page()
    log_in(other, base, "supervisor")
    other_banner = other.locator("#ring-banner")
    expect(other_banner).to_be_visible()
    with other.expect_navigation(url=re.compile(r"/console/calls/\d+$")):
        other_banner.locator(".ring-answer").click()

    expect(page.locator("#ring-banner")).to_be_hidden()


@pytest.mark.browser
def test_people_who_do_not_take_calls_get_no_banner(live_server, page, new_page) -> None:
    base = live_server.url
    _ring(new_page, base)
    log_in(page, base, "dispatcher")
    page.goto(f"{base}/dispatch")
    expect(page.locator("#ring-banner")).to_have_count(0)
