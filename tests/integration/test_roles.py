"""The whole role x action table over the API, refusals included."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Role
from tests.support import RATED, Org, act, bring_case_to

#: A user of each role in the seeded organisation (the crew member works in REPAIR,
#: the department the test cases are assigned to).
USER_OF = {
    Role.OPERATOR: "operator",
    Role.DISPATCHER: "dispatcher",
    Role.CREW: "crew",
    Role.SUPERVISOR: "supervisor",
    Role.ADMIN: "admin",
    Role.BILLING: "billing",
}

#: For each action taken on an existing case: the state to take it from and a
#: payload that satisfies its rules, so only the role decides the answer.
SCENARIOS: dict[Action, tuple[State, dict[str, Any]]] = {
    Action.ASSIGN: (State.WITH_DISPATCH, {"department_id": "REPAIR"}),
    Action.ASSIGN_DIRECT: (
        State.WITH_DISPATCH,
        {"department_id": "DISPATCH", "staff_id": "crew_center"},
    ),
    Action.ACCEPT: (State.ASSIGNED, {}),
    Action.ASSIGN_WORKER: (State.ACCEPTED, {"staff_id": "crew"}),
    Action.ACKNOWLEDGE: (State.WORKER_ASSIGNED, {}),
    Action.RETURN_WORK: (State.ASSIGNED, {"reason": "不属于本科室"}),
    Action.REQUEST_EXTENSION: (State.ACKNOWLEDGED, {"reason": "等待管材", "extra_working_days": 2}),
    Action.APPROVE_EXTENSION: (State.EXTENSION_REQUESTED, {}),
    Action.REJECT_EXTENSION: (State.EXTENSION_REQUESTED, {"reason": "可以按时完成"}),
    Action.START_WORK: (State.ACKNOWLEDGED, {}),
    Action.ARRIVE: (State.IN_PROGRESS, {}),
    Action.COMPLETE: (State.ON_SITE, {"result_note": "已修复", "customer_rating": 5}),
    Action.CONFIRM_DONE: (State.DONE, {}),
    Action.REJECT_COMPLETION: (State.DONE, {"reason": "管段仍渗水"}),
    Action.FOLLOW_UP_UNREACHABLE: (State.AWAITING_FOLLOW_UP, {"note": "未接"}),
    Action.CLOSE: (State.AWAITING_FOLLOW_UP, {"outcome": "satisfied", **RATED}),
    Action.REOPEN: (State.AWAITING_FOLLOW_UP, {"outcome": "dissatisfied"}),
    Action.CLOSE_UNREACHABLE: (State.AWAITING_FOLLOW_UP, {"reason": "三次未接通", "_attempts": 3}),
    Action.MERGE: (State.WITH_DISPATCH, {"parent_case_number": "_parent"}),
    Action.INCIDENT_RESOLVED: (State.MERGED, {}),
    Action.REASSIGN_FIRST_RESPONDER: (State.ASSIGNED, {"reason": "调岗", "staff_id": "operator2"}),
    Action.ADD_NOTE: (State.ASSIGNED, {"note": "已电话联系用户"}),
}
#: Actions taken at intake, when the contact becomes a case.
INTAKE_ACTIONS = {
    Action.DISPATCH,
    Action.ANSWER_ON_CALL,
    Action.TRANSFER,
    Action.JOIN_INCIDENT,
}


def test_the_scenarios_cover_every_action():
    assert set(SCENARIOS) | INTAKE_ACTIONS == set(Action)
    for action, (state, _) in SCENARIOS.items():
        assert (state, action) in lifecycle.TRANSITIONS, action


def _payload(svc, org: Org, body: dict[str, Any], number: str) -> dict[str, Any]:
    body = dict(body)
    for _ in range(body.pop("_attempts", 0)):
        act(svc, org["operator"], number, Action.FOLLOW_UP_UNREACHABLE, note="未接")
        svc.clock.advance(hours=2)  # P7: attempts are spread out
    if body.get("department_id") in ("REPAIR", "DISPATCH"):
        body["department_id"] = org.departments[body["department_id"]]
    if body.get("staff_id") in ("operator2", "crew", "crew_center"):
        body["staff_id"] = org[body["staff_id"]].id
    if body.get("parent_case_number") == "_parent":
        body["parent_case_number"] = bring_case_to(svc, org, State.WITH_DISPATCH)
    return body


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(SCENARIOS))
def test_role_action_table(app, app_org, client, role, action):
    """Each role may take exactly the actions ALLOWED_ROLES gives it; others get 403."""
    svc, org = app.extensions["hotline"], app_org
    state, body = SCENARIOS[action]
    number = bring_case_to(svc, org, state)
    body = _payload(svc, org, body, number)
    with svc.sessions() as session:
        from hotline.services import get_case

        version = get_case(session, org["supervisor"], number).version
    response = client.post(
        f"/api/cases/{number}/actions",
        json={"action": action.value, "version": version, **body},
        headers={"Authorization": f"Bearer {org.tokens[USER_OF[role]]}"},
    )
    if role in lifecycle.ALLOWED_ROLES[action]:
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["version"] > version
    else:
        assert response.status_code in (403, 404), response.get_json()
        assert response.get_json()["message"]
        with svc.sessions() as session:
            assert (
                get_case(session, org["supervisor"], number).version == version
            )  # nothing written


@pytest.mark.parametrize("role", list(Role))
def test_role_table_at_intake(app, app_org, client, role):
    """Every working role takes contacts (G4: whoever receives it owns it); admins do not."""
    body = {
        "channel": "counter",
        "outcome": "dispatch",
        "category": "leak",
        "problem": "路边冒水",
        "need": "维修",
        "address": "汉槐街 18 号",
        "contact_phone": "13805341234",
        "triage": "utility",
        "read_back_confirmed": True,
    }
    response = client.post(
        "/api/contacts",
        json=body,
        headers={"Authorization": f"Bearer {app_org.tokens[USER_OF[role]]}"},
    )
    allowed = role in lifecycle.ALLOWED_ROLES[Action.DISPATCH]
    assert response.status_code == (201 if allowed else 403), response.get_json()
