"""Rules that keep what the caller said and who owns the case, on SQLite and PostgreSQL.

* P6/G6: intake never drops the caller's words: a join only onto a case still
  being worked; a repeat report on a closed case is a new case that names the
  one it repeats; a complaint always gets a case.
* Incidents: callers merged into a main break are resolved and followed up
  whatever path the incident takes to closed; only a live case takes callers.
* P7: "unreachable" attempts are spread out (two hours by default), each with
  its time on record.
* G7/G4: crews hand work back from site and while an extension is pending;
  ownership only to staff who act on cases, recorded with the previous owner;
  a transferred case is visible to its department; each refusal names its rule.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, FollowUpOutcome
from hotline.models import Case, CaseEvent, Contact, FollowUp
from hotline.services import IntakeOutcome, Invalid, NotFound
from tests.support import LEAK_REPORT, RATED, act, bring_case_to, intake_command


def _case(svc, number: str) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _events(svc, number: str) -> list[CaseEvent]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
        )


def _count(svc, model, *where) -> int:
    with svc.sessions() as session:
        return len(session.scalars(select(model).where(*where)).all())


# -- P6/G6: the caller's words are never dropped ----------------------------------------


@pytest.mark.parametrize("state", [State.CLOSED, State.ANSWERED_ON_CALL, State.MERGED])
def test_a_join_onto_a_case_nobody_works_is_refused_and_nothing_is_written(svc, org, state):
    if state == State.ANSWERED_ON_CALL:
        number = services.intake(
            svc,
            org["operator"],
            intake_command(
                IntakeOutcome.ANSWER_ON_CALL,
                category=Category.CONSULTATION,
                answer="已告知缴费方式",
            ),
        ).case_number
    elif state == State.MERGED:
        parent = bring_case_to(svc, org, State.WITH_DISPATCH)
        number = bring_case_to(svc, org, State.WITH_DISPATCH)
        act(svc, org["dispatcher"], number, Action.MERGE, parent_case_number=parent)
    else:
        number = bring_case_to(svc, org, State.CLOSED)
    contacts = _count(svc, Contact)
    events = len(_events(svc, number))
    with pytest.raises(Invalid) as refused:
        services.intake(
            svc,
            org["operator"],
            intake_command(IntakeOutcome.JOIN, join_case_number=number, summary="又漏了"),
        )
    assert refused.value.field == "join_case_number"
    assert "new case" in refused.value.message
    assert _count(svc, Contact) == contacts
    assert len(_events(svc, number)) == events
    assert _case(svc, number).state == state


def test_a_join_onto_a_case_being_worked_records_the_contact(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    result = services.intake(
        svc,
        org["operator2"],
        intake_command(IntakeOutcome.JOIN, join_case_number=number, summary="催问进度"),
    )
    assert result.case_number == number
    assert _events(svc, number)[-1].action == "contact"


def test_a_repeat_report_on_a_closed_case_is_a_new_case_naming_the_old_one(svc, org):
    old = bring_case_to(svc, org, State.CLOSED)
    result = services.intake(
        svc, org["operator"], intake_command(repeats_case_number=old, problem="同一处又漏水")
    )
    assert result.case_number != old
    assert _case(svc, result.case_number).state == State.WITH_DISPATCH
    register = _events(svc, result.case_number)[0]
    assert register.data["repeats"] == old
    with pytest.raises(NotFound) as unknown:
        services.intake(svc, org["operator"], intake_command(repeats_case_number="RY-1-0001"))
    assert unknown.value.field == "repeats_case_number"


def test_a_complaint_always_gets_a_case(svc, org):
    contacts = _count(svc, Contact)
    with pytest.raises(Invalid) as refused:
        services.intake(
            svc,
            org["operator"],
            intake_command(IntakeOutcome.NO_CASE, category=Category.COMPLAINT, summary="投诉"),
        )
    assert refused.value.rule == "G6"
    assert _count(svc, Contact) == contacts


# -- incidents -----------------------------------------------------------------------


def _merged_child(svc, org, parent: str) -> str:
    child = services.intake(svc, org["operator2"], intake_command()).case_number
    act(svc, org["dispatcher"], child, Action.MERGE, parent_case_number=parent)
    return child


def test_only_a_case_with_dispatch_or_being_worked_takes_callers(svc, org):
    answered = services.intake(
        svc,
        org["operator"],
        intake_command(
            IntakeOutcome.ANSWER_ON_CALL, category=Category.CONSULTATION, answer="已答复"
        ),
    ).case_number
    child = services.intake(svc, org["operator2"], intake_command()).case_number
    with pytest.raises(Invalid) as refused:
        act(svc, org["dispatcher"], child, Action.MERGE, parent_case_number=answered)
    assert refused.value.field == "parent_case_number"
    assert _case(svc, child).state == State.WITH_DISPATCH


def test_children_are_resolved_when_the_incident_closes_by_any_path(svc, org):
    """Before: a child of an incident that closed without confirm_done stayed merged."""
    parent = bring_case_to(svc, org, State.WITH_DISPATCH)
    child = _merged_child(svc, org, parent)
    # The incident goes the whole way; its children follow it at the follow-up stage
    # and each gets its own follow-up call.
    for state_action in (
        (Action.ASSIGN, {"department_id": org.departments["REPAIR"]}),
        (Action.ACCEPT, {}),
        (Action.ASSIGN_WORKER, {"staff_id": org["crew"].id}),
        (Action.ACKNOWLEDGE, {}),
        (Action.COMPLETE, {"result_note": "抢修完毕", "customer_rating": 5}),
        (Action.CONFIRM_DONE, {}),
    ):
        action, data = state_action
        who = {
            Action.ASSIGN: "dispatcher",
            Action.CONFIRM_DONE: "dispatcher",
        }.get(action, "crew")
        act(svc, org[who], parent, action, **data)
    assert _case(svc, child).state == State.AWAITING_FOLLOW_UP
    act(svc, org["operator"], child, Action.CLOSE, outcome=FollowUpOutcome.SATISFIED, **RATED)
    assert _case(svc, child).state == State.CLOSED


def test_a_child_still_merged_when_the_incident_closes_is_resolved_then(svc, org):
    parent = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    child = services.intake(svc, org["operator2"], intake_command()).case_number
    # A child that was merged before the rule (or by hand) into an incident now closing:
    parent_id = _case(svc, parent).id
    with svc.sessions() as session, session.begin():
        row = session.scalar(select(Case).where(Case.number == child))
        row.state = State.MERGED
        row.parent_case_id = parent_id
    act(svc, org["operator"], parent, Action.CLOSE, outcome=FollowUpOutcome.SATISFIED, **RATED)
    assert _case(svc, parent).state == State.CLOSED
    assert _case(svc, child).state == State.AWAITING_FOLLOW_UP
    assert _events(svc, child)[-1].action == Action.INCIDENT_RESOLVED


# -- P7: attempts spread out -------------------------------------------------------------


def test_p7_three_unreachable_attempts_within_moments_do_not_close_a_case(svc, org):
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    act(svc, org["operator"], number, Action.FOLLOW_UP_UNREACHABLE, note="未接")
    svc.clock.advance(seconds=0.15)
    with pytest.raises(Invalid) as refused:
        act(svc, org["operator"], number, Action.FOLLOW_UP_UNREACHABLE, note="未接")
    assert refused.value.rule == "P7"
    assert "120 minutes" in refused.value.message
    svc.clock.advance(minutes=119)
    with pytest.raises(Invalid):
        act(svc, org["operator"], number, Action.FOLLOW_UP_UNREACHABLE, note="未接")
    svc.clock.advance(minutes=1)
    act(svc, org["operator"], number, Action.FOLLOW_UP_UNREACHABLE, note="第二次未接")
    assert _case(svc, number).follow_up_attempts == 2
    with svc.sessions() as session:
        times = session.scalars(
            select(FollowUp.at)
            .join(Case, Case.id == FollowUp.case_id)
            .where(Case.number == number)
            .order_by(FollowUp.at)
        ).all()
    assert len(times) == 2 and (times[1] - times[0]).total_seconds() >= 7200


# -- G7 / G4 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [State.ON_SITE, State.EXTENSION_REQUESTED, State.EXTENSION_APPROVED]
)
def test_g7_a_crew_hands_work_back_from_site_and_while_an_extension_waits(svc, org, state):
    number = bring_case_to(svc, org, state)
    with pytest.raises(Invalid) as refused:
        act(svc, org["crew"], number, Action.RETURN_WORK)
    assert refused.value.rule == "G7"
    act(svc, org["crew"], number, Action.RETURN_WORK, "现场需要大口径设备,退回调度")
    case = _case(svc, number)
    assert case.state == State.RETURNED
    assert case.handler_department_id == org.departments["DISPATCH"]


def test_g4_ownership_goes_only_to_staff_who_act_on_cases(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    with pytest.raises(Invalid) as refused:
        act(
            svc,
            org["supervisor"],
            number,
            Action.REASSIGN_FIRST_RESPONDER,
            "交接",
            staff_id=org["admin"].id,
        )
    assert refused.value.rule == "G4"
    assert _case(svc, number).first_responder_id == org["operator"].id


def test_g4_the_reassignment_records_the_previous_owner(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    act(
        svc,
        org["supervisor"],
        number,
        Action.REASSIGN_FIRST_RESPONDER,
        "交班",
        staff_id=org["operator2"].id,
    )
    event = _events(svc, number)[-1]
    assert event.data["previous_first_responder_id"] == org["operator"].id
    assert event.data["staff_id"] == org["operator2"].id


@pytest.mark.parametrize(
    ("action", "state", "who", "rule"),
    [
        (Action.RETURN_WORK, State.ASSIGNED, "crew", "G7"),
        (Action.REASSIGN_FIRST_RESPONDER, State.WITH_DISPATCH, "supervisor", "G4"),
        (Action.REJECT_EXTENSION, State.EXTENSION_REQUESTED, "dispatcher", "F11"),
    ],
)
def test_each_missing_reason_names_its_own_rule(svc, org, action, state, who, rule):
    number = bring_case_to(svc, org, state)
    data = {"staff_id": org["operator2"].id} if action == Action.REASSIGN_FIRST_RESPONDER else {}
    with pytest.raises(Invalid) as refused:
        act(svc, org[who], number, action, **data)
    assert refused.value.rule == rule
    assert refused.value.field == "reason"


def test_a_transferred_case_is_visible_to_its_target_department(svc, org):
    number = services.intake(
        svc,
        org["operator"],
        intake_command(
            IntakeOutcome.TRANSFER,
            category=Category.CONSULTATION,
            target_department_id=org.departments["METER"],
            told_caller="已告知水表科电话",
        ),
    ).case_number
    meter = org["crew_meter"]
    with svc.sessions() as session:
        case = services.get_case(session, meter, number)
        listed, total = services.list_cases(session, meter, services.CaseFilter(), now=svc.now())
    assert case.transfer_department_id == org.departments["METER"]
    assert number in [c.number for c in listed] and total >= 1
    with svc.sessions() as session, pytest.raises(NotFound):
        services.get_case(session, org["crew"], number)  # another department does not


def test_the_api_shows_a_transferred_case_to_its_department(app, app_org):
    client = app.test_client()
    body = {
        **LEAK_REPORT,
        "category": "consultation",
        "outcome": "transfer",
        "triage": "out_of_scope",
        "target_department_id": app_org.departments["METER"],
        "told_caller": "已告知水表科电话",
    }
    token = {"Authorization": f"Bearer {app_org.tokens['operator']}"}
    created = client.post("/api/contacts", json=body, headers=token)
    assert created.status_code == 201, created.get_data(as_text=True)
    number = created.json["case_number"]
    meter = {"Authorization": f"Bearer {app_org.tokens['crew_meter']}"}
    shown = client.get(f"/api/cases/{number}", headers=meter)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.json["transfer_department"]["code"] == "METER"
    listed = client.get("/api/cases", headers=meter).json
    assert number in [item["number"] for item in listed["items"]]
