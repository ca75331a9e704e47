"""The hotline's shared vocabulary: the kinds of things a case can be.

Pure Python (no Flask, no database). Every enum but :class:`Grade` (a number,
1 the most severe) is a ``StrEnum`` so values are stored and sent as their
readable names. Chinese terms of the trade stand in the
comments beside each member so both readers find them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Role(StrEnum):
    """What a member of staff does; decides which actions they may take."""

    OPERATOR = "operator"  # 接线员: 24-hour hotline and counter
    DISPATCHER = "dispatcher"  # 调度员: dispatch center
    CREW = "crew"  # 班组/科室人员: department staff and field crews
    SUPERVISOR = "supervisor"  # 监督/班长
    ADMIN = "admin"  # 系统管理员
    BILLING = "billing"  # 营业收费系统接口: the billing system's API account (customers only)


class Channel(StrEnum):
    """How a contact reached the utility (W1: the counter beside the phone)."""

    PHONE = "phone"  # 电话
    COUNTER = "counter"  # 窗口/来访
    FIELD = "field"  # 现场(抄表员、班组上报)
    WEB = "web"  # 网上/公众号


class Category(StrEnum):
    """What a case is about; drives routing and time limits."""

    LEAK = "leak"  # 漏水/爆管
    NO_WATER = "no_water"  # 停水/水压低
    WATER_QUALITY = "water_quality"  # 水质
    METER_FAULT = "meter_fault"  # 水表故障
    METER_WELL = "meter_well"  # 水表井(井盖、表箱损坏)
    BILLING = "billing"  # 水费/缴费
    CONSULTATION = "consultation"  # 咨询
    COMPLAINT = "complaint"  # 投诉
    SUGGESTION = "suggestion"  # 建议
    OUTAGE_ENQUIRY = "outage_enquiry"  # 停水查询


class Priority(StrEnum):
    """How urgent a case is; emergencies run on the around-the-clock clock."""

    EMERGENCY = "emergency"  # 紧急
    HIGH = "high"  # 加急
    NORMAL = "normal"  # 一般


class Grade(IntEnum):
    """Severity grade (事件分级) of a field case: with its area's zone, it sets the on-site limit."""

    ONE = 1  # 一级: a burst or a break that cuts or floods a wide area
    TWO = 2  # 二级: a leak on a main or a service pipe
    THREE = 3  # 三级: seepage, a dripping fitting, no danger


class Zone(StrEnum):
    """How far out a service area lies (``zone`` of ``config/areas.toml``)."""

    TOWN = "town"  # 城区
    OUTSKIRTS = "outskirts"  # 城郊
    VILLAGES = "villages"  # 乡镇/农村


class Stage(StrEnum):
    """A step of the work that carries its own time limit."""

    DISPATCH = "dispatch"  # 派单
    ACKNOWLEDGE = "acknowledge"  # 签收
    SET_OUT = "set_out"  # 出发(班组自签收起出发)
    ON_SITE = "on_site"  # 到场
    SHUT_OFF = "shut_off"  # 关阀止水(漏水)
    RESOLVE = "resolve"  # 处理完毕
    REPLY = "reply"  # 答复来电人
    FOLLOW_UP = "follow_up"  # 回访


class TriageOutcome(StrEnum):
    """P5: the operator's first judgement of a repair report (初步判断)."""

    CUSTOMER_SIDE = "customer_side"  # 用户内部故障: guide by phone
    OUT_OF_SCOPE = "out_of_scope"  # 不属于供水部门维修范围: explain
    UTILITY = "utility"  # 属于供水部门: hand to dispatch
    UNDETERMINED = "undetermined"  # 无法判断: hand to dispatch
    NOT_A_REPAIR = "not_a_repair"  # 非报修(咨询、投诉、缴费等)


class FollowUpOutcome(StrEnum):
    """P7: the result of a follow-up call (回访结果)."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意
    UNREACHABLE = "unreachable"  # 无法联系


class Disposition(StrEnum):
    """How a contact ended (通话结果)."""

    CASE_CREATED = "case_created"  # 已立案
    ANSWERED = "answered"  # 当场解答
    TRANSFERRED = "transferred"  # 转办/引导
    JOINED_CASE = "joined_case"  # 并入已有工单
    ABANDONED = "abandoned"  # 未接通/放弃
    MISSED = "missed"  # 未接来电
    CALLED_BACK = "called_back"  # 已回拨
