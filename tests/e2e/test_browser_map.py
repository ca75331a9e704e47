"""In a real browser: the area map draws every area on a phone-sized screen,
fits its width and asks nothing of any other origin (no tile server by default)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from hotline.domain.lifecycle import State
from hotline.services.customers import shipped_areas
from tests.e2e.browser import log_in
from tests.support import bring_case_to


@pytest.mark.browser
def test_the_map_draws_every_area_at_390_px_offline(live_server, chromium: Any) -> None:
    svc = live_server.app.extensions["hotline"]
    bring_case_to(svc, live_server.org, State.WITH_DISPATCH, area="DEV")
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        origin = urlsplit(live_server.url).netloc
        foreign: list[str] = []
        page.on(
            "request",
            lambda r: (
                None
                if urlsplit(r.url).scheme in ("data", "blob") or urlsplit(r.url).netloc == origin
                else foreign.append(r.url)
            ),
        )
        log_in(page, live_server.url, "dispatcher")
        page.goto(live_server.url + "/dispatch/map")
        page.wait_for_load_state("networkidle")

        codes = [a.code for a in shipped_areas().areas]
        for code in codes:
            shape = page.locator(f"#area-map a.area[data-area='{code}'] path")
            expect(shape).to_be_visible()
            box = shape.bounding_box()
            assert box and box["width"] > 5 and box["height"] > 5
            expect(page.locator(f"#area-map text[data-label='{code}']")).to_be_attached()
        expect(page.locator("#area-map a.area[data-area='DEV']")).to_have_attribute(
            "data-cases", "1"
        )
        expect(page.locator("#map-legend li").first).to_be_visible()
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], widths
        svg = page.locator("#area-map").bounding_box()
        assert svg and svg["x"] >= 0 and svg["x"] + svg["width"] <= 390

        with page.expect_navigation():
            page.locator("#area-table a").first.click()
        expect(page.locator("#area-cases")).to_be_visible()
        assert foreign == []
    finally:
        context.close()
