"""Fixtures for browser tests: Chromium through Playwright, and the real app
served from a background thread.

Browser tests need Debian's chromium at ``/usr/bin/chromium`` (``.ci/run``
installs it where it can). Without it they skip and say why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import service_missing
from tests.e2e.browser import CHROMIUM, VIEWPORT, RunningApp, launch_options, serve_app


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole run."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not available: {CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("Playwright", f"the playwright package cannot be imported ({exc})")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[RunningApp]:
    """The app on 127.0.0.1 at a free port, over a fresh seeded SQLite file."""
    with serve_app(tmp_path) as server:
        yield server


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Callable[[], Any]]:
    """Open a page in a browser context of its own (its own cookies: another person)."""
    contexts: list[Any] = []

    def open_page() -> Any:
        context = chromium.new_context(viewport=VIEWPORT, locale="zh-CN")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Any]) -> Any:
    """A page in a fresh browser context."""
    return new_page()
