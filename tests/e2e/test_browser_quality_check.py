"""In a real browser: a supervisor filters the call log by day and operator,
opens a call (its steps in words, its compliance score, no recording for a
simulated call), scores it on the quality-check form and sees the saved check.

Rules checked here: G1, P3, P4 (the form's items), P1 (the measured ring item).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from callflows import services as calls
from tests.e2e.browser import log_in
from tests.integration.callhelp import make_flows, op, ring


def _seed(live_server) -> tuple[int, int]:
    """One call answered by each operator; the first says its greeting."""
    svc = live_server.app.extensions["hotline"]
    org = live_server.org
    flows = make_flows()
    mine = ring(svc, flows, "13805340001", "SIM-QC-1")
    calls.answer(svc, flows, org["operator"], mine)
    op(svc, flows, org["operator"], mine, "complete")  # the greeting
    calls.end_call(svc, flows, call_id=mine, hung_up_by="caller")
    other = ring(svc, flows, "13805340002", "SIM-QC-2")
    calls.answer(svc, flows, org["operator2"], other)
    calls.end_call(svc, flows, call_id=other, hung_up_by="caller")
    return mine, other


@pytest.mark.browser
def test_a_supervisor_filters_the_log_opens_a_call_and_saves_a_quality_check(
    live_server, page
) -> None:
    mine, other = _seed(live_server)
    svc = live_server.app.extensions["hotline"]
    today = svc.now().astimezone(svc.timezone).date().isoformat()
    log_in(page, live_server.url, "supervisor")

    page.get_by_role("link", name="通话记录").first.click()
    expect(page.locator("#call-log tbody tr")).to_have_count(2)
    form = page.locator("#call-log-filters")
    form.locator("input[name=from]").fill(today)
    form.locator("input[name=to]").fill(today)
    form.locator("select[name=operator]").select_option(str(live_server.org["operator"].id))
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    rows = page.locator("#call-log tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("a").first).to_have_attribute("href", f"/calls/{mine}")

    with page.expect_navigation():
        rows.first.locator("a").first.click()
    expect(page.locator("#compliance-steps")).to_contain_text("您好,这里是")
    expect(page.locator("#no-recording")).to_have_text("模拟来电没有录音")
    expect(page.locator("#compliance-score")).not_to_have_text("—")

    with page.expect_navigation():
        page.locator("#quality-check-link").click()
    expect(page.locator("#measured-three_rings")).to_have_text("15")  # answered at once (P1)
    page.fill("input[name='points.manners']", "18")
    page.fill("input[name='points.greeting_closing']", "25")
    page.fill("input[name='points.registration']", "20")
    page.fill("input[name='points.read_back']", "10")
    page.fill("textarea[name=comment]", "问候规范,复述不完整")
    with page.expect_navigation():
        page.get_by_role("button", name="保存质检").click()

    expect(page.locator("#quality-checks")).to_contain_text("88 / 100")  # 18+25+20+10+15
    expect(page.locator("#quality-checks")).to_contain_text("问候规范,复述不完整")
    assert other != mine
