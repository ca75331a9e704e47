"""Outage notices (P8): published in time, shown for the addresses they cover."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch.services.outages import (
    OutageNotice,
    OutageRefused,
    active_at,
    publish_outage,
    required_notice,
)
from tests.integration.pagehelp import csrf_from, logged_in, text_of


def _notice(
    clock, *, ahead_hours: float, length_hours: float, planned: bool = True
) -> OutageNotice:
    starts = clock.now + timedelta(hours=ahead_hours)
    return OutageNotice(
        area="汉槐街东段",
        area_keywords=["汉槐街", "南关小区"],
        reason="更换 DN300 阀门",
        starts_at=starts,
        ends_at=starts + timedelta(hours=length_hours),
        planned=planned,
    )


def test_p8_notice_period_is_24_hours_or_48_for_a_long_outage(clock):
    start = clock.now
    assert required_notice(start, start + timedelta(hours=12)) == timedelta(hours=24)
    assert required_notice(start, start + timedelta(hours=13)) == timedelta(hours=48)


@pytest.mark.parametrize(
    ("ahead", "length", "accepted"),
    [(25, 8, True), (23, 8, False), (47, 13, False), (49, 13, True)],
)
def test_p8_a_planned_outage_published_too_late_is_refused(
    svc, org, clock, ahead, length, accepted
):
    with svc.sessions() as session, session.begin():
        notice = _notice(clock, ahead_hours=ahead, length_hours=length)
        if accepted:
            publish_outage(session, notice, by_id=org["dispatcher"].id, now=clock.now)
        else:
            with pytest.raises(OutageRefused) as err:
                publish_outage(session, notice, by_id=org["dispatcher"].id, now=clock.now)
            assert err.value.field == "starts_at" and "P8" in str(err.value)


def test_an_unplanned_outage_is_published_at_once_and_found_by_address(svc, org, clock):
    with svc.sessions() as session, session.begin():
        publish_outage(
            session,
            _notice(clock, ahead_hours=0, length_hours=6, planned=False),
            by_id=org["dispatcher"].id,
            now=clock.now,
        )
    with svc.sessions() as session:
        assert [o.area for o in active_at(session, "禹城市汉槐街 18 号", clock.now)] == [
            "汉槐街东段"
        ]
        assert active_at(session, "禹城市文化路 1 号", clock.now) == []
        assert active_at(session, "禹城市汉槐街 18 号", clock.now + timedelta(hours=7)) == []


def test_an_outage_that_ends_before_it_starts_is_refused(svc, org, clock):
    with svc.sessions() as session, session.begin(), pytest.raises(OutageRefused) as err:
        publish_outage(
            session,
            _notice(clock, ahead_hours=30, length_hours=-1),
            by_id=org["dispatcher"].id,
            now=clock.now,
        )
    assert err.value.field == "ends_at"


def test_p8_dispatch_publishes_from_the_outage_page_and_operators_see_it(
    app, app_org, client, clock
):
    logged_in(client, "dispatcher")
    html = text_of(client.get("/outages"))
    fields = {
        "csrf_token": csrf_from(html),
        "area": "南关小区",
        "area_keywords": "南关小区",
        "reason": "管网改造",
        "planned": "on",
    }
    too_soon = clock.now + timedelta(hours=2)
    response = client.post(
        "/outages",
        data={
            **fields,
            "starts_at": too_soon.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (too_soon + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 422 and "starts_at" in text_of(response)
    start = clock.now + timedelta(days=2)
    response = client.post(
        "/outages",
        data={
            **fields,
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302, text_of(response)
    client.post("/logout", data={"csrf_token": csrf_from(text_of(client.get("/outages")))})
    logged_in(client, "operator")
    page = client.get("/outages")
    assert page.status_code == 200 and "管网改造" in text_of(page)
    assert 'id="publish-outage"' not in text_of(page)
    assert client.post("/outages", data={"csrf_token": csrf_from(text_of(page))}).status_code == 403
