"""In a real browser at phone size: a resident reports from the official account's
form, sees the case number and checks it on the public status page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

CASE_NUMBER = re.compile(r"^RY-\d{8}-\d{4}$")


@pytest.mark.browser
def test_a_resident_reports_on_the_form_and_follows_the_status_link(live_server, new_page):
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/wechat/report")
    form = page.locator("#wechat-report")
    form.locator("input[name=name]").fill("王女士")
    form.locator("input[name=phone]").fill("13805341234")
    form.locator("input[name=address]").fill("禹城市汉槐街 18 号")
    form.locator("select[name=category]").select_option("leak")
    form.locator("textarea[name=problem]").fill("楼下井盖处冒水")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    result = page.locator("#wechat-report-result strong")
    expect(result).to_be_visible()
    number = result.inner_text().strip()
    assert CASE_NUMBER.match(number), number
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # fits the phone: no sideways scrolling

    with page.expect_navigation():
        page.locator("#status-link").click()
    page.locator("input[name=number]").fill(number)
    page.locator("input[name=phone_last4]").fill("1234")
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    expect(page.locator("#public-status-result")).to_contain_text("已受理")
