"""The outbound task queue: tasks made where the work arises, pulled once, follow-ups (P7)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from callflows import services as calls
from callflows.domain.outbound_tasks import AttemptOutcome, TaskKind, TaskState
from callflows.models import Call, OutboundTask
from callflows.services import outbound_tasks as tasks
from callflows.services import task_making
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, Customer, CustomerPhone, FollowUp
from hotline.services import Conflict, Forbidden, Invalid
from tests.integration.callhelp import FakeTelephony, make_flows, ring
from tests.support import act, bring_case_to, intake_command


@pytest.fixture(autouse=True)
def _installed(svc) -> None:
    task_making.install(svc)


@pytest.fixture
def flows() -> Any:
    return make_flows(FakeTelephony())


def _tasks(svc, **where: Any) -> list[OutboundTask]:
    with svc.sessions() as session:
        query = select(OutboundTask).order_by(OutboundTask.id)
        for name, value in where.items():
            query = query.where(getattr(OutboundTask, name) == value)
        return list(session.scalars(query).all())


def _case(svc, number: str) -> Case:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case is not None
        session.expunge(case)
        return case


def _walk(svc, flows, actor, task_id: int, *steps: tuple[str, dict[str, str]]) -> None:
    for op, args in steps:
        tasks.script_op(svc, flows, actor, task_id, op, args)


def _rated(overall: str, comment: str = "") -> list[tuple[str, dict[str, str]]]:
    steps = [
        ("answer", {"answer": "answered"}),
        ("answer", {"answer": "confirmed"}),
        ("complete", {}),
        ("answer", {"answer": "satisfied"}),
        ("answer", {"answer": "satisfied"}),
        ("answer", {"answer": "basically_satisfied"}),
        ("answer", {"answer": overall}),
    ]
    if comment:
        steps.append(("capture", {"field": "follow_up_comment", "value": comment}))
    steps.append(("complete", {}) if comment else ("skip", {}))
    steps.append(("answer", {"answer": overall}))
    return steps


def test_a_case_awaiting_follow_up_gets_one_task_in_the_same_transaction(svc, org) -> None:
    """P7: reaching awaiting follow-up queues the follow-up, due now, deadline the follow-up stage."""
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    case = _case(svc, number)
    [task] = _tasks(svc, case_id=case.id)
    assert task.kind == TaskKind.FOLLOW_UP and task.state == TaskState.OPEN
    assert task.script_id == "follow_up_call"
    assert task.deadline_at == case.due_at  # the follow-up stage's clock (the day after)
    assert task.subject_key == f"follow_up:case:{case.id}:1"


def test_answered_on_call_cases_are_followed_up_too(svc, org) -> None:
    """P7: every accepted case is followed up, also one answered on the call."""
    number = bring_case_to(svc, org, State.ANSWERED_ON_CALL)
    assert [t.kind for t in _tasks(svc, case_id=_case(svc, number).id)] == ["follow_up"]


def test_two_operators_never_get_the_same_task(svc, org, db_url) -> None:
    """The claim is atomic: two pulls at once take two different tasks."""
    bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    bring_case_to(svc, org, State.ANSWERED_ON_CALL)
    got: list[int | None] = []
    barrier = threading.Barrier(2)

    def pull(name: str) -> None:
        barrier.wait()
        got.append(tasks.take_next(svc, org[name]))

    threads = [threading.Thread(target=pull, args=(n,)) for n in ("operator", "operator2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in got and len(set(got)) == 2
    assert tasks.take_next(svc, org["supervisor"]) is None


def test_the_most_urgent_task_comes_first(svc, org, clock) -> None:
    """Nearest deadline first; a task with none comes after."""
    tasks.book_call_back(
        svc, org["operator"], phone="13805340000", name="王", note="停电时来电", due_at=clock.now
    )
    first = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    taken = tasks.take_next(svc, org["operator"])
    with svc.sessions() as session:
        task = tasks.get_task(session, taken)
        assert task.kind == TaskKind.BOOKED_CALL_BACK  # its deadline is an hour away
        assert task.owner_id == org["operator"].id
    nxt = tasks.take_next(svc, org["operator"])
    case_id = _case(svc, first).id
    with svc.sessions() as session:
        assert tasks.get_task(session, nxt).case_id == case_id


def test_dissatisfied_reopens_to_dispatch_with_the_customers_words(svc, org) -> None:
    """P7: a dissatisfied follow-up reopens the case to dispatch, rated once, words kept."""
    flows = make_flows()
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    me = org["operator"]
    task_id = tasks.take_next(svc, me)
    _walk(svc, flows, me, task_id, *_rated("dissatisfied", "水压还是很小"))
    tasks.finish_follow_up(svc, flows, me, task_id)
    case = _case(svc, number)
    assert case.state == State.REOPENED
    with svc.sessions() as session:
        [follow_up] = session.scalars(select(FollowUp).where(FollowUp.case_id == case.id)).all()
        assert (follow_up.attitude, follow_up.quality, follow_up.timeliness, follow_up.result) == (
            5,
            5,
            3,
            1,
        )
        assert follow_up.note == "水压还是很小"
        task = tasks.get_task(session, task_id)
        assert task.state == TaskState.DONE
        assert [a.outcome for a in task.attempts] == [AttemptOutcome.REACHED]


def test_dissatisfied_without_the_customers_words_is_refused(svc, org) -> None:
    """P7: dispatch works from what the customer said; nothing is written without it."""
    flows = make_flows()
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    me = org["operator"]
    task_id = tasks.take_next(svc, me)
    _walk(svc, flows, me, task_id, *_rated("dissatisfied"))
    with pytest.raises(Invalid) as refused:
        tasks.finish_follow_up(svc, flows, me, task_id)
    assert refused.value.field == "follow_up_comment"
    assert _case(svc, number).state == State.AWAITING_FOLLOW_UP


def test_satisfied_closes_the_case_rated(svc, org) -> None:
    """P7: no case closes without its follow-up outcome; the ratings come from the script."""
    flows = make_flows()
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    me = org["operator"]
    task_id = tasks.take_next(svc, me)
    _walk(svc, flows, me, task_id, *_rated("satisfied"))
    tasks.finish_follow_up(svc, flows, me, task_id)
    assert _case(svc, number).state == State.CLOSED


def test_finishing_before_the_ratings_is_refused(svc, org) -> None:
    """P7: attitude, quality, timeliness and result are all asked before the case moves."""
    flows = make_flows()
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    me = org["operator"]
    task_id = tasks.take_next(svc, me)
    _walk(svc, flows, me, task_id, ("answer", {"answer": "answered"}))
    with pytest.raises(Invalid):
        tasks.finish_follow_up(svc, flows, me, task_id)
    assert _case(svc, number).state == State.AWAITING_FOLLOW_UP


def test_unreachable_needs_spaced_attempts_then_a_supervisor(svc, org, clock) -> None:
    """P7: unreachable counts only spaced attempts, then a supervisor decides with a reason."""
    flows = make_flows()
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    me = org["operator"]
    for attempt in range(3):
        task_id = tasks.take_next(svc, me)
        assert task_id is not None, f"attempt {attempt + 1} was not due"
        _walk(svc, flows, me, task_id, ("answer", {"answer": "no_answer"}))
        tasks.finish_follow_up(svc, flows, me, task_id)
        assert tasks.take_next(svc, me) is None  # not due again before the gap
        clock.advance(minutes=121)
    with svc.sessions() as session:
        task = tasks.get_task(session, task_id)
        assert task.state == TaskState.NEEDS_DECISION and task.owner_id is None
        assert len(task.attempts) == 3
    assert tasks.take_next(svc, me) is None
    with pytest.raises(Forbidden):
        tasks.decide_unreachable(svc, me, task_id, close=True, reason="三次无人接听")
    with pytest.raises(Invalid):
        tasks.decide_unreachable(svc, org["supervisor"], task_id, close=True, reason="")
    tasks.decide_unreachable(svc, org["supervisor"], task_id, close=True, reason="三次无人接听")
    assert _case(svc, number).state == State.CLOSED


def test_each_child_of_an_incident_gets_its_own_follow_up(svc, org) -> None:
    """P7: callers merged into an incident are each followed up once it is settled."""
    parent = bring_case_to(svc, org, State.IN_PROGRESS)
    children = [
        services.intake(
            svc,
            org["operator"],
            intake_command(
                services.IntakeOutcome.JOIN_INCIDENT,
                join_case_number=parent,
                caller_number=n,
                contact_phone=n,
            ),
        ).case_number
        for n in ("13805341111", "13805342222")
    ]
    act(
        svc, org["crew"], parent, Action.COMPLETE, result_note="已修复", no_rating_reason="公共管网"
    )
    act(svc, org["dispatcher"], parent, Action.CONFIRM_DONE)
    for number in [parent, *children]:
        case = _case(svc, number)
        assert case.state == State.AWAITING_FOLLOW_UP
        assert len(_tasks(svc, case_id=case.id, kind="follow_up")) == 1


def test_a_missed_call_queues_one_call_back_until_reached(svc, org) -> None:
    """A missed call becomes one call-back task; reaching the caller settles both."""
    flows = make_flows()
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")
    [task] = _tasks(svc, call_id=call_id)
    assert task.kind == TaskKind.CALL_BACK
    me = org["operator"]
    assert tasks.take_next(svc, me) == task.id
    tasks.place_call(svc, flows, me, task.id)
    assert flows.telephony.calls[-1].to == task.phone
    tasks.record_attempt(svc, me, task.id, AttemptOutcome.NO_ANSWER, "")
    with svc.sessions() as session:
        assert session.get(Call, call_id).called_back_at is None
    # due again only after the gap
    assert tasks.take_next(svc, me) is None
    with svc.sessions() as session, session.begin():
        session.get(OutboundTask, task.id).due_at = svc.now()
    assert tasks.take_next(svc, me) == task.id
    tasks.record_attempt(svc, me, task.id, AttemptOutcome.REACHED, "已告知停水原因")
    with svc.sessions() as session:
        assert session.get(Call, call_id).called_back_at is not None
        assert tasks.get_task(session, task.id).state == TaskState.DONE
    assert len(_tasks(svc, call_id=call_id)) == 1


def test_abnormal_usage_one_task_per_anomaly_with_a_deadline(svc, org) -> None:
    """W14: an outbound-call task per anomaly, with a deadline; a resent list adds nothing."""
    with svc.sessions() as session, session.begin():
        customer = Customer(account_number="A100", name="李", address="汉槐街 1 号")
        session.add(customer)
        session.flush()
        session.add(CustomerPhone(customer_id=customer.id, number="+8613805349999"))
    sheet = "account,reading,expected\nA100,95,12\n"
    assert tasks.import_anomalies(svc, org["supervisor"], sheet) == 1
    assert tasks.import_anomalies(svc, org["supervisor"], sheet) == 0
    [task] = _tasks(svc, kind="abnormal_usage")
    assert task.deadline_at is not None and task.deadline_at > task.due_at
    assert task.phone == "+8613805349999"
    with pytest.raises(Invalid) as refused:
        tasks.import_anomalies(
            svc, org["supervisor"], "account,reading,expected\nA100,7,1\nZZ,1,1\n"
        )
    assert "line 3" in str(refused.value)
    assert len(_tasks(svc, kind="abnormal_usage")) == 1  # nothing half-written
    with pytest.raises(Forbidden):
        tasks.import_anomalies(svc, org["operator"], sheet)


def test_dunning_tasks_for_customers_in_arrears_once(svc, org) -> None:
    """W15: a dunning call per customer in arrears, running the dunning script."""
    with svc.sessions() as session, session.begin():
        session.add(Customer(account_number="B1", name="赵", address="x", arrears_cents=12345))
        session.add(Customer(account_number="B2", name="钱", address="y", arrears_cents=0))
    assert tasks.create_dunning(svc, org["supervisor"]) == 1
    assert tasks.create_dunning(svc, org["supervisor"]) == 0
    [task] = _tasks(svc, kind="dunning")
    assert task.script_id == "dunning_call"


def test_only_the_owner_works_a_task(svc, org) -> None:
    """A task taken by one operator is not worked by another."""
    flows = make_flows()
    bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    task_id = tasks.take_next(svc, org["operator"])
    with pytest.raises(Forbidden):
        tasks.script_op(svc, flows, org["operator2"], task_id, "answer", {"answer": "answered"})
    tasks.release(svc, org["operator"], task_id)
    assert tasks.take_next(svc, org["operator2"]) == task_id
    with pytest.raises(Conflict):
        tasks.decide_unreachable(svc, org["supervisor"], task_id, close=False, reason="")


def test_reaching_the_caller_from_the_console_settles_the_call_back_task(svc, org) -> None:
    """One call-back, two doors: the console's call-back and the queue's task agree."""
    flows = make_flows()
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")
    [task] = _tasks(svc, call_id=call_id)
    calls.call_back(svc, flows, org["operator"], call_id)
    calls.record_call_back_outcome(svc, flows, org["operator"], call_id, reached=True)
    [task] = _tasks(svc, call_id=call_id)
    assert task.state == TaskState.DONE
    assert tasks.take_next(svc, org["operator2"]) is None


def test_a_move_that_neither_enters_nor_leaves_follow_up_reads_nothing():
    """The intake and every dispatch step cost the queue no query."""

    class NoSession:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the session was used: {name}")

    case = Case(state=State.WITH_DISPATCH)
    task_making.case_moved(NoSession(), case, State.REGISTERED, datetime(2026, 12, 1, tzinfo=UTC))
