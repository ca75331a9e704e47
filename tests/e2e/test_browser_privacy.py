"""In a real browser (W7): an administrator sees a case's caller masked, an operator
sees them whole, and the supervisor finds the operator's view in the access log
through the top bar.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hotline.domain.lifecycle import State
from tests.e2e.browser import log_in
from tests.support import bring_case_to


@pytest.mark.browser
def test_w7_admin_sees_masked_phone_operator_whole_supervisor_reads_the_log(
    live_server, new_page
) -> None:
    """W7: masked for the administrator, whole (and logged) for the operator."""
    svc = live_server.app.extensions["hotline"]
    number = bring_case_to(svc, live_server.org, State.WITH_DISPATCH)
    url = live_server.url

    admin = new_page()
    log_in(admin, url, "admin")
    admin.goto(f"{url}/cases/{number}")
    contact = admin.locator("dd.contact")
    expect(contact).to_have_text("孙** 138****1234")
    expect(admin.locator("dd.address")).to_have_text("禹城市汉槐街**")
    expect(admin.locator("body")).not_to_contain_text("138 0534 1234")
    expect(admin.locator("body")).not_to_contain_text("18 号")

    operator = new_page()
    log_in(operator, url, "operator")
    operator.goto(f"{url}/cases/{number}")
    expect(operator.locator("dd.contact")).to_have_text("孙先生 138 0534 1234")
    expect(operator.locator("dd.address")).to_have_text("禹城市汉槐街 18 号")

    supervisor = new_page()
    log_in(supervisor, url, "supervisor")
    supervisor.goto(f"{url}/supervisor")
    supervisor.get_by_role("link", name="个人信息查阅记录").click()
    expect(supervisor).to_have_url(f"{url}/access-log")
    row = supervisor.locator("#access-log tbody tr", has_text=number)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("工单详情")
    expect(row.locator("code")).to_have_text(f"/cases/{number}")
