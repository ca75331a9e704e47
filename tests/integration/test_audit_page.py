"""The audit page (P6): the tamper check from the browser, one case's check, the history
in words; supervisors and admins only (docs/audit.md). SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from hotline.domain.lifecycle import State
from tests.integration.pagehelp import csrf_from, logged_in
from tests.support import bring_case_to


def _tamper(svc: Any, sql: str, params: dict[str, Any]) -> None:
    """Change an event behind the product's back, as the database's owner could: triggers off."""
    with svc.sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            session.execute(text("DROP TRIGGER IF EXISTS case_events_no_update"))
        session.execute(text(sql), params)


def _html(response: Any) -> str:
    return response.get_data(as_text=True)


def _post(client: Any, path: str, **data: str) -> Any:
    token = csrf_from(_html(client.get("/audit")))
    return client.post(path, data={"csrf_token": token, **data})


def _section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"')[1].split("</section>")[0]


def test_a_clean_store_reports_no_problem_with_what_was_checked(app, app_org, client):
    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.ASSIGNED)
    bring_case_to(svc, app_org, State.ACCEPTED)
    logged_in(client, "supervisor")

    response = _post(client, "/audit/check")

    assert response.status_code == 200
    result = _section(_html(response), "audit-result")
    assert "核查工单:2 张" in result
    assert re.search(r"核查记录:[1-9]\d* 条", result)
    assert "封存:0 次" in result
    assert 'id="audit-ok"' in result and "audit-broken" not in result


def test_a_tampered_event_is_named_by_case_and_event_in_words(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    other = bring_case_to(svc, app_org, State.ASSIGNED)
    _tamper(
        svc,
        "UPDATE case_events SET reason = 'edited' "
        "WHERE seq = 2 AND case_id = (SELECT id FROM cases WHERE number = :n)",
        {"n": number},
    )
    logged_in(client, "supervisor")

    result = _section(_html(_post(client, "/audit/check")), "audit-result")

    assert "发现 1 处问题" in result
    assert f"工单 {number} 第 2 条记录" in result
    assert "记录写入后内容被改动" in result
    assert other not in result

    one = _post(client, "/audit/case", number=number)
    assert one.status_code == 200
    result = _section(_html(one), "audit-result")
    assert "核查工单:1 张" in result and f"工单 {number} 第 2 条记录" in result
    clean = _section(_html(_post(client, "/audit/case", number=other)), "audit-result")
    assert 'id="audit-ok"' in clean


def test_the_one_case_check_shows_the_case_and_its_history_and_an_unknown_number_is_404(
    app, app_org, client
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    logged_in(client, "admin")

    response = _post(client, "/audit/case", number=number)

    assert response.status_code == 200
    html = _html(response)
    assert f"工单 {number} 的核查结果" in html and 'id="audit-ok"' in html
    assert "audit-history" in html
    assert _post(client, "/audit/case", number="RY-19990101-0001").status_code == 404
    assert _post(client, "/audit/case", number="").status_code == 422


def test_the_history_in_words_names_actor_and_states_and_shows_nothing_raw(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    logged_in(client, "supervisor")

    response = client.get(f"/audit?case={number}")

    assert response.status_code == 200
    history = _section(_html(response), "audit-history")
    words = re.sub(r"<[^>]+>", " ", history)
    assert "{" not in words and "}" not in words
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", words)
    assert "_id" not in words
    assert re.search(r"<time>\d{2}-\d{2} \d{2}:\d{2}</time>", history)
    assert "调度员" in words and "接线员" in words  # who acted, by role and name
    assert "「派单」" in words and "「待调度」" in words and "「已派单」" in words
    assert client.get("/audit?case=RY-19990101-0001").status_code == 404


@pytest.mark.parametrize("username", ["operator", "dispatcher", "crew"])
def test_only_supervisors_and_admins_open_the_audit_page(app, app_org, client, username):
    logged_in(client, username)
    assert client.get("/audit").status_code == 403
    token = csrf_from(_html(client.get("/", follow_redirects=True)))
    assert client.post("/audit/check", data={"csrf_token": token}).status_code == 403
    assert client.post("/audit/case", data={"csrf_token": token, "number": "x"}).status_code == 403
    assert client.get("/audit?case=RY-19990101-0001").status_code == 403


def test_a_check_without_the_csrf_token_is_refused(app, app_org, client):
    logged_in(client, "supervisor")
    assert client.post("/audit/check").status_code == 400


def test_the_audit_page_in_english(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    _tamper(
        svc,
        "UPDATE case_events SET reason = 'edited' "
        "WHERE seq = 2 AND case_id = (SELECT id FROM cases WHERE number = :n)",
        {"n": number},
    )
    logged_in(client, "supervisor")
    token = csrf_from(_html(client.get("/audit")))
    assert client.post("/lang/en", data={"csrf_token": token, "next": "/audit"}).status_code < 400

    page = _html(client.get("/audit"))
    assert "Check every case" in page
    result = _section(_html(_post(client, "/audit/check")), "audit-result")
    assert f"case {number}, event 2" in result
    assert "changed after it was written" in result
    history = _section(_html(client.get(f"/audit?case={number}")), "audit-history")
    assert "Dispatcher" in history and "“With dispatch”" in history
