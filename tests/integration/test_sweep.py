"""The deadline sweep on a real database, SQLite and PostgreSQL (F11, F12).

The promises: a warning at the configured share of the time and an
escalation one tier up at the breach, each recorded exactly once: when sweeps
repeat, when two run at the same moment, and when the process was down across
the deadline and comes back hours later.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from dispatch.services.sweep import due_clocks, query_plan, sweep
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Stage
from hotline.models import Case, CaseDeadline, CaseEvent
from hotline.services import audit
from tests.support import act, bring_case_to, intake_command

SWEEP_ACTIONS = ("deadline_warning", "deadline_escalated", "clock_resumed")


def _case(svc, number) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _sweep_events(svc, number) -> list[CaseEvent]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id, CaseEvent.action.in_(SWEEP_ACTIONS))
                .order_by(CaseEvent.seq)
            )
        )


def _open(svc, number, stage: Stage) -> CaseDeadline:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return session.scalar(
            select(CaseDeadline).where(
                CaseDeadline.case_id == case.id,
                CaseDeadline.stage == stage,
                CaseDeadline.ended_at.is_(None),
            )
        )


def _assigned_leak(svc, org, clock) -> str:
    """A leak assigned at 09:00: acknowledge due 09:30, warning 09:24, supervisor 10:00."""
    number = services.intake(svc, org["operator"], intake_command()).case_number
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    return number


# -- warnings and escalations, each once ----------------------------------------------


def test_the_warning_goes_out_at_the_share_of_the_time_to_handler_and_owner(svc, org, clock):
    number = _assigned_leak(svc, org, clock)
    clock.advance(minutes=23)
    assert sweep(svc, check_duty=False).warnings == 0
    clock.advance(minutes=1)  # 24 of 30 minutes: 80 %
    report = sweep(svc, check_duty=False)
    assert report.warnings == 1
    (warning,) = _sweep_events(svc, number)
    assert warning.action == "deadline_warning" and warning.actor_id is None
    assert warning.data["stage"] == Stage.ACKNOWLEDGE
    assert warning.data["told"] == {
        "handler_department_id": org.departments["REPAIR"],
        "handler_staff_id": None,
        "first_responder_id": org["operator"].id,
    }
    assert warning.data["seconds_left"] == 6 * 60


def test_f12_a_breach_climbs_one_tier_then_the_next_each_recorded_once(svc, org, clock):
    number = _assigned_leak(svc, org, clock)
    for minutes in (24, 25, 29):
        clock.now = clock.now.replace(minute=minutes)
        sweep(svc, check_duty=False)
    clock.now = clock.now.replace(minute=30)  # breach: the dispatch center is told
    sweep(svc, check_duty=False)
    sweep(svc, check_duty=False)
    assert _case(svc, number).escalation_level == 1
    clock.now = clock.now.replace(hour=10, minute=0)  # the limit passed again: supervisor
    sweep(svc, check_duty=False)
    clock.advance(hours=5)
    sweep(svc, check_duty=False)

    actions = [(e.action, e.data.get("to_level")) for e in _sweep_events(svc, number)]
    assert actions == [
        ("deadline_warning", None),
        ("deadline_escalated", 1),
        ("deadline_escalated", 2),
    ]
    case = _case(svc, number)
    assert case.escalation_level == 2
    row = _open(svc, number, Stage.ACKNOWLEDGE)
    assert row.next_check_at is None  # nothing more can happen: out of the sweep's index


def test_a_breach_of_the_dispatch_stage_goes_to_the_supervisor(svc, org, clock):
    number = services.intake(svc, org["operator"], intake_command()).case_number
    clock.advance(minutes=16)
    sweep(svc, check_duty=False)
    (event,) = [e for e in _sweep_events(svc, number) if e.action == "deadline_escalated"]
    assert (event.data["from_level"], event.data["to_level"]) == (0, 2)
    assert event.data["tier"] == "supervisor"


def test_down_across_the_deadline_a_late_sweep_escalates_once_to_the_tier_reached(svc, org, clock):
    """The process was down from before the warning until hours after the breach."""
    number = _assigned_leak(svc, org, clock)
    clock.advance(hours=4)
    report = sweep(svc, check_duty=False)
    assert (report.warnings, report.escalations) == (0, 1)
    (event,) = _sweep_events(svc, number)
    assert event.action == "deadline_escalated"
    assert (event.data["from_level"], event.data["to_level"]) == (0, 2)
    assert event.data["tiers_skipped"] == 1 and event.data["warning_skipped"] is True
    assert event.data["late_seconds"] == 3 * 3600  # the supervisor's tier came at 10:00
    assert event.data["overdue_seconds"] == 3 * 3600 + 30 * 60
    clock.advance(hours=4)
    assert sweep(svc, check_duty=False).escalations == 0
    assert len(_sweep_events(svc, number)) == 1


def test_two_sweeps_at_the_same_moment_record_each_step_once(svc, org, clock):
    numbers = [_assigned_leak(svc, org, clock) for _ in range(3)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            sweep(svc, check_duty=False)
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    for moment in (24, 31, 60):  # warning, dispatch center, supervisor
        clock.now = clock.now.replace(hour=9 + moment // 60, minute=moment % 60)
        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
    for number in numbers:
        actions = [(e.action, e.data.get("to_level")) for e in _sweep_events(svc, number)]
        assert actions == [
            ("deadline_warning", None),
            ("deadline_escalated", 1),
            ("deadline_escalated", 2),
        ]
    with svc.sessions() as session:
        checked, problems = audit.verify(session)
    assert checked == 3 and problems == []


def test_two_sweeps_after_downtime_escalate_once(svc, org, clock):
    number = _assigned_leak(svc, org, clock)
    clock.advance(hours=6)
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        barrier.wait(timeout=10)
        reports.append(sweep(svc, check_duty=False))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.escalations for r in reports) == 1
    assert [e.action for e in _sweep_events(svc, number)] == ["deadline_escalated"]


def test_each_sweep_step_moves_the_case_version_once_and_keeps_the_chain_intact(svc, org, clock):
    number = _assigned_leak(svc, org, clock)
    before = _case(svc, number)
    clock.advance(minutes=24)
    sweep(svc, check_duty=False)
    after = _case(svc, number)
    assert after.version == before.version + 1
    assert after.last_event_seq == before.last_event_seq + 1
    with svc.sessions() as session:
        assert audit.verify(session, case_number=number)[1] == []


def test_a_stage_that_ends_in_time_is_never_escalated(svc, org, clock):
    number = _assigned_leak(svc, org, clock)
    clock.advance(minutes=10)
    act(svc, org["crew"], number, Action.ACCEPT)
    clock.advance(minutes=25)  # past the old acknowledge deadline; on site is due 09:40
    sweep(svc, check_duty=False)
    # the on-site warning and the missed set-out (20 min); never the signed acknowledge
    stages = sorted(e.data["stage"] for e in _sweep_events(svc, number))
    assert stages == [Stage.ON_SITE, Stage.SET_OUT]


# -- pauses, after commit, the index ------------------------------------------------------


def test_the_sweep_restarts_a_paused_clock_at_the_visit_even_when_it_comes_late(svc, org, clock):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    before = _open(svc, number, Stage.ON_SITE)
    starts = clock.now + timedelta(hours=2)
    services.book_appointment(
        svc,
        org["crew"],
        number,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        requested_by_customer=True,
    )
    clock.advance(hours=1)
    assert sweep(svc, check_duty=False).resumed == 0  # still waiting on the customer
    clock.now = starts + timedelta(minutes=10)  # the sweep comes ten minutes late
    report = sweep(svc, check_duty=False)
    assert report.resumed == 2  # the on-site and the set-out clock
    after = _open(svc, number, Stage.ON_SITE)
    assert after.paused_since is None and after.paused_seconds == 2 * 3600
    assert after.due_at == before.due_at + timedelta(hours=2)  # not a minute more
    (resume,) = [e for e in _sweep_events(svc, number) if e.action == "clock_resumed"]
    assert sorted(resume.data["stages"]) == [Stage.ON_SITE, Stage.SET_OUT]
    assert sweep(svc, check_duty=False).resumed == 0


def test_browsers_are_told_after_the_commit_and_a_failing_push_loses_nothing(svc, org, clock):
    number = _assigned_leak(svc, org, clock)
    told = []

    def publish(payload):
        with svc.sessions() as session:  # committed already: another session sees it
            told.append(
                (payload, session.scalar(select(Case.version).where(Case.number == number)))
            )
        raise RuntimeError("socket server gone")

    clock.advance(minutes=24)
    report = sweep(replace(svc, publish=publish), check_duty=False)
    assert report.warnings == 1
    ((payload, version_seen),) = told
    assert payload["action"] == "deadline_warning" and payload["case"] == number
    assert payload["version"] == version_seen
    assert [e.action for e in _sweep_events(svc, number)] == ["deadline_warning"]


def test_closed_history_leaves_the_sweeps_index(svc, org, clock):
    closed = bring_case_to(svc, org, State.CLOSED)
    open_ = bring_case_to(svc, org, State.ASSIGNED, category=Category.METER_FAULT)
    clock.advance(days=30)
    with svc.sessions() as session:
        due = set(session.scalars(due_clocks(clock.now, 100)))
        ids = dict(session.execute(select(Case.number, Case.id)).all())
        live = session.scalar(
            text("SELECT count(*) FROM case_deadlines WHERE next_check_at IS NOT NULL")
        )
    assert due == {ids[open_]}
    assert ids[closed] not in due
    assert live == 1


def test_the_sweeps_query_reads_the_partial_index_of_live_clocks(svc, clock):
    with svc.sessions() as session:
        if session.bind.dialect.name == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))  # tiny table: force the choice
        plan = " ".join(query_plan(session, clock.now))
    assert "ix_case_deadlines_next_check" in plan, plan


@pytest.mark.parametrize("batch", [1, 2])
def test_a_small_batch_still_sweeps_every_due_case(svc, org, clock, batch):
    numbers = [_assigned_leak(svc, org, clock) for _ in range(3)]
    clock.advance(minutes=24)
    assert sweep(svc, batch_size=batch, check_duty=False).warnings == 3
    for number in numbers:
        assert [e.action for e in _sweep_events(svc, number)] == ["deadline_warning"]
