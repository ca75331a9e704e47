"""In a real browser: an operator takes a call and opens a case; the dispatcher
sees it waiting in the dispatch queue."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import log_in

CASE_NUMBER = re.compile(r"^RY-\d{8}-\d{4}$")


def _fill_contact_form(page) -> None:
    form = page.locator("#intake-form")
    form.locator("select[name=channel]").select_option("phone")
    form.locator("input[name=caller_number]").fill("13805341234")
    form.locator("input[name=contact_name]").fill("孙先生")
    form.locator("input[name=contact_phone]").fill("13805341234")
    form.locator("select[name=category]").select_option("leak")
    form.locator("select[name=priority]").select_option("normal")
    form.locator("textarea[name=problem]").fill("汉槐街路边冒水")
    form.locator("textarea[name=need]").fill("派人维修")
    form.locator("input[name=address]").fill("禹城市汉槐街 18 号")
    form.locator("select[name=triage]").select_option("utility")
    form.locator("input[name=read_back_confirmed]").check()
    form.locator("input[name=outcome][value=dispatch]").check()


@pytest.mark.browser
def test_operator_opens_case_and_dispatcher_sees_it_in_queue(live_server, page, new_page) -> None:
    log_in(page, live_server.url, "operator")
    expect(page).to_have_url(f"{live_server.url}/console")  # the operator's home
    page.locator("nav a", has_text="表单登记").click()
    expect(page).to_have_url(f"{live_server.url}/operator")
    expect(page.locator("#intake-form")).to_be_visible()

    _fill_contact_form(page)
    with page.expect_navigation():
        page.locator("#intake-form button[type=submit]").click()

    case_number = page.locator("#case-number")
    expect(case_number).to_be_visible()
    number = case_number.inner_text().strip()
    assert CASE_NUMBER.match(number), number
    expect(page).to_have_url(re.compile(rf"/cases/{number}\?created=1$"))
    font_size = float(case_number.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    body_size = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    assert font_size >= 1.5 * body_size, (font_size, body_size)
    expect(page.locator("#promised-at")).to_be_visible()
    expect(page.locator("#promised-at")).to_contain_text(
        re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
    )

    dispatcher = new_page()
    log_in(dispatcher, live_server.url, "dispatcher")
    expect(dispatcher).to_have_url(f"{live_server.url}/dispatch")
    queue = dispatcher.locator("section", has=dispatcher.locator("h2", has_text="待派单"))
    expect(queue.get_by_role("link", name=number)).to_be_visible()
    expect(queue).to_contain_text("禹城市汉槐街**")  # W7: cards show the street only
