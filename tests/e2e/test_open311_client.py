"""An Open311 GeoReport v2 client over real HTTP: submit with a key, read the status,
and read it again after the dispatcher on duty acts on the case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import requests
from playwright.sync_api import expect

from dispatch.services import duty
from hotline.services import open311 as service
from tests.e2e.browser import log_in

V2 = "/open311/v2"


def test_an_app_submits_a_request_and_follows_its_case(live_server):
    """G4: the dispatcher on duty owns the request; its status follows the case."""
    svc = live_server.app.extensions["hotline"]
    org = live_server.org
    with svc.sessions() as session, session.begin():
        _client, key = service.add_client(session, "市民通 App", now=svc.now())
    now = svc.now()
    duty.add_shift(
        svc,
        org["supervisor"],
        staff_id=org["dispatcher"].id,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=8),
    )
    app = requests.Session()
    base = live_server.url + V2

    services = app.get(f"{base}/services.json", timeout=10)
    assert services.status_code == 200
    assert "leak" in [s["service_code"] for s in services.json()]
    definition = app.get(f"{base}/services/leak.json", timeout=10).json()
    place = definition["attributes"][0]
    answer = place["values"][0]["key"]

    refused = app.post(
        f"{base}/requests.json",
        data={"api_key": "o311_wrong", "service_code": "leak", "description": "漏水"},
        timeout=10,
    )
    assert refused.status_code == 403 and refused.json()[0]["code"] == 403

    form = {
        "api_key": key,
        "service_code": "leak",
        "lat": "36.934",
        "long": "116.638",
        "address_string": "禹城市汉槐街 18 号门前",
        "description": "路边冒水很急",
        "phone": "13805341234",
        "last_name": "孙",
        "first_name": "明",
        f"attribute[{place['code']}]": answer,
    }
    created = app.post(
        f"{base}/requests.json", data=form, headers={"Idempotency-Key": "e2e-1"}, timeout=10
    )
    assert created.status_code == 201, created.text
    number = created.json()[0]["service_request_id"]
    again = app.post(
        f"{base}/requests.json", data=form, headers={"Idempotency-Key": "e2e-1"}, timeout=10
    )
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == number

    status = app.get(f"{base}/requests/{number}.json", timeout=10).json()[0]
    assert status["status"] == "open" and status["service_code"] == "leak"
    assert "13805341234" not in str(status) and "孙明" not in str(status)
    before = status["status_notes"]

    dispatcher = requests.Session()
    dispatcher.headers["Authorization"] = f"Bearer {org.tokens['dispatcher']}"
    case = dispatcher.get(f"{live_server.url}/api/cases/{number}", timeout=10).json()
    assert case["channel"] == "web" and case["state"] == "with_dispatch"
    assert case["first_responder"]["id"] == org["dispatcher"].id
    assigned = dispatcher.post(
        f"{live_server.url}/api/cases/{number}/actions",
        json={
            "action": "assign",
            "version": case["version"],
            "department_id": org.departments["REPAIR"],
        },
        timeout=10,
    )
    assert assigned.status_code == 200, assigned.text

    after = app.get(f"{base}/requests/{number}.xml", timeout=10)
    assert after.status_code == 200
    request = ET.fromstring(after.content).find("request")
    assert request.findtext("service_request_id") == number
    assert request.findtext("status") == "open"
    assert request.findtext("status_notes") != before
    assert "已派单" in request.findtext("status_notes")
    listed = app.get(f"{base}/requests.json", params={"service_code": "leak"}, timeout=10)
    assert [r["service_request_id"] for r in listed.json()] == [number]


@pytest.mark.browser
def test_the_admin_makes_a_key_in_the_browser_and_an_app_submits_with_it(live_server, page):
    """The key page is in the administrator's top bar; the key shown once opens POST."""
    log_in(page, live_server.url, "admin")
    page.locator("nav a", has_text="Open311 应用").click()
    expect(page).to_have_url(f"{live_server.url}/admin/open311")
    page.locator("#open311-add input[name=name]").fill("公众号")
    page.locator("#open311-add button[type=submit]").click()
    key = page.locator("#open311-new-key code").inner_text().strip()
    assert key.startswith("o311_")
    expect(page.locator("#open311-clients")).to_contain_text("公众号")

    form = {
        "api_key": key,
        "service_code": "billing",
        "address_string": "禹城市汉槐街 18 号",
        "description": "本月水费比上月高很多",
        "phone": "13805341234",
    }
    created = requests.post(f"{live_server.url}{V2}/requests.json", data=form, timeout=10)
    assert created.status_code == 201, created.text

    page.locator("#open311-clients button", has_text="撤销").click()
    expect(page.locator("#open311-clients")).to_contain_text("已撤销")
    refused = requests.post(f"{live_server.url}{V2}/requests.json", data=form, timeout=10)
    assert refused.status_code == 403
