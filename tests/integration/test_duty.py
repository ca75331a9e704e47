"""P1: the dispatch center is never unattended. The duty roster and the alarm,
on SQLite and PostgreSQL, through the service and the API."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from dispatch.models import DutyAlarm
from dispatch.services import duty
from dispatch.services.sweep import sweep
from hotline.models import Staff
from hotline.services import Forbidden, Invalid, NotFound
from tests.conftest import SHANGHAI

NINE = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)


def at(hours: float) -> datetime:
    return NINE + timedelta(hours=hours)


def _alarms(svc) -> int:
    with svc.sessions() as session:
        return session.scalar(select(func.count()).select_from(DutyAlarm))


def _shift(svc, org, start: float, end: float, who: str = "dispatcher"):
    return duty.add_shift(
        svc, org["supervisor"], staff_id=org[who].id, starts_at=at(start), ends_at=at(end)
    )


# -- the hour and its gaps (pure) ------------------------------------------------------------


def test_the_current_hour_is_the_clock_hour_in_beijing_time():
    assert duty.clock_hour(at(0.75), SHANGHAI) == (at(0), at(1))


@pytest.mark.parametrize(
    ("shifts", "gaps"),
    [
        ([], [(0, 1)]),
        ([(-8, 8)], []),
        ([(-1, 0.5), (0.5, 2)], []),
        ([(-1, 0.25), (0.5, 2)], [(0.25, 0.5)]),
        ([(0.1, 0.2), (0.15, 0.9)], [(0, 0.1), (0.9, 1)]),
        ([(1, 2)], [(0, 1)]),
    ],
    ids=["nobody", "all-hour", "hand-over", "gap-between", "overlapping", "after-the-hour"],
)
def test_uncovered_finds_every_stretch_no_shift_covers(shifts, gaps):
    spans = [(at(a), at(b)) for a, b in shifts]
    assert duty.uncovered(at(0), at(1), spans) == [(at(a), at(b)) for a, b in gaps]


# -- the alarm --------------------------------------------------------------------------------


def test_p1_an_hour_without_a_dispatcher_raises_one_alarm(svc, org, clock):
    clock.now = at(0.2)
    alarm = duty.check_duty(svc, clock.now)
    assert alarm is not None and alarm.hour_starts_at == at(0)
    assert duty.check_duty(svc, at(0.7)) is None  # same hour: already raised
    assert duty.check_duty(svc, at(1.1)) is not None  # the next hour is another alarm
    assert _alarms(svc) == 2


def test_p1_a_covered_hour_raises_nothing(svc, org, clock):
    _shift(svc, org, -1, 8)
    assert duty.check_duty(svc, at(0.5)) is None
    with svc.sessions() as session:
        assert [s.username for s in duty.on_duty(session, at(0.5))] == ["dispatcher"]


def test_p1_a_gap_inside_the_hour_is_an_alarm_naming_the_gap(svc, org, clock):
    _shift(svc, org, -1, 0.5)
    alarm = duty.check_duty(svc, at(0.1))
    assert alarm is not None
    assert alarm.gaps == [[at(0.5).isoformat(), at(1).isoformat()]]


def test_p1_only_dispatchers_on_shift_count(svc, org, clock):
    shift = _shift(svc, org, -1, 8)
    duty.cancel_shift(svc, org["dispatcher"], shift.id)
    assert duty.check_duty(svc, at(0.5)) is not None


def test_p1_two_sweeps_at_once_raise_the_hours_alarm_once(svc, org, clock):
    clock.now = at(0.3)
    barrier = threading.Barrier(4)
    results = []

    def run() -> None:
        barrier.wait(timeout=10)
        results.append(duty.check_duty(svc, clock.now))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r is not None for r in results) == 1
    assert _alarms(svc) == 1


def test_p1_the_sweep_raises_the_alarm_and_tells_the_dispatch_room(svc, org, clock):
    told = []
    clock.now = at(0.3)
    report = sweep(replace(svc, publish=told.append))
    assert report.duty_alarm and "no dispatcher on duty" in str(report)
    assert [p["action"] for p in told] == ["duty_alarm"]
    assert told[0]["case"] is None and told[0]["hour_starts_at"] == at(0).isoformat()
    assert sweep(replace(svc, publish=told.append)).duty_alarm is False


# -- the roster -----------------------------------------------------------------------------


def test_a_shift_needs_a_dispatcher_a_sane_window_and_no_overlap(svc, org, clock):
    _shift(svc, org, 0, 8)
    cases = [
        ({"staff_id": org["crew"].id}, Invalid, "staff_id"),
        ({"staff_id": 999}, NotFound, "staff_id"),
        ({"starts_at": at(2), "ends_at": at(1)}, Invalid, "ends_at"),
        ({"ends_at": at(34)}, Invalid, "ends_at"),
        ({"starts_at": at(-5), "ends_at": at(-1)}, Invalid, "ends_at"),
        ({"starts_at": at(7), "ends_at": at(12)}, Invalid, "starts_at"),
        ({"starts_at": at(9).replace(tzinfo=None)}, Invalid, "starts_at"),
    ]
    for changes, error, field in cases:
        kwargs = {"staff_id": org["dispatcher"].id, "starts_at": at(9), "ends_at": at(17)}
        kwargs.update(changes)
        with pytest.raises(error) as err:
            duty.add_shift(svc, org["supervisor"], **kwargs)
        assert err.value.field == field, changes
    with pytest.raises(Forbidden):
        duty.add_shift(
            svc, org["crew"], staff_id=org["dispatcher"].id, starts_at=at(9), ends_at=at(17)
        )


def _auth(org, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[who]}"}


def test_the_roster_api_adds_lists_and_cancels_shifts(client, app_org, clock):
    org = app_org
    body = {
        "staff_id": org["dispatcher"].id,
        "starts_at": at(-1).isoformat(),
        "ends_at": at(7).isoformat(),
        "note": "白班",
    }
    created = client.post("/api/duty/shifts", json=body, headers=_auth(org, "dispatcher"))
    assert created.status_code == 201, created.json
    listed = client.get("/api/duty/shifts", headers=_auth(org, "supervisor"))
    assert [s["id"] for s in listed.json] == [created.json["id"]]
    assert listed.json[0]["staff_name"]
    cancelled = client.post(
        f"/api/duty/shifts/{created.json['id']}/cancel", headers=_auth(org, "supervisor")
    )
    assert cancelled.status_code == 200 and cancelled.json["cancelled_at"]
    again = client.post(
        f"/api/duty/shifts/{created.json['id']}/cancel", headers=_auth(org, "supervisor")
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": "2026-11-26T08:00:00"}, "starts_at"),
        ({"ends_at": "tomorrow"}, "ends_at"),
        ({"staff_id": "1"}, "staff_id"),
        ({"shift": "night"}, "shift"),
    ],
    ids=["naive-time", "not-a-time", "id-as-text", "unknown-field"],
)
def test_the_roster_api_refuses_bad_input_naming_the_field(client, app_org, change, field):
    body = {
        "staff_id": app_org["dispatcher"].id,
        "starts_at": at(-1).isoformat(),
        "ends_at": at(7).isoformat(),
    }
    body.update(change)
    response = client.post("/api/duty/shifts", json=body, headers=_auth(app_org, "dispatcher"))
    assert response.status_code == 422
    assert field in response.get_data(as_text=True)


def test_only_dispatch_and_supervisors_keep_or_read_the_roster(client, app_org):
    for who in ("crew", "operator"):
        assert client.get("/api/duty/shifts", headers=_auth(app_org, who)).status_code == 403
        assert client.get("/api/duty/alarms", headers=_auth(app_org, who)).status_code == 403


def test_the_alarms_api_lists_the_hours_found_unattended(app, client, app_org, clock):
    svc = app.extensions["hotline"]
    clock.now = at(0.3)
    duty.check_duty(svc, clock.now)
    response = client.get(
        "/api/duty/alarms?from=2026-11-26&to=2026-11-26", headers=_auth(app_org, "supervisor")
    )
    assert response.status_code == 200
    assert [a["hour_starts_at"][:13] for a in response.json] == ["2026-11-26T01"]


# -- who owns work that arrives with nobody to take it (G4) ------------------------------


def test_g4_new_work_goes_to_the_dispatcher_on_duty_else_the_first_active_one(svc, org):
    with svc.sessions() as session:
        first = duty.active_dispatchers(session)[0]
        assert duty.owner_of_new_work(session, at(0.5)) == (first, False)  # a roster gap
    _shift(svc, org, 0, 1)
    with svc.sessions() as session:
        owner, on_roster = duty.owner_of_new_work(session, at(0.5))
        assert (owner.id, on_roster) == (org["dispatcher"].id, True)
    with svc.sessions() as session, session.begin():
        for person in session.scalars(select(Staff).where(Staff.role == "dispatcher")):
            person.active = False
    with svc.sessions() as session:
        assert duty.owner_of_new_work(session, at(0.5)) is None  # nobody: the work is refused
