"""Outage notices for everyone (P8): the public page, its Atom and JSON feeds,
and the temporary water supply points prompted for an outage over 24 hours."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from alembic import command as alembic_command
from sqlalchemy import inspect

from dispatch.services.outages import OutageNotice, publish_outage
from hotline.cli import alembic_config
from hotline.db import make_engine
from tests.conftest import pg_temporary_database
from tests.integration.pagehelp import csrf_from, forms_of, logged_in, text_of

ATOM = "{http://www.w3.org/2005/Atom}"


def _publish(app, org, clock, *, area, reason, ahead_hours, hours, planned, points=""):
    wiring = app.extensions["hotline"]
    starts = clock.now + timedelta(hours=ahead_hours)
    with wiring.sessions() as session, session.begin():
        outage = publish_outage(
            session,
            OutageNotice(
                area=area,
                area_keywords=[area],
                reason=reason,
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
                planned=planned,
                supply_points=points,
            ),
            by_id=org["dispatcher"].id,
            now=clock.now,
        )
        session.flush()
        return outage.id


@pytest.fixture
def outages(app, app_org, clock):
    """An ended outage, one under way (unplanned, 30 hours, no supply points)
    and a planned one in three days (30 hours, with supply points)."""
    ended = _publish(
        app, app_org, clock, area="文化路", reason="抢修", ahead_hours=0, hours=2, planned=False
    )
    clock.advance(hours=3)
    current = _publish(
        app,
        app_org,
        clock,
        area="汉槐街东段",
        reason="DN300 爆管抢修 <紧急> & 停水",
        ahead_hours=-1,
        hours=30,
        planned=False,
    )
    planned = _publish(
        app,
        app_org,
        clock,
        area="南关小区",
        reason="更换阀门",
        ahead_hours=72,
        hours=30,
        planned=True,
        points="南关小区东门水车",
    )
    return {"ended": ended, "current": current, "planned": planned}


def test_the_public_page_lists_current_and_planned_outages_without_a_login(client, outages):
    response = client.get("/public/outages")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    html = text_of(response)
    assert f'id="outage-{outages["current"]}"' in html
    assert f'id="outage-{outages["planned"]}"' in html
    assert f'id="outage-{outages["ended"]}"' not in html and "文化路" not in html
    assert "汉槐街东段" in html and "南关小区东门水车" in html
    assert "&lt;紧急&gt; &amp; 停水" in html
    # Beijing time, 11-26 style: the current outage began at 11:00 on 11-26.
    assert "11-26 11:00" in html and "11-27 17:00" in html
    # nothing internal: no staff, no street keywords beyond the area, no staff navigation
    for staff in ("dispatcher", "DISPATCH", "退出", "/logout"):
        assert staff not in html
    assert 'href="/outages"' not in html


def test_the_public_page_for_staff_shows_no_staff_navigation(client, outages):
    logged_in(client, "dispatcher")
    html = text_of(client.get("/public/outages"))
    assert 'href="/board"' not in html and 'href="/outages"' not in html


def test_the_atom_feed_parses_and_has_the_entries(client, outages):
    response = client.get("/public/outages.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") and feed.findtext(f"{ATOM}title")
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated"))
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert ids[0].endswith(f"#outage-{outages['current']}")
    assert ids[1].endswith(f"#outage-{outages['planned']}")
    first = entries[0]
    assert "汉槐街东段" in first.findtext(f"{ATOM}title")
    assert "<紧急> & 停水" in first.findtext(f"{ATOM}content")
    assert datetime.fromisoformat(first.findtext(f"{ATOM}updated")).utcoffset()
    assert "南关小区东门水车" in entries[1].findtext(f"{ATOM}content")
    assert b"dispatcher" not in response.data and b"DISPATCH" not in response.data


def test_the_json_feed_parses_and_matches(client, outages, clock):
    response = client.get("/public/outages.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=60"
    document = json.loads(response.data)
    items = document["items"]
    assert [item["id"] for item in items] == [outages["current"], outages["planned"]]
    current, planned = items
    assert current["area"] == "汉槐街东段" and current["reason"] == "DN300 爆管抢修 <紧急> & 停水"
    assert current["planned"] is False and planned["planned"] is True
    starts = datetime.fromisoformat(current["starts_at"])
    assert starts.utcoffset() == timedelta(hours=8)
    assert starts == clock.now - timedelta(hours=1)
    assert datetime.fromisoformat(current["ends_at"]) == starts + timedelta(hours=30)
    assert current["starts_at"].endswith("+08:00")
    assert planned["supply_points"] == "南关小区东门水车" and current["supply_points"] == ""
    assert "dispatcher" not in response.get_data(as_text=True)


def test_the_staff_page_prompts_for_supply_points_on_a_long_outage(app, client, outages):
    logged_in(client, "dispatcher")
    html = text_of(client.get("/outages"))
    prompts = html.count("supply-prompt")
    assert prompts == 1  # the current outage (30 hours, none named); the planned one has them
    action = f"/outages/{outages['current']}/supply-points"
    (form,) = [f["fields"] for f in forms_of(html) if f["attrs"].get("action") == action]
    response = client.post(
        f"/outages/{outages['current']}/supply-points",
        data={**form, "supply_points": "汉槐街小学门口送水车"},
    )
    assert response.status_code == 302
    html = text_of(client.get("/outages"))
    assert "supply-prompt" not in html
    public = json.loads(app.test_client().get("/public/outages.json").data)
    assert public["items"][0]["supply_points"] == "汉槐街小学门口送水车"


def test_the_publish_form_takes_supply_points(client, app_org, clock):
    logged_in(client, "dispatcher")
    html = text_of(client.get("/outages"))
    start = clock.now + timedelta(days=3)
    response = client.post(
        "/outages",
        data={
            "csrf_token": csrf_from(html),
            "area": "南关小区",
            "area_keywords": "南关小区",
            "reason": "管网改造",
            "planned": "on",
            "supply_points": "南关小区北门",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=36)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302, text_of(response)
    html = text_of(client.get("/outages"))
    assert "南关小区北门" in html and "supply-prompt" not in html


def test_an_operator_cannot_set_supply_points(client, outages):
    logged_in(client, "operator")
    html = text_of(client.get("/outages"))
    response = client.post(
        f"/outages/{outages['current']}/supply-points",
        data={"csrf_token": csrf_from(html), "supply_points": "x"},
    )
    assert response.status_code == 403


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return pg_temporary_database(request, "migrate15")


def test_migration_0015_adds_supply_points_and_keeps_the_outages(empty_url: str) -> None:
    config = alembic_config(empty_url)
    alembic_command.upgrade(config, "0014")
    engine = make_engine(empty_url)
    try:
        alembic_command.upgrade(config, "0015")
        columns = {c["name"]: c for c in inspect(engine).get_columns("outages")}
        assert "supply_points" in columns and not columns["supply_points"]["nullable"]
        assert columns["supply_points"]["default"] is None
        alembic_command.downgrade(config, "0014")
        assert "supply_points" not in {c["name"] for c in inspect(engine).get_columns("outages")}
        alembic_command.upgrade(config, "0015")
    finally:
        engine.dispose()


def test_staff_opening_the_public_outages_see_no_staff_bar(app, app_org) -> None:
    from tests.integration.pagehelp import logged_in

    client = logged_in(app.test_client(), "dispatcher")
    html = client.get("/public/outages").get_data(as_text=True)
    assert "/logout" not in html
    assert 'id="live-dot"' not in html
