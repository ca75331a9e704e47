"""Outage notices texted to the area (停水通知短信, P8): a new restore time, water back.

The outages page (``dispatch/web/outages.py``) shows, for each outage, how
many texts went out, failed or wait, and offers dispatchers these two
actions. Each is one transaction that changes the outage and writes the
notice; the texts follow from the scheduler's job
(``callflows.services.outage_notices.run``), never in the request.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import RAISE

from callflows.services import CallFlows
from callflows.services import outage_notices as notices
from hotline.domain.taxonomy import Role
from hotline.services import ServiceError
from hotline.web.api_base import InputSchema, Moment
from hotline.web.auth import roles_required
from hotline.web.pages import actor
from hotline.web.refusals import refusal_text
from hotline.web.schemas import load_form
from hotline.web.session import wiring

bp = Blueprint("outage_notices", __name__, template_folder="templates")


class RestoreTimeSchema(InputSchema):
    """A new expected restore time for an outage (announced to its area)."""

    class Meta:
        unknown = RAISE

    ends_at = Moment(required=True)


def _flows() -> CallFlows:
    return current_app.extensions["callflows"]


def _refused(exc: ServiceError) -> Any:
    return render_template("error.html", code=exc.status, message=refusal_text(exc)), exc.status


@bp.route("/outages/<id:outage_id>/restore-time", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def restore_time(outage_id: int) -> Any:
    """Move an outage's expected end; the customers of its area are texted the new time."""
    svc = wiring()
    try:
        body = load_form(RestoreTimeSchema(), request.form, svc.timezone)
        notices.change_restore_time(svc, actor(), outage_id, body["ends_at"])
    except ServiceError as exc:
        return _refused(exc)
    flash(_("恢复供水时间已更新,将短信通知受影响用户"), "success")
    return redirect(url_for("outages.page"))


@bp.route("/outages/<id:outage_id>/restored", methods=["POST"])
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def restored(outage_id: int) -> Any:
    """Water is back: the outage ends now and the customers of its area are texted."""
    try:
        notices.mark_restored(wiring(), actor(), outage_id)
    except ServiceError as exc:
        return _refused(exc)
    flash(_("已确认恢复供水,将短信通知受影响用户"), "success")
    return redirect(url_for("outages.page"))
