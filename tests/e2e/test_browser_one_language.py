"""In a real browser, pages speak one language at a time.

The standard's wording is shown as written (P3); in Chinese mode its English
line stays hidden until the operator asks for it, and a refusal for the P4
items names them in Chinese, not in the server's English. A live notice
names the action in the page language.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.browser import log_in
from tests.e2e.test_browser_console import GREETING, _ring, _take_the_call
from tests.support import LEAK_REPORT


@pytest.mark.browser
def test_the_english_line_shows_only_on_demand_in_chinese_mode(live_server, page, new_page) -> None:
    """P3: the greeting as written; its English only after 显示英文对照."""
    base = live_server.url
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    _ring(new_page, base)
    _take_the_call(page, base)

    expect(page.locator("#step-text")).to_have_text(GREETING)
    english = page.locator("#step-text-en")
    expect(english).to_be_hidden()

    page.click("#toggle-english")
    expect(english).to_be_visible()
    expect(english).to_contain_text("How may I help you")
    expect(page.locator("#toggle-english")).to_have_attribute("aria-pressed", "true")

    page.click("#toggle-english")
    expect(english).to_be_hidden()


@pytest.mark.browser
def test_the_p4_refusal_names_what_is_missing_in_chinese(live_server, page, new_page) -> None:
    """P4: submitting before problem, need and address are recorded is refused, in Chinese."""
    base = live_server.url
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    _ring(new_page, base)
    _take_the_call(page, base)
    page.select_option("#case-form select[data-field=triage]", "utility")

    page.click("#submit-dispatch")

    error = page.locator("#console-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("P4")
    expect(error).to_contain_text("尚未记录")
    expect(error).to_contain_text("问题")
    expect(error).not_to_contain_text("not captured")
    expect(error).not_to_contain_text("problem")


def _intake(live_server) -> str:
    response = requests.post(
        live_server.url + "/api/contacts",
        headers={"Authorization": f"Bearer {live_server.org.tokens['operator']}"},
        json=LEAK_REPORT,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["case_number"]


@pytest.mark.browser
@pytest.mark.parametrize(
    ("switch", "word", "code"), [(False, "登记", "register"), (True, "Register", "register")]
)
def test_a_live_notice_names_the_action_in_the_page_language(
    live_server, page, switch, word, code
) -> None:
    """A case registered elsewhere shows as a notice naming 「登记」, not ``register``."""
    base = live_server.url
    log_in(page, base, "dispatcher")
    page.goto(f"{base}/dispatch")
    if switch:
        with page.expect_navigation():
            page.click("form.lang button")
    expect(page.locator("#live-dot.on")).to_be_attached()

    number = _intake(live_server)

    notice = page.locator("#live-notices li a").first
    expect(notice).to_contain_text(number)
    expect(notice).to_contain_text(word)
    expect(notice).not_to_contain_text(f"· {code}")
