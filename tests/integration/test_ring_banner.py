"""The ringing-call banner is on every page of the people who take calls (P1),
and on no page of anyone else; it carries the three-ring limit it counts against."""

from __future__ import annotations

import re

import pytest

from tests.integration.pagehelp import logged_in


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("operator", "/"),
        ("operator", "/operator"),
        ("operator", "/console"),
        ("supervisor", "/supervisor"),
        ("supervisor", "/console"),
        ("supervisor", "/calls"),
    ],
)
def test_call_takers_get_the_banner_on_every_page(app, app_org, username, path) -> None:
    client = logged_in(app.test_client(), username)
    response = client.get(path, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, (path, response.status_code)
    assert 'id="ring-banner"' in html
    assert "ring.js" in html
    limit = app.extensions["callflows"].ring_limit_seconds
    assert re.search(rf'data-limit="{limit:g}(\.0)?"', html)


@pytest.mark.parametrize("username", ["dispatcher", "crew", "admin"])
def test_people_who_do_not_take_calls_get_no_banner(app, app_org, username) -> None:
    client = logged_in(app.test_client(), username)
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "ring-banner" not in html
    assert "ring.js" not in html


def test_nobody_logged_out_gets_the_banner(app, app_org) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "ring-banner" not in html
