"""Open311 GeoReport v2: the public apps' way in, on SQLite and PostgreSQL.

A request from an app becomes a case through the same intake as a call,
owned by the dispatcher on duty (G4); its status follows the case; reading
shows nothing personal; every refusal uses the specification's error list.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.services import duty
from hotline.domain import open311 as rules
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Channel, Disposition, FollowUpOutcome, Role
from hotline.models import Case, Contact, Open311Client, Open311Request, Staff
from hotline.services import Actor
from hotline.services import open311 as service
from hotline.web import open311 as web
from hotline.web.auth import create_staff
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import PASSWORD, RATED, act, bring_case_to

BASE = "/open311/v2"


def _key(app, name: str = "微信公众号") -> str:
    svc = app.extensions["hotline"]
    with svc.sessions() as session, session.begin():
        _client, key = service.add_client(session, name, now=svc.now())
    return key


def _on_duty(app, org, who: str = "dispatcher") -> None:
    svc = app.extensions["hotline"]
    now = svc.now()
    duty.add_shift(
        svc,
        org["supervisor"],
        staff_id=org[who].id if who in org.actors else who,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=8),
    )


def _leak(key: str, **changes: Any) -> dict[str, Any]:
    form = {
        "api_key": key,
        "service_code": "leak",
        "lat": "36.934",
        "long": "116.638",
        "address_string": "禹城市汉槐街 18 号门前",
        "description": "路边冒水,联系我 13805341234 或 sun@example.com",
        "phone": "13805341234",
        "first_name": "明",
        "last_name": "孙",
        "email": "sun@example.com",
        "device_id": "device-1",
        "account_id": "wx-42",
        "media_url": "https://img.example.com/leak.jpg",
        "attribute[place]": "road",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _count(app, model) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _case(app, number: str) -> Case:
    with app.extensions["hotline"].sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        session.expunge(case)
        return case


def _errors(response) -> list[dict[str, Any]]:
    body = response.get_json()
    assert isinstance(body, list) and body, body
    for error in body:
        assert error["code"] == response.status_code
    return body


# -- the service list ----------------------------------------------------------------------


def test_the_service_list_has_one_service_per_category_in_json_and_xml(app, client):
    rows = client.get(f"{BASE}/services.json").get_json()
    assert [row["service_code"] for row in rows] == [str(c) for c in Category]
    leak = rows[0]
    assert leak["service_name"] == "漏水/爆管" and leak["metadata"] is True
    assert leak["type"] == "realtime" and leak["group"] == "报修"
    response = client.get(f"{BASE}/services.xml")
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == [
        str(c) for c in Category
    ]
    english = client.get(f"{BASE}/services.json?locale=en").get_json()
    assert english[0]["service_name"] != "漏水/爆管" and english[0]["service_name"].isascii()


def test_a_service_definition_lists_its_attributes_and_an_unknown_code_is_404(app, client):
    body = client.get(f"{BASE}/services/leak.json").get_json()
    assert body["service_code"] == "leak"
    (place,) = body["attributes"]
    assert place["code"] == "place" and place["datatype"] == "singlevaluelist"
    assert place["required"] is True and place["variable"] is True
    assert {v["key"] for v in place["values"]} == {"road", "meter_well", "indoor", "other"}
    assert client.get(f"{BASE}/services/billing.json").get_json()["attributes"] == []
    root = ET.fromstring(client.get(f"{BASE}/services/water_quality.xml").data)
    assert root.tag == "service_definition"
    assert root.find("attributes/attribute/values/value/key").text == "colour"

    missing = client.get(f"{BASE}/services/nothing.json")
    assert missing.status_code == 404 and "nothing" in _errors(missing)[0]["description"]
    missing_xml = client.get(f"{BASE}/services/nothing.xml")
    assert missing_xml.status_code == 404
    root = ET.fromstring(missing_xml.data)
    assert root.tag == "errors" and root.findtext("error/code") == "404"
    assert client.get(f"{BASE}/nowhere.json").status_code == 404


def test_every_question_and_answer_of_a_service_has_a_translation():
    for svc in rules.SERVICES:
        for attribute in svc.attributes:
            assert attribute.description in web.WORDS
            for value in attribute.values:
                assert value.name in web.WORDS
        assert svc.category in web.SERVICE_DESCRIPTION


# -- a submission ---------------------------------------------------------------------------


def test_a_request_enters_the_same_intake_owned_by_the_dispatcher_on_duty(app, app_org, client):
    """G4: the dispatcher on duty when the request arrives becomes its first responder,
    through the same intake as a call (channel web), in one transaction."""
    svc = app.extensions["hotline"]
    with svc.sessions() as session:
        night = create_staff(
            session,
            username="night",
            password=PASSWORD,
            role=Role.DISPATCHER,
            display_name="Zz 夜班调度",
            department_id=app_org.departments["DISPATCH"],
            now=svc.now(),
        )
        session.commit()
        night_id = night.id
    app_org.actors["night"] = Actor(night_id, Role.DISPATCHER, app_org.departments["DISPATCH"])
    _on_duty(app, app_org, "night")
    response = client.post(f"{BASE}/requests.json", data=_leak(_key(app)))
    assert response.status_code == 201, response.get_data(as_text=True)
    (row,) = response.get_json()
    number = row["service_request_id"]
    assert row["account_id"] == "wx-42"
    case = _case(app, number)
    assert case.first_responder_id == night_id
    assert case.channel == Channel.WEB and case.category == Category.LEAK
    assert case.state == State.WITH_DISPATCH
    assert case.contact_phone == "+8613805341234" and case.contact_name == "孙明"
    assert "漏水位置:路面或人行道" in case.problem
    assert case.promised_at is not None
    assert number in row["service_notice"]
    assert (
        case.promised_at.astimezone(svc.timezone).strftime("%m-%d %H:%M") in row["service_notice"]
    )
    with svc.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.case_id == case.id))
        assert contact.handled_by_id == night_id and contact.channel == Channel.WEB
        assert "微信公众号" in contact.summary
        extra = session.scalar(select(Open311Request).where(Open311Request.case_id == case.id))
        assert (extra.lat, extra.long) == (36.934, 116.638)
        assert extra.email == "sun@example.com" and extra.attributes == {"place": "road"}


def test_with_nobody_on_the_roster_a_dispatcher_still_owns_it_and_the_record_says_so(
    app, app_org, client
):
    """G4: every contact gets an accountable owner at intake, even in a roster gap."""
    response = client.post(f"{BASE}/requests.json", data=_leak(_key(app)))
    assert response.status_code == 201
    case = _case(app, response.get_json()[0]["service_request_id"])
    assert case.first_responder_id == app_org["dispatcher"].id
    with app.extensions["hotline"].sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.case_id == case.id))
        assert "值班表此时无人值班" in contact.summary


def test_with_no_active_dispatcher_nothing_is_saved_and_the_app_may_try_again(app, app_org, client):
    """G4: no owner, no case: 503, nothing written."""
    key = _key(app)
    with app.extensions["hotline"].sessions() as session:
        for person in session.scalars(select(Staff).where(Staff.role == Role.DISPATCHER)):
            person.active = False
        session.commit()
    response = client.post(f"{BASE}/requests.json", data=_leak(key))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "nothing was saved" in _errors(response)[0]["description"]
    assert _count(app, Case) == 0 and _count(app, Open311Request) == 0


def test_a_submission_in_xml_answers_in_xml(app, app_org, client):
    _on_duty(app, app_org)
    response = client.post(f"{BASE}/requests.xml", data=_leak(_key(app)))
    assert response.status_code == 201
    root = ET.fromstring(response.data)
    assert root.tag == "service_requests"
    number = root.findtext("request/service_request_id")
    assert number and _case(app, number).state == State.WITH_DISPATCH


@pytest.mark.parametrize(
    ("key", "changes"),
    [
        ("", {}),
        ("o311_not-a-key", {}),
        ("o311_not-a-key", {"lat": "999", "service_code": "nothing"}),
    ],
    ids=["no-key", "unknown-key", "unknown-key-before-bad-body"],
)
def test_a_missing_or_unknown_key_is_403_before_the_body_is_read(
    app, app_org, client, key, changes
):
    _key(app)
    response = client.post(f"{BASE}/requests.json", data=_leak(key, **changes))
    assert response.status_code == 403
    assert "api_key" in _errors(response)[0]["description"]
    assert _count(app, Case) == 0


def test_a_revoked_key_submits_no_more_but_its_requests_stay_readable(app, app_org, client):
    _on_duty(app, app_org)
    key = _key(app, "旧应用")
    number = client.post(f"{BASE}/requests.json", data=_leak(key)).get_json()[0][
        "service_request_id"
    ]
    svc = app.extensions["hotline"]
    with svc.sessions() as session, session.begin():
        service.revoke_client(session, now=svc.now(), name="旧应用")
    assert client.post(f"{BASE}/requests.json", data=_leak(key)).status_code == 403
    assert client.get(f"{BASE}/requests/{number}.json").status_code == 200
    with svc.sessions() as session:
        stored = session.scalar(select(Open311Client.key_hash))
    assert stored == service.hash_key(key) and key not in stored


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lat": None, "long": None, "address_string": None}, "address_string"),
        ({"lat": None, "long": None, "address_string": None, "address_id": "A-17"}, "address_id"),
        ({"long": None}, "long"),
        ({"lat": "91"}, "lat"),
        ({"long": "-180.5"}, "long"),
        ({"lat": "nan"}, "lat"),
        ({"lat": "north"}, "lat"),
        ({"service_code": "nothing"}, "service_code"),
        ({"attribute[place]": None}, "attribute[place]"),
        ({"attribute[place]": "roof"}, "attribute[place]"),
        ({"attribute[colour]": "red"}, "attribute[colour]"),
        ({"description": None}, "description"),
        ({"description": "水" * 4001}, "description"),
        ({"description": "漏水\x00"}, "description"),
        ({"phone": None}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"email": "not-an-address"}, "email"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"address_string": "路" * 301}, "address_string"),
        ({"first_name": "名" * 41}, "first_name"),
        ({"last_name": "x" * 41}, "last_name"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_nothing_is_written(
    app, app_org, client, changes, field
):
    _on_duty(app, app_org)
    response = client.post(f"{BASE}/requests.json", data=_leak(_key(app), **changes))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in _errors(response)[0]["description"]
    assert _count(app, Case) == 0 and _count(app, Contact) == 0
    assert _count(app, Open311Request) == 0


def test_a_repeated_idempotency_key_opens_no_second_case(app, app_org, client):
    _on_duty(app, app_org)
    key = _key(app)
    first = client.post(
        f"{BASE}/requests.json", data=_leak(key), headers={"Idempotency-Key": "sub-1"}
    )
    again = client.post(
        f"{BASE}/requests.json", data=_leak(key), headers={"Idempotency-Key": "sub-1"}
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    number = first.get_json()[0]["service_request_id"]
    assert again.get_json()[0]["service_request_id"] == number
    assert _count(app, Case) == 1
    other = client.post(
        f"{BASE}/requests.json",
        data=_leak(key, description="另一处漏水"),
        headers={"Idempotency-Key": "sub-1"},
    )
    assert other.status_code == 422 and "Idempotency-Key" in _errors(other)[0]["description"]
    assert _count(app, Case) == 1
    second = client.post(
        f"{BASE}/requests.json", data=_leak(key), headers={"Idempotency-Key": "sub-2"}
    )
    assert second.status_code == 201 and _count(app, Case) == 2


def test_unknown_keys_from_one_address_are_throttled(app, app_org, client):
    for _ in range(20):
        assert client.post(f"{BASE}/requests.json", data=_leak("o311_guess")).status_code == 403
    response = client.post(f"{BASE}/requests.json", data=_leak("o311_guess"))
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert _errors(response)


# -- reading --------------------------------------------------------------------------------


def test_a_request_shows_its_case_status_and_nothing_personal(app, app_org, client):
    _on_duty(app, app_org)
    number = client.post(f"{BASE}/requests.json", data=_leak(_key(app))).get_json()[0][
        "service_request_id"
    ]
    response = client.get(f"{BASE}/requests/{number}.json")
    (row,) = response.get_json()
    assert row["service_request_id"] == number and row["status"] == "open"
    assert row["service_code"] == "leak" and row["service_name"] == "漏水/爆管"
    assert row["lat"] == 36.934 and row["long"] == 116.638
    assert row["address"] == "禹城市汉槐街 18 号门前"
    assert row["media_url"] == "https://img.example.com/leak.jpg"
    assert row["requested_datetime"].endswith("+08:00")
    assert row["expected_datetime"] == rules.w3c_time(
        _case(app, number).promised_at, app.extensions["hotline"].timezone
    )
    assert "调度中心正在安排处理" in row["status_notes"]
    text = response.get_data(as_text=True) + client.get(f"{BASE}/requests/{number}.xml").get_data(
        as_text=True
    )
    assert "*******1234" in row["description"]
    for personal in (
        "13805341234",
        "+8613805341234",
        "sun@example.com",
        "孙明",
        "wx-42",
        "device-1",
    ):
        assert personal not in text
    assert "dispatcher" not in text


def test_the_status_follows_the_case_to_closed(app, app_org, client):
    svc = app.extensions["hotline"]
    _on_duty(app, app_org)
    number = client.post(f"{BASE}/requests.json", data=_leak(_key(app))).get_json()[0][
        "service_request_id"
    ]
    repair = app_org.departments["REPAIR"]
    act(svc, app_org["dispatcher"], number, Action.ASSIGN, department_id=repair)
    row = client.get(f"{BASE}/requests/{number}.json").get_json()[0]
    assert row["status"] == "open" and "已派单" in row["status_notes"]
    assert row["agency_responsible"] == "REPAIR"
    for who, action, data in [
        ("crew", Action.ACCEPT, {}),
        ("crew", Action.ASSIGN_WORKER, {"staff_id": app_org["crew"].id}),
        ("crew", Action.ACKNOWLEDGE, {}),
        ("crew", Action.START_WORK, {}),
        ("crew", Action.ARRIVE, {}),
        ("crew", Action.COMPLETE, {"result_note": "已更换管段", "customer_rating": 5}),
        ("dispatcher", Action.CONFIRM_DONE, {}),
        ("operator", Action.CLOSE, {"outcome": FollowUpOutcome.SATISFIED.value, **RATED}),
    ]:
        act(svc, app_org[who], number, action, **data)
    row = client.get(f"{BASE}/requests/{number}.json").get_json()[0]
    assert row["status"] == "closed" and "已办结" in row["status_notes"]
    english = client.get(f"{BASE}/requests/{number}.json?locale=en").get_json()[0]
    assert english["status_notes"].startswith("Done")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in english["status_notes"])
    closed = client.get(f"{BASE}/requests.json?status=closed").get_json()
    assert [r["service_request_id"] for r in closed] == [number]
    assert client.get(f"{BASE}/requests.json?status=open").get_json() == []


def test_the_query_filters_of_the_specification(app, app_org, client, clock):
    _on_duty(app, app_org)
    key = _key(app)
    leak = client.post(f"{BASE}/requests.json", data=_leak(key)).get_json()[0]
    clock.advance(hours=2)
    quality = client.post(
        f"{BASE}/requests.json",
        data=_leak(key, service_code="water_quality", **{"attribute[place]": None}),
    )
    assert quality.status_code == 400  # water_quality needs its own answer
    quality = client.post(
        f"{BASE}/requests.json",
        data={
            **_leak(key, service_code="water_quality", **{"attribute[place]": None}),
            "attribute[symptom][]": ["colour", "smell"],
        },
    ).get_json()[0]
    numbers = lambda response: [r["service_request_id"] for r in response.get_json()]  # noqa: E731
    both = [quality["service_request_id"], leak["service_request_id"]]
    assert numbers(client.get(f"{BASE}/requests.json")) == both
    assert numbers(client.get(f"{BASE}/requests.json?service_code=leak")) == both[1:]
    assert numbers(client.get(f"{BASE}/requests.json?service_code=leak,water_quality")) == both
    assert (
        numbers(
            client.get(
                f"{BASE}/requests.json?service_request_id={both[1]}&service_code=water_quality"
            )
        )
        == both[1:]
    )
    start = (clock.now - timedelta(hours=1)).isoformat()
    assert numbers(client.get(f"{BASE}/requests.json", query_string={"start_date": start})) == [
        both[0]
    ]
    assert numbers(client.get(f"{BASE}/requests.json", query_string={"end_date": start})) == [
        both[1]
    ]
    assert numbers(client.get(f"{BASE}/requests.json?status=open,closed")) == both
    root = ET.fromstring(client.get(f"{BASE}/requests.xml").data)
    assert [r.findtext("service_request_id") for r in root.findall("request")] == both
    for bad, field in [
        ({"status": "pending"}, "status"),
        ({"start_date": "yesterday"}, "start_date"),
        (
            {"start_date": "2026-11-26T10:00:00+08:00", "end_date": "2026-11-25T10:00:00+08:00"},
            "end_date",
        ),
        (
            {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-11-25T10:00:00+08:00"},
            "end_date",
        ),
        ({"locale": "fr"}, "locale"),
    ]:
        response = client.get(f"{BASE}/requests.json", query_string=bad)
        assert response.status_code == 400, (bad, response.get_data(as_text=True))
        assert field in _errors(response)[0]["description"]


def test_cases_from_other_channels_are_not_published(app, app_org, client):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    assert client.get(f"{BASE}/requests/{number}.json").status_code == 404
    assert client.get(f"{BASE}/requests.json").get_json() == []
    assert client.get(f"{BASE}/requests/{'9' * 40}.json").status_code == 404


# -- the keys: the administrator's page and the command --------------------------------------


def test_the_admin_adds_and_revokes_an_app_key_from_the_page(app, app_org, client):
    logged_in(client, "admin")
    page = client.get("/admin/open311")
    assert page.status_code == 200 and "/admin/open311" in text_of(client.get("/admin/staff"))
    token = csrf_from(text_of(page))
    added = client.post("/admin/open311", data={"name": "市民通 App", "csrf_token": token})
    assert added.status_code == 201
    html = text_of(added)
    key = html.split("<code>o311_", 1)[1].split("</code>", 1)[0]
    key = "o311_" + key
    _on_duty(app, app_org)
    anon = app.test_client()
    assert anon.post(f"{BASE}/requests.json", data=_leak(key)).status_code == 201
    assert key not in text_of(client.get("/admin/open311"))
    duplicate = client.post("/admin/open311", data={"name": "市民通 App", "csrf_token": token})
    assert duplicate.status_code == 409 and "市民通 App" in text_of(duplicate)
    with app.extensions["hotline"].sessions() as session:
        client_id = session.scalar(select(Open311Client.id))
    revoked = client.post(f"/admin/open311/{client_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 200 and "已撤销" in text_of(revoked)
    assert anon.post(f"{BASE}/requests.json", data=_leak(key)).status_code == 403


def test_only_the_admin_opens_the_key_page(app, app_org, client):
    logged_in(client, "dispatcher")
    assert client.get("/admin/open311").status_code == 403


def test_the_same_submission_sent_twice_at_once_opens_one_case(app, app_org):
    """Two copies of one submission (same app, same Idempotency-Key) racing: one case,
    both answered with its number."""
    svc = app.extensions["hotline"]
    _on_duty(app, app_org)
    key = _key(app)
    submission = service.Submission(
        service_code="leak",
        description="路边冒水",
        phone="13805341234",
        address_string="禹城市汉槐街 18 号",
        attributes={"place": ["road"]},
    )
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        try:
            answers.append(
                service.submit(
                    svc, key, submission, owner=duty.owner_of_new_work, idempotency_key="race"
                )
            )
        except Exception as exc:  # the test reports whatever went wrong
            answers.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(answer, service.Submitted) for answer in answers), answers
    assert len({answer.number for answer in answers}) == 1
    assert sorted(answer.replayed for answer in answers) == [False, True]
    assert _count(app, Case) == 1 and _count(app, Open311Request) == 1


def test_a_phone_number_typed_into_the_address_is_masked_too(app, app_org, client):
    key = _key(app)
    form = _leak(key, address_string="汉槐街 18 号,到了打 13905349876", lat=None, long=None)
    number = client.post(f"{BASE}/requests.json", data=form).get_json()[0]["service_request_id"]
    row = client.get(f"{BASE}/requests/{number}.json").get_json()[0]
    assert row["address"] == "汉槐街 18 号,到了打 *******9876"
    assert row["lat"] is None and row["long"] is None
    assert _case(app, number).address == "汉槐街 18 号,到了打 13905349876"


@pytest.mark.parametrize("code", ["billing", "complaint", "consultation", "no_water"])
def test_every_service_goes_to_the_dispatch_center_never_transferred_at_intake(
    app, app_org, client, code
):
    """G5, G6, P5: nobody spoke with the resident, so nobody could tell them where to go:
    a request is never transferred or answered at intake; it is handed to dispatch."""
    attribute = {"no_water": {"attribute[scope]": "building"}}.get(code, {})
    form = _leak(_key(app), service_code=code, **{"attribute[place]": None}, **attribute)
    response = client.post(f"{BASE}/requests.json", data=form)
    assert response.status_code == 201, response.get_data(as_text=True)
    case = _case(app, response.get_json()[0]["service_request_id"])
    assert case.state == State.WITH_DISPATCH and case.category == Category(code)
    with app.extensions["hotline"].sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.case_id == case.id))
        assert contact.disposition == Disposition.CASE_CREATED
