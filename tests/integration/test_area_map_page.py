"""The area map page: each area with its open cases and crews, the area's case list, roles."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from hotline.domain.lifecycle import State
from hotline.models import Case
from tests.integration.pagehelp import logged_in, text_of
from tests.support import bring_case_to


def _areas(html: str) -> dict[str, tuple[int, int]]:
    return {
        code: (int(cases), int(crews))
        for code, cases, crews in re.findall(
            r'<a class="area" href="[^"]*" data-area="(\w+)" data-cases="(\d+)" data-crews="(\d+)"',
            html,
        )
    }


def test_the_map_shows_each_area_with_its_open_cases_and_crews(app, client, app_org) -> None:
    svc = app.extensions["hotline"]
    dev_moving = bring_case_to(svc, app_org, State.IN_PROGRESS, area="开发区")
    bring_case_to(svc, app_org, State.WITH_DISPATCH, area="DEV")
    bring_case_to(svc, app_org, State.ON_SITE, area="City Centre")
    bring_case_to(svc, app_org, State.CLOSED, area="CENTRE")  # closed: not counted
    unplaced = bring_case_to(svc, app_org, State.WITH_DISPATCH, address="禹城市某路 1 号")
    legacy = bring_case_to(svc, app_org, State.WITH_DISPATCH, address="禹城市某路 2 号")
    with svc.sessions() as session:  # an area written before the areas file listed it
        session.execute(update(Case).where(Case.number == legacy).values(area="火星"))
        session.commit()
    assert unplaced

    html = text_of(logged_in(client, "dispatcher").get("/dispatch/map"))

    assert _areas(html) == {"DEV": (2, 1), "TOWNS": (0, 0), "CENTRE": (1, 1)}
    assert html.count('<text class="area-label"') == 3
    assert "2件 · 1组" in html and "0件 · 0组" in html
    assert "未标片区的在办工单:2 件" in html
    assert 'id="map-legend"' in html
    assert 'href="/dispatch/map?area=DEV#area-cases"' in html
    assert "<image" not in html  # no tile server configured

    listed = text_of(client.get("/dispatch/map?area=DEV"))
    assert re.findall(r'<tr data-case="([^"]+)"', listed)[0:2] and dev_moving in listed
    assert len(re.findall(r'<tr data-case="', listed)) == 2
    assert "开发区的在办工单" in listed
    assert client.get("/dispatch/map?area=NOWHERE").status_code == 404


def test_the_board_links_to_the_map(app, client, app_org) -> None:
    html = text_of(logged_in(client, "supervisor").get("/dispatch"))
    assert 'href="/dispatch/map"' in html
    assert logged_in(client, "supervisor").get("/dispatch/map").status_code == 200


@pytest.mark.parametrize("username", ["operator", "crew"])
def test_operators_and_crews_may_not_open_the_map(app, client, app_org, username) -> None:
    assert logged_in(client, username).get("/dispatch/map").status_code == 403


def test_a_configured_tile_server_draws_tiles_and_is_allowed_for_images(
    db_url, clock, tmp_path, monkeypatch
) -> None:
    from hotline.app import create_app
    from tests.support import seed_org

    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            "map_tile_url": "https://tiles.example.cn/{z}/{x}/{y}.png",
        },
        clock=clock,
    )
    try:
        seed_org(app.extensions["hotline"])
        client = logged_in(app.test_client(), "dispatcher")
        response = client.get("/dispatch/map")
        html = text_of(response)
        assert re.search(r'<image href="https://tiles\.example\.cn/\d+/\d+/\d+\.png"', html)
        assert (
            "img-src 'self' data: https://tiles.example.cn"
            in response.headers["Content-Security-Policy"]
        )
    finally:
        app.extensions["hotline.engine"].dispose()


def test_a_bad_tile_address_stops_the_start(sqlite_url, tmp_path) -> None:
    from hotline.app import create_app
    from hotline.settings import SettingsError

    with pytest.raises(SettingsError, match="map_tile_url: expected empty or an http"):
        create_app(
            {
                "database_url": sqlite_url,
                "secret_key": "x",
                "INSTANCE_PATH": str(tmp_path / "i"),
                "map_tile_url": "tiles.example.cn",
            }
        )
