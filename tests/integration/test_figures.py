"""Time-limit figures through the API, on SQLite and PostgreSQL: per case, whether
each stage met its limit; per category, the share met (F11, supervisor reports)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category
from tests.support import act, bring_case_to, intake_command


def _auth(org, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[who]}"}


@pytest.fixture
def svc(app):
    return app.extensions["hotline"]


def test_each_stage_of_a_case_shows_its_limit_and_whether_it_was_met(client, svc, app_org, clock):
    org = app_org
    number = services.intake(svc, org["operator"], intake_command()).case_number
    clock.advance(minutes=10)
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    clock.advance(minutes=45)  # the leak's 30-minute acknowledgement (签收) is missed
    act(svc, org["crew"], number, Action.ACCEPT)

    response = client.get(f"/api/cases/{number}/deadlines", headers=_auth(org, "crew"))
    assert response.status_code == 200
    body = response.json
    assert body["case"] == number and body["stage"] == "on_site"
    stages = [(s["stage"], s["met"], s["overdue"], s["clock"]) for s in body["stages"]]
    assert stages == [
        ("dispatch", True, False, "around_the_clock"),
        ("acknowledge", False, False, "around_the_clock"),
        ("on_site", None, False, "around_the_clock"),
        ("set_out", None, False, "around_the_clock"),
    ]
    assert body["stages"][0]["limit"] == "15min"
    assert body["stages"][1]["ended_by"] == "accept"
    assert body["promise"]["promised_at"] and body["promise"]["kept"] is None


def test_a_case_you_may_not_see_has_no_deadlines_for_you(client, svc, app_org):
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    assert (
        client.get(f"/api/cases/{number}/deadlines", headers=_auth(app_org, "crew_meter"))
    ).status_code == 404
    assert (
        client.get("/api/cases/RY-19990101-0001/deadlines", headers=_auth(app_org, "operator"))
    ).status_code == 404


def test_the_share_met_per_category_counts_stages_falling_due_in_the_period(
    client, svc, app_org, clock
):
    org = app_org
    on_time = services.intake(svc, org["operator"], intake_command()).case_number
    late = services.intake(svc, org["operator"], intake_command()).case_number
    services.intake(svc, org["operator"], intake_command(category=Category.COMPLAINT))
    clock.advance(minutes=5)
    act(svc, org["dispatcher"], on_time, Action.ASSIGN, department_id=org.departments["REPAIR"])
    clock.advance(minutes=20)
    act(svc, org["dispatcher"], late, Action.ASSIGN, department_id=org.departments["REPAIR"])
    clock.advance(hours=3)  # the complaint's 2-hour dispatch limit passes with it still open

    response = client.get(
        "/api/figures/time-limits?from=2026-11-26&to=2026-11-26", headers=_auth(org, "supervisor")
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["from"], body["to"]) == ("2026-11-26", "2026-11-26")
    by_category = {c["category"]: c for c in body["categories"]}
    leak = by_category["leak"]
    leak_stages = {s["stage"]: (s["met"], s["missed"]) for s in leak["stages"]}
    # dispatch: one in time, one late; acknowledge: both open past due, missed
    assert leak_stages == {"dispatch": (1, 1), "acknowledge": (0, 2)}
    assert leak["share_met"] == pytest.approx(0.25)
    complaint_stages = {
        s["stage"]: (s["met"], s["missed"]) for s in by_category["complaint"]["stages"]
    }
    assert complaint_stages == {"dispatch": (0, 1)}  # reply is due in days: not judged yet

    only = client.get(
        "/api/figures/time-limits?category=complaint", headers=_auth(org, "dispatcher")
    )
    assert [c["category"] for c in only.json["categories"]] == ["complaint"]


def test_an_empty_period_has_no_figures(client, app_org):
    response = client.get(
        "/api/figures/time-limits?from=2020-01-01&to=2020-01-31", headers=_auth(app_org, "admin")
    )
    assert response.status_code == 200 and response.json["categories"] == []


@pytest.mark.parametrize("who", ["crew", "operator"])
def test_only_dispatch_supervisors_and_admins_read_the_figures(client, app_org, who):
    assert client.get("/api/figures/time-limits", headers=_auth(app_org, who)).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-27&to=2026-11-01", "from"),
        ("from=yesterday", "from"),
        ("category=leek", "category"),
        ("from=2024-01-01&to=2026-11-26", "to"),
    ],
    ids=["from-after-to", "not-a-date", "unknown-category", "period-too-long"],
)
def test_bad_figures_queries_are_refused_naming_the_field(client, app_org, query, field):
    response = client.get(f"/api/figures/time-limits?{query}", headers=_auth(app_org, "supervisor"))
    assert response.status_code == 422
    assert field in response.get_data(as_text=True)


def test_appointments_through_the_api_pause_the_clock_and_bad_input_names_the_field(
    client, svc, app_org, clock
):
    org = app_org
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    starts = clock.now + timedelta(hours=3)
    body = {
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "requested_by_customer": True,
        "note": "用户下午在家",
    }
    naive = {**body, "starts_at": starts.replace(tzinfo=None).isoformat()}
    refused = client.post(
        f"/api/cases/{number}/appointments", json=naive, headers=_auth(org, "crew")
    )
    assert refused.status_code == 422 and "starts_at" in refused.get_data(as_text=True)
    booked = client.post(f"/api/cases/{number}/appointments", json=body, headers=_auth(org, "crew"))
    assert booked.status_code == 201, booked.json
    deadlines = client.get(f"/api/cases/{number}/deadlines", headers=_auth(org, "crew")).json
    assert deadlines["stages"][-1]["paused_until"] is not None
    listed = client.get(f"/api/cases/{number}/appointments", headers=_auth(org, "operator"))
    assert [a["status"] for a in listed.json] == ["booked"]
    moved = client.post(
        f"/api/cases/{number}/appointments/{booked.json['id']}/reschedule",
        json={**{k: body[k] for k in ("starts_at", "ends_at")}, "requested_by_customer": True},
        headers=_auth(org, "crew"),
    )
    assert moved.status_code == 422 and "reason" in moved.get_data(as_text=True)
    cancelled = client.post(
        f"/api/cases/{number}/appointments/{booked.json['id']}/cancel",
        json={"reason": "用户已自行修好"},
        headers=_auth(org, "crew"),
    )
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"


def test_the_shut_off_api_starts_the_repair_clock(client, svc, app_org, clock):
    number = bring_case_to(svc, app_org, State.ON_SITE)
    clock.advance(minutes=40)
    response = client.post(
        f"/api/cases/{number}/shut-off", json={"pipe_size_dn": 500}, headers=_auth(app_org, "crew")
    )
    assert response.status_code == 200, response.json
    assert response.json["stage"] == "resolve"
    assert [s["stage"] for s in response.json["stages"]][-2:] == ["shut_off", "resolve"]
    again = client.post(f"/api/cases/{number}/shut-off", json={}, headers=_auth(app_org, "crew"))
    assert again.status_code == 409 and again.json["field"] == "stage"
