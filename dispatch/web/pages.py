"""The dispatch center's pages, registered together.

The dispatch board (``dispatch.web.board``), the duty roster
(``dispatch.web.duty``), the outage notices (``dispatch.web.outages``) and
the crew page (``dispatch.web.crew``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Bind the dispatch center's pages to ``app``."""
    from dispatch.web import area_map, board, crew, duty, figures, outages

    app.register_blueprint(board.bp)
    app.register_blueprint(duty.bp)
    app.register_blueprint(outages.bp)
    crew.init_app(app)
    from dispatch.web import supervision  # 督办: its API, its list page, the case page's section

    supervision.init_app(app)
    app.register_blueprint(figures.bp)  # 统计报表 (supervisor figures)
    area_map.init_app(app)  # 片区地图 (the area map; its outlines checked at start)
    from dispatch.web import public_outages  # 停水通知 for everyone: page, Atom, JSON

    app.register_blueprint(public_outages.bp)
