"""Outage notices for everyone, without a login (停水通知, P8).

``/public/outages`` is the page, ``/public/outages.atom`` an Atom 1.0 feed
and ``/public/outages.json`` plain JSON, for the official account and other
channels. They list outages under way or coming, with no personal data
and nothing internal: the notice's number, area, reason, start, expected end,
planned or not, and the temporary water supply points. Each answer may be
cached for a minute (``Cache-Control: public, max-age=60``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_babel import gettext as _

from dispatch.domain.outages import needs_supply_points
from dispatch.services.public_outages import PublicOutage, public_outages
from hotline.web.session import fresh_db_session, wiring

bp = Blueprint("public_outages", __name__, template_folder="templates")

#: How long a browser or proxy may keep an answer.
CACHE_CONTROL = "public, max-age=60"
ATOM_NS = "http://www.w3.org/2005/Atom"


def _cached(response: Response) -> Response:
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _local_iso(value: datetime) -> str:
    """ISO 8601 in the utility's zone, with its offset (``2026-11-26T14:05:00+08:00``)."""
    return value.astimezone(wiring().timezone).isoformat(timespec="seconds")


def _notices() -> tuple[list[PublicOutage], datetime]:
    now = wiring().now()
    return public_outages(fresh_db_session(), now), now


def _kind(outage: PublicOutage) -> str:
    return _("计划停水") if outage.planned else _("临时停水")


def _summary(outage: PublicOutage) -> str:
    """The notice in one paragraph of plain text (the feeds' content)."""
    local = wiring().timezone
    parts = [
        _("区域:%(area)s", area=outage.area),
        _("原因:%(reason)s", reason=outage.reason),
        _("开始:%(at)s", at=outage.starts_at.astimezone(local).strftime("%m-%d %H:%M")),
        _("预计恢复:%(at)s", at=outage.ends_at.astimezone(local).strftime("%m-%d %H:%M")),
        _kind(outage),
    ]
    if outage.supply_points:
        parts.append(_("临时供水点:%(points)s", points=outage.supply_points))
    return "\n".join(parts)


def _title(outage: PublicOutage) -> str:
    return _("%(kind)s:%(area)s", kind=_kind(outage), area=outage.area)


@bp.route("/public/outages")
def page() -> Any:
    """The public page of outages under way or coming."""
    outages, now = _notices()
    html = render_template(
        "dispatch/public_outages.html",
        outages=outages,
        now=now,
        long_outage=needs_supply_points,
        nav=[],
        page_extras=[],
    )
    return _cached(Response(html, mimetype="text/html"))


@bp.route("/public/outages.atom")
def atom() -> Response:
    """The outage notices as an Atom 1.0 feed."""
    outages, now = _notices()
    page_url = url_for("public_outages.page", _external=True)
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", url_for("public_outages.atom", _external=True))
    sub(feed, "title", _("停水、降压通知"))
    updated = max((o.published_at for o in outages), default=now)
    sub(feed, "updated", _local_iso(updated))
    sub(feed, "link", rel="self", href=url_for("public_outages.atom", _external=True))
    sub(feed, "link", rel="alternate", type="text/html", href=page_url)
    author = sub(feed, "author")
    sub(author, "name", wiring_company())
    for outage in outages:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{page_url}#outage-{outage.id}")
        sub(entry, "title", _title(outage))
        sub(entry, "updated", _local_iso(outage.published_at))
        sub(entry, "published", _local_iso(outage.published_at))
        sub(entry, "link", rel="alternate", type="text/html", href=f"{page_url}#outage-{outage.id}")
        sub(entry, "content", _summary(outage), type="text")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return _cached(Response(body, mimetype="application/atom+xml"))


def wiring_company() -> str:
    """The utility's name as the feed's author."""
    return (current_app.config.get("HOTLINE") or {}).get("company_name") or _("供水服务热线")


@bp.route("/public/outages.json")
def json_feed() -> Response:
    """The outage notices as plain JSON (its shape in ``docs/public.md``)."""
    outages, now = _notices()
    page_url = url_for("public_outages.page", _external=True)
    document = {
        "title": _("停水、降压通知"),
        "home_page_url": page_url,
        "updated": _local_iso(max((o.published_at for o in outages), default=now)),
        "items": [
            {
                "id": outage.id,
                "url": f"{page_url}#outage-{outage.id}",
                "area": outage.area,
                "reason": outage.reason,
                "starts_at": _local_iso(outage.starts_at),
                "ends_at": _local_iso(outage.ends_at),
                "planned": outage.planned,
                "supply_points": outage.supply_points,
                "published_at": _local_iso(outage.published_at),
            }
            for outage in outages
        ],
    }
    body = json.dumps(document, ensure_ascii=False, indent=1)
    return _cached(Response(body, mimetype="application/json"))
