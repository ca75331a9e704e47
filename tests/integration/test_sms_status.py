"""Case status by SMS reply, and the outage a caller hears before the queue.

Checked: a text holding a case number from the case's contact phone is
answered with the stage, promised time and next step, as the public status
page words them, and nothing personal; any other number gets the answer a
missing case gets; texts are throttled per number; the Twilio webhook is
signed like the voice webhooks; the simulator texts the same way. A caller
from an address with an outage hears it (P8) after the greeting and before
``<Enqueue>``, in the configured voice; the simulator shows the same lines.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from callflows.services.sms_status import read_case_number, status_reply
from hotline.domain.lifecycle import State
from tests.integration.callhelp import make_flows
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.integration.test_outage_notices import add_customers, publish
from tests.integration.test_twilio_webhooks import (  # noqa: F401 - fixtures
    BASE,
    TOKEN,
    http,
    signed_post,
    twilio_app,
)
from tests.support import bring_case_to, seed_org

OWNER = "+8613805341234"
STRANGER = "+8613905349999"


def test_read_case_number_forgives_spaces_case_and_full_width_dashes():
    assert read_case_number(" ry－20261126－0007 ") == "RY-20261126-0007"
    assert read_case_number("查询 进度") is None
    assert read_case_number("") is None


def test_the_case_status_reaches_only_the_case_phone(svc, org, clock):
    flows = make_flows()
    number = bring_case_to(svc, org, State.ASSIGNED, contact_phone="13805341234")
    reply = status_reply(svc, flows, "13805341234", number.lower())
    assert reply.startswith(f"【{flows.company_short}】工单{number}:已派单。承诺时间")
    assert reply.endswith("维修班组将在承诺时间内安排人员处理。")
    assert "孙先生" not in reply and "汉槐街" not in reply
    # Another phone ending in the same four digits, and a case that does not exist,
    # are answered alike.
    other = status_reply(svc, flows, "13905341234", number)
    missing = status_reply(svc, flows, "13805341234", "RY-20991231-9999")
    assert "没有找到由本机号码反映的工单" in other and "已派单" not in other
    assert missing.replace("RY-20991231-9999", number) == other
    assert "请直接回复工单号" in status_reply(svc, flows, "13805341234", "你好")


def test_a_closed_case_shows_no_promise(svc, org, clock):
    flows = make_flows()
    number = bring_case_to(svc, org, State.CLOSED, contact_phone="13805341234")
    reply = status_reply(svc, flows, OWNER, number)
    assert "已办结" in reply and "承诺时间" not in reply


def _message(response) -> str | None:
    root = ET.fromstring(response.get_data(as_text=True))
    found = root.find("Message")
    return None if found is None else found.text


def test_the_twilio_sms_webhook_answers_the_case_owner_and_is_throttled(twilio_app, clock):  # noqa: F811
    svc = twilio_app.extensions["hotline"]
    org = seed_org(svc)
    number = bring_case_to(svc, org, State.WITH_DISPATCH, contact_phone="13805341234")
    client = twilio_app.test_client()
    params = {"MessageSid": "SM" + "a" * 32, "From": OWNER, "To": "+8653400000000", "Body": number}
    assert client.post("/twilio/sms", data=params).status_code == 403
    wrong = signed_post(client, "/twilio/sms", params, token="not-the-token")
    assert wrong.status_code == 403
    first = signed_post(client, "/twilio/sms", params)
    assert first.status_code == 200 and first.mimetype == "text/xml"
    assert f"工单{number}:已受理" in (_message(first) or "")
    for _ in range(4):
        signed_post(client, "/twilio/sms", params)
    throttled = signed_post(client, "/twilio/sms", params)
    assert throttled.status_code == 200 and _message(throttled) is None
    other = signed_post(client, "/twilio/sms", {**params, "From": STRANGER})
    assert "没有找到" in (_message(other) or "")
    too_long = signed_post(
        client, "/twilio/sms", {**params, "From": "+8613905340000", "Body": "1" * 1601}
    )
    assert too_long.status_code == 422 and "Body" in too_long.get_data(as_text=True)


def _say_and_enqueue(response) -> list[tuple[str, str]]:
    root = ET.fromstring(response.get_data(as_text=True))
    return [(child.tag, child.text or "") for child in root]


def test_p8_a_caller_from_an_outage_area_hears_it_before_the_queue(twilio_app, clock):  # noqa: F811
    """P8: the greeting announces the outage at the caller's address before <Enqueue>."""
    svc = twilio_app.extensions["hotline"]
    org = seed_org(svc)
    add_customers(svc)
    publish(svc, org, clock, hours=6)
    client = twilio_app.test_client()
    params = {"CallSid": "CA" + "c" * 32, "From": OWNER, "To": "+8653400000000"}
    parts = _say_and_enqueue(signed_post(client, "/twilio/voice", params))
    assert [tag for tag, _text in parts] == ["Say", "Say", "Enqueue"]
    local_end = (clock.now + timedelta(hours=6)).astimezone(svc.timezone)
    assert parts[1][1].startswith("因DN300 主管爆管抢修,汉槐街东段正在停水")
    assert f"预计{local_end.month}月{local_end.day}日{local_end:%H:%M}恢复供水" in parts[1][1]
    root = ET.fromstring(signed_post(client, "/twilio/voice", params).get_data(as_text=True))
    say = root.findall("Say")[1]
    assert say.get("language") == "cmn-CN" and say.get("voice")
    # A caller from outside the area hears only the greeting.
    outside = {**params, "CallSid": "CA" + "d" * 32, "From": "+8613605341111"}
    assert [t for t, _ in _say_and_enqueue(signed_post(client, "/twilio/voice", outside))] == [
        "Say",
        "Enqueue",
    ]


def test_p8_the_simulator_shows_what_the_caller_hears_and_texts_the_hotline(app, client, clock):
    """P8: the simulated caller's page lists the outage line after the greeting."""
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    add_customers(svc)
    publish(svc, org, clock, hours=6)
    number = bring_case_to(svc, org, State.ASSIGNED, contact_phone="13805341234")
    logged_in(client, "operator")
    token = csrf_from(text_of(client.get("/simulator")))
    placed = client.post("/simulator", data={"csrf_token": token, "from": "13805341234"})
    assert placed.status_code == 302
    page = text_of(client.get(placed.headers["Location"]))
    assert 'id="caller-hears"' in page and "汉槐街东段正在停水" in page
    texted = client.post(
        "/simulator/sms", data={"csrf_token": token, "from": "13805341234", "body": number}
    )
    assert texted.status_code == 200 and f"工单{number}:已派单" in text_of(texted)
    empty = client.post("/simulator/sms", data={"csrf_token": token, "from": "", "body": number})
    assert empty.status_code == 422 and 'data-field="From"' in text_of(empty)
