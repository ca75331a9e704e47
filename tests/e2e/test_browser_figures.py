"""In a real browser: a supervisor opens the figures page, sees each figure's
chart (inline SVG, under the app's Content-Security-Policy) with its table, and
downloads a table as CSV and as Excel that hold the page's numbers."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from callflows import services as calls
from hotline import services
from hotline.services import IntakeOutcome
from tests.e2e.browser import log_in
from tests.integration.callhelp import make_flows, ring
from tests.support import intake_command


def _seed(live_server) -> None:
    svc = live_server.app.extensions["hotline"]
    org = live_server.org
    flows = make_flows()
    answered = ring(svc, flows, "13805340001", "SIM-FIG-1")
    calls.answer(svc, flows, org["operator"], answered)
    calls.end_call(svc, flows, call_id=answered, hung_up_by="caller")
    missed = ring(svc, flows, "13805340002", "SIM-FIG-2")
    calls.end_call(svc, flows, call_id=missed, hung_up_by="caller")
    services.intake(
        svc,
        org["operator"],
        intake_command(IntakeOutcome.ANSWER_ON_CALL, caller_number="13805341111"),
    )
    services.intake(svc, org["operator"], intake_command(caller_number="13805342222"))


def _workbook(path):
    """The first sheet of a downloaded workbook (saved without its file extension)."""
    with open(path, "rb") as handle:
        return load_workbook(io.BytesIO(handle.read())).active


def _page_total(page, figure: str) -> tuple[int, int]:
    total = page.locator(f"#table-{figure} tr.total")
    return (
        int(total.locator("td[data-num]").get_attribute("data-num")),
        int(total.locator("td[data-den]").get_attribute("data-den")),
    )


@pytest.mark.browser
def test_a_supervisor_sees_the_charts_and_downloads_the_same_numbers(live_server, page) -> None:
    _seed(live_server)
    log_in(page, live_server.url, "supervisor")
    page.get_by_role("link", name="统计报表").click()
    expect(page.locator("h1")).to_have_text("统计报表")
    expect(page.locator("svg.chart")).to_have_count(7)
    expect(page.locator("#chart-answered rect.bar").first).to_be_attached()
    assert _page_total(page, "answered") == (1, 2)
    follow_up = _page_total(page, "follow_up")
    repeat = _page_total(page, "repeat_72h")

    section = page.locator("#figure-answered")
    with page.expect_download() as caught:
        section.locator("a.download-csv").click()
    download = caught.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), "rb") as handle:
        body = handle.read()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))
    assert rows[0] == ["日期", "接通来电", "呼入来电", "比率(%)"]
    assert rows[-1] == ["合计", "1", "2", "50.0"]

    with page.expect_download() as caught:
        page.locator("#figure-follow_up a.download-xlsx").click()
    sheet = _workbook(caught.value.path())
    last = [cell.value for cell in list(sheet.iter_rows())[-1]]
    assert (last[0], last[1], last[2]) == ("合计", *follow_up)

    with page.expect_download() as caught:
        page.locator("#figure-repeat_72h a.download-xlsx").click()
    last = [c.value for c in list(_workbook(caught.value.path()).iter_rows())[-1]]
    assert (last[1], last[2]) == repeat

    page.select_option("select[name=by]", "operator")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#table-answered tr.row")).to_have_count(2)  # the operator, nobody
    assert _page_total(page, "answered") == (1, 2)
