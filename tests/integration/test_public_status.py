"""The public case status page: a resident's own case, nothing personal, no probing."""

from __future__ import annotations

import re

import pytest

from hotline.domain.lifecycle import State
from hotline.models import Case, Staff
from tests.conftest import SHANGHAI
from tests.integration.pagehelp import csrf_token
from tests.support import bring_case_to

NOT_FOUND = "没有找到这个工单,请核对工单号和电话后四位"


def _case(app, org, state: State) -> Case:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, org, state)
    with svc.sessions() as session:
        case = session.query(Case).filter_by(number=number).one()
        session.expunge(case)
    return case


def _ask(client, number: str, last4: str, token: str | None = None):
    token = token or csrf_token(client, "/status")
    return client.post(
        "/status", data={"number": number, "phone_last4": last4, "csrf_token": token}
    )


def test_the_form_needs_no_login_and_shows_no_staff_navigation(client):
    response = client.get("/status")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "工单进度查询" in html and 'name="csrf_token"' in html
    assert "<nav>" not in html and "退出" not in html


def test_the_right_number_and_digits_show_stage_promise_and_next_step(app, app_org, client):
    case = _case(app, app_org, State.IN_PROGRESS)
    assert case.promised_at is not None
    response = _ask(client, case.number, "1234")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "维修人员已出发" in html
    assert case.promised_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") in html
    assert "维修人员正在赶往现场" in html
    for personal in (
        case.address,
        case.contact_name,
        case.contact_phone,
        "13805341234",
        "138 0534 1234",
        case.problem,
    ):
        assert personal not in html
    with app.extensions["hotline"].sessions() as session:
        names = [staff.display_name for staff in session.query(Staff)]
    assert names
    for name in names:
        assert name not in html


def test_a_closed_case_reads_as_finished_in_english_too(app, app_org, client):
    case = _case(app, app_org, State.AWAITING_FOLLOW_UP)
    html = _ask(client, case.number, "1234").get_data(as_text=True)
    assert "已处理完毕,等待回访" in html
    client.post("/lang/en", data={"csrf_token": csrf_token(client, "/status")})
    html = _ask(client, case.number, "1234").get_data(as_text=True)
    assert "Work done, follow-up call to come" in html


def test_wrong_digits_and_an_unknown_number_give_the_same_page(app, app_org, client):
    case = _case(app, app_org, State.ASSIGNED)
    wrong_digits = _ask(client, case.number, "9999")
    token = csrf_token(client, "/status")
    unknown = _ask(client, case.number[:-4] + "9999", "1234", token)
    assert wrong_digits.status_code == unknown.status_code == 404
    for response in (wrong_digits, unknown):
        html = response.get_data(as_text=True)
        assert NOT_FOUND in html
        assert "已派单" not in html

    def page(response, number):
        html = response.get_data(as_text=True).replace(number, "N")
        return re.sub(r'name="csrf_token"[^>]*>', "", html)

    assert page(wrong_digits, case.number) == page(unknown, case.number[:-4] + "9999")


@pytest.mark.parametrize(
    ("number", "last4"),
    [
        ("RY-2026", "12a4"),
        ("RY-2026", "123"),
        ("RY-2026", "12345"),
        ("RY 2026;--", "1234"),
        ("R" * 300, "1234"),
        ("RY-2026\x00", "1234"),
        ("RY-2026", "12\x004"),
        ("", ""),
    ],
)
def test_malformed_input_is_a_4xx_with_a_message(client, number, last4):
    response = _ask(client, number, last4)
    html = response.get_data(as_text=True)
    if "\x00" in number + last4:
        # The product refuses NUL in any form field before the page's own check.
        assert response.status_code == 422
        assert "不能包含空字符(NUL)" in html  # said in the page's language
    else:
        assert response.status_code == 400
        assert "工单号只能包含" in html or "请输入联系电话的后四位数字" in html
    assert "\x00" not in html


def test_the_form_without_a_csrf_token_is_refused(client):
    response = client.post("/status", data={"number": "RY-1", "phone_last4": "1234"})
    assert response.status_code == 400


def test_too_many_lookups_from_one_address_answer_429(app, app_org, client):
    token = csrf_token(client, "/status")
    for _ in range(10):
        assert _ask(client, "RY-1", "1234", token).status_code == 404
    response = _ask(client, "RY-1", "1234", token)
    assert response.status_code == 429
    assert "查询过于频繁" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1
    other = client.post(
        "/status",
        data={"number": "RY-1", "phone_last4": "1234", "csrf_token": token},
        environ_overrides={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 404


def test_staff_opening_the_public_page_see_no_staff_bar(app, app_org) -> None:
    from tests.integration.pagehelp import logged_in

    client = logged_in(app.test_client(), "operator")
    html = client.get("/status").get_data(as_text=True)
    assert "/logout" not in html
    assert 'id="live-dot"' not in html
    assert "ring-banner" not in html
    # The staff pages still have them.
    assert "/logout" in client.get("/operator").get_data(as_text=True)
