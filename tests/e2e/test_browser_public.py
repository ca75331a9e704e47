"""A resident in a browser, not logged in: the public outage page (P8) and the
case status page show what is going on and nothing personal (W7).

Runs in Debian's chromium at a phone-sized viewport, as a resident would open
them from a text message or the official account.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dispatch.services.outages import OutageNotice, publish_outage
from hotline.domain.lifecycle import State
from hotline.models import Case, Staff
from tests.support import bring_case_to

PHONE = {"width": 390, "height": 844}


def _personal_data(app, case: Case) -> list[str]:
    """Everything about people that a public page must never show."""
    with app.extensions["hotline"].sessions() as session:
        staff = [person.display_name for person in session.scalars(select(Staff))]
    phone = case.contact_phone
    return [
        case.address,
        case.contact_name,
        phone,
        phone[-8:],  # without the area code or the mobile prefix
        case.problem,
        *staff,
    ]


def test_a_resident_reads_the_outage_page_and_their_case_status_without_a_login(live_server, page):
    app, org = live_server.app, live_server.org
    svc = app.extensions["hotline"]
    now = svc.now()
    with svc.sessions() as session, session.begin():
        publish_outage(
            session,
            OutageNotice(
                area="汉槐街东段",
                area_keywords=["汉槐街"],
                reason="DN300 爆管抢修",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=29),
                planned=False,
                supply_points="汉槐街小学门口水车",
            ),
            by_id=org["dispatcher"].id,
            now=now,
        )
    number = bring_case_to(svc, org, State.IN_PROGRESS)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        session.expunge(case)
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}/public/outages")
    outages = page.locator("main").inner_text()
    assert "汉槐街东段" in outages and "DN300 爆管抢修" in outages
    assert "汉槐街小学门口水车" in outages  # over 24 hours: where to get water
    assert page.locator("nav").count() == 0 and "退出" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.goto(f"{live_server.url}/status")
    page.fill("input[name=number]", number)
    page.fill("input[name=phone_last4]", case.contact_phone[-4:])
    page.locator("form:has(input[name=number]) button").first.click()
    page.wait_for_load_state()
    status = page.locator("main").inner_text()
    assert number in status
    assert "维修人员已出发" in status  # the stage in the resident's words
    assert case.promised_at is not None
    promised = case.promised_at.astimezone(svc.timezone).strftime("%m-%d %H:%M")
    assert promised in status
    html = page.content()
    for personal in _personal_data(app, case):
        assert personal and personal not in html, personal
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
