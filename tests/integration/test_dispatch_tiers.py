"""Two-tier dispatch through the services, the API and the case page, on SQLite and
PostgreSQL: the dispatch center sends a case to a department (派单到站点), which
signs for it (签收) on its own clock and names the worker (派工), who takes it
(接单); a completion that does not pass (销单不合格) goes back to the crew with
its clock running on; routing rules propose the department (G7, F6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dispatch.services.sweep import sweep
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.routing import RoutingRules
from hotline.domain.taxonomy import Category, Stage
from hotline.models import Case, CaseDeadline, CaseEvent
from hotline.services import Forbidden, Invalid, NotFound, audit
from tests.support import LEAK_REPORT, act, bring_case_to, intake_command


def _case(svc, number) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _clocks(svc, number) -> list[CaseDeadline]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseDeadline)
                .where(CaseDeadline.case_id == case.id)
                .order_by(CaseDeadline.id)
            )
        )


def _events(svc, number) -> list[CaseEvent]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
        )


def _auth(org, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[who]}"}


# -- G7: each tier, its own step, its own timestamp and clock ---------------------------


def test_g7_each_tier_has_its_step_and_its_clock(svc, org, clock):
    number = services.intake(svc, org["operator"], intake_command()).case_number  # a leak
    clock.advance(minutes=5)
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    case = _case(svc, number)
    assert (case.state, case.handler_staff_id, case.stage) == (
        State.ASSIGNED,
        None,
        Stage.ACKNOWLEDGE,
    )
    assert case.due_at == clock.now + timedelta(minutes=30)  # the department signs in 30 min

    clock.advance(minutes=10)
    act(svc, org["crew"], number, Action.ACCEPT)
    accepted_at = clock.now
    clock.advance(minutes=3)
    act(svc, org["crew"], number, Action.ASSIGN_WORKER, staff_id=org["crew"].id)
    clock.advance(minutes=2)
    act(svc, org["crew"], number, Action.ACKNOWLEDGE)
    clock.advance(minutes=4)
    act(svc, org["crew"], number, Action.START_WORK)
    clock.advance(minutes=6)
    act(svc, org["crew"], number, Action.ARRIVE)

    rows = _clocks(svc, number)
    assert [(r.stage, r.ended_by) for r in rows] == [
        (Stage.DISPATCH, "assign"),
        (Stage.ACKNOWLEDGE, "accept"),
        # one on-site clock from the signature through 派工, 接单 and setting out
        (Stage.ON_SITE, "arrive"),
        # beside it, from the same signature until the crew set out (出发)
        (Stage.SET_OUT, "start_work"),
        (Stage.SHUT_OFF, ""),
    ]
    set_out = rows[3]
    assert set_out.started_at == accepted_at
    assert set_out.ended_at == accepted_at + timedelta(minutes=9)
    assert set_out.ended_at <= set_out.due_at  # met
    on_site = rows[2]
    assert on_site.started_at == accepted_at
    assert on_site.ended_at == accepted_at + timedelta(minutes=15)
    assert on_site.ended_at <= on_site.due_at  # met
    case = _case(svc, number)
    assert (case.state, case.handler_staff_id) == (State.ON_SITE, org["crew"].id)
    # every step is on record with its moment: dispatched, signed, named, taken, out, there
    steps = [(e.action, e.to_state) for e in _events(svc, number)][2:]
    assert steps == [
        ("assign", "assigned"),
        ("accept", "accepted"),
        ("assign_worker", "worker_assigned"),
        ("acknowledge", "acknowledged"),
        ("start_work", "in_progress"),
        ("arrive", "on_site"),
    ]
    with svc.sessions() as session:
        assert audit.verify(session, case_number=number)[1] == []


def test_g7_the_department_names_only_its_own_crew(svc, org):
    number = bring_case_to(svc, org, State.ACCEPTED)
    for who in ("crew_meter", "dispatcher"):  # another department; not a crew member
        with pytest.raises(Invalid) as err:
            act(svc, org["crew"], number, Action.ASSIGN_WORKER, staff_id=org[who].id)
        assert err.value.field == "staff_id" and err.value.rule == "G7"
    with pytest.raises(NotFound):
        act(svc, org["crew"], number, Action.ASSIGN_WORKER, staff_id=99999)
    with pytest.raises(NotFound):  # another department does not even see it
        act(svc, org["crew_meter"], number, Action.ASSIGN_WORKER, staff_id=org["crew_meter"].id)
    with pytest.raises(Forbidden):  # dispatch does not name the department's worker
        act(svc, org["dispatcher"], number, Action.ASSIGN_WORKER, staff_id=org["crew"].id)
    assert _case(svc, number).state == State.ACCEPTED


def test_g7_only_the_dispatch_centers_own_crew_is_sent_directly(svc, org, clock):
    number = services.intake(svc, org["operator"], intake_command()).case_number
    with pytest.raises(Invalid) as err:  # a department's worker is its own to name
        act(
            svc,
            org["dispatcher"],
            number,
            Action.ASSIGN,
            department_id=org.departments["REPAIR"],
            staff_id=org["crew"].id,
        )
    assert (err.value.field, err.value.rule) == ("staff_id", "G7")
    with pytest.raises(Invalid) as err:
        act(
            svc,
            org["dispatcher"],
            number,
            Action.ASSIGN_DIRECT,
            department_id=org.departments["REPAIR"],
            staff_id=org["crew"].id,
        )
    assert (err.value.field, err.value.rule) == ("department_id", "G7")

    clock.advance(minutes=5)
    act(
        svc,
        org["dispatcher"],
        number,
        Action.ASSIGN_DIRECT,
        department_id=org.departments["DISPATCH"],
        staff_id=org["crew_center"].id,
    )
    case = _case(svc, number)
    assert case.state == State.WORKER_ASSIGNED and case.handler_staff_id == org["crew_center"].id
    assert case.stage == Stage.ON_SITE  # nobody else signs: the field clock starts now
    with pytest.raises(NotFound):  # another department's crew does not even see it
        act(svc, org["crew"], number, Action.ACKNOWLEDGE)
    act(svc, org["crew_center"], number, Action.ACKNOWLEDGE)
    assert _case(svc, number).state == State.ACKNOWLEDGED


def test_g7_a_station_hands_back_work_that_is_not_its_own(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    with pytest.raises(Invalid) as err:
        act(svc, org["crew"], number, Action.RETURN_WORK)
    assert err.value.rule == "G7"
    act(svc, org["crew"], number, Action.RETURN_WORK, "不属于本站点辖区")
    case = _case(svc, number)
    assert case.state == State.RETURNED
    assert case.handler_department_id == org.departments["DISPATCH"]
    assert case.stage == Stage.DISPATCH


# -- F6: a completion that does not pass (销单不合格) -----------------------------------


def test_f6_a_refused_completion_goes_back_to_the_crew_and_its_clock_runs_on(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED, category=Category.METER_FAULT)
    (resolve,) = [r for r in _clocks(svc, number) if r.stage == Stage.RESOLVE]
    clock.advance(hours=5)
    act(svc, org["crew"], number, Action.COMPLETE, result_note="已换表", customer_rating=4)
    clock.advance(hours=2)
    with pytest.raises(Invalid) as err:
        act(svc, org["dispatcher"], number, Action.REJECT_COMPLETION)
    assert (err.value.field, err.value.rule) == ("reason", "F6")
    with pytest.raises(Forbidden):
        act(svc, org["crew"], number, Action.REJECT_COMPLETION, "自己退回")
    act(svc, org["dispatcher"], number, Action.REJECT_COMPLETION, "新表未铅封,读数未登记")

    case = _case(svc, number)
    assert case.state == State.IN_PROGRESS
    assert (case.handler_department_id, case.handler_staff_id) == (
        org.departments["REPAIR"],
        org["crew"].id,
    )
    assert case.result_note == "" and case.customer_rating is None
    rows = _clocks(svc, number)
    again = next(r for r in rows if r.id == resolve.id)
    # the same clock: same start and due time, running again; the wait counted
    assert (again.started_at, again.due_at, again.ended_at) == (
        resolve.started_at,
        resolve.due_at,
        None,
    )
    assert [r.stage for r in rows if r.ended_at is None] == [Stage.RESOLVE]
    follow_up = next(r for r in rows if r.stage == Stage.FOLLOW_UP)
    assert follow_up.ended_by == "reject_completion"
    assert (case.stage, case.due_at) == (Stage.RESOLVE, resolve.due_at)
    last = _events(svc, number)[-1]
    assert (last.action, last.from_state, last.to_state, last.reason) == (
        "reject_completion",
        "done",
        "in_progress",
        "新表未铅封,读数未登记",
    )

    clock.advance(hours=1)
    act(
        svc,
        org["crew"],
        number,
        Action.COMPLETE,
        result_note="已铅封并登记读数",
        no_rating_reason="用户不在家",
    )
    act(svc, org["dispatcher"], number, Action.CONFIRM_DONE)
    case = _case(svc, number)
    assert case.state == State.AWAITING_FOLLOW_UP and case.result_note == "已铅封并登记读数"
    again = next(r for r in _clocks(svc, number) if r.id == resolve.id)
    assert again.ended_by == "complete" and again.ended_at == clock.now
    with svc.sessions() as session:
        assert audit.verify(session, case_number=number)[1] == []


def test_f6_a_completion_refused_after_the_limit_is_escalated_as_missed(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED, category=Category.METER_FAULT)
    (resolve,) = [r for r in _clocks(svc, number) if r.stage == Stage.RESOLVE]
    clock.advance(hours=70)
    act(svc, org["crew"], number, Action.COMPLETE, result_note="已换表", customer_rating=5)
    clock.now = resolve.due_at + timedelta(hours=3)  # dispatch checks after the limit
    act(svc, org["dispatcher"], number, Action.REJECT_COMPLETION, "表井未清理")
    assert _case(svc, number).due_at == resolve.due_at  # overdue at once, no fresh time
    sweep(svc, check_duty=False)
    escalated = [e for e in _events(svc, number) if e.action == "deadline_escalated"]
    assert [e.data["stage"] for e in escalated] == [Stage.RESOLVE]


# -- routing: the rules propose, the dispatcher confirms ------------------------------


def test_routing_proposes_the_department_while_dispatch_holds_the_case(app, app_org, client):
    org, svc = app_org, app.extensions["hotline"]
    body = {**LEAK_REPORT, "area": "开发区"}  # a name of config/areas.toml: kept as its code
    created = client.post("/api/contacts", json=body, headers=_auth(org, "operator"))
    assert created.status_code == 201, created.json
    number = created.json["case_number"]

    case = client.get(f"/api/cases/{number}", headers=_auth(org, "dispatcher")).json
    assert case["area"] == "DEV"
    proposed = case["proposed_department"]
    assert (proposed["id"], proposed["code"], proposed["rule"]) == (
        org.departments["REPAIR"],
        "REPAIR",
        "leak",
    )
    listed = client.get("/api/cases?open=true", headers=_auth(org, "dispatcher")).json
    assert listed["items"][0]["proposed_department"]["code"] == "REPAIR"

    # an area rule wins over the category's: the dispatch center reads the routing file
    svc.routing = RoutingRules.from_toml(
        {"rules": [{"category": "leak", "area": "DEV", "department": "METER"}]}
    )
    case = client.get(f"/api/cases/{number}", headers=_auth(org, "dispatcher")).json
    assert case["proposed_department"]["code"] == "METER"
    svc.routing = RoutingRules.from_toml({"rules": [{"area": "CENTRE", "department": "METER"}]})
    case = client.get(f"/api/cases/{number}", headers=_auth(org, "dispatcher")).json
    assert case["proposed_department"] is None  # no rule: the dispatcher chooses

    # the proposal is only that: the dispatcher sends it where they decide
    svc.routing = None
    response = client.post(
        f"/api/cases/{number}/actions",
        json={
            "action": "assign",
            "version": case["version"],
            "department_id": org.departments["METER"],
        },
        headers=_auth(org, "dispatcher"),
    )
    assert response.status_code == 200, response.json
    assert response.json["handler_department"]["code"] == "METER"
    assert response.json["proposed_department"] is None  # no longer with dispatch


def test_the_case_page_shows_the_area_and_preselects_the_proposal(app, app_org, client):
    from tests.integration.pagehelp import logged_in, text_of

    svc, org = app.extensions["hotline"], app_org
    number = services.intake(svc, org["operator"], intake_command(area="CENTRE")).case_number
    html = text_of(logged_in(client, "dispatcher").get(f"/cases/{number}"))
    assert "市中" in html  # the area CENTRE, by its name in the page language
    assert f'data-proposed-department="{org.departments["REPAIR"]}"' in html
    form = html.split('data-action="assign"', 1)[1].split("</form>", 1)[0]
    assert f'<option value="{org.departments["REPAIR"]}" selected>' in form


def test_the_api_takes_each_tier_and_the_refusal_of_a_completion(app, app_org, client):
    org, svc = app_org, app.extensions["hotline"]
    number = bring_case_to(svc, org, State.ASSIGNED)

    def post(who: str, **body):
        version = client.get(f"/api/cases/{number}", headers=_auth(org, who)).json["version"]
        return client.post(
            f"/api/cases/{number}/actions",
            json={"version": version, **body},
            headers=_auth(org, who),
        )

    assert post("crew", action="accept").json["state"] == "accepted"
    refused = post("crew", action="assign_worker")
    assert refused.status_code == 422 and refused.json["field"] == "staff_id"
    named = post("crew", action="assign_worker", staff_id=org["crew"].id)
    assert named.json["state"] == "worker_assigned"
    assert named.json["handler_staff"]["id"] == org["crew"].id
    assert post("crew", action="acknowledge").json["state"] == "acknowledged"
    done = post("crew", action="complete", result_note="已修复", customer_rating=5)
    assert done.json["state"] == "done"
    refused = post("dispatcher", action="reject_completion")
    assert (refused.status_code, refused.json["rule"]) == (422, "F6")
    back = post("dispatcher", action="reject_completion", reason="现场未恢复路面")
    assert back.status_code == 200 and back.json["state"] == "in_progress"
    history = client.get(f"/api/cases/{number}/history", headers=_auth(org, "operator")).json
    assert (history[-1]["action"], history[-1]["reason"]) == ("reject_completion", "现场未恢复路面")
    lifecycle = client.get("/api/lifecycle").json["transitions"]
    assert {"from": "done", "action": "reject_completion", "to": "in_progress"}.items() <= next(
        t for t in lifecycle if t["action"] == "reject_completion"
    ).items()
