"""The public case status page ``/status``: a resident's own case, without login.

A resident types the case number and the last four digits of the contact
phone and sees the stage in plain words, the promised time and the next step,
nothing personal. A wrong number and wrong digits get the same answer; the
form carries a CSRF token; every look-up counts against the address in
Flask-Limiter's storage (:data:`LOOKUPS_PER_ADDRESS`), beyond which the page
answers 429. See docs/public.md.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from limits import parse as parse_limit

from hotline.domain.public_status import (
    NUMBER_MAX,
    LookupProblem,
    NextStep,
    ResidentStage,
    lookup_problem,
    resident_status,
)
from hotline.services.public_status import find_public_case
from hotline.web.auth import throttle
from hotline.web.i18n import local_time
from hotline.web.session import db_session

bp = Blueprint("public_status", __name__)

#: Look-ups one address may make (every query counts, found or not).
LOOKUPS_PER_ADDRESS = parse_limit("10 per minute")

STAGE_WORDS = {
    ResidentStage.RECEIVED: _l("已受理"),
    ResidentStage.TRANSFERRED: _l("已转交相关部门"),
    ResidentStage.DISPATCHED: _l("已派单"),
    ResidentStage.ON_THE_WAY: _l("维修人员已出发"),
    ResidentStage.ON_SITE: _l("已到场"),
    ResidentStage.AWAITING_FOLLOW_UP: _l("已处理完毕,等待回访"),
    ResidentStage.CLOSED: _l("已办结"),
}

NEXT_STEP_WORDS = {
    NextStep.BEING_ARRANGED: _l("调度中心正在安排处理,请保持电话畅通。"),
    NextStep.SEE_DEPARTMENT: _l("请按接线员告知的部门和电话办理。"),
    NextStep.CREW_TO_BE_SENT: _l("维修班组将在承诺时间内安排人员处理。"),
    NextStep.TIME_EXTENDED: _l("处理时间已延长,请以新的承诺时间为准。"),
    NextStep.CREW_COMING: _l("维修人员正在赶往现场,请保持电话畅通。"),
    NextStep.WORKING_ON_SITE: _l("维修人员正在现场处理。"),
    NextStep.FOLLOW_UP_CALL: _l("我们将回访您,了解处理结果和您的评价。"),
    NextStep.HANDLED_WITH_OTHERS: _l("您反映的问题与同一事件一并处理,请以承诺时间为准。"),
    NextStep.NOTHING: _l("无需您再做什么;如有问题,请拨打服务热线。"),
}

PROBLEM_WORDS = {
    LookupProblem.NUMBER: _l("工单号只能包含字母、数字和“-”,最多 32 位。"),
    LookupProblem.LAST4: _l("请输入联系电话的后四位数字。"),
}

NOT_FOUND = _l("没有找到这个工单,请核对工单号和电话后四位")


class StatusForm(FlaskForm):
    """Only for its CSRF token: the two fields are checked by the domain's rules."""


def _page(status: int = 200, **context: Any) -> Any:
    values = {
        "form": StatusForm(),
        "number": "",
        "number_max": NUMBER_MAX,
        "nav": [],
        "result": None,
        "message": "",
    }
    values.update(context)
    return render_template("public_status.html", **values), status


@bp.get("/status")
def page() -> Any:
    return _page()


@bp.post("/status")
def lookup() -> Any:
    guard = throttle()
    checks = [(LOOKUPS_PER_ADDRESS, "public-status-address", get_remote_address() or "unknown")]
    wait = guard.wait(checks)
    if wait:
        g.retry_after = wait
        return _page(429, message=_l("查询过于频繁,请 %(seconds)s 秒后再试。", seconds=wait))
    guard.failed(checks)  # every look-up counts, found or not
    number = request.form.get("number", "").strip()
    last4 = request.form.get("phone_last4", "").strip()
    shown = number if len(number) <= NUMBER_MAX and number.isprintable() else ""
    problem = lookup_problem(number, last4)
    if problem is not None:
        return _page(400, number=shown, message=PROBLEM_WORDS[problem])
    found = find_public_case(db_session(), number, last4)
    if found is None:
        return _page(404, number=shown, message=NOT_FOUND)
    status = resident_status(found.state)
    result = {
        "number": found.number,
        "stage": STAGE_WORDS[status.stage],
        "next_step": NEXT_STEP_WORDS[status.next_step],
        "promised": local_time(found.promised_at) if status.shows_promise else "",
    }
    return _page(200, number=shown, result=result)
