"""Parts that other areas add to every page (the ringing-call banner, for one).

The case core's layout (``base.html``) does not know the areas built on it.
An area registers a chooser with :func:`add_page_extra`: a function that
returns a template name to include at the bottom of each page for the
person logged in, or None. ``base.html`` includes what the choosers return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

EXTRAS_KEY = "hotline.page_extras"

Chooser = Callable[[], str | None]


def add_page_extra(app: Flask, chooser: Chooser) -> None:
    """Include the template ``chooser()`` names (when not None) on every page."""
    app.extensions.setdefault(EXTRAS_KEY, []).append(chooser)


def init_app(app: Flask) -> None:
    """Give templates ``page_extras``: the templates the areas chose for this page."""

    @app.context_processor
    def _page_extras() -> dict[str, Any]:
        chosen = [chooser() for chooser in app.extensions.get(EXTRAS_KEY, [])]
        return {"page_extras": [name for name in chosen if name]}
