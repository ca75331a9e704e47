"""The case promises on a real database, SQLite and PostgreSQL (G4-G7, F6, F11, P4-P7)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    FollowUpOutcome,
    Priority,
    Stage,
    TriageOutcome,
)
from hotline.models import Case, CaseEvent, Contact, FollowUp
from hotline.services import Conflict, Forbidden, IntakeOutcome, Invalid, NotFound, audit
from tests.support import RATED, act, bring_case_to, intake_command


def _case(svc, number) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _events(svc, number) -> list[CaseEvent]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
        )


def _count(svc, model) -> int:
    with svc.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


# -- intake ----------------------------------------------------------------------


def test_intake_gives_a_readable_case_number_and_a_promised_time(svc, org, clock):
    first = services.intake(svc, org["operator"], intake_command())
    second = services.intake(svc, org["operator2"], intake_command())
    assert first.case_number == "RY-20261126-0001"
    assert second.case_number == "RY-20261126-0002"
    assert first.state == State.WITH_DISPATCH
    # F11: the caller is told when it will be resolved; the case has a deadline now
    assert first.promised_at is not None and first.promised_at > clock.now
    assert first.due_at is not None and first.due_at > clock.now
    case = _case(svc, first.case_number)
    assert case.promised_at == first.promised_at and case.stage == Stage.DISPATCH


def test_intake_matches_the_caller_to_the_customer_by_normalised_number(svc, org):
    from hotline.models import Customer, CustomerPhone

    with svc.sessions() as session:
        session.add(
            Customer(
                account_number="100231",
                name="孙建国",
                address="汉槐街 18 号",
                phones=[CustomerPhone(number="+8613805341234")],
            )
        )
        session.commit()
    result = services.intake(
        svc, org["operator"], intake_command(caller_number="+86 138-0534-1234")
    )
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == result.case_number))
        assert case.customer.account_number == "100231"


def test_p4_a_case_cannot_be_submitted_without_the_four_items_and_a_read_back(svc, org):
    for missing in ("problem", "need", "address", "contact_phone"):
        with pytest.raises(Invalid) as err:
            services.intake(svc, org["operator"], intake_command(**{missing: " "}))
        assert err.value.field == missing and err.value.rule == "P4"
    with pytest.raises(Invalid) as err:
        services.intake(svc, org["operator"], intake_command(read_back_confirmed=False))
    assert err.value.field == "read_back_confirmed"
    assert _count(svc, Case) == 0 and _count(svc, Contact) == 0  # nothing half-written


def test_p5_triage_is_required_and_ours_or_undetermined_goes_to_dispatch(svc, org):
    with pytest.raises(Invalid) as err:
        services.intake(svc, org["operator"], intake_command(triage=None))
    assert err.value.field == "triage" and err.value.rule == "P5"
    for triage in (TriageOutcome.UTILITY, TriageOutcome.UNDETERMINED):
        with pytest.raises(Invalid) as err:
            services.intake(
                svc,
                org["operator"],
                intake_command(IntakeOutcome.ANSWER_ON_CALL, category=Category.LEAK, triage=triage),
            )
        assert err.value.rule == "P5"
    guided = services.intake(
        svc,
        org["operator"],
        intake_command(
            IntakeOutcome.ANSWER_ON_CALL,
            triage=TriageOutcome.CUSTOMER_SIDE,
            answer="已指导关闭户内阀门",
        ),
    )
    assert guided.state == State.ANSWERED_ON_CALL


def test_bad_phone_number_is_refused_naming_the_field(svc, org):
    with pytest.raises(Invalid) as err:
        services.intake(svc, org["operator"], intake_command(contact_phone="12"))
    assert err.value.field == "contact_phone"


def test_a_caller_can_join_an_open_case_instead_of_a_duplicate(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    result = services.intake(
        svc,
        org["operator2"],
        intake_command(IntakeOutcome.JOIN, join_case_number=number, summary="询问维修进度"),
    )
    assert result.case_number == number and _count(svc, Case) == 1
    assert _events(svc, number)[-1].action == "contact"


# -- G4 / G7: the first responder ---------------------------------------------------


def test_g4_first_responder_is_set_at_intake_and_changes_only_by_a_supervisor_with_a_reason(
    svc, org
):
    number = bring_case_to(svc, org, State.ASSIGNED)
    assert _case(svc, number).first_responder_id == org["operator"].id
    for username in ("operator", "dispatcher", "crew"):
        with pytest.raises(Forbidden):
            act(
                svc,
                org[username],
                number,
                Action.REASSIGN_FIRST_RESPONDER,
                "调岗",
                staff_id=org["operator2"].id,
            )
    with pytest.raises(Invalid) as err:
        act(
            svc,
            org["supervisor"],
            number,
            Action.REASSIGN_FIRST_RESPONDER,
            staff_id=org["operator2"].id,
        )
    assert err.value.field == "reason"
    act(
        svc,
        org["supervisor"],
        number,
        Action.REASSIGN_FIRST_RESPONDER,
        "王丽调岗",
        staff_id=org["operator2"].id,
    )
    case = _case(svc, number)
    assert case.first_responder_id == org["operator2"].id
    last = _events(svc, number)[-1]
    assert last.action == Action.REASSIGN_FIRST_RESPONDER and last.reason == "王丽调岗"
    assert last.actor_id == org["supervisor"].id and last.data["staff_id"] == org["operator2"].id


def test_g4_anyone_who_takes_a_contact_owns_it_whatever_their_department(svc, org):
    """A crew member at the counter is the first responder of what they take in (W1)."""
    result = services.intake(svc, org["crew_meter"], intake_command(channel=Channel.COUNTER))
    assert _case(svc, result.case_number).first_responder_id == org["crew_meter"].id


def test_g7_first_responder_sees_the_case_and_its_history_until_it_closes(svc, org):
    result = services.intake(svc, org["crew_meter"], intake_command(channel=Channel.COUNTER))
    number = result.case_number
    owner = org["crew_meter"]
    outsider = org["crew"]  # REPAIR crew: sees the case only while it is assigned there
    steps = [
        ("dispatcher", Action.ASSIGN, "", {"department_id": org.departments["REPAIR"]}),
        ("crew", Action.ACCEPT, "", {}),
        ("crew", Action.ASSIGN_WORKER, "", {"staff_id": org["crew"].id}),
        ("crew", Action.ACKNOWLEDGE, "", {}),
        ("crew", Action.ARRIVE, "", {}),
        ("crew", Action.COMPLETE, "", {"result_note": "已修复", "customer_rating": 5}),
        ("dispatcher", Action.CONFIRM_DONE, "", {}),
        ("operator", Action.CLOSE, "", {"outcome": "satisfied", **RATED}),
    ]
    with svc.sessions() as session, pytest.raises(NotFound):
        services.get_case(session, outsider, number)
    for username, action, reason, data in steps:
        act(svc, org[username], number, action, reason, **data)
        with svc.sessions() as session:
            assert services.get_case(session, owner, number).number == number
            assert [e.action for e in services.history(session, owner, number)][-1] == action
    assert _case(svc, number).state == State.CLOSED


def test_g7_the_owner_is_told_of_every_step(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    owner = org["operator"]
    with svc.sessions() as session:
        case = services.get_case(session, owner, number)
        services.mark_seen(session, owner, case)
        session.commit()
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    act(svc, org["crew"], number, Action.ACCEPT)
    act(svc, org["crew"], number, Action.ASSIGN_WORKER, staff_id=org["crew"].id)
    act(svc, org["crew"], number, Action.ACKNOWLEDGE)
    act(svc, owner, number, Action.ADD_NOTE, note="已告知用户进度")  # one's own step is not news
    with svc.sessions() as session:
        case = services.get_case(session, owner, number)
        assert services.unseen_changes(session, owner, [case]) == {case.id: 4}


# -- G5, G6 -------------------------------------------------------------------------


def test_g5_transfer_needs_the_target_department_and_what_the_caller_was_told(svc, org):
    with pytest.raises(Invalid) as err:
        services.intake(svc, org["operator"], intake_command(IntakeOutcome.TRANSFER))
    assert err.value.field == "target_department_id" and err.value.rule == "G5"
    with pytest.raises(Invalid) as err:
        services.intake(
            svc,
            org["operator"],
            intake_command(
                IntakeOutcome.TRANSFER,
                target_department_id=org.departments["BUSINESS"],
                told_caller="",
            ),
        )
    assert err.value.field == "told_caller"
    with pytest.raises(NotFound):
        services.intake(
            svc, org["operator"], intake_command(IntakeOutcome.TRANSFER, target_department_id=999)
        )
    assert _count(svc, Case) == 0
    number = bring_case_to(svc, org, State.TRANSFERRED)
    case = _case(svc, number)
    assert case.transfer_department_id == org.departments["BUSINESS"] and case.told_caller


def test_g6_a_complaint_cannot_close_without_passing_through_dispatch(svc, org):
    complaint = {"category": Category.COMPLAINT, "triage": TriageOutcome.NOT_A_REPAIR}
    for outcome, extra in (
        (IntakeOutcome.ANSWER_ON_CALL, {"answer": "已解释"}),
        (
            IntakeOutcome.TRANSFER,
            {"target_department_id": org.departments["BUSINESS"], "told_caller": "已告知"},
        ),
    ):
        with pytest.raises(Invalid) as err:
            services.intake(svc, org["operator"], intake_command(outcome, **complaint, **extra))
        assert err.value.rule == "G6"
    number = bring_case_to(svc, org, State.CLOSED, **complaint)
    case = _case(svc, number)
    assert case.passed_dispatch and case.state == State.CLOSED
    assert State.WITH_DISPATCH in [e.to_state for e in _events(svc, number)]


# -- G7: returns ---------------------------------------------------------------------


def test_g7_returning_work_needs_a_reason_and_goes_back_to_dispatch(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    with pytest.raises(Invalid) as err:
        act(svc, org["crew"], number, Action.RETURN_WORK)
    assert err.value.field == "reason"
    act(svc, org["crew"], number, Action.RETURN_WORK, "属于水表科职责")
    case = _case(svc, number)
    assert case.state == State.RETURNED
    assert case.handler_department_id == org.departments["DISPATCH"]  # never into the void
    assert case.stage == Stage.DISPATCH and case.due_at is not None
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["METER"])
    assert _case(svc, number).handler_department_id == org.departments["METER"]


def test_crew_of_another_department_cannot_act_on_the_case(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    with pytest.raises(NotFound):  # not even visible to them
        act(svc, org["crew_meter"], number, Action.ACCEPT)


# -- F6, F11 -------------------------------------------------------------------------


def test_f6_done_needs_a_result_note(svc, org):
    number = bring_case_to(svc, org, State.ON_SITE)
    with pytest.raises(Invalid) as err:
        act(svc, org["crew"], number, Action.COMPLETE, result_note="")
    assert err.value.field == "result_note" and err.value.rule == "F6"
    act(
        svc,
        org["crew"],
        number,
        Action.COMPLETE,
        result_note="更换 DN100 管段,已恢复供水",
        customer_rating=4,
    )
    assert _case(svc, number).result_note == "更换 DN100 管段,已恢复供水"


def test_f6_completion_captures_the_customers_rating_or_why_there_is_none(svc, org):
    number = bring_case_to(svc, org, State.ON_SITE)
    with pytest.raises(Invalid) as err:
        act(svc, org["crew"], number, Action.COMPLETE, result_note="已修复")
    assert err.value.field == "customer_rating" and err.value.rule == "F6"
    with pytest.raises(Invalid):
        act(svc, org["crew"], number, Action.COMPLETE, result_note="已修复", customer_rating=6)
    assert _case(svc, number).state == State.ON_SITE
    act(
        svc,
        org["crew"],
        number,
        Action.COMPLETE,
        result_note="已修复",
        no_rating_reason="公共管网,无用户在场",
    )
    case = _case(svc, number)
    assert case.customer_rating is None and case.no_rating_reason == "公共管网,无用户在场"
    other = bring_case_to(svc, org, State.ON_SITE)
    act(svc, org["crew"], other, Action.COMPLETE, result_note="已修复", customer_rating=5)
    assert _case(svc, other).customer_rating == 5


def test_f11_extension_is_asked_before_the_deadline_once_and_needs_a_dispatcher(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    due_before = _case(svc, number).due_at
    with pytest.raises(Invalid) as err:
        act(svc, org["crew"], number, Action.REQUEST_EXTENSION, "等待管材", extra_working_days=0)
    assert err.value.field == "extra_working_days"
    act(svc, org["crew"], number, Action.REQUEST_EXTENSION, "等待大口径管材", extra_working_days=2)
    assert _case(svc, number).due_at == due_before  # the clock keeps running while dispatch decides
    with pytest.raises(Forbidden):
        act(svc, org["crew"], number, Action.APPROVE_EXTENSION)
    act(svc, org["dispatcher"], number, Action.APPROVE_EXTENSION)
    case = _case(svc, number)
    assert case.state == State.EXTENSION_APPROVED
    assert case.due_at == svc.calendar.add_working_days(due_before, 2)
    act(svc, org["crew"], number, Action.ARRIVE)
    with pytest.raises(Invalid, match="only once"):
        act(svc, org["crew"], number, Action.REQUEST_EXTENSION, "还要等", extra_working_days=1)


def test_f11_extension_after_the_deadline_is_refused(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    clock.now = _case(svc, number).due_at + timedelta(minutes=1)
    with pytest.raises(Invalid, match="before the deadline"):
        act(svc, org["crew"], number, Action.REQUEST_EXTENSION, "等待管材", extra_working_days=2)


def test_every_open_case_has_a_deadline_on_its_stage(svc, org):
    for state in (
        State.WITH_DISPATCH,
        State.ASSIGNED,
        State.ACKNOWLEDGED,
        State.ON_SITE,
        State.AWAITING_FOLLOW_UP,
    ):
        case = _case(svc, bring_case_to(svc, org, state))
        assert case.due_at is not None, state


def test_emergency_leak_runs_on_the_around_the_clock_clock(svc, org, clock):
    clock.now = clock.now.replace(hour=23)  # night: a working-day clock would wait for morning
    result = services.intake(svc, org["operator"], intake_command(priority=Priority.EMERGENCY))
    assert result.due_at - clock.now <= timedelta(hours=1)


# -- P7 --------------------------------------------------------------------------------


def test_p7_nothing_closes_without_a_follow_up_outcome(svc, org):
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    with pytest.raises(Invalid) as err:
        act(svc, org["operator"], number, Action.CLOSE)
    assert err.value.rule == "P7"
    act(
        svc,
        org["operator"],
        number,
        Action.CLOSE,
        outcome="basically_satisfied",
        attitude=5,
        quality=4,
        timeliness=4,
        result=5,
    )
    case = _case(svc, number)
    assert case.state == State.CLOSED and case.closed_at is not None
    with svc.sessions() as session:
        follow_up = session.scalar(select(FollowUp).where(FollowUp.case_id == case.id))
    assert follow_up.outcome == FollowUpOutcome.BASICALLY_SATISFIED and follow_up.quality == 4


def test_p7_a_dissatisfied_outcome_reopens_the_case_to_dispatch(svc, org):
    number = bring_case_to(svc, org, State.REOPENED)
    case = _case(svc, number)
    assert (
        case.state == State.REOPENED and case.handler_department_id == org.departments["DISPATCH"]
    )
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    assert _case(svc, number).state == State.ASSIGNED


def test_p7_unreachable_needs_the_configured_attempts_and_a_supervisor(svc, org):
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    needed = svc.policy.follow_up_unreachable_attempts
    for attempt in range(needed):
        with pytest.raises(Invalid, match="attempts"):
            act(svc, org["supervisor"], number, Action.CLOSE_UNREACHABLE, "多次未接通")
        act(
            svc,
            org["operator"],
            number,
            Action.FOLLOW_UP_UNREACHABLE,
            note=f"第{attempt + 1}次未接",
        )
        svc.clock.advance(hours=2)  # P7: attempts are spread out
    with pytest.raises(Forbidden):
        act(svc, org["operator"], number, Action.CLOSE_UNREACHABLE, "多次未接通")
    act(svc, org["supervisor"], number, Action.CLOSE_UNREACHABLE, "三次未接通,主管确认归档")
    case = _case(svc, number)
    assert case.state == State.CLOSED and case.follow_up_outcome == FollowUpOutcome.UNREACHABLE


def test_callers_merged_into_an_incident_each_get_their_follow_up(svc, org):
    parent = bring_case_to(svc, org, State.ON_SITE)
    child = services.intake(svc, org["operator2"], intake_command()).case_number
    act(svc, org["dispatcher"], child, Action.MERGE, parent_case_number=parent)
    assert _case(svc, child).parent_case_id == _case(svc, parent).id
    with pytest.raises(Invalid):
        act(
            svc, org["dispatcher"], parent, Action.MERGE, parent_case_number=child
        )  # merged cases take no callers
    act(svc, org["crew"], parent, Action.COMPLETE, result_note="主管道抢修完毕", customer_rating=5)
    act(svc, org["dispatcher"], parent, Action.CONFIRM_DONE)
    assert _case(svc, child).state == State.AWAITING_FOLLOW_UP
    assert _events(svc, child)[-1].action == Action.INCIDENT_RESOLVED


# -- P6: the history -------------------------------------------------------------------


def test_p6_every_change_appends_exactly_one_event(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    before = len(_events(svc, number))
    act(svc, org["crew"], number, Action.ACCEPT)
    act(svc, org["crew"], number, Action.ADD_NOTE, note="已联系用户")
    events = _events(svc, number)
    assert len(events) == before + 2
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert _case(svc, number).last_event_seq == len(events)
    # a refused action appends nothing
    with pytest.raises(Invalid):  # 派工 names no worker
        act(svc, org["crew"], number, Action.ASSIGN_WORKER)
    assert len(_events(svc, number)) == len(events)


def test_p6_events_are_never_updated_or_deleted(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    before = _events(svc, number)
    event = before[0]
    engine_session = svc.sessions()
    for statement in (
        text("UPDATE case_events SET reason = 'x' WHERE id = :id"),
        text("DELETE FROM case_events WHERE id = :id"),
    ):
        with pytest.raises(Exception, match="append-only"), engine_session.begin():
            engine_session.execute(statement, {"id": event.id})
    engine_session.close()
    after = _events(svc, number)
    assert [(e.id, e.reason, e.hash) for e in after] == [(e.id, e.reason, e.hash) for e in before]


def _tamper(svc, statement: str, **params) -> None:
    """Change the log behind the product's back, the way a database owner could."""
    with svc.sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            session.execute(text("DROP TRIGGER IF EXISTS case_events_no_update"))
            session.execute(text("DROP TRIGGER IF EXISTS case_events_no_delete"))
        session.execute(text(statement), params)


def test_p6_audit_verify_detects_an_edited_event(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    with svc.sessions() as session:
        assert audit.verify(session) == (1, [])
    event = _events(svc, number)[1]
    _tamper(svc, "UPDATE case_events SET reason = '改过' WHERE id = :id", id=event.id)
    with svc.sessions() as session:
        checked, problems = audit.verify(session)
    assert checked == 1 and [p.seq for p in problems] == [2]
    assert "changed" in str(problems[0]) and number in str(problems[0])


@pytest.mark.parametrize("which", ["middle", "last"])
def test_p6_audit_verify_detects_a_deleted_event(svc, org, which):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    events = _events(svc, number)
    victim = events[1] if which == "middle" else events[-1]
    _tamper(svc, "DELETE FROM case_events WHERE id = :id", id=victim.id)
    with svc.sessions() as session:
        _, problems = audit.verify(session)
    assert problems, "a deleted event went unnoticed"


# -- refusals write nothing ------------------------------------------------------------


def test_an_illegal_action_is_refused_naming_state_and_action_and_writes_nothing(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    before = _case(svc, number)
    with pytest.raises(Conflict) as err:
        act(svc, org["dispatcher"], number, Action.CONFIRM_DONE)
    assert "'confirm_done'" in err.value.message and "'with_dispatch'" in err.value.message
    after = _case(svc, number)
    assert (after.state, after.version, after.last_event_seq) == (
        before.state,
        before.version,
        before.last_event_seq,
    )


def test_unknown_references_are_refused_and_write_nothing(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    version = _case(svc, number).version
    with pytest.raises(NotFound) as err:
        act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=999)
    assert err.value.field == "department_id"
    with pytest.raises(Invalid, match="unknown action"):
        services.perform(svc, org["dispatcher"], number, "fly", expected_version=version)
    with pytest.raises(NotFound):
        services.perform(
            svc, org["dispatcher"], "RY-19990101-0001", Action.ASSIGN, expected_version=1
        )
    assert _case(svc, number).version == version


# -- concurrency ---------------------------------------------------------------------


def test_concurrent_changes_to_the_same_case_exactly_one_wins(svc, org):
    """Two dispatchers act on the same version at once: one wins, the other gets a conflict."""
    for _round in range(3):
        number = bring_case_to(svc, org, State.WITH_DISPATCH)
        version = _case(svc, number).version
        barrier = threading.Barrier(2)
        results: list[object] = []

        def assign(
            department: str,
            number: str = number,
            version: int = version,
            barrier=barrier,
            results=results,
        ) -> None:
            barrier.wait()
            try:
                services.perform(
                    svc,
                    org["dispatcher"],
                    number,
                    Action.ASSIGN,
                    expected_version=version,
                    data={"department_id": org.departments[department]},
                )
                results.append("ok")
            except Conflict as exc:
                results.append(exc)

        threads = [threading.Thread(target=assign, args=(d,)) for d in ("REPAIR", "METER")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(map(str, results)).count("ok") == 1, results
        assert sum(isinstance(r, Conflict) for r in results) == 1
        events = _events(svc, number)
        assert [e.action for e in events].count(Action.ASSIGN) == 1
        assert _case(svc, number).version == version + 1


def test_concurrent_intakes_never_share_a_case_number(svc, org):
    numbers: list[str] = []
    barrier = threading.Barrier(4)

    def take() -> None:
        barrier.wait()
        for _ in range(3):
            numbers.append(services.intake(svc, org["operator"], intake_command()).case_number)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(numbers) == 12 and len(set(numbers)) == 12
