"""Display names of the vocabulary, Chinese first (English through the catalogue)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_babel import gettext as _
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
from hotline.domain.timelimits import Limit
from hotline.services import IntakeOutcome
from hotline.services.contacts import areas_of
from hotline.web.i18n import department_name, english, local_time

if TYPE_CHECKING:
    from hotline.models import CaseEvent

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
    "knowledge_cited": _l("引用知识库答复"),
    "question_asked": _l("请示上级"),
    "question_answered": _l("上级已答复"),
    "question_replied": _l("已告知来电人答复"),
    "gov12345_received": _l("收到12345工单"),
    "gov12345_acknowledged": _l("12345工单签收"),
    "gov12345_returned": _l("12345工单回退"),
    "gov12345_extension_requested": _l("12345工单延期申请"),
    "gov12345_replied": _l("12345工单答复"),
}


def action_names() -> dict[str, str]:
    """Every action's name in the page language, by its code (for the live notices)."""
    return {str(key): str(text) for key, text in ACTION.items()}


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
    Stage.SET_OUT: _l("出发"),
    Stage.ON_SITE: _l("到场"),
    Stage.SHUT_OFF: _l("关阀止水"),
    Stage.RESOLVE: _l("处理完毕"),
    Stage.REPLY: _l("答复"),
    Stage.FOLLOW_UP: _l("回访"),
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
    "outbound.queue_page": _l("外呼任务"),
    "console.call_log": _l("通话记录"),
    "flags.page": _l("禁语标记"),
    "quality.sample": _l("质检"),
    "board.page": _l("调度"),
    "duty.roster": _l("值班表"),
    "supervision.page": _l("督办"),
    "gov12345.page": _l("12345工单"),
    "outages.page": _l("停水通知"),
    "knowledge.page": _l("知识库"),
    "crew.home": _l("我的工单"),
    "homes.supervisor_home": _l("全部工单"),
    "figures.page": _l("统计报表"),
    "admin.staff": _l("人员"),
    "open311_admin.clients": _l("Open311 应用"),
    "audit_page.page": _l("记录核查"),
    "access_log.page": _l("个人信息查阅记录"),
}

#: Calls (``callflows``): where a call stands, who carried it, which way, what was sent.
CALL_STATUS = {
    "ringing": _l("振铃/排队中"),
    "in_progress": _l("通话中"),
    "completed": _l("已结束"),
    "abandoned": _l("未接通,来电人已挂断"),
    "missed": _l("未接来电"),
}
CALL_PROVIDER = {
    "simulator": _l("模拟来电"),
    "twilio": _l("Twilio 电话线路"),
    "counter": _l("窗口来访"),
}
CALL_DIRECTION = {"inbound": _l("来电"), "outbound": _l("去电")}
ATTEMPT_KIND = {"call": _l("去电"), "sms": _l("短信")}
ATTEMPT_STATUS = {
    "pending": _l("正在请求"),
    "requested": _l("已受理"),
    "refused": _l("被拒绝,未发出"),
    "uncertain": _l("结果不明,核实后再决定是否重试"),
    "ringing": _l("振铃中"),
    "answered": _l("已接听"),
    "completed": _l("已结束"),
    "not_reached": _l("未接通(忙、无应答、失败)"),
    "delivered": _l("已送达"),
    "sent": _l("已发出"),
    "failed": _l("发送失败"),
    "undelivered": _l("未送达"),
}
#: The telephony provider's call progress (its callbacks).
TELEPHONY_STATUS = {
    "queued": _l("排队中"),
    "initiated": _l("已发起"),
    "ringing": _l("振铃中"),
    "in-progress": _l("通话中"),
    "answered": _l("已接听"),
    "completed": _l("已结束"),
    "busy": _l("占线"),
    "no-answer": _l("无应答"),
    "failed": _l("呼叫失败"),
    "canceled": _l("已取消"),
}

#: Where a banned phrase (G2) was found: which text staff wrote or said.
FLAG_SOURCE = {
    "note": _l("备注"),
    "answer": _l("解答内容"),
    "result_note": _l("处理结果"),
    "told_caller": _l("已告知来电人"),
    "summary": _l("来电摘要"),
    "reason": _l("原因"),
    "transcript": _l("通话文字记录"),
}

#: Error pages: a title and what to do, by HTTP status ("csrf": a form that failed its check).
ERROR_TITLE = {
    400: _l("请求有误"),
    403: _l("无权访问"),
    404: _l("未找到该页面或工单"),
    405: _l("不支持这种访问方式"),
    409: _l("内容已被他人修改"),
    413: _l("上传内容过大"),
    422: _l("输入有误"),
    429: _l("操作过于频繁"),
    500: _l("系统出错"),
    503: _l("系统繁忙"),
    "csrf": _l("页面已过期"),
}
ERROR_TEXT = {
    400: _l("请求不完整或格式不对,本次操作未保存。请返回上一页检查后重试。"),
    403: _l("您的角色不能查看此页面或办理此操作。如确有需要,请联系管理员。"),
    404: _l("地址有误,或该工单不存在、不在您的查看范围内。"),
    405: _l("此地址不接受这种访问方式,请从页面上的按钮或链接进入。"),
    409: _l("内容已被他人修改,本次操作未保存。请刷新页面后重试。"),
    413: _l("上传的内容超过大小限制,本次操作未保存。请缩小或减少文件后重试。"),
    422: _l("输入的内容不符合要求,本次操作未保存。请返回上一页检查后重试。"),
    429: _l("操作过于频繁,请稍后再试。"),
    500: _l("系统内部出错,本次操作未保存。请稍后重试;反复出现请联系管理员。"),
    503: _l("系统繁忙,本次操作未保存。请稍后重试。"),
    "csrf": _l("页面打开太久或表单来源无法确认,本次操作未保存。请刷新页面后重试。"),
}

_CHINESE = re.compile(r"[\u3400-\u9fff]")


def error_page(code: int, message: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """What an error page says, in the page language: title, what to do, and the
    refusal's own words.

    The refusal's words are shown when they are in the page language; a refusal
    of the input (400, 409, 413, 422, 429) names the field at fault, so its words
    are shown even when they are not, marked as the system's message
    (``foreign``).
    """
    key: int | str = reason if reason in ERROR_TITLE else code
    if key not in ERROR_TITLE:
        key = 500 if code >= 500 else 400
    detail = (message or "").strip()
    foreign = bool(_CHINESE.search(detail)) == english()
    if code >= 500 or (foreign and (reason == "csrf" or code not in (400, 409, 413, 422, 429))):
        detail = ""  # a server's fault is told in the page's own words only
    text = str(ERROR_TEXT[key])
    return {
        "title": str(ERROR_TITLE[key]),
        "text": text,
        "detail": "" if detail == text else detail,
        "foreign": foreign,
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
    "order_number": _l("12345工单号"),
    "source": _l("接入方式"),
    "acknowledge_due": _l("签收时限"),
    "return_due": _l("回退时限"),
    "reply_due": _l("答复时限"),
    "until": _l("申请延至"),
    "public_reply": _l("答复内容"),
    "area": _l("片区"),
    "zone": _l("区域"),
    "field_report": _l("班组现场上报"),
}

#: 12345 orders (12345转办): where an order stands, what is reported back, how it came.
GOV12345_STATUS = {
    "received": _l("待签收"),
    "acknowledged": _l("已签收"),
    "returned": _l("已回退"),
    "replied": _l("已答复"),
}
GOV12345_REPORT = {
    "receipt": _l("签收"),
    "return": _l("回退"),
    "extension": _l("延期申请"),
    "reply": _l("答复"),
}
GOV12345_REPORT_STATUS = {
    "pending": _l("待上报"),
    "sent": _l("已上报"),
    "failed": _l("上报失败,将重试"),
}
GOV12345_SOURCE = {
    "file_drop": _l("文件交换"),
    "webhook": _l("接口推送"),
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
    "source": GOV12345_SOURCE,
}


def _looks_like_time(text: str) -> bool:
    if len(text) < 19 or text[4] != "-" or text[10] != "T":
        return False
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def area_name(code: str | None) -> str:
    """A service area's name in the page language (its code if the areas file lacks it)."""
    if not code:
        return ""
    svc = current_app.extensions.get("hotline") if current_app else None
    for area in areas_of(svc).areas:
        if area.code == code:
            return department_name(area)
    return code


def routing_why(why: str) -> str:
    """Which routing rule proposed a department (``leak / CENTRE``), in words."""
    if why == "default":
        return _("默认规则")
    parts = []
    for part in why.split(" / "):
        category = label(CATEGORY, part)
        parts.append(category if category != part else area_name(part))
    return " / ".join(parts)


_AROUND_THE_CLOCK = re.compile(r"^(?P<limit>.+?) \((?P<original>.+) counted around the clock\)$")


def working_days(days: float) -> str:
    """A number of working days with its unit, in the page language."""
    if days == 1:
        return _("1 个工作日")
    return _("%(days)s 个工作日", days=f"{days:g}")


def limit_words(text: str) -> str:
    """A time limit as the policy wrote it (``15min``, ``2 working days``), in the page language.

    Several limits joined by `` / `` or `` · `` are each put in words;
    ``X (Y counted around the clock)`` says so.
    """
    for separator in (" · ", " / "):
        if separator in text:
            return separator.join(limit_words(part) for part in text.split(separator))
    moved = _AROUND_THE_CLOCK.match(text)
    if moved:
        return _(
            "%(limit)s(%(original)s,全天候计时)",
            limit=limit_words(moved["limit"]),
            original=limit_words(moved["original"]),
        )
    if text.strip() == "当日报单 (F8)":
        return _("当日报单 (F8)")
    try:
        limit = Limit.parse(text)
    except (ValueError, TypeError):
        return text
    if limit.working_days is not None:
        return working_days(limit.working_days)
    if limit.working_hours is not None:
        if limit.working_hours == 1:
            return _("1 个工作小时")
        return _("%(hours)s 个工作小时", hours=f"{limit.working_hours:g}")
    minutes = (limit.duration.total_seconds() if limit.duration else 0) / 60
    if minutes == 24 * 60:
        return _("1 天")
    if minutes > 24 * 60 and minutes % (24 * 60) == 0:
        return _("%(days)s 天", days=f"{minutes / (24 * 60):g}")
    if minutes >= 60 and minutes % 60 == 0:
        return _("%(hours)s 小时", hours=f"{minutes / 60:g}")
    return _("%(minutes)s 分钟", minutes=f"{minutes:g}")


def _shown(
    key: str, value: Any, staff_names: dict[int, str], department_names: dict[int, str]
) -> bool:
    """Whether a fact reads as words: labelled, plain, and any id with a name."""
    if value in (None, "") or key == "due_at" or key not in EVENT_DATA:
        return False
    if isinstance(value, dict) or (isinstance(value, list) and key != "stages"):
        return False
    if key.endswith("department_id"):
        return value in department_names
    if key in ("staff_id", "first_responder_id", "to_staff_id"):
        return value in staff_names
    return True


def event_facts(
    data: dict, staff_names: dict[int, str], department_names: dict[int, str]
) -> list[tuple[str, str]]:
    """An event's recorded facts as (label, text) pairs for people to read.

    Each fact is named by its label and told with its unit (minutes, working
    days), times in the utility's zone as ``11-26 14:05``, people and
    departments by name. Nothing raw is shown: a fact without a label, a
    nested value or an id with no name is left out.
    """
    facts = []
    for key, value in (data or {}).items():
        if not _shown(key, value, staff_names, department_names):
            continue
        if key == "area":
            text = area_name(str(value))
        elif key == "extra_working_days" and isinstance(value, int | float):
            text = working_days(value)
        elif key in _VALUE_TABLES:
            text = label(_VALUE_TABLES[key], value)
        elif key == "stages" and isinstance(value, list):
            text = "、".join(label(STAGE, item) for item in value)
        elif key.endswith("_seconds") and isinstance(value, int | float):
            text = str(_l("%(minutes)s 分钟", minutes=round(value / 60)))
        elif isinstance(value, str) and _looks_like_time(value):
            text = local_time(datetime.fromisoformat(value))
        elif key.endswith("department_id"):
            text = department_names[value]
        elif key in ("staff_id", "first_responder_id", "to_staff_id"):
            text = staff_names[value]
        elif isinstance(value, bool):
            text = str(_l("是") if value else _l("否"))
        else:
            text = str(value)
        facts.append((str(EVENT_DATA.get(key, key)), text))
    return facts


@dataclass(frozen=True)
class HistoryLine:
    """One event in words: its sequence number, time, sentence, reason and facts."""

    seq: int
    at: str
    sentence: str
    reason: str
    facts: list[tuple[str, str]]


def event_sentence(event: CaseEvent) -> str:
    """Who did what to the case, from which state to which, in one sentence."""
    actor = event.actor
    who = (
        _("%(role)s %(name)s", role=label(ROLE, actor.role), name=actor.display_name)
        if actor is not None
        else _("系统")
    )
    what = label(ACTION, event.action)
    to_state = label(STATE, event.to_state)
    if event.from_state and event.from_state != event.to_state:
        return _(
            "%(who)s办理「%(what)s」,工单由「%(from)s」转为「%(to)s」。",
            who=who,
            what=what,
            to=to_state,
            **{"from": label(STATE, event.from_state)},
        )
    return _("%(who)s办理「%(what)s」,工单状态为「%(to)s」。", who=who, what=what, to=to_state)


def history_lines(
    events: list[CaseEvent], staff_names: dict[int, str], department_names: dict[int, str]
) -> list[HistoryLine]:
    """A case's events, in order, as sentences with the facts the case page shows."""
    return [
        HistoryLine(
            seq=event.seq,
            at=local_time(event.at),
            sentence=event_sentence(event),
            reason=event.reason or "",
            facts=event_facts(event.data, staff_names, department_names),
        )
        for event in events
    ]
