"""Case status by SMS reply (短信查询工单进度): a resident texts the case number.

The answer is what the public status page tells (``hotline/services/public_status.py``
and ``hotline/domain/public_status.py``): the stage, the promised time while
the work is open, and the next step, in the resident's words. It is given
only when the texting number is the case's contact number; a case that does
not exist and a case of another number get the same answer, so a text never
tells whether a number exists. Nothing personal (name, address, staff) is in
any answer. The web layer throttles texts per number before asking.
"""

from __future__ import annotations

from sqlalchemy import select

from callflows.domain.outage_notices import spoken_time
from callflows.services.context import CallFlows
from callflows.services.numbers import read_number
from hotline.domain.public_status import (
    NUMBER_PATTERN,
    NextStep,
    ResidentStage,
    resident_status,
)
from hotline.models import Case
from hotline.services import Services
from hotline.services.public_status import find_public_case

__all__ = ["read_case_number", "status_reply"]

#: The stage, as the public status page words it.
STAGE_TEXT = {
    ResidentStage.RECEIVED: "已受理",
    ResidentStage.TRANSFERRED: "已转交相关部门",
    ResidentStage.DISPATCHED: "已派单",
    ResidentStage.ON_THE_WAY: "维修人员已出发",
    ResidentStage.ON_SITE: "已到场",
    ResidentStage.AWAITING_FOLLOW_UP: "已处理完毕,等待回访",
    ResidentStage.CLOSED: "已办结",
}

#: The next step, as the public status page words it.
NEXT_STEP_TEXT = {
    NextStep.BEING_ARRANGED: "调度中心正在安排处理,请保持电话畅通。",
    NextStep.SEE_DEPARTMENT: "请按接线员告知的部门和电话办理。",
    NextStep.CREW_TO_BE_SENT: "维修班组将在承诺时间内安排人员处理。",
    NextStep.TIME_EXTENDED: "处理时间已延长,请以新的承诺时间为准。",
    NextStep.CREW_COMING: "维修人员正在赶往现场,请保持电话畅通。",
    NextStep.WORKING_ON_SITE: "维修人员正在现场处理。",
    NextStep.FOLLOW_UP_CALL: "我们将回访您,了解处理结果和您的评价。",
    NextStep.HANDLED_WITH_OTHERS: "您反映的问题与同一事件一并处理,请以承诺时间为准。",
    NextStep.NOTHING: "无需您再做什么;如有问题,请拨打服务热线。",
}

_DASHES = str.maketrans({"－": "-", "—": "-", "–": "-", "‐": "-"})


def read_case_number(body: str) -> str | None:
    """The case number a text holds (spaces, case and full-width dashes forgiven), or None."""
    text = "".join((body or "").split()).translate(_DASHES).upper()
    return text if NUMBER_PATTERN.fullmatch(text) else None


def _head(flows: CallFlows) -> str:
    return f"【{flows.company_short}】" if flows.company_short else ""


def status_reply(svc: Services, flows: CallFlows, from_raw: str, body: str) -> str:
    """The reply to a text ``body`` from ``from_raw``: the case's status, or how to ask."""
    head = _head(flows)
    number = read_case_number(body)
    if number is None:
        return f"{head}您好,请直接回复工单号(如 RY-20261126-0007)查询办理进度。"
    sender = read_number(svc, from_raw)
    not_found = f"{head}没有找到由本机号码反映的工单{number},请核对工单号" + (
        f",或拨打服务热线{flows.hotline_number}。" if flows.hotline_number else "。"
    )
    if sender is None:
        return not_found
    with svc.read_session() as session:
        found = find_public_case(session, number, sender[-4:])
        stored = session.scalar(select(Case.contact_phone).where(Case.number == number))
    # The public page checks four digits; a text comes from the phone itself, so the
    # whole number must be the case's contact number.
    if found is None or read_number(svc, stored or "") != sender:
        return not_found
    status = resident_status(found.state)
    parts = [f"{head}工单{found.number}:{STAGE_TEXT[status.stage]}。"]
    if status.shows_promise and found.promised_at is not None:
        parts.append(f"承诺时间{spoken_time(found.promised_at.astimezone(svc.timezone))}。")
    parts.append(NEXT_STEP_TEXT[status.next_step])
    return "".join(parts)
