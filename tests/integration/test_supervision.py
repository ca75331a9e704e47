"""Supervision orders (督办 / 催办): issued to a department or a person, told live,
answered by the addressee, overdue ones first; through the services, the API and the pages."""

from __future__ import annotations

import html
import uuid
from datetime import timedelta

import pytest

from dispatch.services import supervision
from hotline import services
from hotline.domain.lifecycle import State
from hotline.services import Conflict, Forbidden, Invalid, NotFound
from tests.integration.pagehelp import forms_of, logged_in, text_of
from tests.support import bring_case_to


def _issue(svc, org, number, who="supervisor", **overrides):
    body = {
        "instruction": "请今天下班前到场处理并回复",
        "to_department_id": org.departments["REPAIR"],
    }
    body.update(overrides)
    return supervision.issue(svc, org[who], number, **body)


def test_a_supervisor_issues_an_order_the_addressee_hears_and_the_history_records(svc, org, clock):
    published = []
    svc.publish = published.append
    number = bring_case_to(svc, org, State.ASSIGNED)
    order = _issue(svc, org, number, kind="urge", due_in_minutes=120)
    assert order.kind == "urge" and order.status == "open" and order.to_department_name == "REPAIR"
    assert order.due_at == clock.now + timedelta(hours=2)
    assert order.issued_by_id == org["supervisor"].id
    [notice] = [p for p in published if p["action"] == "supervision_issued"]
    assert notice["case"] == number and notice["to_department_id"] == org.departments["REPAIR"]
    with svc.sessions() as session:
        last = services.history(session, org["supervisor"], number)[-1]
    assert last.action == "supervision_issued"
    assert last.data["supervision_order_id"] == order.id
    assert last.data["note"] == "请今天下班前到场处理并回复"


def test_a_dispatcher_may_issue_to_a_person(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    order = _issue(
        svc, org, number, "dispatcher", to_department_id=None, to_staff_id=org["crew"].id
    )
    assert order.to_staff_id == org["crew"].id and order.to_department_id is None


@pytest.mark.parametrize("who", ["operator", "crew", "admin"])
def test_only_supervisors_and_dispatchers_issue(svc, org, who):
    number = bring_case_to(svc, org, State.ASSIGNED)
    with pytest.raises((Forbidden, NotFound)):
        _issue(svc, org, number, who)


def test_bad_orders_are_refused_naming_the_field(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    with pytest.raises(Invalid) as refused:
        _issue(svc, org, number, to_staff_id=org["crew"].id)
    assert refused.value.field == "to_staff_id"
    with pytest.raises(NotFound) as missing:
        _issue(svc, org, number, to_department_id=999)
    assert missing.value.field == "to_department_id"
    with pytest.raises(Invalid) as admin:
        _issue(svc, org, number, to_department_id=None, to_staff_id=org["admin"].id)
    assert admin.value.field == "to_staff_id"
    closed = bring_case_to(svc, org, State.CLOSED)
    with pytest.raises(Conflict):
        _issue(svc, org, closed)


def test_the_addressee_answers_once_and_nobody_else(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    order = _issue(svc, org, number)
    with pytest.raises(Forbidden) as refused:
        supervision.answer(svc, org["crew_meter"], order.id, answer="不是我们的")
    assert refused.value.rule == "G7"
    answered = supervision.answer(svc, org["crew"], order.id, answer="已安排班组,16 时前到场")
    assert answered.status == "answered" and answered.answered_by_id == org["crew"].id
    with pytest.raises(Conflict):
        supervision.answer(svc, org["crew"], order.id, answer="再答一次")
    with svc.sessions() as session:
        last = services.history(session, org["supervisor"], number)[-1]
    assert last.action == "supervision_answered" and last.data["answer"] == "已安排班组,16 时前到场"


def test_overdue_orders_show_first_and_the_board_reads_open_orders_per_case(svc, org, clock):
    first = bring_case_to(svc, org, State.ASSIGNED)
    second = bring_case_to(svc, org, State.ASSIGNED)
    soon = _issue(svc, org, first, due_in_minutes=30)
    later = _issue(svc, org, second, due_in_minutes=240)
    done = _issue(svc, org, second, due_in_minutes=60)
    supervision.answer(svc, org["crew"], done.id, answer="已处理")
    clock.advance(hours=1)
    with svc.sessions() as session:
        listed = supervision.list_orders(session, org["supervisor"], clock.now)
        assert [(o.id, o.status) for o in listed] == [
            (soon.id, "overdue"),
            (later.id, "open"),
            (done.id, "answered"),
        ]
        assert [o.id for o in supervision.list_orders(session, org["crew"], clock.now)] == [
            soon.id,
            later.id,
            done.id,
        ]
        assert supervision.list_orders(session, org["crew_meter"], clock.now) == []
        cases = {c: services.case_by_number(session, c).id for c in (first, second)}
        board = supervision.open_orders_by_case(session, cases.values(), clock.now)
    assert [o.id for o in board[cases[first]]] == [soon.id]
    assert [o.id for o in board[cases[second]]] == [later.id]


# -- the API ---------------------------------------------------------------------------


def _bearer(org, who, **extra):
    return {"Authorization": f"Bearer {org.tokens[who]}", **extra}


def _svc(app):
    return app.extensions["hotline"]


def test_the_api_checks_the_caller_before_the_body(app, app_org, client):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    response = client.post(f"/api/cases/{number}/supervision-orders", data="not json")
    assert response.status_code == 401
    response = client.post("/api/supervision-orders/1/answer", json={"answer": 5})
    assert response.status_code == 401


def test_the_api_issues_lists_and_answers(app, app_org, client):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    url = f"/api/cases/{number}/supervision-orders"
    body = {"instruction": "请回复处理进度", "to_department_id": app_org.departments["REPAIR"]}
    headers = _bearer(app_org, "supervisor", **{"Idempotency-Key": str(uuid.uuid4())})
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    again = client.post(url, json=body, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    listed = client.get(url, headers=_bearer(app_org, "operator")).get_json()
    assert [o["id"] for o in listed] == [first.get_json()["id"]]
    assert listed[0]["status"] == "open" and listed[0]["kind"] == "supervise"
    order_id = first.get_json()["id"]
    refused = client.post(
        f"/api/supervision-orders/{order_id}/answer",
        json={"answer": "我来答"},
        headers=_bearer(app_org, "crew_meter"),
    )
    assert refused.status_code == 403 and refused.get_json()["rule"] == "G7"
    answered = client.post(
        f"/api/supervision-orders/{order_id}/answer",
        json={"answer": "已到场"},
        headers=_bearer(app_org, "crew"),
    )
    assert answered.status_code == 200 and answered.get_json()["status"] == "answered"
    mine = client.get("/api/supervision-orders?open_only=true", headers=_bearer(app_org, "crew"))
    assert mine.status_code == 200 and mine.get_json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to_department_id": 3}, "instruction"),
        ({"instruction": "请回复", "to_department_id": 3, "due_in_minutes": 5}, "due_in_minutes"),
        ({"instruction": "请回复", "to_department_id": "三"}, "to_department_id"),
        ({"instruction": "请回复", "to_department_id": 3, "kind": "shout"}, "kind"),
        ({"instruction": "请回复", "to_department_id": 3, "extra": 1}, "extra"),
    ],
)
def test_bad_api_input_is_a_422_naming_the_field(app, app_org, client, body, field):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    response = client.post(
        f"/api/cases/{number}/supervision-orders", json=body, headers=_bearer(app_org, "supervisor")
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["field"] == field


def test_the_api_refuses_two_addressees_and_unknown_orders(app, app_org, client):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    both = {
        "instruction": "请回复",
        "to_department_id": app_org.departments["REPAIR"],
        "to_staff_id": app_org["crew"].id,
    }
    response = client.post(
        f"/api/cases/{number}/supervision-orders", json=both, headers=_bearer(app_org, "dispatcher")
    )
    assert response.status_code == 422 and response.get_json()["field"] == "to_staff_id"
    response = client.post(
        "/api/supervision-orders/4242/answer",
        json={"answer": "x"},
        headers=_bearer(app_org, "crew"),
    )
    assert response.status_code == 404
    response = client.post(
        f"/api/cases/{number}/supervision-orders",
        json={"instruction": "请回复", "to_department_id": app_org.departments["REPAIR"]},
        headers=_bearer(app_org, "operator"),
    )
    assert response.status_code == 403


# -- pages -----------------------------------------------------------------------------


def _form(page: str, form_id: str | None = None, marker: str | None = None) -> dict:
    for form in forms_of(page):
        if form_id and form["attrs"].get("id") == form_id:
            return form
        if marker and marker in form["attrs"].get("action", ""):
            return form
    raise AssertionError(f"no form {form_id or marker}")


def test_issue_and_answer_from_the_case_page_and_the_list(app, app_org, client, clock):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    logged_in(client, "supervisor")
    page = text_of(client.get(f"/cases/{number}"))
    form = _form(page, form_id="supervision-form")
    data = {
        **form["fields"],
        "kind": "supervise",
        "to_department_id": str(app_org.departments["REPAIR"]),
        "to_staff_id": "",
        "due_in_minutes": "60",
        "instruction": "请一小时内回复",
    }
    response = client.post(form["attrs"]["action"], data=data)
    assert response.status_code == 302, text_of(response)
    page = text_of(client.get(f"/cases/{number}"))
    assert "请一小时内回复" in page and 'id="supervision-orders"' in page
    clock.advance(hours=2)
    listing = text_of(client.get("/supervision"))
    assert 'id="supervision-list"' in listing and 'class="overdue"' in listing
    client.post("/logout", data={"csrf_token": forms_of(listing)[0]["fields"]["csrf_token"]})

    crew = app.test_client()
    logged_in(crew, "crew")
    page = text_of(crew.get(f"/cases/{number}"))
    answer = _form(page, marker="/answer")
    response = crew.post(
        answer["attrs"]["action"], data={**answer["fields"], "answer": "已到场处理"}
    )
    assert response.status_code == 302
    with _svc(app).sessions() as session:
        [order] = supervision.orders_for_case(session, app_org["crew"], number, clock.now)
    assert order.status == "answered_late" and order.answer == "已到场处理"


def test_the_case_page_form_refuses_bad_input_naming_the_field(app, app_org, client):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    logged_in(client, "dispatcher")
    page = text_of(client.get(f"/cases/{number}"))
    form = _form(page, form_id="supervision-form")
    response = client.post(
        form["attrs"]["action"],
        data={**form["fields"], "to_department_id": "", "to_staff_id": "", "instruction": "请回复"},
    )
    assert response.status_code == 422
    assert 'data-field="to_department_id"' in html.unescape(text_of(response))


def test_the_form_is_not_offered_to_those_who_may_not_issue(app, app_org, client):
    number = bring_case_to(_svc(app), app_org, State.ASSIGNED)
    logged_in(client, "operator")
    assert 'id="supervision-form"' not in text_of(client.get(f"/cases/{number}"))


def test_the_section_is_left_out_of_a_case_page_that_shows_no_case(app, app_org, client):
    """The section comes through the page-extras hook: a refused case page is a 404,
    not an error in the section."""
    logged_in(client, "supervisor")
    missing = client.get("/cases/RY-20000101-0001")
    assert missing.status_code == 404
    assert 'id="supervision-title"' not in missing.get_data(as_text=True)
