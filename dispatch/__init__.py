"""What the dispatch center sees and does: routing, deadlines, the live board.

Builds on ``hotline``'s case domain; ``hotline.app`` wires it in through
:func:`init_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the dispatch API and check the scheduler settings (after ``hotline.web.api``).

    Raises ``hotline.settings.SettingsError`` naming the key when a scheduler
    setting cannot be used.
    """
    from dispatch.services import scheduler
    from dispatch.web import api, pages

    scheduler.init_app(app)
    api.init_app(app)
    pages.init_app(app)
