"""The WeChat official account's report form (公众号报事): a mobile page, no login.

The account's menu opens ``/wechat/report`` through WeChat's web-page
authorisation (snsapi_base), which adds a one-time ``code``; the page asks
WeChat for the resident's openid behind it and keeps it in the signed
session, so the report links the account to the phone given (and outage
notices and case stages are pushed to it, ``hotline/services/wechat.py``).
Without a code, or with WeChat unreachable, the form still takes reports.

A report enters the same intake as every other channel: a web case owned by
the dispatcher on duty (G4), one transaction. The form is checked by
:class:`ReportSchema` (sizes, clean text, a category from the list), carries
a CSRF token, and counts every submission against the address
(:data:`REPORTS_PER_ADDRESS`); the answer shows the case number, the
promised time and the link to the public status page.

Case stages reach linked accounts from the publisher that follows each
committed change (:func:`init_app`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from limits import parse as parse_limit
from marshmallow import RAISE, fields, validate

from hotline.db import run_guarded
from hotline.domain.taxonomy import Category
from hotline.services import ServiceError, Services, wechat
from hotline.services.ownership import OwnerLookup
from hotline.web import labels
from hotline.web.api_base import InputSchema
from hotline.web.auth import throttle
from hotline.web.i18n import local_time
from hotline.web.refusals import refusal_text
from hotline.web.schemas import load_form
from hotline.web.session import wiring

log = logging.getLogger(__name__)

bp = Blueprint("wechat_form", __name__)

NOTIFIER_KEY = "hotline.wechat"
OWNER_KEY = "hotline.wechat_owner"
OPENID_KEY = "wechat_openid"
#: Reports one address may send (every submission counts, saved or not).
REPORTS_PER_ADDRESS = parse_limit("5 per hour")
#: The categories offered, in the order shown.
CATEGORIES = tuple(wechat.REPORT_NEEDS)


class ReportSchema(InputSchema):
    """A resident's report: who, where, what (P4's items), and its category."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(required=True, validate=validate.Length(min=5, max=40))
    address = fields.String(required=True, validate=validate.Length(min=2, max=300))
    problem = fields.String(required=True, validate=validate.Length(min=2, max=2000))
    category = fields.Enum(
        Category, by_value=True, required=True, validate=validate.OneOf(CATEGORIES)
    )


class ReportForm(FlaskForm):
    """Only for its CSRF token: the fields are checked by :class:`ReportSchema`."""


def _notifier() -> wechat.WechatNotifier | None:
    return current_app.extensions.get(NOTIFIER_KEY)


def _page(status: int = 200, **context: Any) -> Any:
    values: dict[str, Any] = {
        "form": ReportForm(),
        "values": {},
        "categories": [(c.value, labels.label(labels.CATEGORY, c)) for c in CATEGORIES],
        "error": None,
        "result": None,
        "linked": bool(session.get(OPENID_KEY)),
    }
    values.update(context)
    return render_template("wechat_report.html", **values), status


@bp.get("/wechat/report")
def page() -> Any:
    """The form; a WeChat authorisation ``code`` links the account for this session."""
    code = (request.args.get("code") or "").strip()
    notifier = _notifier()
    if code and notifier is not None and len(code) <= 128 and code.isascii():
        try:
            session[OPENID_KEY] = notifier.openid_for_code(code)
        except wechat.WechatError as exc:
            log.warning("WeChat authorisation code not accepted: %s", exc)
    return _page()


@bp.post("/wechat/report")
def submit() -> Any:
    """Open a web case from the form; shows its number and the status page's link."""
    guard = throttle()
    checks = [(REPORTS_PER_ADDRESS, "wechat-report-address", get_remote_address() or "unknown")]
    values = {key: request.form.get(key, "")[:2000] for key in ReportSchema().load_fields}
    wait = guard.wait(checks)
    if wait:
        g.retry_after = wait
        message = _l("提交过于频繁,请 %(seconds)s 秒后再试。", seconds=wait)
        return _page(429, values=values, error={"message": message, "field": ""})
    guard.failed(checks)
    svc = wiring()
    try:
        body = load_form(ReportSchema(), request.form, svc.timezone)
        result = wechat.report(
            svc,
            wechat.Report(**body),
            owner=current_app.extensions[OWNER_KEY],
            openid=session.get(OPENID_KEY),
        )
    except ServiceError as exc:
        error = {"message": refusal_text(exc), "field": exc.field or ""}
        return _page(exc.status, values=values, error=error)
    shown = {
        "number": result.case_number,
        "promised": local_time(result.promised_at) if result.promised_at else "",
        "status_url": url_for("public_status.page"),
    }
    return _page(201, result=shown)


def _case_publisher(app: Flask, svc: Services, previous: Any) -> Any:
    """The services' publisher, then the case's stage to linked WeChat accounts."""

    def publish(payload: Mapping[str, Any]) -> None:
        try:
            if previous is not None:
                previous(payload)
        finally:
            notifier = app.extensions.get(NOTIFIER_KEY)
            number = payload.get("case")
            if notifier is not None and isinstance(number, str):
                base = str(app.config["HOTLINE"].get("wechat_public_base_url") or "")
                link = base.rstrip("/") + "/status" if base else ""
                _in_background(
                    app,
                    lambda: run_guarded(
                        wechat.FAILURE_KIND,
                        lambda: wechat.case_stage_push(svc, notifier, number, link),
                    ),
                )

    return publish


#: This process's pushers (made again after a fork): WeChat is asked off the
#: request's thread, so a slow answer never holds up the change that was saved.
_pushers: dict[int, ThreadPoolExecutor] = {}
_pushers_lock = threading.Lock()


def _in_background(app: Flask, work: Callable[[], Any]) -> None:
    if app.testing:  # tests see the push when the request returns
        work()
        return
    pid = os.getpid()
    with _pushers_lock:
        pool = _pushers.get(pid)
        if pool is None:
            pool = _pushers[pid] = ThreadPoolExecutor(2, thread_name_prefix="wechat-push")
    pool.submit(work)


def init_app(app: Flask, *, owner: OwnerLookup) -> None:
    """Serve the form (``owner`` names who owns a report, G4) and push case stages."""
    app.extensions[OWNER_KEY] = owner
    app.extensions[NOTIFIER_KEY] = wechat.make_notifier(app.config["HOTLINE"])
    svc: Services = app.extensions["hotline"]
    svc.publish = _case_publisher(app, svc, svc.publish)
    app.register_blueprint(bp)
