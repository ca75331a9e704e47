"""The supervisor's figures page, its CSV and Excel downloads, and the wall
dashboard, on SQLite and PostgreSQL: calls and cases built through the
services give the same numbers on the page, in the CSV and in the XLSX;
downloads are safe against formula injection; only supervisors and
administrators may open them; a bad period is a 400 naming the field."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from callflows import services as calls
from dispatch.domain.figures import Figure
from dispatch.web.figures import safe_cell
from hotline import services
from hotline.domain.lifecycle import Action
from hotline.models import Staff
from hotline.services import IntakeOutcome
from tests.integration.callhelp import make_flows, ring
from tests.integration.pagehelp import logged_in
from tests.support import RATED, act, intake_command

DAY = "from=2026-11-26&to=2026-11-26"
#: What the data set below gives, counted by hand: (numerator, denominator).
EXPECTED = {
    Figure.ANSWERED: (2, 3),  # calls 1 and 2 answered, call 3 abandoned
    Figure.THREE_RINGS: (1, 2),  # call 1 in 5 s, call 2 in 20 s (limit 15 s)
    Figure.FOLLOW_UP: (2, 3),  # answered-on-call and two transfers; two followed up
    Figure.SATISFACTION: (1, 2),  # one satisfied, one dissatisfied
    Figure.FIRST_CONTACT: (1, 5),  # only the second contact from A settles with no repeat
    Figure.REPEAT_72H: (1, 5),  # A called again an hour later
}
INJECTED_NAME = "=SUM(1,2)"


@pytest.fixture
def data(app, app_org, clock):
    """Three calls and five contacts on Thursday 2026-11-26 (the fake clock's day)."""
    svc = app.extensions["hotline"]
    org = app_org
    flows = make_flows()
    first = ring(svc, flows, "13805340001", "SIM-1")
    clock.advance(seconds=5)
    calls.answer(svc, flows, org["operator"], first)
    calls.end_call(svc, flows, call_id=first, hung_up_by="caller")
    second = ring(svc, flows, "13805340002", "SIM-2")
    clock.advance(seconds=20)
    calls.answer(svc, flows, org["operator2"], second)
    calls.end_call(svc, flows, call_id=second, hung_up_by="caller")
    third = ring(svc, flows, "13805340003", "SIM-3")
    clock.advance(seconds=30)
    calls.end_call(svc, flows, call_id=third, hung_up_by="caller")

    answered = services.intake(
        svc,
        org["operator"],
        intake_command(IntakeOutcome.ANSWER_ON_CALL, caller_number="13805341111"),
    ).case_number
    dispatched = services.intake(
        svc, org["operator2"], intake_command(caller_number="13805342222")
    ).case_number
    business = org.departments["BUSINESS"]
    services.intake(
        svc,
        org["operator"],
        intake_command(
            IntakeOutcome.TRANSFER, caller_number="13805343333", target_department_id=business
        ),
    )
    unhappy = services.intake(
        svc,
        org["operator"],
        intake_command(
            IntakeOutcome.TRANSFER, caller_number="13805344444", target_department_id=business
        ),
    ).case_number
    clock.advance(minutes=5)
    act(svc, org["dispatcher"], dispatched, Action.ASSIGN, department_id=org.departments["REPAIR"])
    act(svc, org["operator"], answered, Action.CLOSE, outcome="satisfied", **RATED)
    act(svc, org["operator"], unhappy, Action.REOPEN, outcome="dissatisfied")
    clock.advance(hours=1)  # caller A again: a repeat within 72 hours
    services.intake(
        svc,
        org["operator"],
        intake_command(IntakeOutcome.NO_CASE, caller_number="13805341111", summary="询问缴费"),
    )
    clock.advance(hours=1)  # the leak's acknowledgement limit has passed: missed
    return org


# -- reading the three outputs -------------------------------------------------------------

_ROW = re.compile(r"<tr class=\"(row|detail|total)\"[^>]*>(.*?)</tr>", re.S)
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)


def page_rows(html: str, figure: Figure) -> list[list[str]]:
    """A figure's table on the page: each row's cells as text."""
    table = re.search(rf'<table [^>]*id="table-{figure}">(.*?)</table>', html, re.S)
    assert table, figure
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in _CELL.findall(row)]
        for _kind, row in _ROW.findall(table.group(1))
    ]


def _comparable(rows: list[list[object]]) -> list[tuple[str, ...]]:
    """Rows without the rate column, every cell as text (numbers as whole numbers)."""
    return [tuple(str(c) for c in row[:-1]) for row in rows]


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def xlsx_rows(body: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(body)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def total_of(rows: list[list[object]]) -> tuple[int, int]:
    last = rows[-1]
    return int(last[-3]), int(last[-2])


# -- tests ---------------------------------------------------------------------------------


def test_page_csv_and_xlsx_give_the_same_numbers(app, data) -> None:
    client = logged_in(app.test_client(), "supervisor")
    response = client.get(f"/figures?{DAY}&by=day")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('<svg class="chart"') == len(Figure)
    for figure in Figure:
        shown = page_rows(html, figure)
        csv_response = client.get(f"/figures/{figure}.csv?{DAY}&by=day")
        assert csv_response.status_code == 200
        assert csv_response.mimetype == "text/csv"
        assert "attachment" in csv_response.headers["Content-Disposition"]
        from_csv = csv_rows(csv_response.data)
        xlsx_response = client.get(f"/figures/{figure}.xlsx?{DAY}&by=day")
        assert xlsx_response.status_code == 200
        from_xlsx = xlsx_rows(xlsx_response.data)
        assert from_csv[0] == [str(c) for c in from_xlsx[0]]  # the same Chinese header
        assert "比率(%)" in from_csv[0]
        assert _comparable(from_csv[1:]) == _comparable(from_xlsx[1:]) == _comparable(shown)
        for row in from_xlsx[1:]:  # numbers stay numbers
            assert isinstance(row[-3], int) and isinstance(row[-2], int)
        if figure in EXPECTED:
            assert total_of(from_xlsx) == EXPECTED[figure], figure
            assert total_of(shown) == EXPECTED[figure]
    # the time-limit figures agree with the stage judgement of the time-limit API
    body = client.get(f"/api/figures/time-limits?{DAY}").json
    met = sum(c["met"] for c in body["categories"])
    judged = met + sum(c["missed"] for c in body["categories"])
    on_time = xlsx_rows(client.get(f"/figures/on_time.xlsx?{DAY}").data)
    assert total_of(on_time) == (met, judged) and judged >= 2 and 0 < met < judged


def test_the_chinese_headers_and_the_rate(app, data) -> None:
    client = logged_in(app.test_client(), "supervisor")
    rows = csv_rows(client.get(f"/figures/answered.csv?{DAY}").data)
    assert rows[0] == ["日期", "接通来电", "呼入来电", "比率(%)"]
    assert rows[1] == ["2026-11-26", "2", "3", "66.7"]
    assert rows[-1] == ["合计", "2", "3", "66.7"]
    xlsx = xlsx_rows(client.get(f"/figures/on_time.xlsx?{DAY}").data)
    assert xlsx[0] == ["日期", "环节", "按时完成环节", "已判定环节", "比率(%)"]


@pytest.mark.parametrize("grouping", ["week", "month", "operator", "department"])
def test_every_grouping_gives_the_same_totals(app, data, grouping) -> None:
    client = logged_in(app.test_client(), "supervisor")
    html = client.get(f"/figures?{DAY}&by={grouping}").get_data(as_text=True)
    for figure, expected in EXPECTED.items():
        assert total_of(page_rows(html, figure)) == expected, (grouping, figure)


def test_grouped_by_operator_the_unanswered_call_has_nobody(app, data) -> None:
    client = logged_in(app.test_client(), "supervisor")
    rows = csv_rows(client.get(f"/figures/answered.csv?{DAY}&by=operator").data)
    by_name = {row[0]: row[1:3] for row in rows[1:]}
    assert by_name["operator"] == ["1", "1"]
    assert by_name["operator2"] == ["1", "1"]
    assert by_name["未接通"] == ["0", "1"]


def test_downloads_neutralise_formulas(app, data) -> None:
    svc = app.extensions["hotline"]
    with svc.sessions() as session, session.begin():
        session.execute(
            update(Staff).where(Staff.username == "operator2").values(display_name=INJECTED_NAME)
        )
    client = logged_in(app.test_client(), "supervisor")
    rows = csv_rows(client.get(f"/figures/answered.csv?{DAY}&by=operator").data)
    names = [row[0] for row in rows]
    assert "'" + INJECTED_NAME in names and INJECTED_NAME not in names
    sheet = load_workbook(
        io.BytesIO(client.get(f"/figures/answered.xlsx?{DAY}&by=operator").data)
    ).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    injected = [c for c in cells if str(c.value).endswith(INJECTED_NAME)]
    assert [c.value for c in injected] == ["'" + INJECTED_NAME]
    assert injected[0].data_type == "s"
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert safe_cell(-3) == -3 and safe_cell(66.7) == 66.7 and safe_cell("王") == "王"


@pytest.mark.parametrize("username", ["operator", "dispatcher", "crew"])
def test_only_supervisors_and_administrators_open_the_figures(app, app_org, username) -> None:
    client = logged_in(app.test_client(), username)
    for path in ("/figures", "/figures/wall", "/figures/answered.csv", "/figures/on_time.xlsx"):
        assert client.get(path).status_code == 403, (username, path)


def test_administrators_and_supervisors_may(app, app_org) -> None:
    for username in ("admin", "supervisor"):
        client = logged_in(app.test_client(), username)
        for path in ("/figures", "/figures/wall", "/figures/answered.csv"):
            assert client.get(path).status_code == 200, (username, path)
    anonymous = app.test_client().get("/figures")
    assert anonymous.status_code in (302, 401)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-27&to=2026-11-26", "to"),
        ("from=2025-01-01&to=2026-11-26", "to"),
        ("from=26.11.2026", "from"),
        ("from=2026-02-30&to=2026-03-01", "from"),
        ("to=soon", "to"),
        ("by=year", "by"),
    ],
)
def test_a_bad_period_is_a_400_naming_the_field(app, app_org, query, field) -> None:
    client = logged_in(app.test_client(), "supervisor")
    page = client.get(f"/figures?{query}")
    assert page.status_code == 400
    assert f'data-field="{field}"' in page.get_data(as_text=True)
    for kind in ("csv", "xlsx"):
        download = client.get(f"/figures/answered.{kind}?{query}")
        assert download.status_code == 400
        assert f"{field}:" in download.get_data(as_text=True)


def test_an_unknown_table_is_404(app, app_org) -> None:
    client = logged_in(app.test_client(), "supervisor")
    assert client.get("/figures/nothing.csv").status_code == 404


def test_the_wall_shows_today_in_big_numbers_and_refreshes(app, data) -> None:
    client = logged_in(app.test_client(), "supervisor")
    html = client.get("/figures/wall").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="60">' in html
    tile = re.search(r'data-figure="answered">(.*?)</section>', html, re.S).group(1)
    assert '<div class="big">66.7%</div>' in tile
    assert '<span class="total-num">2</span> / <span class="total-den">3</span>' in tile


def test_the_supervisor_finds_the_page_in_the_top_bar(app, app_org) -> None:
    client = logged_in(app.test_client(), "supervisor")
    assert 'href="/figures"' in client.get("/supervisor").get_data(as_text=True)


def test_in_english_the_page_is_translated_and_the_downloads_stay_chinese(app, data) -> None:
    from tests.integration.pagehelp import csrf_token

    client = logged_in(app.test_client(), "supervisor")
    token = csrf_token(client, "/figures")
    assert client.post("/lang/en", data={"csrf_token": token, "next": "/figures"}).status_code < 400
    html = client.get(f"/figures?{DAY}&by=department").get_data(as_text=True)
    assert "Answer rate" in html and "By department" in html
    for figure, expected in EXPECTED.items():
        assert total_of(page_rows(html, figure)) == expected, figure
    rows = csv_rows(client.get(f"/figures/answered.csv?{DAY}&by=department").data)
    assert rows[0] == ["部门", "接通来电", "呼入来电", "比率(%)"]
