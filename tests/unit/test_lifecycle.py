"""The lifecycle table and its guards, without a database (rules G4-G7, F6, F11, P6, P7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain import lifecycle
from hotline.domain.lifecycle import (
    ALLOWED_ROLES,
    TRANSITIONS,
    Action,
    CaseFacts,
    GuardRefused,
    IllegalTransition,
    NotPermitted,
    Request,
    State,
    apply,
)
from hotline.domain.taxonomy import Category, FollowUpOutcome, Role

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
OPERATOR, DISPATCHER, CREW, SUPERVISOR = 1, 2, 3, 4
REPAIR = 30
CENTER = 20  # the dispatch center's own department
ROLE_OF = {
    OPERATOR: Role.OPERATOR,
    DISPATCHER: Role.DISPATCHER,
    CREW: Role.CREW,
    SUPERVISOR: Role.SUPERVISOR,
}


def facts(state: State, **kw) -> CaseFacts:
    base = dict(
        state=state,
        category=Category.LEAK,
        first_responder_id=OPERATOR,
        handler_department_id=REPAIR,
        case_id=1,
        due_at=NOW + timedelta(hours=4),
    )
    base.update(kw)
    return CaseFacts(**base)


#: A follow-up's ratings (P7): every aspect, 1-5.
RATED = {"attitude": 5, "quality": 5, "timeliness": 4, "result": 5}


def req(action: Action, actor: int = OPERATOR, reason: str = "", **data) -> Request:
    return Request(
        action=action,
        actor_id=actor,
        actor_role=ROLE_OF[actor],
        actor_department_id=REPAIR if actor == CREW else None,
        now=NOW,
        reason=reason,
        data=data,
    )


# -- G4: first-responder ownership ----------------------------------------


def test_g4_first_responder_changes_only_by_a_supervisor_with_a_reason():
    f = facts(State.ASSIGNED)
    for actor in (OPERATOR, DISPATCHER, CREW):
        with pytest.raises(NotPermitted):
            apply(f, req(Action.REASSIGN_FIRST_RESPONDER, actor, "调岗", staff_id=9))
    with pytest.raises(GuardRefused, match="reason"):
        apply(f, req(Action.REASSIGN_FIRST_RESPONDER, SUPERVISOR, staff_id=9))
    with pytest.raises(GuardRefused, match="first responder"):
        apply(f, req(Action.REASSIGN_FIRST_RESPONDER, SUPERVISOR, "调岗"))
    outcome = apply(f, req(Action.REASSIGN_FIRST_RESPONDER, SUPERVISOR, "接线员调岗", staff_id=9))
    assert outcome.changes == {"first_responder_id": 9}
    assert outcome.target == State.ASSIGNED


def test_g4_no_other_action_changes_the_first_responder():
    for (state, action), _ in TRANSITIONS.items():
        if action == Action.REASSIGN_FIRST_RESPONDER:
            continue
        changes = lifecycle._changes(
            facts(state),
            req(
                action,
                OPERATOR,
                "r",
                department_id=REPAIR,
                extra_working_days=1,
                target_department_id=5,
                parent_case_id=2,
                outcome="satisfied",
                attitude=5,
                quality=5,
                timeliness=5,
                result=5,
            ),
            state,
        )
        assert "first_responder_id" not in changes, (state, action)


# -- G5: transfers -----------------------------------------------------------


def test_g5_transfer_needs_target_department_and_what_the_caller_was_told():
    f = facts(State.REGISTERED, category=Category.CONSULTATION)
    with pytest.raises(GuardRefused, match="target department") as err:
        apply(f, req(Action.TRANSFER, told_caller="请到营业厅"))
    assert err.value.rule == "G5" and err.value.field == "target_department_id"
    with pytest.raises(GuardRefused, match="told") as err:
        apply(f, req(Action.TRANSFER, target_department_id=5, told_caller="  "))
    assert err.value.field == "told_caller"
    outcome = apply(
        f, req(Action.TRANSFER, target_department_id=5, told_caller="请到营业厅 3 号窗口")
    )
    assert outcome.target == State.TRANSFERRED


# -- G6: complaints go through dispatch -------------------------------------


@pytest.mark.parametrize(
    "action,data",
    [
        (Action.ANSWER_ON_CALL, {"answer": "已解释"}),
        (Action.TRANSFER, {"target_department_id": 5, "told_caller": "已告知"}),
    ],
)
def test_g6_a_complaint_cannot_be_ended_by_the_first_responder(action, data):
    with pytest.raises(GuardRefused) as err:
        apply(facts(State.REGISTERED, category=Category.COMPLAINT), req(action, **data))
    assert err.value.rule == "G6"


def test_g6_a_complaint_cannot_close_without_passing_through_dispatch():
    f = facts(State.AWAITING_FOLLOW_UP, category=Category.COMPLAINT, passed_dispatch=False)
    with pytest.raises(GuardRefused, match="dispatch"):
        apply(f, req(Action.CLOSE, outcome="satisfied", **RATED))
    assert (
        apply(
            replace(f, passed_dispatch=True), req(Action.CLOSE, outcome="satisfied", **RATED)
        ).target
        == State.CLOSED
    )


def test_g6_dispatching_marks_the_case_as_passed_through_dispatch():
    outcome = apply(facts(State.REGISTERED, category=Category.COMPLAINT), req(Action.DISPATCH))
    assert outcome.target == State.WITH_DISPATCH and outcome.changes["passed_dispatch"] is True


# -- G7: returns ---------------------------------------------------------------


@pytest.mark.parametrize("state", [State.ASSIGNED, State.ACKNOWLEDGED, State.IN_PROGRESS])
def test_g7_returning_work_needs_a_reason_and_goes_back_to_dispatch(state):
    with pytest.raises(GuardRefused, match="reason"):
        apply(facts(state), req(Action.RETURN_WORK, CREW))
    outcome = apply(facts(state), req(Action.RETURN_WORK, CREW, "不属于本科室职责"))
    assert outcome.target == State.RETURNED
    assert outcome.target in lifecycle.DISPATCH_QUEUE
    assert (State.RETURNED, Action.ASSIGN) in TRANSITIONS


def test_g7_crew_act_only_on_their_own_departments_work():
    with pytest.raises(NotPermitted, match="department"):
        apply(facts(State.ASSIGNED, handler_department_id=99), req(Action.ACCEPT, CREW))
    with pytest.raises(NotPermitted, match="department"):
        apply(
            facts(State.ACCEPTED, handler_department_id=99),
            req(Action.ASSIGN_WORKER, CREW, staff_id=CREW),
        )


# -- F6, F11: completion and extensions --------------------------------------


def test_f6_done_needs_a_result_note():
    with pytest.raises(GuardRefused) as err:
        apply(facts(State.ON_SITE), req(Action.COMPLETE, CREW, result_note=" "))
    assert err.value.rule == "F6" and err.value.field == "result_note"
    outcome = apply(
        facts(State.ON_SITE), req(Action.COMPLETE, CREW, result_note="已修复", customer_rating=5)
    )
    assert outcome.target == State.DONE and outcome.changes["result_note"] == "已修复"


def test_f6_the_customers_rating_is_captured_or_why_there_is_none():
    f = facts(State.ON_SITE)
    with pytest.raises(GuardRefused) as err:
        apply(f, req(Action.COMPLETE, CREW, result_note="已修复"))
    assert err.value.rule == "F6" and err.value.field == "customer_rating"
    for bad in (0, 6, "5", True):
        with pytest.raises(GuardRefused):
            apply(f, req(Action.COMPLETE, CREW, result_note="已修复", customer_rating=bad))
    rated = apply(f, req(Action.COMPLETE, CREW, result_note="已修复", customer_rating=3))
    assert rated.changes["customer_rating"] == 3
    unrated = apply(
        f, req(Action.COMPLETE, CREW, result_note="已修复", no_rating_reason="用户不在场")
    )
    assert unrated.changes["no_rating_reason"] == "用户不在场"


def test_f11_extension_is_asked_before_the_deadline_once_and_approved_by_dispatch():
    f = facts(State.IN_PROGRESS)
    ask = req(Action.REQUEST_EXTENSION, CREW, "等待管材", extra_working_days=3)
    outcome = apply(f, ask)
    assert outcome.target == State.EXTENSION_REQUESTED
    # only dispatch approves
    f2 = lifecycle.advance(f, outcome)
    for actor in (OPERATOR, CREW):
        with pytest.raises(NotPermitted):
            apply(f2, req(Action.APPROVE_EXTENSION, actor))
    assert apply(f2, req(Action.APPROVE_EXTENSION, DISPATCHER)).target == State.EXTENSION_APPROVED
    # once
    with pytest.raises(GuardRefused, match="once"):
        apply(replace(f, extension_requests=1), ask)
    # before the deadline
    with pytest.raises(GuardRefused, match="before the deadline"):
        apply(replace(f, due_at=NOW - timedelta(minutes=1)), ask)
    # bounded
    with pytest.raises(GuardRefused, match="1 to 10"):
        apply(f, req(Action.REQUEST_EXTENSION, CREW, "等待", extra_working_days=11))


# -- P7: follow-up gate ------------------------------------------------------


def test_p7_nothing_closes_without_a_follow_up_outcome():
    for (state, action), (target, _) in TRANSITIONS.items():
        if target != State.CLOSED:
            continue
        assert action in (Action.CLOSE, Action.CLOSE_UNREACHABLE), (state, action)
    with pytest.raises(GuardRefused) as err:
        apply(facts(State.AWAITING_FOLLOW_UP), req(Action.CLOSE))
    assert err.value.rule == "P7"
    with pytest.raises(GuardRefused):
        apply(facts(State.AWAITING_FOLLOW_UP), req(Action.CLOSE, outcome="dissatisfied"))
    for outcome in (FollowUpOutcome.SATISFIED, FollowUpOutcome.BASICALLY_SATISFIED):
        assert (
            apply(
                facts(State.AWAITING_FOLLOW_UP), req(Action.CLOSE, outcome=outcome.value, **RATED)
            ).target
            == State.CLOSED
        )


def test_p7_a_case_closes_rated_on_every_aspect_or_saying_why_not():
    f = facts(State.AWAITING_FOLLOW_UP)
    with pytest.raises(GuardRefused) as err:
        apply(f, req(Action.CLOSE, outcome="basically_satisfied"))
    assert err.value.rule == "P7" and err.value.field == "attitude"
    partly = {**RATED, "timeliness": None}
    with pytest.raises(GuardRefused, match="timeliness") as err:
        apply(f, req(Action.CLOSE, outcome="satisfied", **partly))
    assert err.value.field == "timeliness"
    with pytest.raises(GuardRefused):
        apply(f, req(Action.CLOSE, outcome="satisfied", no_rating_reason="   "))
    assert apply(f, req(Action.CLOSE, outcome="satisfied", **RATED)).target == State.CLOSED
    why = req(Action.CLOSE, outcome="satisfied", no_rating_reason="来电人不愿评价")
    assert apply(f, why).target == State.CLOSED


def test_p7_dissatisfied_reopens_to_dispatch():
    outcome = apply(facts(State.AWAITING_FOLLOW_UP), req(Action.REOPEN, outcome="dissatisfied"))
    assert outcome.target == State.REOPENED and State.REOPENED in lifecycle.DISPATCH_QUEUE


def test_p7_unreachable_needs_the_configured_attempts_and_a_supervisor():
    rules = lifecycle.Settings(follow_up_unreachable_attempts=3)
    f = facts(State.AWAITING_FOLLOW_UP, follow_up_attempts=2)
    with pytest.raises(NotPermitted):
        apply(
            replace(f, follow_up_attempts=3),
            req(Action.CLOSE_UNREACHABLE, OPERATOR, "三次未接"),
            rules,
        )
    with pytest.raises(GuardRefused, match="3 follow-up attempts"):
        apply(f, req(Action.CLOSE_UNREACHABLE, SUPERVISOR, "三次未接"), rules)
    done = apply(
        replace(f, follow_up_attempts=3),
        req(Action.CLOSE_UNREACHABLE, SUPERVISOR, "三次未接"),
        rules,
    )
    assert done.target == State.CLOSED
    attempt = apply(f, req(Action.FOLLOW_UP_UNREACHABLE))
    assert attempt.changes["follow_up_attempts"] == 3


# -- illegal moves -------------------------------------------------------------


def test_an_illegal_action_is_refused_naming_the_state_and_the_action():
    with pytest.raises(IllegalTransition) as err:
        apply(facts(State.CLOSED), req(Action.ADD_NOTE, note="x"))
    assert "'add_note'" in str(err.value) and "'closed'" in str(err.value)
    with pytest.raises(IllegalTransition, match=r"'complete'.*'assigned'"):
        apply(facts(State.ASSIGNED), req(Action.COMPLETE, CREW, result_note="x"))


def test_every_action_has_roles_and_every_state_but_closed_has_a_way_out():
    assert set(ALLOWED_ROLES) == set(Action)
    for state in State:
        moves = [
            a
            for a in lifecycle.actions_from(state)
            if a not in (Action.ADD_NOTE, Action.REASSIGN_FIRST_RESPONDER)
        ]
        assert bool(moves) == (state != State.CLOSED), state


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_role_table_pure(role, action):
    """Each role passes the role check exactly for the actions the table gives it."""
    allowed = role in ALLOWED_ROLES[action]
    state = next(s for (s, a) in TRANSITIONS if a == action)
    request = Request(
        action=action, actor_id=5, actor_role=role, actor_department_id=REPAIR, now=NOW
    )
    try:
        # the case is with the actor's department, and named to them where a worker is named
        apply(facts(state, handler_department_id=REPAIR, handler_staff_id=5), request)
    except NotPermitted as exc:
        assert not allowed, f"{role} refused {action}: {exc}"
        return
    except (GuardRefused, IllegalTransition):
        pass  # passed the role check; the payload is empty on purpose
    assert allowed, f"{role} was allowed {action}"


# -- property: invariants under random action sequences -----------------------

ACTORS = [OPERATOR, DISPATCHER, CREW, SUPERVISOR]
PAYLOADS = [
    {},
    {"department_id": REPAIR},
    {"result_note": "已修复", "customer_rating": 5},
    {"answer": "已答复"},
    {"target_department_id": 5, "told_caller": "已告知"},
    {"extra_working_days": 2},
    {"outcome": "satisfied"},
    {"outcome": "satisfied", "attitude": 5, "quality": 4, "timeliness": 5, "result": 5},
    {"outcome": "dissatisfied"},
    {"staff_id": 9},
    {"staff_id": CREW},
    {"department_id": CENTER, "staff_id": CREW},
    {"parent_case_id": 2},
    {"note": "补充"},
]


@settings(max_examples=500, deadline=None)
@given(category=st.sampled_from(list(Category)), data=st.data())
def test_invariants_hold_after_every_step(category, data):
    f = facts(
        State.REGISTERED, category=category, handler_department_id=None, dispatch_center_id=CENTER
    )
    rules = lifecycle.Settings()
    passed_dispatch_seen = False
    reached = set()
    for _ in range(data.draw(st.integers(min_value=1, max_value=40), label="steps")):
        legal = lifecycle.actions_from(f.state) or list(Action)
        # mostly moves the table allows, sometimes anything at all
        action = data.draw(
            st.one_of(st.sampled_from(legal), st.sampled_from(list(Action))), label="action"
        )
        actor = data.draw(st.sampled_from(ACTORS), label="actor")
        reason = data.draw(st.sampled_from(["", "原因"]), label="reason")
        payload = data.draw(st.sampled_from(PAYLOADS), label="payload")
        minutes = data.draw(st.integers(min_value=0, max_value=600), label="minutes")
        before = f
        request = replace(
            req(action, actor, reason, **payload), now=NOW + timedelta(minutes=minutes)
        )
        try:
            outcome = apply(f, request, rules)
        except (NotPermitted, IllegalTransition, GuardRefused):
            assert f == before  # a refusal changes nothing
            continue
        f = lifecycle.advance(f, outcome)
        reached.add(f.state)
        if outcome.target in lifecycle.DISPATCH_QUEUE or action == Action.DISPATCH:
            passed_dispatch_seen = True
        # the table decides every move
        assert TRANSITIONS[(before.state, action)][0] == f.state
        # G4: the owner changes only by a supervisor, with a reason
        if f.first_responder_id != before.first_responder_id:
            assert action == Action.REASSIGN_FIRST_RESPONDER and actor == SUPERVISOR and reason
        # G6: closed complaints went through dispatch
        if f.state == State.CLOSED and category == Category.COMPLAINT:
            assert passed_dispatch_seen and f.passed_dispatch
        # G6: a complaint is never answered or transferred by the first responder
        if category == Category.COMPLAINT:
            assert f.state not in (State.ANSWERED_ON_CALL, State.TRANSFERRED)
        # G7: returns carry a reason and land with dispatch
        if f.state == State.RETURNED and before.state != State.RETURNED:
            assert reason and action == Action.RETURN_WORK
        # F6: done carries a result note; a refused completion says why and clears it
        if f.state == State.DONE and before.state != State.DONE:
            assert payload.get("result_note") and payload.get("customer_rating")
        if before.state == State.DONE and f.state == State.IN_PROGRESS:
            assert action == Action.REJECT_COMPLETION and reason
            assert actor in (DISPATCHER, SUPERVISOR)
        # two tiers: the department signs and names its worker; only that worker takes it
        if f.state == State.ACCEPTED and before.state != State.ACCEPTED:
            assert (
                action == Action.ACCEPT and actor == CREW and before.handler_department_id == REPAIR
            )
        if f.state == State.ACKNOWLEDGED and before.state == State.WORKER_ASSIGNED:
            assert actor == before.handler_staff_id
        if f.state == State.WORKER_ASSIGNED:
            assert f.handler_staff_id is not None
            if action == Action.ASSIGN_DIRECT:
                assert f.handler_department_id == CENTER
        # F11: one extension at most
        assert f.extension_requests <= 1
        # P7: closing needs an outcome and every rating, or enough attempts and a supervisor
        if f.state == State.CLOSED:
            rated = all(
                payload.get(name) for name in ("attitude", "quality", "timeliness", "result")
            )
            assert (action == Action.CLOSE and payload.get("outcome") == "satisfied" and rated) or (
                action == Action.CLOSE_UNREACHABLE
                and actor == SUPERVISOR
                and before.follow_up_attempts >= rules.follow_up_unreachable_attempts
            )
        # closed is final
        assert before.state != State.CLOSED, "a closed case moved"
