"""In a real browser: a case an operator creates at the console appears on a
dispatcher's open board without a reload (the intake path of a phone call,
from the simulator's ring to the board)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import log_in
from tests.e2e.test_browser_console import CASE_NUMBER, _ring, _take_the_call, _walk_to_read_back


@pytest.mark.browser
def test_a_case_created_at_the_console_appears_on_an_open_board(
    live_server, page, new_page
) -> None:
    base = live_server.url
    board = new_page()
    log_in(board, base, "dispatcher")
    board.goto(f"{base}/dispatch")
    expect(board.locator("#live-dot.on")).to_be_attached()
    board.evaluate("window.boardNotReloaded = true")

    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    _ring(new_page, base)
    _take_the_call(page, base)
    _walk_to_read_back(page)
    page.click("#confirm-read-back")  # confirmed and done in one action (P4)
    page.click("#step-answers button[data-answer=utility]")
    page.click("#step-dispatch")  # the hand-over line said, the case created (P5)
    number_box = page.locator("#result-case-number")
    expect(number_box).to_have_text(CASE_NUMBER)
    number = number_box.inner_text().strip()

    card = board.locator(f"[data-cards=queue] .card[data-case='{number}']")
    expect(card).to_be_visible()
    expect(card).to_contain_text("禹城市汉槐街**")  # W7: cards show the street only
    assert board.evaluate("window.boardNotReloaded") is True
