"""Call quality on the web (质检): the sample to check, the check form, an
operator's check history, and the compliance score per operator over time.

Pages (supervisors only; blueprint ``quality``):

* ``/quality`` — draw a sample: a range of days, calls per operator, a seed,
  recorded calls only (the defaults from ``config/quality_checks.toml``); the
  same seed over the same calls draws the same sample, and checked calls are
  never drawn again. Read by :class:`SampleArgs`; a bad value answers 400.
* ``/quality/scores`` — each operator's mean compliance score per day or
  week (:class:`TrendArgs`), a bar chart of the mean of the chosen operator
  (or of everyone) with the table under it.
* ``/quality/operators/<id>`` — an operator's checks, newest first, the
  superseded ones marked, and the weekly mean of the current ones.
* ``/calls/<id>/quality`` — the check form (GET) and saving it (POST, read by
  :class:`QualityCheckSchema`); ``?supersedes=<check id>`` makes a new check
  that supersedes the current one, with a reason.

Also the view helpers the call log uses: outcome and flag names, the
compliance checks' names, a call's duration and its script steps in words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from callflows.domain import quality as rules
from callflows.domain.scripts import Script
from callflows.services import quality as quality_service
from callflows.web.console import call_or_404, common_context, flows
from hotline.domain.errors import Forbidden
from hotline.domain.taxonomy import Disposition, Role
from hotline.services import Actor, ServiceError
from hotline.web.api_base import ApiBlueprint, Id, InputSchema, refusal, request_actor
from hotline.web.auth import roles_required
from hotline.web.forms import form_int
from hotline.web.i18n import english
from hotline.web.schemas import refusal_of
from hotline.web.session import db_session, wiring

__all__ = [
    "CHECK_NAMES",
    "LOG_FLAG_NAMES",
    "OUTCOME",
    "QualityCheckSchema",
    "SampleArgs",
    "TrendArgs",
    "api_bp",
    "bp",
    "current_standard",
    "duration_text",
    "standard_of",
    "steps_in_words",
]

bp = Blueprint("quality", __name__, template_folder="templates")
api_bp = ApiBlueprint(
    "api_quality",
    __name__,
    url_prefix="/api",
    description="Quality checks of calls (质检): saved for good, superseded with a reason.",
)

#: How a contact ended, as the call log shows it.
OUTCOME = {
    Disposition.CASE_CREATED: _l("已立案"),
    Disposition.ANSWERED: _l("当场解答"),
    Disposition.TRANSFERRED: _l("转办/引导"),
    Disposition.JOINED_CASE: _l("并入已有工单"),
    Disposition.ABANDONED: _l("未接通/放弃"),
    Disposition.MISSED: _l("未接来电"),
    Disposition.CALLED_BACK: _l("已回拨"),
}

#: The call log's ``flag`` filter, in words.
LOG_FLAG_NAMES = {
    "banned": _l("有禁语标记"),
    "slow": _l("超过三声振铃"),
    "missed_greeting": _l("缺开场问候"),
    "missed_closing": _l("缺结束语"),
    "missed_required": _l("漏做必做步骤"),
}

#: The five compliance checks of a call's score, in words.
CHECK_NAMES = {
    rules.Check.RINGS: _l("三声内接听"),
    rules.Check.GREETING: _l("开场问候"),
    rules.Check.READ_BACK: _l("复述确认"),
    rules.Check.CLOSING: _l("结束语"),
    rules.Check.NO_BANNED: _l("无禁语"),
}

#: The longest range of days the sample and the trend read at once.
MAX_DAYS = 366
_DAY_RANGE = validate.Range(
    min=date(2000, 1, 1), max=date(2099, 12, 31), error="must lie between the years 2000 and 2099"
)


def standard_of(settings: Any) -> rules.QualityStandard:
    """The quality-check items, with the company's name (setting) in their wording."""
    return quality_service.standard(str(settings.get("company_name", "")))


def current_standard() -> rules.QualityStandard:
    """The quality-check items of the running app."""
    return standard_of(current_app.config["HOTLINE"])


def duration_text(call: Any) -> str:
    """How long the call was talked, from answer to end, as ``m:ss`` (empty when not)."""
    if call.answered_at is None or call.ended_at is None:
        return ""
    seconds = max(int((call.ended_at - call.answered_at).total_seconds()), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True)
class StepDone:
    """A step of the call's script as the review shows it: its words, not its id."""

    at: str
    zh: str
    en: str
    status: str
    answer: str


def _clock(value: Any) -> str:
    """A recorded ISO time as the local ``14:05:09`` (empty when unreadable)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return moment.astimezone(wiring().timezone).strftime("%H:%M:%S")


def _captured(call: Any) -> dict[str, str]:
    """The fields the call's script captured (for the wording as it was said)."""
    fields = (call.script_state or {}).get("fields") or {}
    return {str(name): str(value) for name, value in fields.items() if value is not None}


def steps_in_words(call: Any, scripts: dict[str, Script]) -> list[StepDone]:
    """The steps recorded on the call, each in its script's words (the id when unknown)."""
    record = call.compliance or {}
    script = scripts.get(call.script_id or record.get("script_id") or "")
    captured = _captured(call)
    shown = []
    for step in record.get("steps", []):
        step_id = str(step.get("step_id"))
        zh = en = step_id
        answer = step.get("answer") or ""
        if script is not None:
            try:
                found = script.step(step_id)
            except KeyError:
                found = None
            if found is not None:
                # The words as said: the fields the call captured filled in.
                zh, en = found.render(captured, lang="zh"), found.render(captured, lang="en")
                for branch in found.branches:
                    if branch.answer == answer:
                        answer = branch.en if english() else branch.zh
        shown.append(StepDone(_clock(step.get("at")), zh, en, step.get("status"), answer))
    return shown


def missed_in_words(call: Any, scripts: dict[str, Script]) -> list[str]:
    """The required steps the call left out, by their wording in the page language."""
    record = call.compliance or {}
    script = scripts.get(call.script_id or record.get("script_id") or "")
    names = []
    for step_id in record.get("missed_required") or []:
        try:
            found = script.step(str(step_id)) if script is not None else None
        except KeyError:
            found = None
        if found is None:
            names.append(_("(脚本中已无此步骤)"))
        else:
            names.append(found.render({}, lang="en" if english() else "zh"))  # not said
    return names


# -- schemas -------------------------------------------------------------------------


class _Days(InputSchema):
    first = fields.Date(data_key="from", format="%Y-%m-%d", validate=_DAY_RANGE, required=True)
    last = fields.Date(data_key="to", format="%Y-%m-%d", validate=_DAY_RANGE, required=True)

    @validates_schema
    def _order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["first"] > data["last"]:
            raise ValidationError("'from' must not be after 'to'", "to")
        if (data["last"] - data["first"]).days >= MAX_DAYS:
            raise ValidationError(f"at most {MAX_DAYS} days at once", "to")


class SampleArgs(_Days):
    """The sample to draw: days, calls per operator, seed, recorded calls only."""

    class Meta:
        unknown = EXCLUDE

    per_operator = fields.Integer(
        strict=False, required=True, validate=validate.Range(min=1, max=1000)
    )
    seed = fields.Integer(
        strict=False, required=True, validate=validate.Range(min=0, max=2**31 - 1)
    )
    recorded_only = fields.Boolean(load_default=False)
    operator = Id(strict=False, load_default=None)


class TrendArgs(_Days):
    """The trend to show: days, day or week, one operator or all."""

    class Meta:
        unknown = EXCLUDE

    period = fields.Enum(rules.Period, by_value=True, load_default=rules.Period.DAY)
    operator = Id(strict=False, load_default=None)


class QualityCheckSchema(InputSchema):
    """A quality check of one call: the points of each form item, a comment, and
    (when correcting) the check it supersedes with the reason."""

    class Meta:
        unknown = RAISE

    points = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$")),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=1000)),
        required=True,
    )
    comment = fields.String(
        load_default="", validate=validate.Length(max=quality_service.MAX_COMMENT)
    )
    supersedes_id = Id(load_default=None, allow_none=True)
    reason = fields.String(
        load_default="", validate=validate.Length(max=quality_service.MAX_REASON)
    )


def _query(schema: InputSchema, data: dict[str, Any]) -> dict[str, Any]:
    """A page's query string loaded with ``schema``; a 400 page naming the field."""
    try:
        return schema.load({k: v for k, v in data.items() if str(v).strip()})
    except ValidationError as error:
        field, messages = next(iter(error.messages.items()))
        text = messages[0] if isinstance(messages, list) else str(messages)
        abort(400, description=f"'{field}': {text}")


def _default_days() -> dict[str, str]:
    today = wiring().now().astimezone(wiring().timezone).date()
    return {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}


def _operators() -> list[Any]:
    return quality_service.operators(db_session())


# -- the sample ----------------------------------------------------------------------


@bp.route("/quality")
@roles_required(Role.SUPERVISOR)
def sample() -> Any:
    """Draw the sample of calls to check (质检抽样)."""
    standard = current_standard()
    args = request.args
    shown = {
        **_default_days(),
        "per_operator": str(standard.per_operator),
        "seed": "",
        "recorded_only": "1" if standard.recorded_only else "",
        "operator": "",
    }
    drawn: dict[int, list[Any]] | None = None
    if "seed" in args:
        shown = {key: args.get(key, "") for key in shown}
        wanted = _query(SampleArgs(), shown)
        if wanted["per_operator"] > standard.max_per_operator:
            abort(400, description=f"'per_operator': at most {standard.max_per_operator}")
        start, end = quality_service.day_range(wanted["first"], wanted["last"], wiring().timezone)
        drawn = quality_service.draw(
            db_session(),
            start=start,
            end=end,
            per_operator=wanted["per_operator"],
            seed=wanted["seed"],
            recorded_only=wanted["recorded_only"],
            operator_id=wanted["operator"],
        )
    else:
        shown["seed"] = str(wiring().now().toordinal())
    operators = _operators()
    return render_template(
        "callflows/quality_sample.html",
        shown=shown,
        drawn=drawn,
        operators=operators,
        names={s.id: s.display_name for s in operators},
        standard=standard,
        duration=duration_text,
        **common_context(),
    )


# -- the trend -----------------------------------------------------------------------

CHART_WIDTH = 760
CHART_HEIGHT = 240


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Bars of the mean score (0–100) per period, laid out for an SVG ``viewBox``."""

    width: int
    height: int
    bottom: int
    left: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]


def score_chart(rows: list[tuple[date, int, float]]) -> Chart:
    """A bar per period (``(start, calls, mean)``), in the figures page's style."""
    top, bottom, left, right = 16, 48, 40, 8
    plot_w = CHART_WIDTH - left - right
    plot_h = CHART_HEIGHT - top - bottom
    slot = plot_w / max(len(rows), 1)
    width = max(min(slot * 0.7, 48), 2)
    bars = []
    for i, (starts, calls, mean) in enumerate(rows):
        height = plot_h * mean / 100
        bars.append(
            Bar(
                x=round(left + i * slot + (slot - width) / 2, 1),
                y=round(top + plot_h - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label=starts.strftime("%m-%d"),
                value=f"{mean:g}" if len(rows) <= 16 else "",
                title=f"{starts.isoformat()}: {mean:g} ({calls})",
            )
        )
    ticks = [(round(top + plot_h * (1 - p / 100), 1), str(p)) for p in (0, 50, 100)]
    return Chart(CHART_WIDTH, CHART_HEIGHT, bottom, left, bars, ticks)


def overall(rows: list[rules.TrendRow]) -> list[tuple[date, int, float]]:
    """The mean over every operator's scored calls, per period."""
    sums: dict[date, list[int]] = {}
    for row in rows:
        cell = sums.setdefault(row.starts, [0, 0])
        cell[0] += row.calls
        cell[1] += row.total
    return [(starts, n, round(total / n, 1)) for starts, (n, total) in sorted(sums.items())]


@bp.route("/quality/scores")
@roles_required(Role.SUPERVISOR)
def scores() -> Any:
    """Each operator's compliance score per day or week, with a chart (合规得分趋势)."""
    args = request.args
    shown = {**_default_days(), "period": "day", "operator": ""}
    shown.update({key: args[key] for key in shown if args.get(key, "").strip()})
    wanted = _query(TrendArgs(), shown)
    start, end = quality_service.day_range(wanted["first"], wanted["last"], wiring().timezone)
    rows = quality_service.score_trend(
        db_session(),
        start=start,
        end=end,
        zone=wiring().timezone,
        period=wanted["period"],
        scripts=flows().scripts,
        ring_limit=flows().ring_limit_seconds,
        operator_id=wanted["operator"],
    )
    operators = _operators()
    return render_template(
        "callflows/quality_scores.html",
        shown=shown,
        rows=rows,
        chart=score_chart(overall(rows)),
        operators=operators,
        names={s.id: s.display_name for s in operators},
        **common_context(),
    )


# -- an operator's checks ------------------------------------------------------------


@bp.route("/quality/operators/<id:operator_id>")
@roles_required(Role.SUPERVISOR)
def history(operator_id: int) -> Any:
    """Every quality check of one operator's calls, and the weekly mean (质检记录)."""
    found = quality_service.operator_history(db_session(), operator_id, wiring().timezone)
    return render_template(
        "callflows/quality_history.html",
        history=found,
        standard=current_standard(),
        **common_context(),
    )


# -- the check form ------------------------------------------------------------------


def _render_form(call_id: int, error: ServiceError | None = None, status: int = 200) -> Any:
    session = db_session()
    call = call_or_404(session, call_id)
    checks = quality_service.checks_of_call(session, call_id)
    current = next((c for c in checks if c.current), None)
    supersedes = form_int(request.args.get("supersedes"), "supersedes", minimum=1)
    if request.method == "POST":
        # Re-shown after a refusal: keep the check being superseded, if it was a valid id.
        raw = request.form.get("supersedes_id", "")
        supersedes = int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else None
    standard = current_standard()
    limit = flows().ring_limit_seconds
    measured = {
        item.id: rules.measured_points(item, call.ring_to_answer_seconds, limit)
        for item in standard.items
        if item.measured
    }
    return (
        render_template(
            "callflows/quality_form.html",
            call=call,
            checks=checks,
            current=current,
            supersedes=supersedes,
            standard=standard,
            measured=measured,
            form=request.form,
            error=error,
            duration=duration_text(call),
            **common_context(),
        ),
        status,
    )


@bp.route("/calls/<id:call_id>/quality")
@roles_required(Role.SUPERVISOR)
def check_form(call_id: int) -> Any:
    """The quality-check form of one call, with its earlier checks."""
    return _render_form(call_id)


_WHOLE = re.compile(r"-?[0-9]{1,12}")


def _number(value: str) -> Any:
    """A form's whole number as an int (the schema refuses anything else, naming it)."""
    text = value.strip()
    return int(text) if _WHOLE.fullmatch(text) else text


def _body(form: Any) -> dict[str, Any]:
    """The form as the API's body: ``points.<item>`` fields become ``points``."""
    body: dict[str, Any] = {
        "points": {
            key.split(".", 1)[1]: _number(value)
            for key, value in form.items()
            if key.startswith("points.") and value.strip()
        }
    }
    for key in ("comment", "reason"):
        if form.get(key, "").strip():
            body[key] = form[key]
    if form.get("supersedes_id", "").strip():
        body["supersedes_id"] = _number(form["supersedes_id"])
    return body


@bp.route("/calls/<id:call_id>/quality", methods=["POST"])
@roles_required(Role.SUPERVISOR)
def save_check(call_id: int) -> Any:
    """Save a quality check (or one superseding the current check)."""
    standard = current_standard()
    try:
        try:
            body = QualityCheckSchema().load(_body(request.form))
        except ValidationError as error:
            raise refusal_of(error, "form") from None
        quality_service.record_check(
            wiring(),
            Actor.of(current_user),
            call_id,
            points=body["points"],
            comment=body["comment"],
            supersedes_id=body["supersedes_id"],
            reason=body["reason"],
            ring_limit=flows().ring_limit_seconds,
            standard_used=standard,
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return _render_form(call_id, error=exc, status=exc.status)
    flash(_("质检已保存"), "success")
    return redirect(url_for("console.call_detail", call_id=call_id))


# -- the API -------------------------------------------------------------------------


class CheckOut(Schema):
    id = fields.Integer()
    call_id = fields.Integer()
    operator_id = fields.Integer()
    checked_by_id = fields.Integer()
    checked_at = fields.DateTime()
    items = fields.List(
        fields.Dict(),
        metadata={"description": "each item's id, rule, weight, points and whether measured"},
    )
    total = fields.Integer()
    max_total = fields.Integer()
    comment = fields.String()
    supersedes_id = fields.Integer(allow_none=True)
    reason = fields.String()
    current = fields.Boolean(metadata={"description": "no later check supersedes it"})


def _out(view: quality_service.CheckView) -> dict[str, Any]:
    c = view.check
    return {
        "id": c.id,
        "call_id": c.call_id,
        "operator_id": c.operator_id,
        "checked_by_id": c.checked_by_id,
        "checked_at": c.checked_at,
        "items": c.items,
        "total": c.total,
        "max_total": c.max_total,
        "comment": c.comment,
        "supersedes_id": c.supersedes_id,
        "reason": c.reason,
        "current": view.current,
    }


def _supervisors_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 for anyone but a supervisor, before the body is read."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if request_actor().role is not Role.SUPERVISOR:
            raise Forbidden("only supervisors see and make quality checks", "call")
        return view(*args, **kwargs)

    return checked


_CHECK_RULES = (
    "Supervisors only (403, before the body is read). `points` gives every item of "
    "config/quality_checks.toml scored on the form (not the measured P1 item), each "
    "a whole number from 0 to the item's weight (422 naming the item). A call's first "
    "check names no `supersedes_id`; after that a new check must supersede the current "
    "one with a `reason` (409 otherwise; 422 without a reason). The call must be "
    "answered and ended (409). The comment and reason are checked for banned phrases (G2)."
)


@api_bp.route("/calls/<id:call_id>/quality-checks")
class CallChecks(MethodView):
    decorators = (_supervisors_only,)

    @api_bp.response(200, CheckOut(many=True))
    @refusal(api_bp, 403, "supervisors only")
    @refusal(api_bp, 404, "no such call")
    def get(self, call_id: int) -> Any:
        """Every quality check of a call, newest first (质检)."""
        session = db_session()
        call_or_404(session, call_id)
        return [_out(v) for v in quality_service.checks_of_call(session, call_id)]

    @api_bp.arguments(QualityCheckSchema)
    @api_bp.response(201, CheckOut)
    @refusal(api_bp, 403, "supervisors only")
    @refusal(api_bp, 404, "no such call")
    @refusal(api_bp, 409, "the call is not answered and ended, or it is already checked")
    @refusal(api_bp, 422, "an item missing or out of range, a text too long, no reason")
    @api_bp.doc(description=_CHECK_RULES)
    def post(self, body: dict[str, Any], call_id: int) -> Any:
        """Save a quality check of a call, or one superseding its current check (质检)."""
        check_id = quality_service.record_check(
            wiring(),
            request_actor(),
            call_id,
            points=body["points"],
            comment=body["comment"],
            supersedes_id=body["supersedes_id"],
            reason=body["reason"],
            ring_limit=flows().ring_limit_seconds,
            standard_used=current_standard(),
        )
        session = db_session()
        return next(
            _out(v)
            for v in quality_service.checks_of_call(session, call_id)
            if v.check.id == check_id
        )
