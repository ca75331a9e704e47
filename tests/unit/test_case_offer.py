"""What the case page offers each person (pure: hotline.domain.actions and its view model)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hotline.domain import lifecycle
from hotline.domain.actions import (
    ACTION_INPUTS,
    available_actions,
    may_book,
    may_change_visit,
    may_shut_off,
    required_text,
    with_implied,
)
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Role, Stage
from hotline.web.viewmodels import case_offer, form_field


@dataclass
class Clock:
    stage: str
    ended_at: object = None


@dataclass
class Visit:
    status: str


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
def test_the_actions_offered_are_those_the_table_lets_the_role_take_by_hand(role, state):
    offered = available_actions(role, state)

    assert offered == [
        action
        for action in lifecycle.actions_from(state)
        if lifecycle.may_take(role, action) and action != Action.INCIDENT_RESOLVED
    ]


def test_dispatch_assigns_and_the_crew_acknowledges_but_not_the_other_way_round():
    assert Action.ASSIGN in available_actions(Role.DISPATCHER, State.WITH_DISPATCH)
    assert Action.ASSIGN not in available_actions(Role.OPERATOR, State.WITH_DISPATCH)
    # two tiers: the department signs (签收) and names the worker (派工), who takes it (接单)
    assert Action.ACCEPT in available_actions(Role.CREW, State.ASSIGNED)
    assert Action.ACCEPT not in available_actions(Role.DISPATCHER, State.ASSIGNED)
    assert Action.ACKNOWLEDGE not in available_actions(Role.CREW, State.ASSIGNED)
    assert Action.ASSIGN_WORKER in available_actions(Role.CREW, State.ACCEPTED)
    assert Action.ASSIGN_WORKER not in available_actions(Role.DISPATCHER, State.ACCEPTED)
    assert Action.ACKNOWLEDGE in available_actions(Role.CREW, State.WORKER_ASSIGNED)
    assert Action.ACKNOWLEDGE not in available_actions(Role.DISPATCHER, State.WORKER_ASSIGNED)
    assert Action.ASSIGN_DIRECT in available_actions(Role.DISPATCHER, State.WITH_DISPATCH)
    assert Action.ASSIGN_DIRECT not in available_actions(Role.CREW, State.WITH_DISPATCH)
    assert Action.REJECT_COMPLETION in available_actions(Role.DISPATCHER, State.DONE)
    assert Action.REJECT_COMPLETION not in available_actions(Role.CREW, State.DONE)
    assert available_actions(Role.ADMIN, State.ASSIGNED) == []
    assert Action.INCIDENT_RESOLVED not in available_actions(Role.DISPATCHER, State.MERGED)


def test_every_action_says_what_its_form_asks_for():
    assert set(ACTION_INPUTS) == set(Action)
    assert ACTION_INPUTS[Action.REASSIGN_FIRST_RESPONDER] == ("staff_id", "reason")


@pytest.mark.parametrize(
    ("action", "required"),
    [
        (Action.ADD_NOTE, {"note"}),
        (Action.CLOSE, set()),  # a follow-up note is optional
        (Action.FOLLOW_UP_UNREACHABLE, set()),
        (Action.COMPLETE, {"result_note"}),
        (Action.ANSWER_ON_CALL, {"answer"}),
        (Action.TRANSFER, {"told_caller"}),
        (Action.ACKNOWLEDGE, set()),
    ],
)
def test_the_text_an_action_needs_is_required_on_its_form(action, required):
    assert required_text(action) == required


def test_reopening_forces_a_dissatisfied_outcome_and_nothing_else_is_implied():
    assert with_implied(Action.REOPEN, {"outcome": "satisfied", "note": "x"}) == {
        "outcome": "dissatisfied",
        "note": "x",
    }
    assert with_implied(Action.CLOSE, {"outcome": "satisfied"}) == {"outcome": "satisfied"}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
def test_visits_are_booked_by_working_staff_until_the_case_is_closed_or_merged(role, state):
    expected = role != Role.ADMIN and state not in (State.CLOSED, State.MERGED)

    assert may_book(role, state) is expected
    assert may_change_visit(role, state, "booked") is expected
    assert may_change_visit(role, state, "cancelled") is False


@pytest.mark.parametrize("role", list(Role))
def test_the_shut_off_is_reported_by_crew_or_dispatch_while_its_clock_runs(role):
    on_site = role in (Role.CREW, Role.DISPATCHER, Role.SUPERVISOR)

    assert may_shut_off(role, [Stage.RESOLVE, Stage.SHUT_OFF]) is on_site
    assert may_shut_off(role, ["shut_off"]) is on_site
    assert may_shut_off(role, [Stage.RESOLVE]) is False
    assert may_shut_off(role, []) is False


def test_the_case_offer_puts_the_rules_in_view_model_fields():
    clocks = [Clock("shut_off"), Clock("acknowledge", ended_at="earlier")]
    visits = [Visit("booked"), Visit("cancelled")]

    offer = case_offer(Role.CREW, State.ON_SITE, visits, clocks)

    assert [form.action for form in offer.actions] == available_actions(Role.CREW, State.ON_SITE)
    assert [row.may_change for row in offer.visits] == [True, False]
    assert offer.may_book and offer.may_shut_off and offer.shows_visits

    closed = case_offer(Role.OPERATOR, State.CLOSED, [], [Clock("shut_off", ended_at="then")])
    assert not closed.may_book and not closed.may_shut_off and not closed.shows_visits


def test_a_form_asks_each_input_the_way_its_action_needs_it():
    assert "staff_id" not in ACTION_INPUTS[Action.ASSIGN]  # the department names the worker
    assert form_field(Action.ASSIGN_WORKER, "staff_id").widget == "crew"
    assert form_field(Action.ASSIGN_WORKER, "staff_id").required
    assert form_field(Action.ASSIGN_DIRECT, "staff_id").widget == "crew"
    assert form_field(Action.ASSIGN_DIRECT, "staff_id").required
    assert form_field(Action.REJECT_COMPLETION, "reason").required
    assert form_field(Action.REASSIGN_FIRST_RESPONDER, "staff_id").widget == "person"
    assert form_field(Action.REASSIGN_FIRST_RESPONDER, "staff_id").required
    assert form_field(Action.RETURN_WORK, "reason").required
    assert form_field(Action.ADD_NOTE, "note").required
    assert not form_field(Action.CLOSE, "note").required
    assert form_field(Action.CLOSE, "attitude").widget == "score"
