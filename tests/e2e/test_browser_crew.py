"""In a real browser at a phone's width (390 px): the crew walks a case through
its steps from the crew page, the next step always first, the page keeping
its place, nothing wider than the screen; a hand-back lands on the list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hotline.domain.lifecycle import State
from tests.e2e.browser import log_in
from tests.support import bring_case_to

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(chromium):
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _no_horizontal_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"


@pytest.mark.browser
def test_a_crew_member_walks_a_case_from_the_crew_page_on_a_phone(live_server, phone) -> None:
    svc, org = live_server.app.extensions["hotline"], live_server.org
    for _ in range(2):  # cards above it, so the case worked is below the fold
        bring_case_to(svc, org, State.WORKER_ASSIGNED)
    number = bring_case_to(svc, org, State.WORKER_ASSIGNED, address="禹城市行政街 1 号")
    log_in(phone, live_server.url, "crew")
    phone.goto(f"{live_server.url}/crew")
    _no_horizontal_overflow(phone)
    card = phone.locator(f"#case-{number}")
    expect(card.locator("a[href^='tel:']")).to_have_attribute("href", "tel:+8613805341234")

    for step, label in (("acknowledge", "接单"), ("start_work", "出发处理"), ("arrive", "到场")):
        first = card.locator("form.crew-action").first
        expect(first).to_have_attribute("data-action", step)
        with phone.expect_navigation():
            first.get_by_role("button").click()
        assert phone.url.endswith(f"/crew#case-{number}")
        expect(phone.locator(".flash.success")).to_contain_text(f"工单 {number}:已{label}")
        expect(card).to_be_in_viewport()
        assert phone.evaluate("window.scrollY") > 0  # kept its place, not the top
        _no_horizontal_overflow(phone)

    done = card.locator("form.crew-action").first
    expect(done).to_have_attribute("data-action", "complete")
    done.locator("textarea[name=result_note]").fill("已更换阀门,恢复供水;请用户观察水表")
    done.locator("select[name=customer_rating]").select_option("5")
    with phone.expect_navigation():
        done.get_by_role("button").click()
    expect(phone.locator(".flash.success")).to_contain_text("已办结")
    expect(phone.locator(f"#case-{number}")).to_have_count(0)  # done: off the work list
    _no_horizontal_overflow(phone)


@pytest.mark.browser
def test_a_hand_back_on_a_phone_lands_on_the_list_with_a_confirmation(live_server, phone) -> None:
    svc, org = live_server.app.extensions["hotline"], live_server.org
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    log_in(phone, live_server.url, "crew")
    phone.goto(f"{live_server.url}/crew")
    card = phone.locator(f"#case-{number}")
    card.locator("summary").click()
    back = card.locator("form[data-action=return_work]")
    back.locator("input[name=reason]").fill("不属于本科室管辖")
    with phone.expect_navigation():
        back.get_by_role("button").click()
    assert phone.url.endswith("/crew")
    expect(phone.locator(".flash.success")).to_contain_text(f"已退单:工单 {number} 已交回调度中心")
    expect(phone.locator("h1")).to_contain_text("本科室工单")
    _no_horizontal_overflow(phone)
