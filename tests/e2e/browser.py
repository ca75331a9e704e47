"""Browser helpers: how Chromium is started, a running app to point it at, and
logging in through the login page.

The browser is Debian's ``chromium`` package driven by Playwright for Python;
Playwright's own browser downloads are not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.db import Base, make_engine
from tests.e2e.server import LiveServer
from tests.support import PASSWORD, Org, seed_org

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A desk screen, wide enough for the operator console's columns.
VIEWPORT = {"width": 1440, "height": 900}


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch``."""
    return {"executable_path": str(CHROMIUM), "headless": True, "args": list(CHROMIUM_ARGS)}


@dataclass
class RunningApp:
    """The app serving on ``url``, its seeded organisation and its Flask object."""

    url: str
    org: Org
    app: Any


@contextmanager
def serve_app(folder: Path) -> Iterator[RunningApp]:
    """Run the hotline app on 127.0.0.1 (a free port) over a SQLite file in ``folder``.

    The schema is created from the models and the organisation seeded as in
    the other tests; Werkzeug's threaded server runs in a background thread
    and is shut down when the block ends.
    """
    from hotline.app import create_app

    url = f"sqlite:///{folder / 'hotline.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(
        {
            "database_url": url,
            "secret_key": "browser-test-secret",
            "INSTANCE_PATH": str(folder / "instance"),
        }
    )
    org = seed_org(app.extensions["hotline"])
    try:
        with LiveServer(app) as server:
            yield RunningApp(url=server.url, org=org, app=app)
    finally:
        app.extensions["hotline.engine"].dispose()


def log_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the login page and wait for the landing page."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form:has(input[name=password]) button[type=submit]")
