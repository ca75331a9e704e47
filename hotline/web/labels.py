"""Display names of the vocabulary, Chinese first (English through the catalogue)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    FollowUpOutcome,
    Priority,
    Role,
    Stage,
    TriageOutcome,
)
from hotline.services import IntakeOutcome
from hotline.web.i18n import local_time

STATE = {
    State.REGISTERED: _l("已登记"),
    State.ANSWERED_ON_CALL: _l("当场解答"),
    State.TRANSFERRED: _l("已转办"),
    State.WITH_DISPATCH: _l("待调度"),
    State.ASSIGNED: _l("已派单"),
    State.ACCEPTED: _l("已签收"),
    State.WORKER_ASSIGNED: _l("已派工"),
    State.ACKNOWLEDGED: _l("已接单"),
    State.RETURNED: _l("已退单"),
    State.EXTENSION_REQUESTED: _l("延期申请中"),
    State.EXTENSION_APPROVED: _l("已延期"),
    State.IN_PROGRESS: _l("处理中"),
    State.ON_SITE: _l("已到场"),
    State.DONE: _l("已办结"),
    State.AWAITING_FOLLOW_UP: _l("待回访"),
    State.CLOSED: _l("已归档"),
    State.REOPENED: _l("已重启"),
    State.MERGED: _l("已并入事件"),
}

ACTION = {
    Action.DISPATCH: _l("专报调度中心"),
    Action.ANSWER_ON_CALL: _l("当场解答"),
    Action.TRANSFER: _l("转办"),
    Action.ASSIGN: _l("派单"),
    Action.ASSIGN_DIRECT: _l("直派本中心班组"),
    Action.ACCEPT: _l("签收"),
    Action.ASSIGN_WORKER: _l("派工"),
    Action.ACKNOWLEDGE: _l("接单"),
    Action.RETURN_WORK: _l("退单"),
    Action.REQUEST_EXTENSION: _l("申请延期"),
    Action.APPROVE_EXTENSION: _l("批准延期"),
    Action.REJECT_EXTENSION: _l("驳回延期"),
    Action.START_WORK: _l("出发处理"),
    Action.ARRIVE: _l("到场"),
    Action.COMPLETE: _l("办结"),
    Action.CONFIRM_DONE: _l("审核办结"),
    Action.REJECT_COMPLETION: _l("销单不合格,退回班组"),
    Action.FOLLOW_UP_UNREACHABLE: _l("回访未接通"),
    Action.CLOSE: _l("回访满意并归档"),
    Action.REOPEN: _l("回访不满意,重启"),
    Action.CLOSE_UNREACHABLE: _l("无法联系,归档"),
    Action.MERGE: _l("并入事件"),
    Action.INCIDENT_RESOLVED: _l("事件已处理,转回访"),
    Action.JOIN_INCIDENT: _l("立案并入事件"),
    Action.REASSIGN_FIRST_RESPONDER: _l("变更首问负责人"),
    Action.ADD_NOTE: _l("添加备注"),
    "register": _l("登记"),
    "contact": _l("再次来电"),
    "deadline_warning": _l("时限预警"),
    "deadline_escalated": _l("超时升级"),
    "clock_resumed": _l("恢复计时"),
    "appointment_booked": _l("预约上门"),
    "appointment_rescheduled": _l("改约"),
    "appointment_no_show": _l("用户未在场"),
    "appointment_cancelled": _l("取消预约"),
    "water_shut_off": _l("已关阀止水"),
    "supervision_issued": _l("督办"),
    "supervision_answered": _l("督办回复"),
    "caller_told": _l("已告知来电人新时限"),
    "site_check": _l("现场核实"),
    "incident_update": _l("事件进展"),
}

TIER = {
    "handler": _l("承办人"),
    "dispatch_center": _l("调度中心"),
    "supervisor": _l("主管"),
}

CLOCK = {
    "around_the_clock": _l("全天候计时"),
    "working_days": _l("工作日计时"),
}

CATEGORY = {
    Category.LEAK: _l("漏水/爆管"),
    Category.NO_WATER: _l("停水/水压低"),
    Category.WATER_QUALITY: _l("水质"),
    Category.METER_FAULT: _l("水表故障"),
    Category.METER_WELL: _l("水表井"),
    Category.BILLING: _l("水费缴费"),
    Category.CONSULTATION: _l("咨询"),
    Category.COMPLAINT: _l("投诉"),
    Category.SUGGESTION: _l("建议"),
    Category.OUTAGE_ENQUIRY: _l("停水查询"),
}

PRIORITY = {
    Priority.EMERGENCY: _l("紧急"),
    Priority.HIGH: _l("加急"),
    Priority.NORMAL: _l("一般"),
}

#: F12: severity grades (事件分级), by number.
GRADE = {1: _l("一级"), 2: _l("二级"), 3: _l("三级")}

#: The zones of the service areas (``config/areas.toml``).
ZONE = {"town": _l("城区"), "outskirts": _l("城郊"), "villages": _l("乡镇/农村")}

CHANNEL = {
    Channel.PHONE: _l("电话"),
    Channel.COUNTER: _l("窗口"),
    Channel.FIELD: _l("现场"),
    Channel.WEB: _l("网上"),
}

TRIAGE = {
    TriageOutcome.CUSTOMER_SIDE: _l("用户内部故障(电话引导)"),
    TriageOutcome.OUT_OF_SCOPE: _l("不属于供水维修范围(解释)"),
    TriageOutcome.UTILITY: _l("属于供水部门(转调度)"),
    TriageOutcome.UNDETERMINED: _l("无法判断(转调度)"),
    TriageOutcome.NOT_A_REPAIR: _l("非报修"),
}

FOLLOW_UP = {
    FollowUpOutcome.SATISFIED: _l("满意"),
    FollowUpOutcome.BASICALLY_SATISFIED: _l("基本满意"),
    FollowUpOutcome.DISSATISFIED: _l("不满意"),
    FollowUpOutcome.UNREACHABLE: _l("无法联系"),
}

ROLE = {
    Role.OPERATOR: _l("接线员"),
    Role.DISPATCHER: _l("调度员"),
    Role.CREW: _l("班组"),
    Role.SUPERVISOR: _l("主管"),
    Role.ADMIN: _l("管理员"),
    Role.BILLING: _l("营业收费系统"),
}

STAGE = {
    Stage.DISPATCH: _l("派单"),
    Stage.ACKNOWLEDGE: _l("签收"),
    Stage.ON_SITE: _l("到场"),
    Stage.SHUT_OFF: _l("关阀止水"),
    Stage.RESOLVE: _l("处理完毕"),
    Stage.REPLY: _l("答复"),
    Stage.FOLLOW_UP: _l("回访"),
    Stage.SET_OUT: _l("出发"),
}

INTAKE_OUTCOME = {
    IntakeOutcome.DISPATCH: _l("立案并专报调度中心"),
    IntakeOutcome.ANSWER_ON_CALL: _l("立案,当场解答"),
    IntakeOutcome.TRANSFER: _l("立案,转办相关科室"),
    IntakeOutcome.JOIN: _l("并入已有工单"),
    IntakeOutcome.JOIN_INCIDENT: _l("立案并入事件"),
    IntakeOutcome.NO_CASE: _l("不立案"),
}


#: The top bar's links, by endpoint.
PAGE = {
    "console.home": _l("接线台"),
    "homes.operator_home": _l("表单登记"),
    "console.call_log": _l("通话记录"),
    "flags.page": _l("禁语标记"),
    "board.page": _l("调度"),
    "duty.roster": _l("值班表"),
    "supervision.page": _l("督办"),
    "outages.page": _l("停水通知"),
    "crew.home": _l("我的工单"),
    "homes.supervisor_home": _l("全部工单"),
    "figures.page": _l("统计报表"),
    "admin.staff": _l("人员"),
    "audit_page.page": _l("记录核查"),
}

#: What became of a visit booked with the customer (F1).
VISIT = {
    "booked": _l("已预约"),
    "rescheduled": _l("已改约"),
    "no_show": _l("用户未在场"),
    "cancelled": _l("已取消"),
}


def label(table: dict, value: object) -> str:
    """The display name of ``value`` in ``table`` (its raw value if unknown)."""
    if value is None:
        return ""
    for key, text in table.items():
        if key == value:
            return str(text)
    return str(value)


#: Names of the facts an event records, for the history on the case page.
EVENT_DATA = {
    "channel": _l("渠道"),
    "contact_channel": _l("渠道"),
    "category": _l("类别"),
    "priority": _l("紧急程度"),
    "triage": _l("初步判断"),
    "first_responder_id": _l("首问负责人"),
    "read_back_confirmed": _l("已复述确认"),
    "department_id": _l("科室"),
    "staff_id": _l("人员"),
    "target_department_id": _l("转办科室"),
    "told_caller": _l("已告知来电人"),
    "answer": _l("解答内容"),
    "result_note": _l("处理结果"),
    "customer_rating": _l("用户现场评价(回访单)"),
    "no_rating_reason": _l("无评价的原因"),
    "extra_working_days": _l("延期工作日"),
    "outcome": _l("回访结果"),
    "attitude": _l("服务态度"),
    "quality": _l("工作质量"),
    "timeliness": _l("处理时限"),
    "result": _l("处理结果评分"),
    "note": _l("备注"),
    "parent_case_id": _l("所属事件"),
    "incident": _l("所属事件"),
    "summary": _l("来电摘要"),
    "stage": _l("环节"),
    "stages": _l("环节"),
    "clock": _l("计时方式"),
    "tier": _l("通知层级"),
    "from_level": _l("原层级"),
    "to_level": _l("升级至"),
    "overdue_seconds": _l("超时"),
    "late_seconds": _l("晚于应升级时间"),
    "seconds_left": _l("剩余时间"),
    "tiers_skipped": _l("跳过层级"),
    "warning_skipped": _l("未经预警"),
    "warn_at": _l("预警时间"),
    "escalate_at": _l("应升级时间"),
    "paused_from": _l("暂停自"),
    "paused_until": _l("暂停至"),
    "starts_at": _l("上门时间"),
    "ends_at": _l("结束时间"),
    "requested_by_customer": _l("用户选定时间"),
    "appointment_id": _l("预约编号"),
    "told_customer": _l("已告知用户"),
    "pipe_size_dn": _l("管径 DN"),
    "shut_off_met": _l("按时关阀"),
    "next_stage": _l("下一环节"),
    "promised_at": _l("承诺时限"),
    "supervision_order_id": _l("督办单号"),
    "kind": _l("督办类型"),
    "to_department_id": _l("督办科室"),
    "to_staff_id": _l("督办人员"),
    "order_due_at": _l("督办时限"),
    "answered_late": _l("超时回复"),
    "caller_to_be_told": _l("新时限(待告知来电人)"),
    "promise_update_id": _l("告知任务编号"),
    "cause": _l("时限变更原因"),
    "previous_promised_at": _l("原承诺时限"),
}

#: Supervision orders (督办 / 催办): their kind and where they stand.
SUPERVISION_KIND = {
    "supervise": _l("督办"),
    "urge": _l("催办"),
}
SUPERVISION_STATUS = {
    "overdue": _l("已超时未回复"),
    "open": _l("待回复"),
    "answered_late": _l("超时回复"),
    "answered": _l("已回复"),
}

#: Why the caller's promised time went stale (G7: tell the caller).
PROMISE_CAUSE = {
    "extension_approved": _l("延期已批准"),
    "appointment_rescheduled": _l("预约已改期"),
}

_VALUE_TABLES = {
    "stage": STAGE,
    "next_stage": STAGE,
    "tier": TIER,
    "clock": CLOCK,
    "channel": CHANNEL,
    "contact_channel": CHANNEL,
    "category": CATEGORY,
    "priority": PRIORITY,
    "grade": GRADE,
    "zone": ZONE,
    "triage": TRIAGE,
    "outcome": FOLLOW_UP,
    "kind": SUPERVISION_KIND,
    "cause": PROMISE_CAUSE,
}


def _looks_like_time(text: str) -> bool:
    if len(text) < 19 or text[4] != "-" or text[10] != "T":
        return False
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def event_facts(
    data: dict, staff_names: dict[int, str], department_names: dict[int, str]
) -> list[tuple[str, str]]:
    """An event's recorded facts as (label, text) pairs for people to read."""
    facts = []
    for key, value in data.items():
        if value in (None, "") or key == "due_at":
            continue
        if key in _VALUE_TABLES:
            text = label(_VALUE_TABLES[key], value)
        elif key == "stages" and isinstance(value, list):
            text = "、".join(label(STAGE, item) for item in value)
        elif key.endswith("_seconds") and isinstance(value, int | float):
            text = str(_l("%(minutes)s 分钟", minutes=round(value / 60)))
        elif isinstance(value, str) and _looks_like_time(value):
            text = local_time(datetime.fromisoformat(value))
        elif key.endswith("department_id"):
            text = department_names.get(value, str(value))
        elif key in ("staff_id", "first_responder_id", "to_staff_id"):
            text = staff_names.get(value, str(value))
        elif isinstance(value, bool):
            text = str(_l("是") if value else _l("否"))
        else:
            text = str(value)
        facts.append((str(EVENT_DATA.get(key, key)), text))
    return facts
