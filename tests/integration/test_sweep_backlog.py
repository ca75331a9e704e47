"""The deadline sweep working off a backlog in batches, SQLite and PostgreSQL (F11, F12).

Many cases fall due at once (the process was down, a main broke): one sweep
works them all off, several cases per transaction, and still records every
warning and escalation exactly once: with two sweeps at the same moment, when
a batch fails, when a case is held by someone else, and when telling browsers
fails after the commit.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

import dispatch.services.sweep as sweep_module
from dispatch.services.sweep import due_clocks, sweep
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, CaseEvent
from hotline.services import audit
from tests.support import act, bring_case_to, intake_command

STEPS = ("deadline_warning", "deadline_escalated")
BATCH = 3


def _assigned_leak(svc, org) -> str:
    """A leak assigned now: acknowledge due in 30 minutes, warned at 24."""
    number = services.intake(svc, org["operator"], intake_command()).case_number
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    return number


def _backlog(svc, org, clock, *, breached: int, warned: int) -> dict[str, str]:
    """Cases that all fall due by the moment the clock is left at: ``breached``
    ones assigned at 09:00 (acknowledge ran out at 09:30: one escalation each)
    and ``warned`` ones assigned at 09:08 (warning at 09:32: one warning each).
    Returns each case's number and the step it is due."""
    due = {_assigned_leak(svc, org): "deadline_escalated" for _ in range(breached)}
    clock.advance(minutes=8)
    due.update({_assigned_leak(svc, org): "deadline_warning" for _ in range(warned)})
    clock.now = clock.now.replace(minute=33)
    return due


def _versions(svc) -> dict[str, int]:
    with svc.sessions() as session:
        return dict(session.execute(select(Case.number, Case.version)).all())


def _steps(svc) -> dict[str, list[str]]:
    with svc.sessions() as session:
        rows = session.execute(
            select(Case.number, CaseEvent.action)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(CaseEvent.action.in_(STEPS))
            .order_by(Case.number, CaseEvent.seq)
        ).all()
    steps: dict[str, list[str]] = {}
    for number, action in rows:
        steps.setdefault(number, []).append(action)
    return steps


def _assert_each_step_once(svc, due: dict[str, str], versions_before: dict[str, int]) -> None:
    assert _steps(svc) == {number: [action] for number, action in due.items()}
    after = _versions(svc)
    assert {n: after[n] - versions_before[n] for n in due} == dict.fromkeys(due, 1)
    with svc.sessions() as session:
        checked, problems = audit.verify(session)
        assert session.scalars(due_clocks(svc.now(), 100)).all() == []
    assert checked == len(due) and problems == []


def test_a_backlog_larger_than_a_batch_is_worked_off_in_one_sweep(svc, org, clock):
    due = _backlog(svc, org, clock, breached=4, warned=6)
    before = _versions(svc)
    report = sweep(svc, batch_size=BATCH, check_duty=False)
    assert (report.cases, report.warnings, report.escalations) == (10, 6, 4)
    assert (report.lost, report.failed) == (0, 0)
    _assert_each_step_once(svc, due, before)
    again = sweep(svc, batch_size=BATCH, check_duty=False)
    assert (again.cases, again.warnings, again.escalations) == (0, 0, 0)


def test_an_escalation_in_a_batch_records_what_a_late_sweep_must(svc, org, clock):
    due = _backlog(svc, org, clock, breached=2, warned=2)
    sweep(svc, batch_size=BATCH, check_duty=False)
    with svc.sessions() as session:
        events = session.scalars(
            select(CaseEvent).where(CaseEvent.action == "deadline_escalated")
        ).all()
        cases = {c.id: c for c in session.scalars(select(Case))}
    assert len(events) == 2
    for event in events:
        assert due[cases[event.case_id].number] == "deadline_escalated"
        assert (event.data["from_level"], event.data["to_level"]) == (0, 1)
        assert event.data["warning_skipped"] is True and event.data["late_seconds"] == 3 * 60
        case = cases[event.case_id]
        assert case.escalation_level == 1 and case.last_event_seq == event.seq


def test_a_clock_whose_pause_ended_restarts_in_a_batch_with_the_others(svc, org, clock):
    waiting = bring_case_to(svc, org, State.ACKNOWLEDGED)
    starts = clock.now + timedelta(minutes=30)
    services.book_appointment(
        svc,
        org["crew"],
        waiting,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        requested_by_customer=True,
    )
    due = _backlog(svc, org, clock, breached=2, warned=2)  # leaves the clock at 09:33
    report = sweep(svc, batch_size=BATCH, check_duty=False)
    # the waiting case's on-site and set-out clocks restart, both paused for the visit
    assert (report.resumed, report.warnings, report.escalations) == (2, 2, 2)
    steps = _steps(svc)
    assert {number: steps[number] for number in due} == {n: [a] for n, a in due.items()}
    with svc.sessions() as session:
        resumes = session.scalars(
            select(CaseEvent.case_id).where(CaseEvent.action == "clock_resumed")
        ).all()
        assert resumes == [session.scalar(select(Case.id).where(Case.number == waiting))]
        assert audit.verify(session)[1] == []
    assert sweep(svc, batch_size=BATCH, check_duty=False).resumed == 0


@pytest.mark.parametrize("sweeps", [2, 4])
def test_sweeps_running_at_the_same_time_on_a_backlog_record_each_step_once(
    svc, org, clock, sweeps
):
    due = _backlog(svc, org, clock, breached=6, warned=6)
    before = _versions(svc)
    published: list[dict] = []
    told = replace(svc, publish=published.append)
    barrier = threading.Barrier(sweeps)
    reports, errors = [], []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            reports.append(sweep(told, batch_size=BATCH, check_duty=False))
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(sweeps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(reports) == sweeps
    assert sum(r.warnings for r in reports) == 6
    assert sum(r.escalations for r in reports) == 6
    assert sum(r.failed for r in reports) == 0
    _assert_each_step_once(svc, due, before)
    # browsers heard of each step once, from whichever sweep recorded it
    assert Counter(p["case"] for p in published) == Counter(dict.fromkeys(due, 1))


def test_a_failing_push_after_the_commit_keeps_the_steps_and_the_count(svc, org, clock):
    due = _backlog(svc, org, clock, breached=3, warned=4)
    before = _versions(svc)
    told = []

    def publish(payload):
        with svc.sessions() as session:  # committed already: another session sees it
            told.append(
                (
                    payload,
                    session.scalar(select(Case.version).where(Case.number == payload["case"])),
                )
            )
        raise RuntimeError("socket server gone")

    report = sweep(replace(svc, publish=publish), batch_size=BATCH, check_duty=False)
    assert (report.warnings, report.escalations, report.failed) == (4, 3, 0)
    assert sorted(payload["case"] for payload, _ in told) == sorted(due)
    assert all(payload["version"] == seen for payload, seen in told)
    assert {payload["case"]: payload["action"] for payload, _ in told} == due
    _assert_each_step_once(svc, due, before)


def test_a_failed_batch_is_tried_again_case_by_case(svc, org, clock, monkeypatch):
    due = _backlog(svc, org, clock, breached=2, warned=5)
    before = _versions(svc)
    write_heads = sweep_module._write_heads
    failures = []

    def flaky(session, heads):
        if len(heads) > 1:  # every whole batch fails; one case at a time goes through
            failures.append(len(heads))
            raise OperationalError("UPDATE cases ...", {}, Exception("connection reset"))
        write_heads(session, heads)

    monkeypatch.setattr(sweep_module, "_write_heads", flaky)
    report = sweep(svc, batch_size=BATCH, check_duty=False)
    assert failures  # the batches did fail
    assert (report.cases, report.warnings, report.escalations) == (7, 5, 2)
    assert report.failed == 0
    _assert_each_step_once(svc, due, before)


def test_a_case_that_fails_alone_is_left_for_the_next_sweep_and_loses_no_other(
    svc, org, clock, monkeypatch
):
    due = _backlog(svc, org, clock, breached=2, warned=5)
    before = _versions(svc)
    bad = sorted(due)[3]
    record = sweep_module._record
    published: list[dict] = []

    def broken(session, case, *args):
        if case.number == bad:
            raise OperationalError("INSERT INTO case_events ...", {}, Exception("disk full"))
        return record(session, case, *args)

    monkeypatch.setattr(sweep_module, "_record", broken)
    report = sweep(replace(svc, publish=published.append), batch_size=BATCH, check_duty=False)
    assert report.failed == 1 and report.cases == 7
    assert report.warnings + report.escalations == 6
    assert "1 case(s) failed, retried next sweep" in str(report)
    assert bad not in _steps(svc) and bad not in {p["case"] for p in published}
    assert _versions(svc)[bad] == before[bad]

    monkeypatch.setattr(sweep_module, "_record", record)
    later = sweep(svc, batch_size=BATCH, check_duty=False)
    assert (later.cases, later.warnings + later.escalations, later.failed) == (1, 1, 0)
    _assert_each_step_once(svc, due, before)


def test_a_case_held_by_someone_else_is_waited_for_not_skipped(svc, org, clock):
    """A user's change holds one case's row while the backlog is swept: the sweep
    does the others first, then waits for that one and records its step too."""
    due = _backlog(svc, org, clock, breached=2, warned=5)
    before = _versions(svc)
    held = sorted(due)[2]
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with svc.sessions() as session, session.begin():
            session.execute(select(Case).where(Case.number == held).with_for_update()).scalar_one()
            locked.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=10)
    threading.Timer(0.5, release.set).start()
    report = sweep(svc, batch_size=BATCH, check_duty=False)
    holder.join(timeout=30)
    assert (report.cases, report.warnings + report.escalations, report.failed) == (7, 7, 0)
    _assert_each_step_once(svc, due, before)
    with svc.sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            # a row lock: the others went first, then the sweep came back for this one
            last = session.scalars(
                select(Case.number)
                .join(CaseEvent, CaseEvent.case_id == Case.id)
                .where(CaseEvent.action.in_(STEPS))
                .order_by(CaseEvent.id.desc())
            ).first()
            assert last == held


def test_a_sweep_with_nothing_due_records_nothing(svc, org, clock):
    _assigned_leak(svc, org)
    before = _versions(svc)

    def events() -> int:
        with svc.sessions() as session:
            return session.scalar(text("SELECT count(*) FROM case_events"))

    recorded = events()
    report = sweep(svc, batch_size=BATCH, check_duty=False)
    assert (report.cases, report.acted) == (0, False)
    assert events() == recorded and _versions(svc) == before
