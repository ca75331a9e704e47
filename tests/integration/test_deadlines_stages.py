"""Deadlines follow the case (F11, F12, F1): stage clocks through the service layer,
on SQLite and PostgreSQL.

The first test walks a case of every category at every priority through its
life and checks that each stage the default policy lists gets a deadline,
computed from the moment the stage began, on the clock the policy names.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.services.sweep import sweep
from hotline import services
from hotline.domain.deadlines import StageClock, met
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, FollowUpOutcome, Priority, Stage
from hotline.domain.timelimits import TimeLimitPolicy
from hotline.domain.workcalendar import ClockKind
from hotline.models import Appointment, Case, CaseDeadline, CaseEvent
from hotline.services import Conflict, Forbidden, Invalid
from tests.conftest import SHANGHAI
from tests.support import act, bring_case_to, intake_command

FRIDAY_AFTERNOON = datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI)


def _case(svc, number) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _clocks(svc, number, *, open_only: bool = False) -> list[CaseDeadline]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        query = select(CaseDeadline).where(CaseDeadline.case_id == case.id)
        if open_only:
            query = query.where(CaseDeadline.ended_at.is_(None))
        return list(session.scalars(query.order_by(CaseDeadline.id)))


def _open(svc, number, stage: Stage) -> CaseDeadline:
    matches = [c for c in _clocks(svc, number, open_only=True) if c.stage == stage]
    assert len(matches) == 1, [(c.stage, c.ended_at) for c in _clocks(svc, number)]
    return matches[0]


def _events(svc, number, action: str) -> list[CaseEvent]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id, CaseEvent.action == action)
                .order_by(CaseEvent.seq)
            )
        )


# -- the whole policy --------------------------------------------------------------------


@pytest.mark.parametrize("priority", list(Priority), ids=str)
@pytest.mark.parametrize("category", list(Category), ids=str)
def test_every_stage_of_every_category_gets_a_deadline_on_the_policys_clock(
    svc, org, clock, policy: TimeLimitPolicy, category: Category, priority: Priority
):
    """F11: each stage the policy lists for the category and priority opens a
    clock when the stage begins, due when the policy says, on its clock."""
    clock.now = FRIDAY_AFTERNOON  # working-days limits run over the weekend from here
    seen: dict[Stage, CaseDeadline] = {}

    def check_new_clocks(number: str) -> None:
        for row in _clocks(svc, number, open_only=True):
            stage = Stage(row.stage)
            if stage in seen:
                continue
            limit = policy.limit_for(category, priority, stage)
            assert limit is not None, stage
            assert row.started_at == clock.now, stage
            assert row.clock == limit.clock, stage
            assert row.due_at == policy.due_at(clock.now, category, priority, stage), stage
            assert row.warn_at == policy.warn_at(clock.now, row.due_at), stage
            seen[stage] = row

    cmd = intake_command(category=category, priority=priority)
    number = services.intake(svc, org["operator"], cmd).case_number
    check_new_clocks(number)
    steps = [
        ("dispatcher", Action.ASSIGN, {"department_id": org.departments["REPAIR"]}),
        ("crew", Action.ACCEPT, {}),
        ("crew", Action.ASSIGN_WORKER, {"staff_id": org["crew"].id}),
        ("crew", Action.ACKNOWLEDGE, {}),
        ("crew", Action.ARRIVE, {}),
    ]
    for username, action, data in steps:
        clock.advance(minutes=7)
        act(svc, org[username], number, action, **data)
        check_new_clocks(number)
    if Stage.SHUT_OFF in seen:
        clock.advance(minutes=7)
        services.record_shut_off(svc, org["crew"], number)
        check_new_clocks(number)
    clock.advance(minutes=7)
    act(svc, org["crew"], number, Action.COMPLETE, result_note="已处理完毕", customer_rating=5)
    check_new_clocks(number)

    assert set(seen) == set(policy.stages_for(category, priority))
    if priority in (Priority.EMERGENCY, Priority.HIGH) or category == Category.LEAK:
        assert {row.clock for row in seen.values()} == {ClockKind.AROUND_THE_CLOCK}


def test_a_complaint_is_acknowledged_within_two_working_hours_over_the_weekend(svc, org, clock):
    clock.now = datetime(2026, 11, 27, 16, 30, tzinfo=SHANGHAI)  # Friday
    number = services.intake(
        svc, org["operator"], intake_command(category=Category.COMPLAINT)
    ).case_number
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    row = _open(svc, number, Stage.ACKNOWLEDGE)
    assert row.clock == ClockKind.WORKING_DAYS
    assert row.due_at == datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)  # Monday


def test_an_emergency_complaint_runs_around_the_clock(svc, org, clock):
    clock.now = datetime(2026, 11, 27, 16, 30, tzinfo=SHANGHAI)
    cmd = intake_command(category=Category.COMPLAINT, priority=Priority.EMERGENCY)
    number = services.intake(svc, org["operator"], cmd).case_number
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    row = _open(svc, number, Stage.ACKNOWLEDGE)
    assert row.clock == ClockKind.AROUND_THE_CLOCK
    assert row.due_at == clock.now + timedelta(minutes=30)


# -- the case row follows its clocks ----------------------------------------------------


def test_the_case_due_time_is_the_earliest_open_clock(svc, org, clock):
    """Water quality: the caller's reply (24 h from intake) runs beside the work."""
    cmd = intake_command(category=Category.WATER_QUALITY)
    result = services.intake(svc, org["operator"], cmd)
    number = result.case_number
    reply = _open(svc, number, Stage.REPLY)
    assert reply.due_at == clock.now + timedelta(hours=24)
    assert result.due_at == clock.now + timedelta(minutes=30)  # dispatch comes first
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    act(svc, org["crew"], number, Action.ACCEPT)
    act(svc, org["crew"], number, Action.ASSIGN_WORKER, staff_id=org["crew"].id)
    act(svc, org["crew"], number, Action.ACKNOWLEDGE)
    clock.advance(hours=20)
    act(svc, org["crew"], number, Action.ARRIVE)  # resolve: 24 h from now; reply is earlier
    case = _case(svc, number)
    assert case.stage == Stage.RESOLVE
    assert case.due_at == reply.due_at


def test_the_intake_reply_promises_a_time_and_records_it_on_the_case(svc, org, clock):
    result = services.intake(svc, org["operator"], intake_command(category=Category.CONSULTATION))
    assert result.promised_at == svc.policy.due_at(
        clock.now, Category.CONSULTATION, Priority.NORMAL, Stage.RESOLVE
    )
    assert _case(svc, result.case_number).promised_at == result.promised_at


def test_starting_work_keeps_the_on_site_clock_running(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _open(svc, number, Stage.ON_SITE)
    clock.advance(minutes=10)
    act(svc, org["crew"], number, Action.START_WORK)
    after = _open(svc, number, Stage.ON_SITE)
    assert (after.id, after.due_at) == (before.id, before.due_at)


def test_reassigning_gives_the_new_department_its_own_acknowledge_clock(svc, org, clock):
    number = bring_case_to(svc, org, State.ASSIGNED)
    first = _open(svc, number, Stage.ACKNOWLEDGE)
    clock.advance(minutes=40)  # past the leak's 30-minute acknowledgement
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["METER"])
    ended = next(c for c in _clocks(svc, number) if c.id == first.id)
    assert ended.ended_at == clock.now and ended.ended_by == Action.ASSIGN
    assert ended.ended_at > ended.due_at  # missed: on record
    assert _open(svc, number, Stage.ACKNOWLEDGE).started_at == clock.now


def test_an_approved_extension_moves_the_open_clock_by_working_days(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _open(svc, number, Stage.ON_SITE)
    act(svc, org["crew"], number, Action.REQUEST_EXTENSION, "等待管材", extra_working_days=2)
    act(svc, org["dispatcher"], number, Action.APPROVE_EXTENSION)
    after = _open(svc, number, Stage.ON_SITE)
    assert after.id == before.id
    assert after.due_at == svc.calendar.add_working_days(before.due_at, 2)
    assert after.limit_due_at == before.limit_due_at
    set_out = _open(svc, number, Stage.SET_OUT)  # the crew has not left yet: moved too
    assert set_out.due_at == svc.calendar.add_working_days(set_out.limit_due_at, 2)
    assert _case(svc, number).due_at == min(after.due_at, set_out.due_at)


# -- the set-out clock (出发): from the department's signature until the crew leaves --


def test_signing_starts_a_set_out_clock_beside_the_on_site_clock(svc, org, clock):
    number = bring_case_to(svc, org, State.ASSIGNED)
    clock.advance(minutes=5)
    act(svc, org["crew"], number, Action.ACCEPT)
    set_out = _open(svc, number, Stage.SET_OUT)
    on_site = _open(svc, number, Stage.ON_SITE)
    assert set_out.started_at == on_site.started_at == clock.now
    limit = svc.policy.limit_for(Category.LEAK, Priority.NORMAL, Stage.SET_OUT)
    assert limit is not None and limit.text == "20min"
    assert set_out.due_at == clock.now + timedelta(minutes=20)
    case = _case(svc, number)
    assert case.stage == Stage.ON_SITE  # the work clock; set-out runs beside it
    assert case.due_at == set_out.due_at  # the earliest open due time


def test_naming_and_taking_the_work_keep_the_set_out_clock_and_setting_out_ends_it(svc, org, clock):
    number = bring_case_to(svc, org, State.ACCEPTED)
    first = _open(svc, number, Stage.SET_OUT)
    act(svc, org["crew"], number, Action.ASSIGN_WORKER, staff_id=org["crew"].id)
    act(svc, org["crew"], number, Action.ACKNOWLEDGE)
    assert _open(svc, number, Stage.SET_OUT).id == first.id
    clock.advance(minutes=12)
    act(svc, org["crew"], number, Action.START_WORK)
    ended = next(c for c in _clocks(svc, number) if c.id == first.id)
    assert (ended.ended_at, ended.ended_by) == (clock.now, Action.START_WORK)
    assert met(StageClock.of(ended))
    assert not [c for c in _clocks(svc, number, open_only=True) if c.stage == Stage.SET_OUT]
    on_site = _open(svc, number, Stage.ON_SITE)
    assert _case(svc, number).due_at == on_site.due_at


def test_arriving_without_setting_out_first_ends_the_set_out_clock(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    first = _open(svc, number, Stage.SET_OUT)
    clock.advance(minutes=25)  # past the leak's 20 minutes: missed, on record
    act(svc, org["crew"], number, Action.ARRIVE)
    ended = next(c for c in _clocks(svc, number) if c.id == first.id)
    assert ended.ended_by == Action.ARRIVE and met(StageClock.of(ended)) is False


def test_a_returned_case_ends_the_set_out_clock_and_the_next_department_gets_its_own(
    svc, org, clock
):
    number = bring_case_to(svc, org, State.ACCEPTED)
    first = _open(svc, number, Stage.SET_OUT)
    act(svc, org["crew"], number, Action.RETURN_WORK, "不属于本科室")
    assert next(c for c in _clocks(svc, number) if c.id == first.id).ended_by == (
        Action.RETURN_WORK
    )
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    assert not [c for c in _clocks(svc, number, open_only=True) if c.stage == Stage.SET_OUT]
    clock.advance(minutes=3)
    act(svc, org["crew"], number, Action.ACCEPT)
    assert _open(svc, number, Stage.SET_OUT).started_at == clock.now


def test_an_emergency_crew_must_set_out_within_ten_minutes(svc, org, clock):
    number = bring_case_to(svc, org, State.ACCEPTED, priority=Priority.EMERGENCY)
    assert _open(svc, number, Stage.SET_OUT).due_at == clock.now + timedelta(minutes=10)


def test_a_category_without_a_set_out_limit_gets_no_set_out_clock(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED, category=Category.METER_FAULT)
    assert not [c for c in _clocks(svc, number) if c.stage == Stage.SET_OUT]


def test_the_sweep_warns_and_escalates_a_crew_that_has_not_set_out(svc, org, clock):
    number = bring_case_to(svc, org, State.ACCEPTED)
    first = _open(svc, number, Stage.SET_OUT)
    clock.advance(minutes=16)  # 80 % of the leak's 20 minutes
    assert sweep(svc, check_duty=False).warnings == 1
    assert next(c for c in _clocks(svc, number) if c.id == first.id).warned_at == clock.now
    clock.advance(minutes=4)  # breach: the dispatch center is told
    sweep(svc, check_duty=False)
    row = next(c for c in _clocks(svc, number) if c.id == first.id)
    assert row.escalation_level == 1 and row.escalated_at == clock.now
    escalated = [e for e in _events(svc, number, "deadline_escalated")]
    assert [e.data["stage"] for e in escalated] == [Stage.SET_OUT]


def test_closing_or_merging_ends_every_clock(svc, org):
    closed = bring_case_to(svc, org, State.CLOSED)
    merged = bring_case_to(svc, org, State.MERGED)
    for number in (closed, merged):
        assert _clocks(svc, number, open_only=False)
        assert _clocks(svc, number, open_only=True) == []
        assert all(c.next_check_at is None for c in _clocks(svc, number))
        assert _case(svc, number).due_at is None


def test_a_follow_up_attempt_does_not_restart_the_follow_up_clock(svc, org, clock):
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP)
    before = _open(svc, number, Stage.FOLLOW_UP)
    clock.advance(hours=2)
    act(svc, org["operator"], number, Action.FOLLOW_UP_UNREACHABLE)
    assert _open(svc, number, Stage.FOLLOW_UP).id == before.id


def test_a_reopened_case_gives_the_caller_a_new_reply_clock(svc, org, clock):
    cmd = {"category": Category.COMPLAINT}
    number = bring_case_to(svc, org, State.AWAITING_FOLLOW_UP, **cmd)
    assert not [c for c in _clocks(svc, number, open_only=True) if c.stage == Stage.REPLY]
    clock.advance(hours=1)
    act(
        svc,
        org["operator"],
        number,
        Action.REOPEN,
        outcome=FollowUpOutcome.DISSATISFIED.value,
    )
    assert _open(svc, number, Stage.REPLY).started_at == clock.now


# -- F12: the leak's water shut off -------------------------------------------------------


def test_f12_shutting_off_the_water_starts_the_repair_clock_by_pipe_size(svc, org, clock):
    number = bring_case_to(svc, org, State.ON_SITE)
    shut_off = _open(svc, number, Stage.SHUT_OFF)
    assert shut_off.due_at == shut_off.started_at + timedelta(hours=4)
    clock.advance(hours=1)
    services.record_shut_off(svc, org["crew"], number, pipe_size_dn=300, note="关闭 3 号阀门")
    ended = next(c for c in _clocks(svc, number) if c.id == shut_off.id)
    assert ended.ended_at == clock.now and ended.ended_by == "water_shut_off"
    repair = _open(svc, number, Stage.RESOLVE)
    assert repair.due_at == clock.now + timedelta(hours=24)  # DN200-DN400 band
    (event,) = _events(svc, number, "water_shut_off")
    assert event.data["pipe_size_dn"] == 300 and event.data["shut_off_met"] is True


def test_f12_a_shut_off_is_refused_when_none_is_pending(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    with pytest.raises(Conflict) as err:
        services.record_shut_off(svc, org["crew"], number)
    assert err.value.field == "stage"
    with pytest.raises(Invalid) as err:
        services.record_shut_off(svc, org["crew"], number, pipe_size_dn=5)
    assert err.value.field == "pipe_size_dn"


def test_a_crew_of_another_department_cannot_report_a_shut_off(svc, org):
    number = bring_case_to(svc, org, State.ON_SITE)
    with pytest.raises((Forbidden, services.NotFound)):
        services.record_shut_off(svc, org["crew_meter"], number)


# -- F1: appointments pause the clock --------------------------------------------------------


def _book(svc, org, number, clock, hours_ahead: float, *, by_customer: bool = True):
    starts = clock.now + timedelta(hours=hours_ahead)
    return services.book_appointment(
        svc,
        org["crew"],
        number,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        requested_by_customer=by_customer,
        note="用户要求下午上门",
    )


def test_f1_a_time_the_customer_chose_pauses_the_clocks_on_record(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _open(svc, number, Stage.ON_SITE)
    booked_at = clock.now
    appointment = _book(svc, org, number, clock, 3)
    paused = _open(svc, number, Stage.ON_SITE)
    assert (paused.paused_since, paused.paused_until) == (booked_at, appointment.starts_at)
    assert paused.next_check_at == appointment.starts_at
    set_out = _open(svc, number, Stage.SET_OUT)  # the crew leaves for the visit: paused too
    assert (set_out.paused_since, set_out.paused_until) == (booked_at, appointment.starts_at)
    # the board shows the due time as it will be when the visit starts
    assert _case(svc, number).due_at == set_out.due_at + timedelta(hours=3)
    assert set_out.due_at < before.due_at
    (event,) = _events(svc, number, "appointment_booked")
    assert event.data["requested_by_customer"] is True
    assert sorted(event.data["stages_paused"]) == sorted([Stage.ON_SITE, Stage.SET_OUT])
    assert event.data["clock_paused_until"] is not None


def test_f1_arriving_at_the_visit_settles_the_pause_into_the_stage(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _open(svc, number, Stage.ON_SITE)
    appointment = _book(svc, org, number, clock, 3)
    clock.now = appointment.starts_at + timedelta(minutes=10)
    act(svc, org["crew"], number, Action.ARRIVE)
    on_site = next(c for c in _clocks(svc, number) if c.id == before.id)
    assert on_site.paused_seconds == 3 * 3600
    assert on_site.due_at == before.due_at + timedelta(hours=3)
    assert on_site.ended_at <= on_site.due_at  # met: the wait was the customer's


def test_f1_a_pause_on_the_working_days_clock_counts_only_working_time(svc, org, clock):
    clock.now = datetime(2026, 11, 27, 16, 0, tzinfo=SHANGHAI)  # Friday
    number = bring_case_to(svc, org, State.ACKNOWLEDGED, category=Category.BILLING)
    before = _open(svc, number, Stage.RESOLVE)
    assert before.clock == ClockKind.WORKING_DAYS
    starts = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)  # Monday 10:00
    services.book_appointment(
        svc,
        org["crew"],
        number,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        requested_by_customer=True,
    )
    clock.now = starts
    sweep(svc, check_duty=False)  # the visit has come: the clock runs again
    after = _open(svc, number, Stage.RESOLVE)
    # Friday 16:00-17:30 and Monday 08:30-10:00: three working hours
    assert after.paused_seconds == 3 * 3600
    assert after.due_at == svc.calendar.add_working_hours(before.due_at, 3)


def test_f1_a_time_the_utility_chose_stops_no_clock(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    _book(svc, org, number, clock, 3, by_customer=False)
    row = _open(svc, number, Stage.ON_SITE)
    assert row.paused_since is None
    (event,) = _events(svc, number, "appointment_booked")
    assert event.data["clock_paused_until"] is None


def test_f1_a_second_booking_while_one_is_ahead_must_be_a_reschedule(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    _book(svc, org, number, clock, 3)
    with pytest.raises(Conflict) as err:
        _book(svc, org, number, clock, 5)
    assert err.value.field == "appointment_id"


@pytest.mark.parametrize(
    ("starts_in", "length", "field"),
    [(-1, 1, "starts_at"), (24 * 40, 1, "starts_at"), (2, 0, "ends_at"), (2, 13, "ends_at")],
    ids=["in-the-past", "too-far-ahead", "ends-before-start", "window-too-long"],
)
def test_f1_a_bad_visit_window_is_refused_naming_the_field(
    svc, org, clock, starts_in, length, field
):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    starts = clock.now + timedelta(hours=starts_in)
    with pytest.raises(Invalid) as err:
        services.book_appointment(
            svc,
            org["crew"],
            number,
            starts_at=starts,
            ends_at=starts + timedelta(hours=length),
            requested_by_customer=True,
        )
    assert err.value.field == field
    with svc.sessions() as session:
        assert session.scalar(select(Appointment)) is None


def test_f1_rescheduling_needs_a_reason_and_keeps_the_old_appointment(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    old = _book(svc, org, number, clock, 3)
    kwargs = {
        "starts_at": clock.now + timedelta(hours=6),
        "ends_at": clock.now + timedelta(hours=7),
        "requested_by_customer": True,
    }
    with pytest.raises(Invalid) as err:
        services.reschedule_appointment(svc, org["crew"], number, old.id, reason=" ", **kwargs)
    assert err.value.field == "reason"
    new = services.reschedule_appointment(
        svc, org["crew"], number, old.id, reason="用户临时有事", **kwargs
    )
    with svc.sessions() as session:
        statuses = dict(session.execute(select(Appointment.id, Appointment.status)).all())
    assert statuses == {old.id: "rescheduled", new.id: "booked"}
    row = _open(svc, number, Stage.ON_SITE)
    assert row.paused_until == new.starts_at  # still waiting on the customer


def test_f1_when_the_utility_moves_the_visit_the_clock_runs_again_from_then(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _open(svc, number, Stage.ON_SITE)
    old = _book(svc, org, number, clock, 3)
    clock.advance(hours=1)
    services.reschedule_appointment(
        svc,
        org["crew"],
        number,
        old.id,
        starts_at=clock.now + timedelta(hours=5),
        ends_at=clock.now + timedelta(hours=6),
        requested_by_customer=False,
        reason="班组抢修爆管,改约",
    )
    row = _open(svc, number, Stage.ON_SITE)
    assert row.paused_since is None
    assert row.due_at == before.due_at + timedelta(hours=1)  # only the customer's hour


def test_f1_a_no_show_is_recorded_after_the_start_with_what_the_customer_was_told(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    appointment = _book(svc, org, number, clock, 2)
    with pytest.raises(Invalid) as err:
        services.record_no_show(svc, org["crew"], number, appointment.id, told_customer="已留言")
    assert err.value.field == "appointment_id"  # not started yet
    clock.now = appointment.starts_at + timedelta(minutes=20)
    with pytest.raises(Invalid) as err:
        services.record_no_show(svc, org["crew"], number, appointment.id, told_customer="")
    assert err.value.field == "told_customer"
    services.record_no_show(
        svc, org["crew"], number, appointment.id, told_customer="门上留联系卡并短信告知"
    )
    (event,) = _events(svc, number, "appointment_no_show")
    assert event.data["told_customer"] == "门上留联系卡并短信告知"
    row = _open(svc, number, Stage.ON_SITE)
    assert row.paused_since is None and row.paused_seconds == 2 * 3600  # resumed at the start
    with pytest.raises(Conflict):
        services.record_no_show(svc, org["crew"], number, appointment.id, told_customer="again")


def test_f1_cancelling_restarts_the_clock_now_and_moves_the_promise_by_the_wait(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    promised = _case(svc, number).promised_at
    appointment = _book(svc, org, number, clock, 3)
    clock.advance(minutes=30)
    services.cancel_appointment(svc, org["crew"], number, appointment.id, reason="用户已自行修好")
    row = _open(svc, number, Stage.ON_SITE)
    assert row.paused_since is None and row.paused_seconds == 30 * 60
    assert _case(svc, number).promised_at == promised + timedelta(minutes=30)


def test_the_service_layer_refuses_appointments_on_a_closed_case(svc, org, clock):
    number = bring_case_to(svc, org, State.CLOSED)
    with pytest.raises(Conflict):
        _book(svc, org, number, clock, 2)


def test_booking_moves_the_case_version_once_and_appends_one_event(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _case(svc, number)
    _book(svc, org, number, clock, 2)
    after = _case(svc, number)
    assert after.version == before.version + 1
    assert after.last_event_seq == before.last_event_seq + 1
