"""The outbound queue (外呼任务): the queue page, one task's page with its script.

* ``/outbound`` — "下一个任务" (the most urgent due task, taken for me), my
  tasks, the whole queue with owners and overdue tasks, the booked call-back
  form (W11); for supervisors also the anomaly list (W14), the dunning run
  (W15) and the follow-ups waiting for their decision (P7);
* ``/outbound/tasks/<id>`` — the task: who to call and why, click-to-call,
  the script run by the engine step by step, the attempts so far, and the
  outcome (a follow-up's outcome comes from its script and moves the case).

Every form is read by one schema and handed to one service call of
:mod:`callflows.services.outbound_tasks`; a refusal comes back on the same
page with the field named, and nothing is written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, fields, validate

from callflows.domain.outbound_tasks import (
    MAX_ANOMALY_ROWS,
    AnomalyError,
    AttemptOutcome,
    TaskKind,
    TaskState,
    anomaly_of,
)
from callflows.domain.scripts import FIELDS
from callflows.services import outbound_tasks as tasks
from callflows.services.context import CALL_TAKERS
from callflows.web.console import flows
from hotline.domain.taxonomy import Role
from hotline.services import Actor, Invalid, ServiceError
from hotline.web import labels, privacy
from hotline.web.api_base import ApiBlueprint, InputSchema, refusal, request_actor, rules
from hotline.web.auth import roles_required
from hotline.web.pages import actor, common
from hotline.web.schemas import load_form
from hotline.web.session import fresh_db_session, wiring

__all__ = ["api_bp", "bp"]

bp = Blueprint("outbound", __name__, template_folder="templates")
api_bp = ApiBlueprint(
    "outbound_api",
    __name__,
    url_prefix="/api",
    description="The outbound task queue: abnormal usage from the metering system (W14). "
    "外呼任务:用水异常。",
)

_TAKERS = tuple(CALL_TAKERS)
#: The most text one anomaly list may hold (about 5000 rows).
MAX_LIST_CHARS = 300_000


#: What each kind of task is called.
KIND_LABELS = {
    TaskKind.FOLLOW_UP: _l("回访"),
    TaskKind.CALL_BACK: _l("未接来电回拨"),
    TaskKind.BOOKED_CALL_BACK: _l("预约回电"),
    TaskKind.ABNORMAL_USAGE: _l("用水异常"),
    TaskKind.DUNNING: _l("催缴"),
}
#: What each state of a task is called.
STATE_LABELS = {
    TaskState.OPEN: _l("待办"),
    TaskState.NEEDS_DECISION: _l("待班长决定"),
    TaskState.DONE: _l("已完成"),
    TaskState.CANCELLED: _l("已取消"),
}
#: What each attempt's outcome is called.
OUTCOME_LABELS = {
    AttemptOutcome.REACHED: _l("已联系上"),
    AttemptOutcome.NO_ANSWER: _l("无人接听或无法接通"),
    AttemptOutcome.CALL_LATER: _l("用户不方便,约定再打"),
    AttemptOutcome.WRONG_PERSON: _l("不是本人"),
}


def result_words(result: str) -> str:
    """A task's result in the page language: the case state or lifecycle action it
    records by name (``closed``, ``close: 已满意``), else the words staff wrote."""
    code, _sep, rest = result.partition(": ")
    for table in (labels.STATE, labels.ACTION):
        if code in table:
            named = str(table[code])
            return f"{named}: {rest}" if rest else named
    if result == AttemptOutcome.REACHED.value:
        return str(OUTCOME_LABELS[AttemptOutcome.REACHED])
    return result


def _names() -> dict[str, Any]:
    return {
        "kinds": KIND_LABELS,
        "states": STATE_LABELS,
        "outcome_names": OUTCOME_LABELS,
        "result_words": result_words,
    }


# -- schemas: one per command ---------------------------------------------------


class ScriptStepSchema(InputSchema):
    """One script step on a task's call (the console's operations)."""

    class Meta:
        unknown = RAISE

    op = fields.String(
        required=True,
        validate=validate.OneOf(["capture", "answer", "complete", "skip", "not_heard"]),
    )
    answer = fields.String(load_default="", validate=validate.Length(max=64))
    field = fields.String(load_default="", validate=validate.Length(max=64))
    value = fields.String(load_default="", validate=validate.Length(max=2000))


class AttemptSchema(InputSchema):
    """How a call of a task went (tasks without a follow-up script)."""

    class Meta:
        unknown = RAISE

    outcome = fields.Enum(AttemptOutcome, by_value=True, required=True)
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class DecisionSchema(InputSchema):
    """P7: a supervisor's decision on a follow-up nobody could reach."""

    class Meta:
        unknown = RAISE

    decision = fields.String(required=True, validate=validate.OneOf(["close", "retry"]))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class BookedCallBackSchema(InputSchema):
    """W11: a call-back booked with a caller while the systems were down."""

    class Meta:
        unknown = RAISE

    phone = fields.String(
        required=True,
        validate=validate.Regexp(r"^\+?[0-9][0-9 -]{4,18}$", error="not a phone number"),
    )
    name = fields.String(load_default="", validate=validate.Length(max=100))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    due_at = fields.AwareDateTime(required=True)


class AnomalyListSchema(InputSchema):
    """W14: the anomaly list as CSV text (``account,reading,expected``)."""

    class Meta:
        unknown = RAISE

    csv_text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_LIST_CHARS))


# -- view models ----------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    """The script's current step as the task page shows it."""

    id: str
    kind: str
    text_zh: str
    text_en: str
    note_zh: str
    note_en: str
    verbatim: bool
    answers: list[tuple[str, str, str]]
    #: (field, Chinese title, English title, required)
    captures: list[tuple[str, str, str, bool]]
    optional: bool


def _step_view(script: Any) -> StepView | None:
    session = script.session
    step = session.current_step
    if step is None:
        return None

    def titled(name: str, required: bool) -> tuple[str, str, str, bool]:
        spec = FIELDS.get(name)
        return (name, spec.zh if spec else name, spec.en if spec else name, required)

    captures = [titled(n, True) for n in step.captures]
    captures += [titled(n, False) for n in step.optional_captures]
    return StepView(
        id=step.id,
        kind=str(step.kind),
        text_zh=session.text(step),
        text_en=session.text(step, lang="en"),
        note_zh=step.note_zh,
        note_en=step.note_en,
        verbatim=step.verbatim,
        answers=[(b.answer, b.zh, b.en) for b in step.branches],
        captures=captures,
        optional=not step.required,
    )


def _actor() -> Actor:
    return actor()


def _render_queue(error: ServiceError | None = None, status: int = 200) -> Any:
    me = _actor()
    session = fresh_db_session()
    now = wiring().now()
    rows = tasks.queue(session, me, now)
    return (
        render_template(
            "callflows/outbound.html",
            rows=rows,
            mine=[r for r in rows if r.owner_id == me.id],
            waiting=[r for r in rows if r.state == TaskState.NEEDS_DECISION],
            overdue=sum(1 for r in rows if r.overdue),
            due_count=sum(
                1 for r in rows if r.due and r.owner_id is None and r.state == TaskState.OPEN
            ),
            is_supervisor=me.role == Role.SUPERVISOR,
            error=error,
            **_names(),
            **common(),
        ),
        status,
    )


def _render_task(task_id: int, error: ServiceError | None = None, status: int = 200) -> Any:
    me = _actor()
    session = fresh_db_session()
    svc = wiring()
    task = tasks.get_task(session, task_id)
    privacy.log_view(me.id, "task", str(task.id))  # W7: the customer is shown whole to call
    script = None
    if task.script_id and task.state == TaskState.OPEN:
        script = tasks.script_of(flows(), session, task, svc)
    case = tasks.case_of(session, task)
    return (
        render_template(
            "callflows/outbound_task.html",
            task=task,
            case=case,
            script=script,
            step=_step_view(script) if script is not None else None,
            script_fields=script.session.fields if script is not None else {},
            script_done=script is not None and script.session.current_step is None,
            field_names={name: spec.zh for name, spec in FIELDS.items()},
            mine=task.owner_id == me.id and task.state == TaskState.OPEN,
            is_follow_up=task.kind == TaskKind.FOLLOW_UP,
            is_supervisor=me.role == Role.SUPERVISOR,
            outcomes=[o for o in AttemptOutcome],
            error=error,
            **_names(),
            **common(),
        ),
        status,
    )


# -- pages ----------------------------------------------------------------------


@bp.route("/outbound")
@roles_required(*_TAKERS)
def queue_page() -> Any:
    """The queue: the next task button, my tasks, every task with its owner."""
    return _render_queue()


@bp.route("/outbound/next", methods=["POST"])
@roles_required(*_TAKERS)
def take_next() -> Any:
    """ "下一个任务": the most urgent due task, taken for me."""
    task_id = tasks.take_next(wiring(), _actor())
    if task_id is None:
        flash(_("目前没有到期的外呼任务"), "success")
        return redirect(url_for("outbound.queue_page"))
    return redirect(url_for("outbound.task_page", task_id=task_id))


@bp.route("/outbound/tasks/<id:task_id>")
@roles_required(*_TAKERS, Role.DISPATCHER)
def task_page(task_id: int) -> Any:
    """One task: who, why, its script and its attempts."""
    return _render_task(task_id)


def _task_command(task_id: int, work: Any, done: str) -> Any:
    try:
        work()
    except ServiceError as exc:
        if getattr(exc, "field", None) == "task" and exc.status == 404:
            raise
        return _render_task(task_id, error=exc, status=exc.status)
    if done:
        flash(done, "success")
    return redirect(url_for("outbound.task_page", task_id=task_id))


@bp.route("/outbound/tasks/<id:task_id>/script", methods=["POST"])
@roles_required(*_TAKERS)
def task_script(task_id: int) -> Any:
    """One step of the task's script."""

    def work() -> None:
        body = load_form(ScriptStepSchema(), request.form, wiring().timezone)
        op = body["op"]
        args = {"answer": body["answer"]} if op == "answer" else {}
        if op == "capture":
            args = {"field": body["field"], "value": body["value"]}
        tasks.script_op(wiring(), flows(), _actor(), task_id, op, args)

    return _task_command(task_id, work, "")


@bp.route("/outbound/tasks/<id:task_id>/call", methods=["POST"])
@roles_required(*_TAKERS)
def task_call(task_id: int) -> Any:
    """Click-to-call: the phone system bridges the operator and the customer."""
    return _task_command(
        task_id,
        lambda: tasks.place_call(wiring(), flows(), _actor(), task_id),
        _("已发起呼叫"),
    )


@bp.route("/outbound/tasks/<id:task_id>/attempt", methods=["POST"])
@roles_required(*_TAKERS)
def task_attempt(task_id: int) -> Any:
    """How the call went (a task without a follow-up script)."""

    def work() -> None:
        body = load_form(AttemptSchema(), request.form, wiring().timezone)
        tasks.record_attempt(wiring(), _actor(), task_id, body["outcome"], body["note"])

    return _task_command(task_id, work, _("已记录本次外呼"))


@bp.route("/outbound/tasks/<id:task_id>/finish", methods=["POST"])
@roles_required(*_TAKERS)
def task_finish(task_id: int) -> Any:
    """P7: the follow-up's answers move the case (close, reopen, or one more attempt)."""
    return _task_command(
        task_id,
        lambda: tasks.finish_follow_up(wiring(), flows(), _actor(), task_id),
        _("回访结果已记录"),
    )


@bp.route("/outbound/tasks/<id:task_id>/restart", methods=["POST"])
@roles_required(*_TAKERS)
def task_restart(task_id: int) -> Any:
    """Start the script again for a new call."""
    return _task_command(
        task_id, lambda: tasks.restart_script(wiring(), flows(), _actor(), task_id), ""
    )


@bp.route("/outbound/tasks/<id:task_id>/release", methods=["POST"])
@roles_required(*_TAKERS)
def task_release(task_id: int) -> Any:
    """Put the task back in the queue."""
    try:
        tasks.release(wiring(), _actor(), task_id)
    except ServiceError as exc:
        return _render_task(task_id, error=exc, status=exc.status)
    flash(_("任务已放回队列"), "success")
    return redirect(url_for("outbound.queue_page"))


@bp.route("/outbound/tasks/<id:task_id>/decision", methods=["POST"])
@roles_required(Role.SUPERVISOR)
def task_decision(task_id: int) -> Any:
    """P7: close as unreachable with a reason, or try again."""

    def work() -> None:
        body = load_form(DecisionSchema(), request.form, wiring().timezone)
        tasks.decide_unreachable(
            wiring(), _actor(), task_id, close=body["decision"] == "close", reason=body["reason"]
        )

    return _task_command(task_id, work, _("已处理"))


def _queue_command(work: Any) -> Any:
    try:
        message = work()
    except ServiceError as exc:
        return _render_queue(error=exc, status=exc.status)
    flash(message, "success")
    return redirect(url_for("outbound.queue_page"))


@bp.route("/outbound/call-backs", methods=["POST"])
@roles_required(*_TAKERS)
def book_call_back() -> Any:
    """W11: book a call-back with a caller (systems down)."""

    def work() -> str:
        body = load_form(BookedCallBackSchema(), request.form, wiring().timezone)
        _task_id, created = tasks.book_call_back(
            wiring(),
            _actor(),
            phone=body["phone"].replace(" ", "").replace("-", ""),
            name=body["name"].strip(),
            note=body["note"].strip(),
            due_at=body["due_at"],
        )
        return _("已预约回电") if created else _("该回电已预约过")

    return _queue_command(work)


@bp.route("/outbound/anomalies", methods=["POST"])
@roles_required(Role.SUPERVISOR)
def anomalies() -> Any:
    """W14: one task per abnormal reading, from a CSV list (pasted or uploaded)."""

    def work() -> str:
        form = request.form.to_dict()
        upload = request.files.get("csv_file")
        if upload is not None and upload.filename:
            raw = upload.read(MAX_LIST_CHARS * 4 + 1)
            try:
                form["csv_text"] = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                from hotline.services import Invalid

                raise Invalid("the list must be UTF-8 CSV", "csv_file", "W14") from None
        body = load_form(AnomalyListSchema(), form, wiring().timezone)
        created = tasks.import_anomalies(wiring(), _actor(), body["csv_text"])
        return _("已生成 %(count)s 个用水异常任务", count=created)

    return _queue_command(work)


@bp.route("/outbound/dunning", methods=["POST"])
@roles_required(Role.SUPERVISOR)
def dunning() -> Any:
    """W15: dunning calls for the customers in arrears (once a month each)."""

    def work() -> str:
        created = tasks.create_dunning(wiring(), _actor())
        return _("已生成 %(count)s 个催缴任务", count=created)

    return _queue_command(work)


@bp.app_context_processor
def _follow_up_task_link() -> dict[str, Any]:
    """``follow_up_task(case_id)`` for the case page: the case's open follow-up task id."""

    def follow_up_task(case_id: int) -> int | None:
        task = tasks.task_for_case(fresh_db_session(), case_id)
        return task.id if task is not None else None

    return {"follow_up_task": follow_up_task}


# -- the API: anomalies from the metering system (W14) ------------------------------


class AnomalyRowSchema(InputSchema):
    """One abnormal reading."""

    class Meta:
        unknown = RAISE

    account = fields.String(
        required=True, validate=validate.Length(min=1, max=32), metadata={"description": "户号"}
    )
    reading = fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=999_999_999),
        metadata={"description": "读数 (m³)"},
    )
    expected = fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=999_999_999),
        metadata={"description": "预计用量 (m³)"},
    )


class AnomaliesSchema(InputSchema):
    """W14: abnormal readings, one outbound task each."""

    class Meta:
        unknown = RAISE

    rows = fields.List(
        fields.Nested(AnomalyRowSchema),
        required=True,
        validate=validate.Length(
            min=1, max=MAX_ANOMALY_ROWS, error=f"send 1 to {MAX_ANOMALY_ROWS} rows"
        ),
    )


class AnomaliesOutSchema(Schema):
    created = fields.Integer(metadata={"description": "tasks new in the queue"})
    rows = fields.Integer(metadata={"description": "rows received"})


def _supervisors_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 for anyone but a supervisor, before the body is read."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request_actor().role != Role.SUPERVISOR:
            abort(403, description="only supervisors fill the outbound queue from a list")
        return view(*args, **kwargs)

    return wrapper


@api_bp.route("/outbound/anomalies")
class Anomalies(MethodView):
    @_supervisors_only
    @api_bp.arguments(AnomaliesSchema)
    @api_bp.response(200, AnomaliesOutSchema)
    @refusal(api_bp, 403, "only supervisors")
    @refusal(api_bp, 422, "a row is wrong or its account unknown; `field` and the line name it")
    @rules(
        "W14: one outbound task per anomaly (account and reading), due at once with a "
        "24-hour deadline. A row already sent changes nothing. An unknown account refuses "
        "the whole list, naming its line (the first row is line 2, as in the CSV file), "
        "and nothing is written."
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Queue an outbound call for each abnormal reading."""
        try:
            anomalies = [anomaly_of(row, line) for line, row in enumerate(body["rows"], start=2)]
        except AnomalyError as exc:
            raise Invalid.from_error(exc, exc.field, "W14") from None
        created = tasks.import_anomalies(wiring(), request_actor(), anomalies)
        return {"created": created, "rows": len(anomalies)}
