"""A ringing call reaches a call taker on any page (P1: answer within three rings).

Every page of an operator or a supervisor includes ``callflows/_ring.html``:
a banner with the caller's name and number and how long the call has rung
against the three-ring limit, an answer button that opens the console on
that call, a ring tone that can be muted, and a flashing tab title. The
console page has its own banner; there only the tone and the title are added.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_login import current_user

from callflows.services import CALL_TAKERS
from hotline.web.extras import add_page_extra

TEMPLATE = "callflows/_ring.html"


def _for_call_takers() -> str | None:
    if not current_user.is_authenticated:
        return None
    return TEMPLATE if current_user.role in CALL_TAKERS else None


def init_app(app: Flask) -> None:
    """Add the banner to the pages of everyone who takes calls."""
    add_page_extra(app, _for_call_takers)

    @app.context_processor
    def _ring_limit() -> dict[str, Any]:
        return {"ring_limit_seconds": app.extensions["callflows"].ring_limit_seconds}
