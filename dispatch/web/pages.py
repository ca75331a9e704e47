"""The dispatch center's pages, registered together.

The dispatch board (``dispatch.web.board``), the duty roster
(``dispatch.web.duty``) and the outage notices (``dispatch.web.outages``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Bind the dispatch center's pages to ``app``."""
    from dispatch.web import board, duty, outages

    app.register_blueprint(board.bp)
    app.register_blueprint(duty.bp)
    app.register_blueprint(outages.bp)
