"""The outage notices page (停水通知, P8).

Outages under way or coming, for everyone who talks to callers; dispatchers
and supervisors publish them here, the notice period checked by
``dispatch.services.outages``. The operator console shows them to callers at
the affected addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from callflows.services.outage_notices import notice_counts
from dispatch.domain.outages import lacks_supply_points, needs_supply_points
from dispatch.services.outages import (
    OutageNotice,
    OutageRefused,
    listed_since,
    publish_outage,
    set_supply_points,
)
from hotline.domain.taxonomy import Role
from hotline.services import Invalid, ServiceError
from hotline.web import labels
from hotline.web.auth import roles_required
from hotline.web.forms import form_local_datetime
from hotline.web.session import fresh_db_session, wiring

if TYPE_CHECKING:
    from hotline.models import Outage

bp = Blueprint("outages", __name__, template_folder="templates")

#: Who publishes outage notices.
PUBLISHERS = (Role.DISPATCHER, Role.SUPERVISOR)
#: How long an outage stays listed after it ended.
SHOWN_AFTER_END = timedelta(days=1)


@dataclass(frozen=True)
class OutageRow:
    """One outage as listed: whether it is under way now, and whether it is
    over 24 hours (needs temporary water supply points) and still has none."""

    outage: Outage
    under_way: bool
    needs_supply_points: bool = False
    lacks_supply_points: bool = False


def outage_rows(outages: list[Outage], now: datetime) -> list[OutageRow]:
    """``outages`` with whether each is under way at ``now`` and lacks supply points."""
    return [
        OutageRow(
            o,
            o.starts_at <= now <= o.ends_at,
            needs_supply_points(o.starts_at, o.ends_at),
            lacks_supply_points(o.starts_at, o.ends_at, o.supply_points),
        )
        for o in outages
    ]


@bp.route("/outages")
@roles_required(*PUBLISHERS, Role.OPERATOR)
def page(error: ServiceError | None = None, status: int = 200) -> Any:
    """Outages under way or coming, and (for dispatch) the form to publish one."""
    session = fresh_db_session()
    now = wiring().now()
    rows = listed_since(session, now - SHOWN_AFTER_END)
    return (
        render_template(
            "dispatch/outages.html",
            outages=outage_rows(rows, now),
            notices=notice_counts(session, [o.id for o in rows]),
            now=now,
            error=error,
            may_publish=Role(current_user.role) in PUBLISHERS,
            labels=labels,
        ),
        status,
    )


@bp.route("/outages", methods=["POST"])
@roles_required(*PUBLISHERS)
def publish() -> Any:
    """Publish an outage notice from the form; a planned one must give notice in time."""
    form = request.form
    try:
        notice = OutageNotice(
            area=form.get("area", ""),
            area_keywords=form.get("area_keywords", "")
            .replace(",", " ")
            .replace("，", " ")
            .split(),
            reason=form.get("reason", ""),
            starts_at=form_local_datetime(form.get("starts_at"), "starts_at", wiring().timezone),
            ends_at=form_local_datetime(form.get("ends_at"), "ends_at", wiring().timezone),
            planned=form.get("planned") == "on",
            supply_points=form.get("supply_points", ""),
        )
        with wiring().sessions() as session, session.begin():
            publish_outage(session, notice, by_id=current_user.id, now=wiring().now())
    except OutageRefused as exc:
        error = Invalid.from_error(exc, exc.field, "P8")
        return page(error, error.status)
    except ServiceError as exc:
        return page(exc, exc.status)
    flash(_("停水通知已发布"), "success")
    return redirect(url_for("outages.page"))


@bp.route("/outages/<int:outage_id>/supply-points", methods=["POST"])
@roles_required(*PUBLISHERS)
def supply_points(outage_id: int) -> Any:
    """Name an outage's temporary water supply points (shown on the public notice)."""
    try:
        with wiring().sessions() as session, session.begin():
            set_supply_points(session, outage_id, request.form.get("supply_points", ""))
    except OutageRefused as exc:
        error = Invalid.from_error(exc, exc.field, "P8")
        return page(error, error.status)
    flash(_("临时供水点已保存"), "success")
    return redirect(url_for("outages.page"))
