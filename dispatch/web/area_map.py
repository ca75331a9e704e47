"""The area map (片区地图, ``/dispatch/map``): open cases and crews by service area.

Drawn on the server as an inline SVG from the areas' outlines
(``config/areas.geojson``, :mod:`dispatch.domain.area_map`), so it needs no
tile server and no script: each area shaded by its open cases, labelled with
them and the crews at work there, and linking to ``?area=<code>``, which lists
the area's open cases under the map. Where ``map_tile_url`` is set the tiles
of that server are drawn under the outlines as SVG images placed by the same
projection, and only then does the page's Content-Security-Policy allow
images from that server's origin.

The outlines are read and checked when the app starts: a bad file stops the
start with one line naming the file and the feature.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, render_template, request
from marshmallow import ValidationError

from dispatch.domain.area_map import (
    Projection,
    bounds_of,
    shade,
    shade_ranges,
    tiles_for,
)
from dispatch.services import area_map as area_service
from hotline.domain.taxonomy import Role
from hotline.services.customers import shipped_areas
from hotline.settings import SettingsError
from hotline.settings_schema import MapSettings
from hotline.web.auth import content_security_policy, roles_required
from hotline.web.pages import common
from hotline.web.session import db_session

bp = Blueprint(
    "area_map",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dispatch/map/static",
)

#: The SVG's view box and the margin kept around the outlines.
WIDTH, HEIGHT, MARGIN = 800, 600, 24
_SETTINGS_KEY = "dispatch.area_map"


def init_app(app: Flask) -> None:
    """Read the outlines and the tile setting now, so a bad one stops the start."""
    area_service.shipped_outlines()
    try:
        settings = MapSettings().load(
            {"map_tile_url": app.config["HOTLINE"].get("map_tile_url", "")}
        )
    except ValidationError as error:
        raise SettingsError(f"map_tile_url: {error.messages['map_tile_url'][0]}") from None
    app.extensions[_SETTINGS_KEY] = settings["map_tile_url"]
    app.register_blueprint(bp)


def _tile_policy(tile_url: str) -> str:
    """The page's Content-Security-Policy with the tile server's origin among image sources."""
    parts = urlsplit(tile_url)
    live = current_app.extensions.get("hotline.live")
    live_url = getattr(live, "url", "") or ""
    connect = []
    if live_url:
        socket = {"https": "wss", "http": "ws"}.get(urlsplit(live_url).scheme)
        connect = [live_url] + ([f"{socket}://{urlsplit(live_url).netloc}"] if socket else [])
    policy = content_security_policy(connect=connect)
    return policy.replace(
        "img-src 'self' data:", f"img-src 'self' data: {parts.scheme}://{parts.netloc}", 1
    )


@bp.route("/dispatch/map")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def page() -> Any:
    """The map; ``?area=<code>`` lists that area's open cases under it."""
    areas = shipped_areas()
    outlines = area_service.shipped_outlines()
    session = db_session()
    counts = area_service.counts(session, areas)
    chosen = request.args.get("area", "").strip()
    selected = None
    cases: list[Any] = []
    if chosen:
        selected = next((a for a in areas.areas if a.code == chosen), None)
        if selected is None:
            abort(404)
        cases = area_service.open_cases_in(session, areas, selected.code)
    projection = Projection.fit(bounds_of(outlines), WIDTH, HEIGHT, MARGIN)
    most = max(counts.cases.values(), default=0)
    names = {a.code: a for a in areas.areas}
    shapes = []
    for outline in outlines:
        x, y = projection.label_point(outline)
        shapes.append(
            {
                "area": names[outline.code],
                "path": projection.path(outline),
                "x": round(x, 1),
                "y": round(y, 1),
                "cases": counts.cases[outline.code],
                "crews": counts.crews[outline.code],
                "shade": shade(counts.cases[outline.code], most),
            }
        )
    tile_url = current_app.extensions.get(_SETTINGS_KEY, "")
    tiles = tiles_for(projection) if tile_url else []
    html = render_template(
        "dispatch/area_map.html",
        shapes=shapes,
        legend=shade_ranges(most),
        unplaced=counts.unplaced,
        width=WIDTH,
        height=HEIGHT,
        tiles=[{"url": t.url(tile_url), "t": t} for t in tiles],
        tile_origin=urlsplit(tile_url).netloc if tile_url else "",
        selected=selected,
        cases=cases,
        **common(),
    )
    headers = {"Cache-Control": "no-store"}
    if tile_url:
        headers["Content-Security-Policy"] = _tile_policy(tile_url)
    return html, 200, headers
