"""12345 transfers on the web: the signed webhook, the orders page with its 12345
deadlines, the actions from the page and from the case page, the API, the command."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from dispatch.services.duty import add_shift
from hotline.domain.gov12345 import SIGNATURE_HEADER, ReportKind, signature
from hotline.models import Case, Gov12345Order, Gov12345Report
from hotline.services.gov12345_platform import RecordingPlatform
from hotline.web.auth import create_staff
from tests.integration.pagehelp import csrf_from, forms_of, logged_in, text_of
from tests.integration.test_gov12345 import order_json

SECRET = "shared-12345-secret"


@pytest.fixture
def platform(app):
    wiring = app.extensions["hotline.gov12345"]
    wiring.secret = SECRET
    wiring.platform = RecordingPlatform()
    return wiring.platform


def post_order(client, body, *, secret=SECRET, header=SIGNATURE_HEADER):
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[header] = signature(secret, raw)
    return client.post("/api/gov12345/orders", data=raw, headers=headers)


def _order(app, number="GD20261126001"):
    svc = app.extensions["hotline"]
    with svc.sessions() as session:
        order = session.scalar(select(Gov12345Order).where(Gov12345Order.order_number == number))
        return order, session.get(Case, order.case_id) if order else None


def test_the_webhook_takes_a_signed_order_once(app, app_org, client, platform):
    """G4: the webhook's order is a case of the dispatcher on duty; a repeat changes nothing."""
    response = post_order(client, order_json())
    assert response.status_code == 201, text_of(response)
    body = response.get_json()
    assert body["created"] is True and body["order_number"] == "GD20261126001"
    order, case = _order(app)
    assert order.source == "webhook" and case.number == body["case_number"]
    assert case.first_responder_id == app_org["dispatcher"].id
    again = post_order(client, order_json())
    assert again.status_code == 200 and again.get_json()["case_number"] == body["case_number"]


def test_the_dispatcher_on_duty_owns_the_order(app, app_org, client, platform, clock):
    """G4: the dispatcher whose shift covers the moment owns the order, not just any."""
    svc = app.extensions["hotline"]
    with svc.sessions() as session:
        other = create_staff(
            session,
            username="dispatcher_b",
            password="correct-horse",
            role="dispatcher",
            department_id=app_org.departments["DISPATCH"],
            now=svc.now(),
        )
        session.commit()
        other_id = other.id
    add_shift(
        svc,
        app_org["supervisor"],
        staff_id=other_id,
        starts_at=clock.now - timedelta(hours=1),
        ends_at=clock.now + timedelta(hours=7),
    )
    assert post_order(client, order_json()).status_code == 201
    _, case = _order(app)
    assert case.first_responder_id == other_id


@pytest.mark.parametrize(
    ("secret", "header"),
    [(None, SIGNATURE_HEADER), ("wrong-secret", SIGNATURE_HEADER), (SECRET, "X-Other")],
)
def test_an_unsigned_or_wrongly_signed_order_is_refused_and_nothing_is_written(
    app, app_org, client, platform, secret, header
):
    response = post_order(client, order_json(), secret=secret, header=header)
    assert response.status_code == 401
    assert SIGNATURE_HEADER in response.get_json()["message"]
    assert _order(app)[0] is None


def test_the_webhook_takes_nothing_while_no_secret_is_set(app, app_org, client, platform):
    app.extensions["hotline.gov12345"].secret = ""
    response = post_order(client, order_json(), secret="")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (order_json(request_text=""), "request_text"),
        (order_json(received_at="yesterday"), "received_at"),
        (order_json(reply_due="2026-11-25T08:00:00+08:00"), "reply_due"),
        (order_json(category="gossip"), "category"),
        (order_json(citizen_phone="not a phone"), "citizen_phone"),
        (["not", "an", "object"], None),
    ],
)
def test_a_malformed_order_gets_422_naming_the_field(app, app_org, client, platform, body, field):
    response = post_order(client, body)
    assert response.status_code == 422, text_of(response)
    if field:
        assert response.get_json()["field"] == field
    assert _order(app)[0] is None


def test_the_webhook_answers_503_when_no_dispatcher_can_own_the_order(
    app, app_org, client, platform
):
    app.extensions["hotline.gov12345"].owner = lambda session, at: None
    response = post_order(client, order_json())
    assert response.status_code == 503
    assert _order(app)[0] is None


def test_the_orders_page_shows_the_12345_deadlines_amber_and_red(
    app, app_org, client, platform, clock
):
    post_order(client, order_json())  # received 08:30, sign for it by 17:30 (1 working day)
    post_order(client, order_json(order_number="GD2", acknowledge_due="2026-11-27T17:30:00+08:00"))
    logged_in(client, "dispatcher")
    home = text_of(client.get("/board"))
    assert 'href="/gov12345"' in home
    clock.now = clock.now.replace(hour=16)  # 7.5 of 9 hours gone: past the 80 % warning
    page = text_of(client.get("/gov12345"))
    assert "GD20261126001" in page and "GD2" in page
    assert 'class="due warn" data-urgency="near">11-26 17:30' in page
    clock.now = clock.now.replace(hour=18)
    page = text_of(client.get("/gov12345"))
    assert 'class="due urgent" data-urgency="over">11-26 17:30' in page
    assert page.index("GD20261126001") < page.index('data-order="GD2"')  # the overdue one first


def test_crews_and_operators_do_not_open_the_orders_page(app, app_org, client, platform):
    logged_in(client, "crew")
    assert client.get("/gov12345").status_code == 403


def test_return_from_the_orders_page_needs_a_reason_and_is_reported(app, app_org, client, platform):
    """G5: a return without a reason is refused naming it; with one it reaches the platform."""
    post_order(client, order_json())
    logged_in(client, "dispatcher")
    page = text_of(client.get("/gov12345"))
    [form] = [f for f in forms_of(page) if "gov12345-return" in f["attrs"].get("class", "")]
    action = form["attrs"]["action"]
    refused = client.post(action, data={"csrf_token": csrf_from(page), "reason": " "})
    assert refused.status_code == 422
    assert 'data-field="reason"' in text_of(refused)
    assert platform.reports == []
    done = client.post(action, data={"csrf_token": csrf_from(page), "reason": "属物业管辖,非我司"})
    assert done.status_code == 302
    [report] = platform.reports
    assert report.kind is ReportKind.RETURN and report.text == "属物业管辖,非我司"
    order, _ = _order(app)
    assert order.status == "returned"
    page = text_of(client.get("/gov12345"))
    assert "属物业管辖,非我司" in page and "gov12345-return" not in page


def test_the_case_page_shows_the_order_and_replies_from_there(app, app_org, client, platform):
    """The case page of a 12345 case has the order's section; the reply is kept apart
    from the case's notes and reported back to the platform."""
    number = post_order(client, order_json()).get_json()["case_number"]
    logged_in(client, "dispatcher")
    page = text_of(client.get(f"/cases/{number}"))
    assert 'id="gov12345-case"' in page and "GD20261126001" in page
    [ack] = [f for f in forms_of(page) if "gov12345-acknowledge" in f["attrs"].get("class", "")]
    assert ack["fields"]["back"] == "case"
    response = client.post(ack["attrs"]["action"], data=ack["fields"])
    assert response.status_code == 302 and response.headers["Location"].endswith(number)
    page = text_of(client.get(f"/cases/{number}"))
    [rep] = [f for f in forms_of(page) if "gov12345-reply" in f["attrs"].get("class", "")]
    reply = "经检测水质合格,已冲洗楼内管道,现已恢复正常。"
    response = client.post(rep["attrs"]["action"], data={**rep["fields"], "reply": reply})
    assert response.status_code == 302
    assert [r.kind for r in platform.reports] == [ReportKind.RECEIPT, ReportKind.REPLY]
    assert platform.reports[1].text == reply
    page = text_of(client.get(f"/cases/{number}"))
    assert 'id="gov12345-public-reply">' + reply in page
    svc = app.extensions["hotline"]
    with svc.sessions() as session:
        rows = session.scalars(select(Gov12345Report).order_by(Gov12345Report.id)).all()
        assert [(r.kind, r.status) for r in rows] == [("receipt", "sent"), ("reply", "sent")]


def test_a_case_from_another_channel_has_no_12345_section(app, app_org, client, platform):
    from hotline.domain.lifecycle import State
    from tests.support import bring_case_to

    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    assert 'id="gov12345-case"' not in text_of(client.get(f"/cases/{number}"))


def test_the_api_acts_with_a_token_and_refuses_a_crew(app, app_org, client, platform, clock):
    post_order(client, order_json())
    token = {"Authorization": f"Bearer {app_org.tokens['dispatcher']}"}
    crew = {"Authorization": f"Bearer {app_org.tokens['crew']}"}
    assert (
        client.post(
            "/api/gov12345/orders/GD20261126001/acknowledge", json={}, headers=crew
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/gov12345/orders/GD20261126001/acknowledge", json={}, headers=token
        ).status_code
        == 200
    )
    until = (clock.now + timedelta(days=7)).isoformat()
    response = client.post(
        "/api/gov12345/orders/GD20261126001/extension",
        json={"reason": "需更换主管道,等待材料", "until": until},
        headers=token,
    )
    assert response.status_code == 200, text_of(response)
    assert response.get_json()["extension_reason"] == "需更换主管道,等待材料"
    missing = client.post("/api/gov12345/orders/GD20261126001/reply", json={}, headers=token)
    assert missing.status_code == 422 and missing.get_json()["field"] == "reply"
    listed = client.get("/api/gov12345/orders", headers=token).get_json()
    assert [o["order_number"] for o in listed] == ["GD20261126001"]
    assert [r["kind"] for r in listed[0]["reports"]] == ["receipt", "extension"]
    assert client.get("/api/gov12345/orders").status_code == 401


def test_a_platform_failure_never_turns_the_saved_action_into_an_error(
    app, app_org, client, platform
):
    post_order(client, order_json())
    platform.failing = "connection refused"
    token = {"Authorization": f"Bearer {app_org.tokens['dispatcher']}"}
    response = client.post("/api/gov12345/orders/GD20261126001/acknowledge", json={}, headers=token)
    assert response.status_code == 200
    order, _ = _order(app)
    assert order.status == "acknowledged"
    listed = client.get("/api/gov12345/orders", headers=token).get_json()
    [report] = listed[0]["reports"]
    assert report["status"] == "failed" and "connection refused" in report["last_error"]


def test_the_scheduled_job_and_the_command_take_in_the_drop_folder(
    app, app_org, platform, tmp_path, monkeypatch
):
    from hotline.web.gov12345 import scheduled_job

    folder = app.extensions["hotline.gov12345"].drop_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "one.json").write_text(json.dumps(order_json()), encoding="utf-8")
    line = scheduled_job(app)()
    assert line and "1 imported" in line
    assert (folder / "done" / "one.json").exists()
    assert _order(app)[0] is not None
    # The command, on a folder of its own.
    other = tmp_path / "other-drop"
    other.mkdir()
    (other / "two.json").write_text(json.dumps(order_json(order_number="GD2")), encoding="utf-8")
    (other / "bad.json").write_text("{", encoding="utf-8")
    from hotline.cli import main

    monkeypatch.setenv("HOTLINE_DATABASE_URL", app.config["HOTLINE"]["database_url"])
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "test-secret")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    result = CliRunner().invoke(main, ["gov12345", "import-drop", "--folder", str(other)])
    assert result.exit_code == 1, result.output
    assert "imported two.json" in result.output and "failed bad.json" in result.output
    assert (other / "failed" / "bad.json.reason.txt").exists()
    assert _order(app, "GD2")[0] is not None


def test_the_orders_page_in_english_shows_only_the_citizens_words_in_chinese(
    app, app_org, client, platform
):
    import re

    post_order(client, order_json())
    logged_in(client, "dispatcher")
    page = text_of(client.get("/gov12345"))
    client.post("/lang/en", data={"csrf_token": csrf_from(page), "next": "/gov12345"})
    page = text_of(client.get("/gov12345"))
    assert "12345 orders" in page and "Sign for the 12345 order" in page
    body = page[page.index("<main>") : page.index("</main>")]
    body = re.sub(r"<[^>]+>", " ", body)
    for quoted in (order_json()["request_text"], order_json()["citizen_name"]):
        body = body.replace(quoted, "")
    assert not re.search(r"[\u4e00-\u9fff]", body), re.findall(r"\S*[\u4e00-\u9fff]+\S*", body)
