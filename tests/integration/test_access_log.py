"""W7: personal data masked for the roles without the need, and the append-only access log.

An operator sees a case's caller whole (and the view is logged, who, what,
path, address); an administrator sees it masked everywhere (case page, case
API, customer API) and may not open the console or the call log. A view that
cannot be logged is refused with 503 and shows nothing (fail closed). The
database refuses to change or delete a log row. Supervisors read the log on
``/access-log`` with validated filters and pages.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from callflows import services as calls
from callflows.models import Provider
from hotline.domain.lifecycle import State
from hotline.models import AccessLog
from hotline.services import access_log
from tests.integration.pagehelp import logged_in, text_of
from tests.support import bring_case_to

WHOLE_PHONE, MASKED_PHONE = "138 0534 1234", "138****1234"
WHOLE_ADDRESS, MASKED_ADDRESS = "禹城市汉槐街 18 号", "禹城市汉槐街**"
WHOLE_NAME, MASKED_NAME = "孙先生", "孙**"


def _rows(app: Any) -> list[AccessLog]:
    with app.extensions["hotline"].sessions() as session:
        return list(session.scalars(select(AccessLog).order_by(AccessLog.id)))


def _bearer(org: Any, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[username]}"}


def _json_text(response: Any) -> str:
    return json.dumps(response.get_json(), ensure_ascii=False)


# -- the case page and the case API ------------------------------------------------------


def test_w7_operator_sees_the_case_whole_and_the_view_is_logged(app, app_org, client) -> None:
    """W7: a role that calls the customer sees them whole; the view is logged first."""
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    page = text_of(logged_in(client, "operator").get(f"/cases/{number}"))
    assert WHOLE_PHONE in page and WHOLE_ADDRESS in page and WHOLE_NAME in page
    assert MASKED_PHONE not in page
    [row] = _rows(app)
    assert (row.staff_id, row.kind, row.ref) == (app_org["operator"].id, "case", number)
    assert row.path == f"/cases/{number}"
    assert row.client == "127.0.0.1"
    assert row.at is not None


def test_w7_admin_sees_the_case_page_masked_and_nothing_is_logged(app, app_org, client) -> None:
    """W7: an administrator has no need: phone, address and name are masked."""
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    page = text_of(logged_in(client, "admin").get(f"/cases/{number}"))
    assert MASKED_PHONE in page and MASKED_ADDRESS in page and MASKED_NAME in page
    for whole in (WHOLE_PHONE, "13805341234", "18 号", WHOLE_NAME):
        assert whole not in page
    assert _rows(app) == []


def test_w7_case_api_whole_for_operator_masked_for_admin(app, app_org, client) -> None:
    """W7: GET /api/cases/<number> is whole (and logged) for an operator, masked for an admin."""
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    mine = client.get(f"/api/cases/{number}", headers=_bearer(app_org, "operator")).get_json()
    assert mine["contact_phone"] == "+8613805341234"
    assert mine["address"] == WHOLE_ADDRESS and mine["contact_name"] == WHOLE_NAME
    assert [(r.kind, r.ref, r.path) for r in _rows(app)] == [
        ("case", number, f"/api/cases/{number}")
    ]

    admin = client.get(f"/api/cases/{number}", headers=_bearer(app_org, "admin"))
    assert admin.status_code == 200
    body = admin.get_json()
    assert body["contact_phone"] == MASKED_PHONE
    assert body["address"] == MASKED_ADDRESS and body["contact_name"] == MASKED_NAME
    assert body["number"] == number and body["problem"]  # the rest of the case is there
    assert len(_rows(app)) == 1  # the masked view wrote nothing


def test_w7_case_lists_are_masked_for_everyone(app, app_org, client) -> None:
    """W7: a list never shows personal data whole, so listing writes no log row."""
    bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    for username in ("operator", "admin"):
        listed = client.get("/api/cases", headers=_bearer(app_org, username)).get_json()
        assert listed["items"], username
        item = listed["items"][0]
        assert item["contact_phone"] == MASKED_PHONE and item["address"] == MASKED_ADDRESS
    html = text_of(logged_in(client, "supervisor").get("/supervisor"))
    assert MASKED_ADDRESS in html and WHOLE_ADDRESS not in html
    assert _rows(app) == []


def test_w7_the_board_drawer_is_whole_and_logged_the_card_masked(app, app_org, client) -> None:
    """W7: the dispatcher's opened card (drawer) is whole and logged; the card is masked."""
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    card = client.get(f"/dispatch/cards/{number}").get_json()["html"]
    assert MASKED_ADDRESS in card and WHOLE_ADDRESS not in card
    assert _rows(app) == []
    drawer = text_of(client.get(f"/dispatch/cards/{number}/detail"))
    assert WHOLE_PHONE in drawer and WHOLE_ADDRESS in drawer
    assert [(r.kind, r.ref) for r in _rows(app)] == [("case", number)]


# -- calls: the console and the call log -------------------------------------------------


def _answered_call(app: Any, org: Any) -> int:
    svc, flows = app.extensions["hotline"], app.extensions["callflows"]
    call_id, _new = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid="SIM-W7", from_raw="13805341234"
    )
    calls.answer(svc, flows, org["operator"], call_id)
    return call_id


def test_w7_admin_may_not_open_the_console_or_the_call_log(app, app_org, client) -> None:
    """W7: the console and the call log show callers: an administrator is refused."""
    call_id = _answered_call(app, app_org)
    logged_in(client, "admin")
    for path in ("/console", f"/console/calls/{call_id}", "/calls", f"/calls/{call_id}"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert WHOLE_PHONE not in text_of(response)
    api = client.get(f"/api/calls/{call_id}", headers=_bearer(app_org, "admin"))
    assert api.status_code == 403
    assert _rows(app) == []


def test_w7_call_log_masked_call_detail_whole_and_logged(app, app_org, client) -> None:
    """W7: the call log lists numbers masked; the opened call shows it whole, logged."""
    call_id = _answered_call(app, app_org)
    logged_in(client, "supervisor")
    log = text_of(client.get("/calls"))
    assert MASKED_PHONE in log and WHOLE_PHONE not in log
    assert _rows(app) == []
    detail = text_of(client.get(f"/calls/{call_id}"))
    assert WHOLE_PHONE in detail
    assert [(r.kind, r.ref, r.path) for r in _rows(app)] == [
        ("call", str(call_id), f"/calls/{call_id}")
    ]


def test_w7_the_operators_live_call_is_whole_and_logged(app, app_org, client) -> None:
    """W7: the live call's caller column is whole for the operator who answered; logged."""
    call_id = _answered_call(app, app_org)
    view = client.get(f"/api/calls/{call_id}", headers=_bearer(app_org, "operator"))
    assert view.status_code == 200
    assert view.get_json()["call"]["from"] == WHOLE_PHONE
    page = logged_in(client, "operator").get(f"/console/calls/{call_id}")
    assert page.status_code == 200
    assert [(r.kind, r.ref) for r in _rows(app)] == [("call", str(call_id))] * 2


# -- customers ---------------------------------------------------------------------------

CUSTOMER = {
    "name": "孙建国",
    "address": "禹城市汉槐街 18 号",
    "phones": ["13805341234"],
    "meter_number": "M1",
    "arrears": "0.00",
}


def test_w7_customer_api_masks_for_admin_whole_for_the_billing_system(app, app_org, client) -> None:
    """W7: the customer API's answer is masked for an administrator; the billing system
    gets back the customer it sent."""
    admin = client.put("/api/customers/100231", json=CUSTOMER, headers=_bearer(app_org, "admin"))
    assert admin.status_code == 200, admin.get_json()
    shown = admin.get_json()["customer"]
    assert shown["name"] == MASKED_NAME  # the surname kept
    assert shown["address"] == MASKED_ADDRESS
    assert shown["phones"] == [MASKED_PHONE]
    assert "孙建国" not in _json_text(admin) and "+8613805341234" not in _json_text(admin)
    billing = client.put(
        "/api/customers/100231", json=CUSTOMER, headers=_bearer(app_org, "billing")
    )
    assert billing.get_json()["customer"]["name"] == "孙建国"
    assert billing.get_json()["customer"]["phones"] == ["+8613805341234"]


def test_w7_customer_search_on_the_console_is_logged(app, app_org, client) -> None:
    """W7: customers found by the call taker's search are shown whole, and logged."""
    client.put("/api/customers/100231", json=CUSTOMER, headers=_bearer(app_org, "billing"))
    found = client.get("/api/customers?q=100231", headers=_bearer(app_org, "operator"))
    assert found.status_code == 200
    assert found.get_json()["customers"][0]["address"] == WHOLE_ADDRESS
    assert [(r.kind, r.ref) for r in _rows(app)] == [("customer", "search 100231")]
    nothing = client.get("/api/customers?q=nobody", headers=_bearer(app_org, "operator"))
    assert nothing.get_json()["customers"] == []
    assert len(_rows(app)) == 1  # nothing shown, nothing logged


# -- exports ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_w7_every_export_is_logged_with_its_filter(app, app_org, client, kind) -> None:
    """W7: each download of the figures writes one row naming the table and its period."""
    logged_in(client, "admin")
    response = client.get(f"/figures/answered.{kind}?from=2026-11-01&to=2026-11-26&by=day")
    assert response.status_code == 200
    [row] = _rows(app)
    assert row.kind == "export" and row.staff_id == app_org["admin"].id
    assert row.ref == f"answered_20261101-20261126_day.{kind}"
    assert row.path == f"/figures/answered.{kind}?from=2026-11-01&to=2026-11-26&by=day"


# -- fail closed ----------------------------------------------------------------------

_BREAK = {
    "sqlite": [
        "CREATE TRIGGER access_log_broken BEFORE INSERT ON access_log "
        "BEGIN SELECT RAISE(ABORT, 'no space left'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION access_log_broken() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RAISE EXCEPTION 'no space left'; END $$",
        "CREATE TRIGGER access_log_broken BEFORE INSERT ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION access_log_broken()",
    ],
}
_MEND = {
    "sqlite": ["DROP TRIGGER access_log_broken"],
    "postgresql": [
        "DROP TRIGGER access_log_broken ON access_log",
        "DROP FUNCTION access_log_broken()",
    ],
}


def _run(app: Any, statements: dict[str, list[str]]) -> None:
    engine = app.extensions["hotline.engine"]
    with engine.begin() as conn:
        for statement in statements[engine.dialect.name]:
            conn.execute(text(statement))


def test_w7_a_view_that_cannot_be_logged_is_refused_with_503_and_shows_nothing(
    app, app_org, client
) -> None:
    """W7: fail closed: no log row, no personal data; a clear 503, never a 500."""
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    _run(app, _BREAK)
    try:
        page = logged_in(client, "operator").get(f"/cases/{number}")
        assert page.status_code == 503 and page.headers["Retry-After"]
        body = text_of(page)
        assert "查阅记录暂时无法写入" in body
        assert WHOLE_PHONE not in body and WHOLE_ADDRESS not in body
        api = client.get(f"/api/cases/{number}", headers=_bearer(app_org, "operator"))
        assert api.status_code == 503
        assert api.get_json()["rule"] == "W7" and api.get_json()["code"] == 503
        assert "查阅记录暂时无法写入" in api.get_json()["display"]
        assert "+8613805341234" not in _json_text(api)
        # Masked views need no log row: the admin still reads the case.
        admin = client.get(f"/api/cases/{number}", headers=_bearer(app_org, "admin"))
        assert admin.status_code == 200
    finally:
        _run(app, _MEND)
    assert _rows(app) == []
    assert logged_in(client, "operator").get(f"/cases/{number}").status_code == 200


# -- append-only -----------------------------------------------------------------------


def test_w7_the_database_refuses_to_change_or_delete_the_access_log(app, app_org) -> None:
    """W7: the access log is append-only in the database (UPDATE, DELETE, TRUNCATE refused)."""
    svc = app.extensions["hotline"]
    access_log.record(
        svc, staff_id=app_org["operator"].id, kind="case", ref="RY-1", path="/x", client=""
    )
    engine = app.extensions["hotline.engine"]
    statements = ["UPDATE access_log SET ref = 'changed'", "DELETE FROM access_log"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE access_log")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    [row] = _rows(app)
    assert row.ref == "RY-1"


# -- the supervisor's page ---------------------------------------------------------------


def test_w7_the_access_log_page_lists_and_filters_for_supervisors(app, app_org, client) -> None:
    """W7: supervisors read who saw what, filtered by person, days, kind and reference."""
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    logged_in(client, "operator").get(f"/cases/{number}")
    access_log.record(
        svc,
        staff_id=app_org["dispatcher"].id,
        kind="export",
        ref="on_time.csv",
        path="/f",
        client="",
    )
    logged_in(client, "supervisor")
    home = text_of(client.get("/supervisor"))
    assert 'href="/access-log"' in home  # linked from the top bar
    page = text_of(client.get("/access-log"))
    assert number in page and "on_time.csv" in page
    assert "11-26 09:00" in page  # Beijing time
    by_person = text_of(client.get(f"/access-log?staff={app_org['operator'].id}"))
    assert number in by_person and "on_time.csv" not in by_person
    by_kind = text_of(client.get("/access-log?kind=export"))
    assert "on_time.csv" in by_kind and number not in by_kind.split('id="access-log"')[1]
    by_ref = text_of(client.get(f"/access-log?ref={number[-4:]}"))
    assert number in by_ref and "on_time.csv" not in by_ref
    assert number in text_of(client.get("/access-log?from=2026-11-26&to=2026-11-26"))
    later = text_of(client.get("/access-log?from=2026-11-27"))
    assert "on_time.csv" not in later and number not in later.split('id="access-log"')[1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("staff=abc", "staff"),
        ("staff=0", "staff"),
        ("staff=99999999999", "staff"),
        ("from=2026-13-01", "from"),
        ("from=1999-12-31", "from"),
        ("from=2026-11-27&to=2026-11-26", "to"),
        ("kind=everything", "kind"),
        ("ref=" + "x" * 101, "ref"),
        ("page=0", "page"),
        ("page=x", "page"),
    ],
)
def test_w7_a_bad_filter_is_a_400_naming_it(app, app_org, client, query, field) -> None:
    """W7: the log page validates its filters: 400 naming the field, never a 500."""
    response = logged_in(client, "supervisor").get(f"/access-log?{query}")
    assert response.status_code == 400, query
    assert f"&#39;{field}&#39;" in text_of(response) or f"'{field}'" in text_of(response)


def test_w7_only_supervisors_read_the_access_log(app, app_org, client) -> None:
    """W7: the log is the supervisors' review; other roles are refused and see no link."""
    for username in ("operator", "dispatcher", "crew", "admin"):
        fresh = logged_in(app.test_client(), username)
        assert fresh.get("/access-log").status_code == 403, username
    assert logged_in(client, "admin").get("/").status_code in (200, 302)


def test_w7_the_access_log_pages_fifty_rows_at_a_time(app, app_org, client) -> None:
    """W7: the log is paged, newest first."""
    svc = app.extensions["hotline"]
    for n in range(51):
        access_log.record(
            svc,
            staff_id=app_org["operator"].id,
            kind="case",
            ref=f"REF-{n:03}",
            path="/",
            client="",
        )
    logged_in(client, "supervisor")
    first = text_of(client.get("/access-log"))
    assert "REF-050" in first and "REF-000" not in first and "1 / 2" in first
    second = text_of(client.get("/access-log?page=2"))
    assert "REF-000" in second and "REF-050" not in second
