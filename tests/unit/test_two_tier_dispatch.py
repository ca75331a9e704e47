"""Two-tier dispatch (派单到站点 → 签收 → 派工 → 接单), a refused completion
(销单不合格) and the routing rules, without a database (rules G7, F6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.demo import DEPARTMENTS
from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, GuardRefused, NotPermitted, State, apply
from hotline.domain.routing import RoutingError, RoutingRules
from hotline.domain.taxonomy import Category, Stage
from tests.unit.test_lifecycle import CREW, DISPATCHER, REPAIR, SUPERVISOR, facts, req

CENTER = 20
ROOT = Path(__file__).resolve().parents[2]


# -- G7: the dispatch center sends to a department, which names the worker ---------


def test_g7_dispatch_sends_to_a_department_not_to_a_person():
    outcome = apply(
        facts(State.WITH_DISPATCH), req(Action.ASSIGN, DISPATCHER, department_id=REPAIR)
    )
    assert outcome.target == State.ASSIGNED
    assert outcome.changes["handler_department_id"] == REPAIR
    assert outcome.changes["handler_staff_id"] is None
    with pytest.raises(GuardRefused) as err:
        apply(
            facts(State.WITH_DISPATCH),
            req(Action.ASSIGN, DISPATCHER, department_id=REPAIR, staff_id=CREW),
        )
    assert err.value.rule == "G7" and err.value.field == "staff_id"


def test_g7_only_the_dispatch_centers_own_crew_is_sent_directly():
    own = facts(State.WITH_DISPATCH, dispatch_center_id=CENTER)
    outcome = apply(own, req(Action.ASSIGN_DIRECT, DISPATCHER, department_id=CENTER, staff_id=7))
    assert outcome.target == State.WORKER_ASSIGNED
    assert outcome.changes == {
        "passed_dispatch": True,
        "handler_department_id": CENTER,
        "handler_staff_id": 7,
    }
    with pytest.raises(GuardRefused) as err:
        apply(own, req(Action.ASSIGN_DIRECT, DISPATCHER, department_id=REPAIR, staff_id=CREW))
    assert err.value.rule == "G7" and err.value.field == "department_id"
    with pytest.raises(GuardRefused) as err:
        apply(own, req(Action.ASSIGN_DIRECT, DISPATCHER, department_id=CENTER))
    assert err.value.rule == "G7" and err.value.field == "staff_id"
    # no dispatch center known: nobody is sent directly
    with pytest.raises(GuardRefused):
        apply(
            facts(State.WITH_DISPATCH),
            req(Action.ASSIGN_DIRECT, DISPATCHER, department_id=CENTER, staff_id=7),
        )
    with pytest.raises(NotPermitted):
        apply(own, req(Action.ASSIGN_DIRECT, CREW, department_id=CENTER, staff_id=7))


def test_g7_the_department_signs_then_names_its_worker():
    sent = facts(State.ASSIGNED)
    signed = apply(sent, req(Action.ACCEPT, CREW))
    assert signed.target == State.ACCEPTED and signed.changes == {}
    for actor in (DISPATCHER, SUPERVISOR):
        with pytest.raises(NotPermitted):
            apply(sent, req(Action.ACCEPT, actor))
    with pytest.raises(NotPermitted, match="department"):
        apply(facts(State.ASSIGNED, handler_department_id=99), req(Action.ACCEPT, CREW))

    accepted = lifecycle.advance(sent, signed)
    with pytest.raises(GuardRefused) as err:
        apply(accepted, req(Action.ASSIGN_WORKER, CREW))
    assert err.value.rule == "G7" and err.value.field == "staff_id"
    named = apply(accepted, req(Action.ASSIGN_WORKER, CREW, staff_id=CREW))
    assert named.target == State.WORKER_ASSIGNED and named.changes["handler_staff_id"] == CREW
    # the department may name another worker until one takes it
    worker = lifecycle.advance(accepted, named)
    again = apply(worker, req(Action.ASSIGN_WORKER, CREW, staff_id=9))
    assert again.target == State.WORKER_ASSIGNED and again.changes["handler_staff_id"] == 9


def test_g7_only_the_named_worker_takes_the_work():
    named = facts(State.WORKER_ASSIGNED, handler_staff_id=9)
    with pytest.raises(NotPermitted, match="another worker"):
        apply(named, req(Action.ACKNOWLEDGE, CREW))
    taken = apply(
        facts(State.WORKER_ASSIGNED, handler_staff_id=CREW), req(Action.ACKNOWLEDGE, CREW)
    )
    assert taken.target == State.ACKNOWLEDGED
    # nobody acknowledges for the department before it signed and named someone
    for state in (State.ASSIGNED, State.ACCEPTED):
        with pytest.raises(lifecycle.IllegalTransition):
            apply(facts(state, handler_staff_id=CREW), req(Action.ACKNOWLEDGE, CREW))


def test_g7_a_department_hands_work_back_with_a_reason_at_every_step():
    for state in (State.ASSIGNED, State.ACCEPTED, State.WORKER_ASSIGNED):
        with pytest.raises(GuardRefused) as err:
            apply(facts(state), req(Action.RETURN_WORK, CREW))
        assert err.value.rule == "G7"
        outcome = apply(facts(state), req(Action.RETURN_WORK, CREW, "不属于本站点"))
        assert outcome.target == State.RETURNED and outcome.changes["handler_staff_id"] is None


def test_g7_dispatch_may_send_elsewhere_until_the_worker_takes_it():
    for state in (State.ASSIGNED, State.ACCEPTED, State.WORKER_ASSIGNED):
        outcome = apply(facts(state), req(Action.ASSIGN, DISPATCHER, department_id=31))
        assert outcome.target == State.ASSIGNED and outcome.changes["handler_staff_id"] is None
    with pytest.raises(lifecycle.IllegalTransition):
        apply(facts(State.ACKNOWLEDGED), req(Action.ASSIGN, DISPATCHER, department_id=31))


def test_each_tier_has_its_clock():
    assert lifecycle.stage_for(State.WITH_DISPATCH) == (Stage.DISPATCH,)
    # the department's signature (签收) runs on the acknowledge clock
    assert lifecycle.stage_for(State.ASSIGNED) == (Stage.ACKNOWLEDGE,)
    # once signed, the work clock runs through 派工 and 接单
    for state in (State.ACCEPTED, State.WORKER_ASSIGNED, State.ACKNOWLEDGED):
        assert lifecycle.stage_for(state) == (Stage.ON_SITE, Stage.RESOLVE)
        assert lifecycle.stage_for(state, arrived=True) == (Stage.RESOLVE,)


def test_new_states_are_working_states_and_incidents_take_callers_there():
    assert {State.ACCEPTED, State.WORKER_ASSIGNED} <= lifecycle.WORKING
    for state in (State.ACCEPTED, State.WORKER_ASSIGNED):
        assert (state, Action.MERGE) in lifecycle.TRANSITIONS


# -- F6: a completion that does not pass goes back to the crew ----------------------


def test_f6_a_refused_completion_says_why_and_goes_back_to_the_crew():
    done = facts(State.DONE, handler_staff_id=CREW)
    with pytest.raises(GuardRefused) as err:
        apply(done, req(Action.REJECT_COMPLETION, DISPATCHER, " "))
    assert err.value.rule == "F6" and err.value.field == "reason"
    with pytest.raises(NotPermitted):
        apply(done, req(Action.REJECT_COMPLETION, CREW, "管段仍渗水"))
    for actor in (DISPATCHER, SUPERVISOR):
        outcome = apply(done, req(Action.REJECT_COMPLETION, actor, "管段仍渗水"))
        assert outcome.target == State.IN_PROGRESS
        # the rejected result is kept in the history, not on the case
        assert outcome.changes["result_note"] == "" and outcome.changes["customer_rating"] is None
        assert "handler_staff_id" not in outcome.changes  # back to the same crew
    for state in (State.ON_SITE, State.AWAITING_FOLLOW_UP):
        with pytest.raises(lifecycle.IllegalTransition):
            apply(facts(state), req(Action.REJECT_COMPLETION, DISPATCHER, "x"))


# -- routing rules -------------------------------------------------------------------

RULES = {
    "default": "DISPATCH",
    "rules": [
        {"category": "leak", "department": "REPAIR"},
        {"category": "leak", "area": "开发区", "department": "REPAIR_KFQ"},
        {"area": "开发区", "department": "KFQ"},
        {"category": "billing", "department": "BUSINESS"},
    ],
}


def test_routing_the_most_specific_rule_wins():
    rules = RoutingRules.from_toml(RULES)
    assert rules.propose(Category.LEAK, "开发区").department == "REPAIR_KFQ"
    assert rules.propose(Category.LEAK, "城区").department == "REPAIR"
    assert rules.propose(Category.LEAK, "").department == "REPAIR"
    assert rules.propose(Category.COMPLAINT, " 开发区 ").department == "KFQ"
    assert rules.propose(Category.BILLING, "开发区").department == "BUSINESS"
    fallback = rules.propose(Category.COMPLAINT, "城区")
    assert fallback.department == "DISPATCH" and fallback.rule is None
    assert RoutingRules.from_toml({"rules": RULES["rules"]}).propose("complaint", "") is None
    assert rules.propose("leak", "开发区").why == "leak / 开发区"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": [{"category": "leek", "department": "A"}]}, "rules[0].category: unknown"),
        ({"rules": [{"department": "A"}]}, "rules[0]: a rule names a category, an area"),
        ({"rules": [{"area": "x", "department": "A", "dept": 1}]}, "rules[0].dept: unknown key"),
        ({"rules": [{"area": "x"}]}, "rules[0].department: missing"),
        (
            {"rules": [{"area": "x", "department": "A"}, {"area": "x", "department": "B"}]},
            "rules[1]: the same category and area as rules[0]",
        ),
        ({"route": []}, "route: unknown key"),
    ],
)
def test_routing_file_is_read_strictly(data, message):
    with pytest.raises(RoutingError) as err:
        RoutingRules.from_toml(data)
    assert str(err.value).startswith(message)


def test_the_shipped_routing_file_names_real_departments_and_routes_leaks():
    rules = RoutingRules.load(ROOT / "config" / "routing.toml")
    codes = {code for code, *_ in DEPARTMENTS}
    assert rules.departments <= codes
    assert rules.propose(Category.LEAK, "").department == "REPAIR"
    # complaints: the dispatcher decides (G6)
    assert rules.propose(Category.COMPLAINT, "") is None
