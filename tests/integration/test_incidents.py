"""Incidents (a main break, many callers), on SQLite and PostgreSQL.

Updates on the incident reach every caller's case history and the live
publisher once, after the commit; texts go to each caller once and never
twice, and a failed text leaves the update saved; the callers' cases move to
their own follow-up when the incident settles; the API checks the caller
before the body and names the field it refuses; the console joins a caller's
own case to an open incident and shows the incident's latest update.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from callflows.models import AttemptStatus, IncidentUpdateSms, OutboundAttempt
from callflows.services.incident_sms import send_update_sms
from callflows.telephony import TelephonyError
from hotline import db, services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category
from hotline.models import Case, CaseEvent, IncidentUpdate
from hotline.services import Conflict, Forbidden, IntakeOutcome, Invalid
from hotline.services.incidents import INCIDENT_UPDATE, post_update
from hotline.web.api_incidents import SMS_FAILURE_KIND, SMS_SENDER
from tests.integration.callhelp import FakeTelephony, make_flows
from tests.integration.pagehelp import logged_in
from tests.support import RATED, act, bring_case_to, intake_command

PHONES = ["13805340001", "13805340002", "13805340003"]


def _case(svc, number: str) -> Case:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        return case


def _events(svc, number: str) -> list[CaseEvent]:
    with svc.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        return list(
            session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by("seq"))
        )


def _incident_with_callers(svc, org, phones=PHONES[:2]) -> tuple[str, list[str]]:
    """An incident on site with one caller joined at intake and one merged by dispatch."""
    parent = bring_case_to(svc, org, State.ON_SITE)
    joined = services.intake(
        svc,
        org["operator2"],
        intake_command(
            IntakeOutcome.JOIN_INCIDENT, join_case_number=parent, contact_phone=phones[0]
        ),
    ).case_number
    merged = services.intake(
        svc, org["operator"], intake_command(contact_phone=phones[1])
    ).case_number
    assert joined and merged
    act(svc, org["dispatcher"], merged, Action.MERGE, parent_case_number=parent)
    return parent, [joined, merged]


class Recorder:
    """A publisher that notes each payload and whether the update was committed by then."""

    def __init__(self, svc) -> None:
        self.svc = svc
        self.payloads: list[dict[str, Any]] = []
        self.committed: list[bool] = []

    def __call__(self, payload) -> None:
        self.payloads.append(dict(payload))
        update = payload.get("incident_update")
        if update:
            with self.svc.sessions() as session:  # a session of its own: sees commits only
                self.committed.append(session.get(IncidentUpdate, update["id"]) is not None)


# -- the update reaches every caller's case ------------------------------------------------


def test_a_caller_joins_an_open_incident_at_intake_with_a_case_of_their_own(svc, org):
    parent, (joined, _merged) = _incident_with_callers(svc, org)

    child = _case(svc, joined)
    assert child.state == State.MERGED
    assert child.parent_case_id == _case(svc, parent).id
    assert child.first_responder_id == org["operator2"].id  # G4: whoever took the call
    assert [e.action for e in _events(svc, joined)] == ["register", Action.JOIN_INCIDENT]


def test_joining_an_incident_needs_an_open_incident(svc, org):
    closed = bring_case_to(svc, org, State.CLOSED)
    with pytest.raises(Invalid) as refused:
        services.intake(
            svc,
            org["operator"],
            intake_command(IntakeOutcome.JOIN_INCIDENT, join_case_number=closed),
        )
    assert refused.value.field == "parent_case_number"
    with pytest.raises(Invalid) as missing:
        services.intake(svc, org["operator"], intake_command(IntakeOutcome.JOIN_INCIDENT))
    assert missing.value.field == "join_case_number"
    incident = bring_case_to(svc, org, State.WITH_DISPATCH)
    with pytest.raises(Invalid) as complaint:  # G6: a complaint goes to dispatch itself
        services.intake(
            svc,
            org["operator"],
            intake_command(
                IntakeOutcome.JOIN_INCIDENT, join_case_number=incident, category=Category.COMPLAINT
            ),
        )
    assert complaint.value.rule == "G6"


def test_an_update_reaches_every_childs_history_and_the_publisher_once_after_commit(
    svc, org, clock
):
    parent, children = _incident_with_callers(svc, org)
    recorder = Recorder(svc)
    svc = replace(svc, publish=recorder)
    restore = clock.now + timedelta(hours=4)

    view = post_update(svc, org["dispatcher"], parent, "DN300 主管爆裂", restore, "抢修队已到场")

    assert view.children == 2
    for number in [parent, *children]:
        last = _events(svc, number)[-1]
        assert last.action == INCIDENT_UPDATE
        assert last.data["update_id"] == view.id
        assert last.data["cause"] == "DN300 主管爆裂"
        assert last.data["note"] == "抢修队已到场"
        assert last.from_state == last.to_state  # the state stays
    assert _events(svc, parent)[-1].data["children"] == children
    assert len(recorder.payloads) == 1 and recorder.committed == [True]
    notice = recorder.payloads[0]
    assert notice["case"] == parent and notice["children"] == children
    assert notice["incident_update"]["id"] == view.id
    with svc.sessions() as session:
        listed = services.incidents.list_updates(session, org["operator"], children[0])
    assert [u.id for u in listed] == [view.id]


def test_a_refused_update_writes_nothing_and_tells_nobody(svc, org, clock):
    parent, children = _incident_with_callers(svc, org)
    recorder = Recorder(svc)
    svc = replace(svc, publish=recorder)
    before = {n: len(_events(svc, n)) for n in [parent, *children]}

    with pytest.raises(Forbidden):
        post_update(svc, org["operator"], parent, "爆管", None, "")
    with pytest.raises(Invalid) as empty:
        post_update(svc, org["dispatcher"], parent, " ", None, "")
    assert empty.value.field == "text"
    with pytest.raises(Invalid) as past:
        post_update(svc, org["dispatcher"], parent, "爆管", clock.now - timedelta(hours=1), "")
    assert past.value.field == "estimated_restore_at"
    with pytest.raises(Conflict):  # a merged case is not an incident of its own
        post_update(svc, org["dispatcher"], children[0], "爆管", None, "")

    assert {n: len(_events(svc, n)) for n in [parent, *children]} == before
    assert recorder.payloads == []


# -- texts to the callers ------------------------------------------------------------------


def test_each_caller_is_texted_once_and_never_twice(svc, org, clock):
    parent, children = _incident_with_callers(svc, org)
    phone = FakeTelephony()
    flows = make_flows(phone)
    view = post_update(svc, org["dispatcher"], parent, "爆管", clock.now + timedelta(hours=3), "")

    first = send_update_sms(svc, flows, org["dispatcher"], view.id)
    again = send_update_sms(svc, flows, org["supervisor"], view.id)  # a retry

    assert sorted(first.sent) == sorted(children)
    assert again.sent == [] and sorted(n for n, _ in again.skipped) == sorted(children)
    assert sorted(m.to for m in phone.messages) == sorted(f"+86{p}" for p in PHONES[:2])
    assert all("爆管" in m.body for m in phone.messages)
    with svc.sessions() as session:
        rows = session.scalars(select(IncidentUpdateSms)).all()
        assert len(rows) == 2
        attempts = session.scalars(select(OutboundAttempt)).all()
        assert {a.status for a in attempts} == {AttemptStatus.REQUESTED}
        with pytest.raises(IntegrityError), session.begin():  # the database refuses a second row
            session.add(
                IncidentUpdateSms(
                    update_id=view.id,
                    case_id=rows[0].case_id,
                    attempt_id=rows[0].attempt_id,
                    created_at=clock.now,
                )
            )


def test_a_failed_text_is_recorded_and_the_update_stays_saved(svc, org, clock):
    parent, children = _incident_with_callers(svc, org)
    phone = FakeTelephony(fail_with=TelephonyError("provider said no"))
    flows = make_flows(phone)
    view = post_update(svc, org["dispatcher"], parent, "爆管", None, "正在抢修")

    report = send_update_sms(svc, flows, org["dispatcher"], view.id)
    phone.fail_with = None
    retry = send_update_sms(svc, flows, org["dispatcher"], view.id)

    assert sorted(n for n, _ in report.failed) == sorted(children)
    assert retry.sent == [] and phone.messages == []  # recorded: nobody re-sends by accident
    with svc.sessions() as session:
        assert session.get(IncidentUpdate, view.id) is not None
        statuses = {a.status for a in session.scalars(select(OutboundAttempt))}
    assert statuses == {AttemptStatus.REFUSED}
    assert _events(svc, children[0])[-1].action == INCIDENT_UPDATE


# -- closure -----------------------------------------------------------------------------------


def test_closing_the_incident_resolves_every_caller_each_to_their_own_follow_up(svc, org):
    parent, children = _incident_with_callers(svc, org)
    post_update(svc, org["dispatcher"], parent, "爆管", None, "已修复")
    act(svc, org["crew"], parent, Action.COMPLETE, result_note="主管道抢修完毕", customer_rating=5)
    act(svc, org["dispatcher"], parent, Action.CONFIRM_DONE)

    for number in children:
        case = _case(svc, number)
        assert case.state == State.AWAITING_FOLLOW_UP
        assert case.stage == "follow_up" and case.due_at is not None  # P7: its own clock
        assert _events(svc, number)[-1].action == Action.INCIDENT_RESOLVED
    # each caller's follow-up is their own: closing one leaves the other waiting
    act(svc, org["operator"], children[0], Action.CLOSE, outcome="satisfied", **RATED)
    assert _case(svc, children[0]).state == State.CLOSED
    assert _case(svc, children[1]).state == State.AWAITING_FOLLOW_UP
    with pytest.raises(Invalid):  # P7: no close without an outcome
        act(svc, org["operator"], children[1], Action.CLOSE)
    with pytest.raises(Conflict):  # a settled incident takes no more updates
        post_update(svc, org["dispatcher"], children[0], "x", None, "")


# -- the API -------------------------------------------------------------------------------


def _bearer(app_org, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_org.tokens[username]}"}


def _app_incident(app, app_org) -> tuple[str, list[str]]:
    return _incident_with_callers(app.extensions["hotline"], app_org)


def test_the_api_checks_the_caller_before_the_body_and_names_the_field(app, app_org, client):
    parent, _children = _app_incident(app, app_org)
    path = f"/api/cases/{parent}/incident-updates"
    bad = {"estimated_restore_at": "soon", "extra": 1}

    assert client.post(path, json=bad).status_code == 401
    assert client.post(path, json=bad, headers=_bearer(app_org, "crew")).status_code == 403
    assert client.post(path, json=bad, headers=_bearer(app_org, "operator")).status_code == 403
    for body, field in (
        ({}, "text"),
        ({"estimated_restore_at": "soon"}, "estimated_restore_at"),
        ({"estimated_restore_at": "2000-01-01T08:00:00+08:00"}, "estimated_restore_at"),
        ({"text": "x" * 2001}, "text"),
        ({"text": "ok", "send_sms": "maybe"}, "send_sms"),
    ):
        response = client.post(path, json=body, headers=_bearer(app_org, "dispatcher"))
        assert response.status_code == 422, (body, response.get_json())
        assert field in str(response.get_json()), (body, response.get_json())
    unknown = client.post(
        "/api/cases/RY-NONE/incident-updates",
        json={"text": "x"},
        headers=_bearer(app_org, "dispatcher"),
    )
    assert unknown.status_code == 404


def test_the_api_posts_lists_and_texts_an_update(app, app_org, client, clock):
    parent, children = _app_incident(app, app_org)
    phone = FakeTelephony()
    app.extensions["callflows"].telephony = phone
    path = f"/api/cases/{parent}/incident-updates"
    restore = (clock.now + timedelta(hours=5)).isoformat()

    posted = client.post(
        path,
        json={"cause": "DN300 主管爆裂", "estimated_restore_at": restore, "send_sms": True},
        headers=_bearer(app_org, "dispatcher"),
    )
    listed = client.get(
        f"/api/cases/{children[0]}/incident-updates", headers=_bearer(app_org, "operator")
    )

    assert posted.status_code == 201, posted.get_json()
    assert posted.get_json()["children"] == 2 and posted.get_json()["sms_requested"] is True
    assert [u["cause"] for u in listed.get_json()] == ["DN300 主管爆裂"]
    assert len(phone.messages) == 2
    history = client.get(
        f"/api/cases/{children[1]}/history", headers=_bearer(app_org, "dispatcher")
    ).get_json()
    assert history[-1]["action"] == INCIDENT_UPDATE


def test_a_failed_text_does_not_turn_the_saved_update_into_an_error(app, app_org, client):
    parent, _children = _app_incident(app, app_org)
    app.extensions["callflows"].telephony = FakeTelephony(fail_with=TelephonyError("down"))

    posted = client.post(
        f"/api/cases/{parent}/incident-updates",
        json={"text": "正在抢修", "send_sms": True},
        headers=_bearer(app_org, "dispatcher"),
    )

    assert posted.status_code == 201
    with app.extensions["hotline"].sessions() as session:
        assert len(session.scalars(select(IncidentUpdate)).all()) == 1
        attempts = session.scalars(select(OutboundAttempt)).all()
    assert {a.status for a in attempts} == {AttemptStatus.REFUSED} and len(attempts) == 2


def test_a_texting_failure_after_the_commit_is_counted_and_the_update_answers_saved(
    app, app_org, client
):
    parent, _children = _app_incident(app, app_org)

    def broken_sender(*args):
        raise RuntimeError("the outbound queue's database went away")

    app.extensions[SMS_SENDER] = broken_sender
    before = db.after_commit_failures[SMS_FAILURE_KIND]
    posted = client.post(
        f"/api/cases/{parent}/incident-updates",
        json={"text": "正在抢修", "send_sms": True},
        headers=_bearer(app_org, "dispatcher"),
    )
    assert posted.status_code == 201, posted.get_data(as_text=True)
    assert db.after_commit_failures[SMS_FAILURE_KIND] == before + 1
    with app.extensions["hotline"].sessions() as session:
        assert len(session.scalars(select(IncidentUpdate)).all()) == 1
    health = client.get("/health").get_json()
    assert health["after_commit_failures"][SMS_FAILURE_KIND] >= 1


def test_the_case_page_posts_an_update_with_the_same_rules(app, app_org, client):
    parent, children = _app_incident(app, app_org)
    page = logged_in(client, "dispatcher")
    html = page.get(f"/cases/{parent}").get_data(as_text=True)
    assert 'id="incident-update-form"' in html
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    refused = page.post(
        f"/cases/{parent}/incident-updates", data={"csrf_token": token, "cause": ""}
    )
    posted = page.post(
        f"/cases/{parent}/incident-updates",
        data={"csrf_token": token, "cause": "爆管", "text": "抢修中"},
    )

    assert refused.status_code == 422 and "text" in refused.get_data(as_text=True)
    assert posted.status_code == 302
    child_page = page.get(f"/cases/{children[0]}").get_data(as_text=True)
    assert "抢修中" in child_page


# -- the console -------------------------------------------------------------------------------


def test_the_console_joins_a_caller_to_an_open_incident_and_shows_its_latest_update(
    app, app_org, client, clock
):
    from tests.integration.test_console import Console, _answered

    svc = app.extensions["hotline"]
    parent = bring_case_to(svc, app_org, State.ON_SITE, address="禹城市汉槐街18号")
    first = services.intake(
        svc,
        app_org["operator2"],
        intake_command(
            IntakeOutcome.JOIN_INCIDENT, join_case_number=parent, contact_phone=PHONES[2]
        ),
    ).case_number
    post_update(
        svc, app_org["dispatcher"], parent, "DN300 主管爆裂", clock.now + timedelta(hours=4), ""
    )
    operator = Console(logged_in(client, "operator"))
    call_id = _answered(app, operator)
    operator.walk_to_read_back(call_id)
    operator.ok(call_id, "confirm_read_back")
    operator.ok(call_id, "complete")
    operator.ok(call_id, "answer", answer="utility")
    view = operator.ok(call_id, "complete")

    offered = {c["number"]: c for c in view["similar_cases"]}
    assert offered[parent]["incident"]["latest"]["cause"] == "DN300 主管爆裂"
    assert offered[parent]["incident"]["callers"] == 1
    joined = operator.post(
        f"/api/calls/{call_id}/submit", {"outcome": "join_incident", "join_case_number": parent}
    )

    assert joined.status_code == 200, joined.get_json()
    number = joined.get_json()["result"]["case_number"]
    assert number not in (parent, first)
    case = _case(svc, number)
    assert case.state == State.MERGED and case.parent_case_id == _case(svc, parent).id
    # the same caller calls again: the caller column shows the incident's latest update
    again = _answered(app, operator)
    caller = operator.client.get(f"/api/calls/{again}").get_json()["caller"]
    assert [i["number"] for i in caller["incidents"]] == [parent]
    assert caller["incidents"][0]["latest"]["cause"] == "DN300 主管爆裂"
    assert caller["incidents"][0]["latest"]["estimated_restore_at"]
