"""Supervision orders (督办 / 催办): who issues and answers them, their deadline, their order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.domain.supervision import (
    DEFAULT_DUE_MINUTES,
    IssueRequest,
    OrderFacts,
    OrderKind,
    OrderStatus,
    check_answer,
    check_issue,
    is_addressee,
    sort_key,
    status,
)
from hotline.domain.errors import Conflict, Forbidden, Invalid
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
REQUEST = IssueRequest(
    role=Role.SUPERVISOR,
    case_state=State.ASSIGNED,
    kind=OrderKind.SUPERVISE,
    instruction="  今天下班前到场处理并回复  ",
    to_department_id=3,
    to_staff_id=None,
    due_in_minutes=DEFAULT_DUE_MINUTES,
)


def test_a_supervisor_or_dispatcher_issues_an_order_due_in_two_hours_by_default():
    for role in (Role.SUPERVISOR, Role.DISPATCHER):
        decision = check_issue(replace(REQUEST, role=role), NOW)
        assert decision.due_at == NOW + timedelta(hours=2)
        assert decision.instruction == "今天下班前到场处理并回复"


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.CREW, Role.ADMIN])
def test_other_roles_may_not_issue(role):
    with pytest.raises(Forbidden):
        check_issue(replace(REQUEST, role=role), NOW)


@pytest.mark.parametrize(
    ("department", "staff", "field"),
    [(None, None, "to_department_id"), (3, 7, "to_staff_id")],
)
def test_an_order_names_exactly_one_addressee(department, staff, field):
    with pytest.raises(Invalid) as refused:
        check_issue(replace(REQUEST, to_department_id=department, to_staff_id=staff), NOW)
    assert refused.value.field == field and refused.value.rule == "G7"


def test_a_person_may_be_the_addressee():
    assert check_issue(replace(REQUEST, to_department_id=None, to_staff_id=7), NOW)


@pytest.mark.parametrize("minutes", [0, 9, 7 * 24 * 60 + 1, -5])
def test_the_deadline_lies_between_ten_minutes_and_seven_days(minutes):
    with pytest.raises(Invalid) as refused:
        check_issue(replace(REQUEST, due_in_minutes=minutes), NOW)
    assert refused.value.field == "due_in_minutes"


def test_the_instruction_is_required():
    with pytest.raises(Invalid) as refused:
        check_issue(replace(REQUEST, instruction="   "), NOW)
    assert refused.value.field == "instruction"


@pytest.mark.parametrize("state", [State.CLOSED, State.MERGED])
def test_a_finished_case_takes_no_order(state):
    with pytest.raises(Conflict):
        check_issue(replace(REQUEST, case_state=state), NOW)


ORDER = OrderFacts(to_department_id=3, to_staff_id=None, due_at=NOW + timedelta(hours=2))


def test_the_department_named_answers_and_nobody_else():
    assert is_addressee(ORDER, actor_id=11, actor_department_id=3)
    assert check_answer(ORDER, 11, 3, " 已安排班组 ") == "已安排班组"
    with pytest.raises(Forbidden) as refused:
        check_answer(ORDER, 12, 4, "我来回复")
    assert refused.value.rule == "G7"


def test_the_person_named_answers_not_their_department():
    order = OrderFacts(None, 7, NOW)
    assert is_addressee(order, 7, None)
    assert not is_addressee(order, 8, 3)


def test_an_answer_is_given_once_and_in_words():
    with pytest.raises(Conflict):
        check_answer(replace(ORDER, answered_at=NOW), 11, 3, "再答一次")
    with pytest.raises(Invalid) as refused:
        check_answer(ORDER, 11, 3, "  ")
    assert refused.value.field == "answer"


def test_status_and_order_overdue_first_then_open_then_answered():
    overdue = OrderFacts(3, None, NOW - timedelta(hours=1))
    later_overdue = OrderFacts(3, None, NOW - timedelta(minutes=5))
    open_ = OrderFacts(3, None, NOW + timedelta(hours=1))
    late = OrderFacts(3, None, NOW - timedelta(hours=3), answered_at=NOW - timedelta(hours=2))
    answered = OrderFacts(3, None, NOW, answered_at=NOW - timedelta(minutes=1))
    assert status(overdue, NOW) == OrderStatus.OVERDUE
    assert status(open_, NOW) == OrderStatus.OPEN
    assert status(late, NOW) == OrderStatus.ANSWERED_LATE
    assert status(answered, NOW) == OrderStatus.ANSWERED
    shuffled = [answered, open_, late, later_overdue, overdue]
    ordered = sorted(shuffled, key=lambda o: sort_key(o, NOW))
    assert ordered == [overdue, later_overdue, open_, answered, late]
