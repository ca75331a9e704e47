"""Promises stay true (G7): an approved extension or a moved visit puts "tell the caller"
(告知来电人) in the first responder's list until they record what they said."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Stage
from hotline.models import PromiseUpdate
from hotline.services import Forbidden, Invalid
from hotline.services import promises as promise_service
from tests.integration.pagehelp import forms_of, logged_in, text_of
from tests.support import act, bring_case_to

METER = {"category": Category.METER_FAULT}


def _case(svc, org, number):
    with svc.sessions() as session:
        case = services.get_case(session, org["supervisor"], number)
        resolve = [
            c
            for c in services.case_clocks(session, case)
            if c.stage == Stage.RESOLVE and not c.ended_at
        ]
        return case, (resolve[0].due_at if resolve else None)


def _tasks(svc, number):
    with svc.sessions() as session:
        case = services.case_by_number(session, number)
        return list(session.scalars(select(PromiseUpdate).where(PromiseUpdate.case_id == case.id)))


def _open_for(svc, actor):
    with svc.sessions() as session:
        return [(t.case.number, t.id) for t in promise_service.open_for(session, actor)]


def _approved_extension(svc, org):
    number = bring_case_to(svc, org, State.EXTENSION_REQUESTED, **METER)
    promised = _case(svc, org, number)[0].promised_at
    act(svc, org["dispatcher"], number, Action.APPROVE_EXTENSION)
    return number, promised


def test_approving_an_extension_puts_the_task_in_the_first_responders_list(svc, org):
    number, promised = _approved_extension(svc, org)
    case, resolve_due = _case(svc, org, number)
    [task] = _tasks(svc, number)
    assert task.owner_id == org["operator"].id == case.first_responder_id
    assert task.cause == "extension_approved"
    assert task.old_promised_at == promised
    assert task.new_promised_at == resolve_due == case.due_at
    assert task.new_promised_at > promised and task.done_at is None
    assert _open_for(svc, org["operator"]) == [(number, task.id)]
    assert _open_for(svc, org["operator2"]) == []
    # The caller still holds the old promise until told; the history says a call is due.
    assert case.promised_at == promised
    with svc.sessions() as session:
        last = services.history(session, org["supervisor"], number)[-1]
    assert last.action == Action.APPROVE_EXTENSION and "caller_to_be_told" in last.data


def test_moving_an_appointment_puts_the_task_in_the_first_responders_list(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED, **METER)
    promised = _case(svc, org, number)[0].promised_at
    start = clock.now + timedelta(days=1)
    visit = services.book_appointment(
        svc,
        org["crew"],
        number,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        requested_by_customer=True,
    )
    assert _tasks(svc, number) == []  # the caller chose that time: nothing to tell yet
    moved = start + timedelta(days=2)
    services.reschedule_appointment(
        svc,
        org["crew"],
        number,
        visit.id,
        starts_at=moved,
        ends_at=moved + timedelta(hours=2),
        requested_by_customer=True,
        reason="用户临时出差",
    )
    [task] = _tasks(svc, number)
    assert task.cause == "appointment_rescheduled"
    assert task.owner_id == org["operator"].id
    assert task.old_promised_at == promised
    assert task.new_promised_at is not None and task.new_promised_at > promised
    assert task.visit_starts_at == moved
    assert _open_for(svc, org["operator"]) == [(number, task.id)]


def test_a_second_change_keeps_one_task_and_the_time_the_caller_heard(svc, org, clock):
    number, promised = _approved_extension(svc, org)
    start = clock.now + timedelta(days=1)
    visit = services.book_appointment(
        svc,
        org["crew"],
        number,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        requested_by_customer=False,
    )
    moved = start + timedelta(days=1)
    services.reschedule_appointment(
        svc,
        org["crew"],
        number,
        visit.id,
        starts_at=moved,
        ends_at=moved + timedelta(hours=2),
        requested_by_customer=False,
        reason="班组调配",
    )
    [task] = [t for t in _tasks(svc, number) if t.done_at is None]
    assert task.old_promised_at == promised


def test_done_clears_it_records_history_and_makes_the_new_time_the_promise(svc, org):
    number, _promised = _approved_extension(svc, org)
    [task] = _tasks(svc, number)
    version = _case(svc, org, number)[0].version
    promise_service.mark_told(svc, org["operator"], task.id, note="已电话告知孙先生新的处理时限")
    assert _open_for(svc, org["operator"]) == []
    [done] = _tasks(svc, number)
    assert done.done_by_id == org["operator"].id and done.done_at is not None
    assert done.note == "已电话告知孙先生新的处理时限"
    case, _ = _case(svc, org, number)
    assert case.promised_at == done.new_promised_at and case.version == version + 1
    with svc.sessions() as session:
        last = services.history(session, org["supervisor"], number)[-1]
    assert last.action == "caller_told"
    assert last.data["note"] == "已电话告知孙先生新的处理时限"


@pytest.mark.parametrize("who", ["operator2", "dispatcher", "supervisor", "crew"])
def test_nobody_but_the_first_responder_marks_it_done(svc, org, who):
    number, _promised = _approved_extension(svc, org)
    [task] = _tasks(svc, number)
    with pytest.raises(Forbidden) as refused:
        promise_service.mark_told(svc, org[who], task.id, note="已告知")
    assert refused.value.rule == "G7" and "G7" in refused.value.message
    assert _tasks(svc, number)[0].done_at is None


def test_what_was_said_is_required(svc, org):
    number, _promised = _approved_extension(svc, org)
    [task] = _tasks(svc, number)
    with pytest.raises(Invalid) as refused:
        promise_service.mark_told(svc, org["operator"], task.id, note="  ")
    assert refused.value.field == "note"


# -- pages ------------------------------------------------------------------------------


def _svc(app):
    return app.extensions["hotline"]


def _form_for(page: str, marker: str) -> dict:
    for form in forms_of(page):
        if marker in form["attrs"].get("action", ""):
            return form
    raise AssertionError(f"no form posting to {marker}")


def test_the_case_page_and_the_operator_home_offer_done_caller_told(app, app_org, client):
    number, _promised = _approved_extension(_svc(app), app_org)
    [task] = _tasks(_svc(app), number)
    logged_in(client, "operator")
    home = text_of(client.get("/operator"))
    assert 'id="my-caller-tasks"' in home and number in home
    page = text_of(client.get(f"/cases/{number}"))
    assert 'id="caller-tasks"' in page
    form = _form_for(page, f"/caller-told/{task.id}")
    response = client.post(
        form["attrs"]["action"], data={**form["fields"], "note": "已告知来电人延期后的时限"}
    )
    assert response.status_code == 302
    assert _tasks(_svc(app), number)[0].done_at is not None
    assert 'id="my-caller-tasks"' not in text_of(client.get("/operator"))


def test_the_page_refuses_anyone_else_naming_g7(app, app_org, client):
    number, _promised = _approved_extension(_svc(app), app_org)
    [task] = _tasks(_svc(app), number)
    logged_in(client, "supervisor")
    page = text_of(client.get(f"/cases/{number}"))
    assert f"/caller-told/{task.id}" not in page  # not offered to anyone else
    token = forms_of(page)[0]["fields"]["csrf_token"]
    response = client.post(
        f"/cases/{number}/caller-told/{task.id}", data={"csrf_token": token, "note": "已告知"}
    )
    assert response.status_code == 403
    assert "G7" in html.unescape(text_of(response))
    assert _tasks(_svc(app), number)[0].done_at is None


def test_the_page_refuses_a_blank_note_naming_the_field(app, app_org, client):
    number, _promised = _approved_extension(_svc(app), app_org)
    [task] = _tasks(_svc(app), number)
    logged_in(client, "operator")
    page = text_of(client.get(f"/cases/{number}"))
    form = _form_for(page, f"/caller-told/{task.id}")
    response = client.post(form["attrs"]["action"], data={**form["fields"], "note": ""})
    assert response.status_code == 422
    assert 'data-field="note"' in text_of(response)
