"""The duty roster page (P1: the dispatch center is never unattended)."""

from __future__ import annotations

from sqlalchemy import select

from dispatch.models import DutyShift
from tests.integration.pagehelp import csrf_from, logged_in, text_of


def test_p1_the_roster_page_shows_the_alarm_when_nobody_is_on_duty_and_a_shift_clears_it(
    app, app_org, client, clock
):
    logged_in(client, "supervisor")
    page = client.get("/duty")
    assert page.status_code == 200
    html = text_of(page)
    assert "无人值班" in html
    start = clock.now.replace(minute=0).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/duty/shifts",
        data={
            "csrf_token": csrf_from(html),
            "staff_id": str(app_org["dispatcher"].id),
            "starts_at": start,
            "hours": "12",
        },
    )
    assert response.status_code == 302, text_of(response)
    html = text_of(client.get("/duty"))
    on_duty = html.split('id="on-duty"')[1].split("</section>")[0]
    assert "dispatcher" in on_duty and "无人值班" not in on_duty


def test_p1_a_shift_over_24_hours_is_refused_naming_the_field(app, app_org, client, clock):
    logged_in(client, "dispatcher")
    html = text_of(client.get("/duty"))
    response = client.post(
        "/duty/shifts",
        data={
            "csrf_token": csrf_from(html),
            "staff_id": str(app_org["dispatcher"].id),
            "starts_at": clock.now.strftime("%Y-%m-%dT%H:%M"),
            "hours": "30",
        },
    )
    assert response.status_code == 422
    assert "ends_at" in text_of(response)
    with app.extensions["hotline"].sessions() as session:
        assert session.scalar(select(DutyShift)) is None


def test_only_dispatch_and_supervisors_open_the_roster(app, app_org, client):
    logged_in(client, "crew")
    assert client.get("/duty").status_code == 403
