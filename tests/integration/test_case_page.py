"""The case page's time-limit and visit sections (F1, F11, F12)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hotline.domain.lifecycle import State
from hotline.models import Appointment, Case, CaseDeadline
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import bring_case_to


def _page(client, number: str) -> str:
    response = client.get(f"/cases/{number}")
    assert response.status_code == 200
    return text_of(response)


def test_the_case_page_shows_each_stage_clock(app, app_org, client):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ASSIGNED)
    html = _page(logged_in(client, "dispatcher"), number)
    assert 'id="stage-clocks"' in html
    assert "签收" in html  # the acknowledge clock runs while the case is assigned


def test_f1_a_visit_at_the_customers_chosen_time_is_booked_from_the_case_page(
    app, app_org, client, clock
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    logged_in(client, "crew")
    html = _page(client, number)
    visit = clock.now.replace(hour=15, minute=0).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/cases/{number}/appointments",
        data={
            "csrf_token": csrf_from(html),
            "what": "book",
            "starts_at": visit,
            "hours": "2",
            "requested_by_customer": "on",
            "note": "检查户外管道",
        },
    )
    assert response.status_code == 302, text_of(response)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        booked = session.scalars(select(Appointment).where(Appointment.case_id == case.id)).all()
        clocks = session.scalars(
            select(CaseDeadline).where(
                CaseDeadline.case_id == case.id, CaseDeadline.ended_at.is_(None)
            )
        ).all()
    assert [a.status for a in booked] == ["booked"]
    assert any(
        c.paused_since is not None for c in clocks
    )  # the customer's wait is not the crew's delay
    assert "检查户外管道" in _page(client, number)


def test_f1_a_visit_with_a_bad_time_is_refused_naming_the_field(app, app_org, client):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ACKNOWLEDGED)
    logged_in(client, "crew")
    html = _page(client, number)
    response = client.post(
        f"/cases/{number}/appointments",
        data={"csrf_token": csrf_from(html), "what": "book", "starts_at": "tomorrow-ish"},
    )
    assert response.status_code == 422
    assert "starts_at" in text_of(response)
    with app.extensions["hotline"].sessions() as session:
        assert session.scalar(select(Appointment)) is None


def test_f12_the_crew_reports_the_water_shut_off_from_the_case_page(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ON_SITE)
    logged_in(client, "crew")
    html = _page(client, number)
    assert 'id="shut-off-form"' in html
    response = client.post(
        f"/cases/{number}/shut-off",
        data={"csrf_token": csrf_from(html), "pipe_size_dn": "150", "note": "已关闭上游阀门"},
    )
    assert response.status_code == 302, text_of(response)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        shut = session.scalar(
            select(CaseDeadline).where(
                CaseDeadline.case_id == case.id, CaseDeadline.stage == "shut_off"
            )
        )
    assert shut.ended_at is not None
    assert 'id="shut-off-form"' not in _page(client, number)


def test_the_history_names_an_escalation_in_words_people_read(app, app_org, client, clock):
    from dispatch.services.sweep import sweep

    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    clock.advance(days=3)
    sweep(svc, check_duty=False)
    html = _page(logged_in(client, "supervisor"), number)
    history = html.split("处理记录")[-1]
    assert "超时升级" in history and "deadline_escalated" not in history
    assert "主管" in history  # the tier told, not its code


def test_the_dispatch_board_turns_amber_at_the_warning_share_and_red_at_breach(
    app, app_org, client, clock
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        started, due = case.stage_started_at, case.due_at
    logged_in(client, "dispatcher")

    def mark() -> str:
        html = text_of(client.get("/dispatch"))
        row = html.split(f">{number}</a>")[1].split("</tr>")[0]
        return row.split('class="due')[1].split('"')[0].strip()

    assert mark() == ""
    clock.now = started + (due - started) * (svc.policy.warning_share + 0.05)
    assert mark() == "warn"
    clock.now = due + timedelta(minutes=1)
    assert mark() == "breach"
