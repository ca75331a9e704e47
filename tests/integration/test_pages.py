"""The server-rendered pages: login and landing, role checks, the language switch,
CSRF, the new-contact form and actions taken from the case page.

Each test runs on SQLite and on PostgreSQL (the ``app`` fixture); CSRF stays on,
so every form post carries the token read from the page it came from.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, CaseEvent
from tests.conftest import SHANGHAI
from tests.integration.pagehelp import (
    action_form,
    csrf_from,
    csrf_token,
    forms_of,
    logged_in,
    login,
    text_of,
)
from tests.support import act, bring_case_to

CASE_NUMBER = re.compile(r"^RY-\d{8}-\d{4}$")
CJK = re.compile(r"[\u4e00-\u9fff]")

P4_CONTACT = {
    "channel": "phone",
    "outcome": "dispatch",
    "caller_number": "13805341234",
    "customer_account": "",
    "contact_name": "孙先生",
    "contact_phone": "13805341234",
    "category": "leak",
    "priority": "normal",
    "problem": "汉槐街路边冒水",
    "need": "派人维修",
    "address": "禹城市汉槐街 18 号",
    "triage": "utility",
    "read_back_confirmed": "on",
}


def _path(location: str) -> str:
    return urlsplit(location).path


def _case_count(app) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Case))


def _events(app, number: str) -> list[str]:
    with app.extensions["hotline"].sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
            )
        )


def _flash_errors(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", text).strip()
        for text in re.findall(r'<p class="flash error"[^>]*>(.*?)</p>', html, re.S)
    ]


# -- login and landing ------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "home", "marker"),
    [
        ("operator", "/console", 'id="console-home"'),
        ("dispatcher", "/dispatch", "<h1>调度中心</h1>"),
        ("crew", "/crew", "<h1>本科室工单</h1>"),
        ("supervisor", "/supervisor", "<h1>全部工单"),
        ("admin", "/admin/staff", "<h2>添加人员</h2>"),
    ],
)
def test_each_role_lands_on_its_own_home_after_login(
    client, app_org, username: str, home: str, marker: str
) -> None:
    response = login(client, username)
    assert response.status_code == 302
    landing = client.get(response.headers["Location"], follow_redirects=True)
    assert landing.status_code == 200
    assert landing.request.path == home
    assert marker in text_of(landing)


def test_operator_home_offers_the_new_contact_form_with_read_back(client, app_org) -> None:
    html = text_of(logged_in(client, "operator").get("/operator"))
    form = next(f for f in forms_of(html) if f["attrs"].get("id") == "intake-form")
    assert form["attrs"]["action"] == "/contacts/new"
    assert 'name="read_back_confirmed"' in html
    for name in ("problem", "need", "address", "contact_phone"):
        assert f'name="{name}"' in html


def test_wrong_password_answers_401_with_a_message_and_no_session(client, app_org) -> None:
    response = login(client, "operator", "not-the-password")
    assert response.status_code == 401
    assert _flash_errors(text_of(response)), "the login page shows no error message"
    after = client.get("/operator")
    assert after.status_code == 302
    assert _path(after.headers["Location"]) == "/login"


def test_wrong_password_message_is_chinese_by_default(client, app_org) -> None:
    response = login(client, "operator", "not-the-password")
    (message,) = _flash_errors(text_of(response))
    assert CJK.search(message), f"login refusal is not in Chinese: {message!r}"


def test_wrong_password_message_is_english_after_the_switch(client, app_org) -> None:
    token = csrf_token(client, "/login")
    assert client.post("/lang/en", data={"csrf_token": token, "next": "/login"}).status_code == 302
    response = login(client, "operator", "not-the-password")
    assert response.status_code == 401
    assert _flash_errors(text_of(response)) == ["Wrong username or password."]


@pytest.mark.parametrize(
    "path", ["/", "/operator", "/dispatch", "/crew", "/supervisor", "/admin/staff"]
)
def test_pages_send_anonymous_visitors_to_login(client, app_org, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login"
    if path != "/":
        assert f"next={path.replace('/', '%2F')}" in target.query


def test_case_page_needs_login(client, app, app_org) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    response = client.get(f"/cases/{number}")
    assert response.status_code == 302
    assert _path(response.headers["Location"]) == "/login"


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("operator", "/dispatch"),
        ("operator", "/crew"),
        ("operator", "/admin/staff"),
        ("dispatcher", "/operator"),
        ("dispatcher", "/supervisor"),
        ("crew", "/operator"),
        ("crew", "/dispatch"),
        ("supervisor", "/admin/staff"),
        ("admin", "/operator"),
    ],
)
def test_a_role_opening_another_roles_page_gets_403(
    client, app_org, username: str, path: str
) -> None:
    response = logged_in(client, username).get(path)
    assert response.status_code == 403
    assert _flash_errors(text_of(response))


def test_forbidden_page_message_is_chinese_by_default(client, app_org) -> None:
    response = logged_in(client, "crew").get("/operator")
    assert response.status_code == 403
    (message,) = _flash_errors(text_of(response))
    assert CJK.search(message), f"403 message is not in Chinese: {message!r}"


# -- language ---------------------------------------------------------------


def test_language_switch_to_english_stays_across_requests_and_switches_back(
    client, app_org
) -> None:
    logged_in(client, "operator")
    chinese = text_of(client.get("/operator"))
    assert '<html lang="zh-CN">' in chinese
    assert "接线台" in chinese

    token = csrf_from(chinese)
    switched = client.post("/lang/en", data={"csrf_token": token, "next": "/operator"})
    assert switched.status_code == 302
    assert _path(switched.headers["Location"]) == "/operator"

    for _ in range(2):
        english = text_of(client.get("/operator"))
        assert '<html lang="en">' in english
        assert "Operator console" in english
        assert "New contact" in english
        assert "接线台" not in english
    assert "Operator console" in text_of(client.get("/", follow_redirects=True))

    back = client.post("/lang/zh_CN", data={"csrf_token": csrf_from(english), "next": "/operator"})
    assert back.status_code == 302
    chinese_again = text_of(client.get("/operator"))
    assert '<html lang="zh-CN">' in chinese_again
    assert "接线台" in chinese_again
    assert "Operator console" not in chinese_again


def test_unknown_language_is_refused(client, app_org) -> None:
    token = csrf_token(client, "/login")
    assert client.post("/lang/fr", data={"csrf_token": token}).status_code == 400


# -- CSRF -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/contacts/new", "/lang/en", "/logout", "/admin/staff", "/cases/RY-20261126-0001/action"],
)
def test_forms_without_csrf_token_are_refused_with_400(client, app, app_org, path: str) -> None:
    bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "admin" if path == "/admin/staff" else "operator")
    before = _case_count(app)
    response = client.post(path, data=P4_CONTACT | {"action": "add_note", "version": "1"})
    assert response.status_code == 400
    assert _case_count(app) == before


def test_login_without_csrf_token_is_refused_with_400(client, app_org) -> None:
    response = client.post("/login", data={"username": "operator", "password": "x" * 12})
    assert response.status_code == 400
    assert client.get("/operator").status_code == 302


# -- the new-contact form ---------------------------------------------------


def test_operator_submits_contact_and_sees_case_number_and_promised_time(
    app, app_org, client
) -> None:
    html = text_of(logged_in(client, "operator").get("/operator"))
    response = client.post("/contacts/new", data=P4_CONTACT | {"csrf_token": csrf_from(html)})

    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    number = target.path.rsplit("/", 1)[-1]
    assert target.path == f"/cases/{number}"
    assert CASE_NUMBER.match(number), number
    assert number == "RY-20261126-0001"  # the test clock's day, first case
    assert "created=1" in target.query

    page = text_of(client.get(response.headers["Location"]))
    assert f'<p class="big" id="case-number">{number}</p>' in page
    with app.extensions["hotline"].sessions() as session:
        promised = session.scalar(select(Case.promised_at).where(Case.number == number))
    assert promised is not None
    shown = promised.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    promised_line = re.search(r'id="promised-at">(.*?)</p>', page, re.S)
    assert promised_line, "the case page does not show the promised time"
    assert shown in promised_line.group(1)
    assert _case_count(app) == 1


def test_contact_without_read_back_answers_422_and_creates_no_case(app, app_org, client) -> None:
    html = text_of(logged_in(client, "operator").get("/operator"))
    data = {k: v for k, v in P4_CONTACT.items() if k != "read_back_confirmed"}
    response = client.post("/contacts/new", data=data | {"csrf_token": csrf_from(html)})

    assert response.status_code == 422
    page = text_of(response)
    assert 'data-field="read_back_confirmed"' in page
    assert "<code>read_back_confirmed</code>" in page
    assert P4_CONTACT["problem"] in page  # the form comes back filled in
    assert _case_count(app) == 0


# -- actions from the case page ---------------------------------------------


def test_crew_acknowledges_assigned_case_from_the_case_page(app, app_org, client) -> None:
    """The department signs for the case sent to it (签收)."""
    org = app_org
    number = bring_case_to(app.extensions["hotline"], org, State.ASSIGNED)
    page = text_of(logged_in(client, "crew").get(f"/cases/{number}"))
    fields = action_form(page, "accept")

    response = client.post(f"/cases/{number}/action", data=fields)
    assert response.status_code == 302
    assert _path(response.headers["Location"]) == f"/cases/{number}"

    after = text_of(client.get(response.headers["Location"]))
    history = after.split('<ol class="history">', 1)[1]
    assert "<strong>签收</strong>" in history
    assert "已派单 → 已签收" in history
    assert _events(app, number)[-1] == Action.ACCEPT


def test_stale_version_from_the_case_page_answers_409_with_a_message(app, app_org, client) -> None:
    org = app_org
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, org, State.ASSIGNED)
    page = text_of(logged_in(client, "crew").get(f"/cases/{number}"))
    fields = action_form(page, "accept")
    act(svc, org["dispatcher"], number, Action.ADD_NOTE, note="请尽快到场")  # someone else first
    events_before = _events(app, number)

    response = client.post(f"/cases/{number}/action", data=fields)
    assert response.status_code == 409
    html = text_of(response)
    assert 'data-field="version"' in html
    assert _flash_errors(html), "the 409 page shows no message"
    assert _events(app, number) == events_before
    with svc.sessions() as session:
        assert services.get_case(session, org["crew"], number).state == State.ASSIGNED


def test_action_the_role_may_not_take_answers_403(app, app_org, client) -> None:
    org = app_org
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    page = text_of(logged_in(client, "operator").get(f"/cases/{number}"))
    assert 'data-action="assign"' not in page  # the page does not offer it
    version = action_form(page, "add_note")["version"]

    response = client.post(
        f"/cases/{number}/action",
        data={
            "action": "assign",
            "version": version,
            "department_id": str(org.departments["REPAIR"]),
            "csrf_token": csrf_from(page),
        },
    )
    assert response.status_code == 403
    assert _flash_errors(text_of(response))
    with svc.sessions() as session:
        assert services.get_case(session, org["operator"], number).state == State.WITH_DISPATCH
