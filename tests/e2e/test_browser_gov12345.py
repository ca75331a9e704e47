"""In a real browser: a 12345 order posted to the signed webhook appears on the
dispatcher's 12345 page, is signed for there and replied to from its case page;
the platform hears of both."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import expect

from hotline.domain.gov12345 import SIGNATURE_HEADER, ReportKind, signature
from hotline.services.gov12345_platform import RecordingPlatform
from tests.e2e.browser import log_in
from tests.integration.test_gov12345 import order_json

SECRET = "browser-12345-secret"


@pytest.mark.browser
def test_a_dispatcher_signs_for_and_replies_to_a_12345_order(live_server, page) -> None:
    wiring = live_server.app.extensions["hotline.gov12345"]
    wiring.secret = SECRET
    wiring.platform = platform = RecordingPlatform()
    raw = json.dumps(order_json(), ensure_ascii=False).encode("utf-8")
    answer = requests.post(
        f"{live_server.url}/api/gov12345/orders",
        data=raw,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature(SECRET, raw)},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    number = answer.json()["case_number"]

    log_in(page, live_server.url, "dispatcher")
    page.get_by_role("link", name="12345工单").click()
    row = page.locator("tr[data-order='GD20261126001']")
    expect(row).to_contain_text("待签收")
    with page.expect_navigation():
        row.get_by_role("button", name="签收12345工单").click()
    expect(page.locator("tr[data-order='GD20261126001']")).to_contain_text("已签收")

    page.get_by_role("link", name=number).click()
    section = page.locator("#gov12345-case")
    expect(section).to_contain_text("GD20261126001")
    reply = "经检测水质合格,已冲洗楼内管道,现已恢复正常。"
    section.locator("textarea[name=reply]").fill(reply)
    with page.expect_navigation():
        section.get_by_role("button", name="提交答复").click()
    expect(page.locator("#gov12345-public-reply")).to_contain_text(reply)
    assert [r.kind for r in platform.reports] == [ReportKind.RECEIPT, ReportKind.REPLY]
    assert platform.reports[1].text == reply
