"""What a resident sees of their case on the public status page.

Pure Python: the lifecycle state in plain words for a resident (the stage and
the next step), the check of a looked-up case number and phone digits, and the
constant-time comparison of those digits. No personal data and no staff names
ever come from here; the page shows the stage, the promised time and the next
step only (see docs/public.md).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from hotline.domain.lifecycle import State

#: A case number as the product draws them (``RY-20261126-0007``), at most 32 characters.
NUMBER_PATTERN = re.compile(r"[A-Za-z0-9-]{1,32}")
#: The last four digits of the contact phone.
LAST4_PATTERN = re.compile(r"[0-9]{4}")
NUMBER_MAX = 32


class ResidentStage(StrEnum):
    """Where the case stands, as a resident understands it."""

    RECEIVED = "received"  # 已受理
    TRANSFERRED = "transferred"  # 已转交相关部门
    DISPATCHED = "dispatched"  # 已派单
    ON_THE_WAY = "on_the_way"  # 维修人员已出发
    ON_SITE = "on_site"  # 已到场
    AWAITING_FOLLOW_UP = "awaiting_follow_up"  # 已处理完毕,等待回访
    CLOSED = "closed"  # 已办结


class NextStep(StrEnum):
    """What happens next, told to the resident."""

    BEING_ARRANGED = "being_arranged"  # 调度中心正在安排处理
    SEE_DEPARTMENT = "see_department"  # 请按接线员告知的部门办理
    CREW_TO_BE_SENT = "crew_to_be_sent"  # 维修班组将按承诺时间安排人员
    TIME_EXTENDED = "time_extended"  # 处理时间已延长,请以承诺时间为准
    CREW_COMING = "crew_coming"  # 维修人员正在赶往现场
    WORKING_ON_SITE = "working_on_site"  # 维修人员正在现场处理
    FOLLOW_UP_CALL = "follow_up_call"  # 我们将回访您,了解处理结果
    HANDLED_WITH_OTHERS = "handled_with_others"  # 与同一事件一并处理
    NOTHING = "nothing"  # 无需您再做什么;如有问题请拨打服务热线


@dataclass(frozen=True)
class ResidentStatus:
    stage: ResidentStage
    next_step: NextStep
    #: Whether the promised time still means something (open work only).
    shows_promise: bool


_S = ResidentStage
_N = NextStep

#: Every lifecycle state, in the resident's words. Internal moves (a return to
#: dispatch, a reopened case) read as "received": the resident is not told of
#: the product's inner workings, only where their problem stands.
RESIDENT_STATUS: dict[State, ResidentStatus] = {
    State.REGISTERED: ResidentStatus(_S.RECEIVED, _N.BEING_ARRANGED, True),
    State.ANSWERED_ON_CALL: ResidentStatus(_S.AWAITING_FOLLOW_UP, _N.FOLLOW_UP_CALL, False),
    State.TRANSFERRED: ResidentStatus(_S.TRANSFERRED, _N.SEE_DEPARTMENT, False),
    State.WITH_DISPATCH: ResidentStatus(_S.RECEIVED, _N.BEING_ARRANGED, True),
    State.RETURNED: ResidentStatus(_S.RECEIVED, _N.BEING_ARRANGED, True),
    State.REOPENED: ResidentStatus(_S.RECEIVED, _N.BEING_ARRANGED, True),
    State.ASSIGNED: ResidentStatus(_S.DISPATCHED, _N.CREW_TO_BE_SENT, True),
    State.ACCEPTED: ResidentStatus(_S.DISPATCHED, _N.CREW_TO_BE_SENT, True),
    State.WORKER_ASSIGNED: ResidentStatus(_S.DISPATCHED, _N.CREW_TO_BE_SENT, True),
    State.ACKNOWLEDGED: ResidentStatus(_S.DISPATCHED, _N.CREW_TO_BE_SENT, True),
    State.EXTENSION_REQUESTED: ResidentStatus(_S.DISPATCHED, _N.CREW_TO_BE_SENT, True),
    State.EXTENSION_APPROVED: ResidentStatus(_S.DISPATCHED, _N.TIME_EXTENDED, True),
    State.IN_PROGRESS: ResidentStatus(_S.ON_THE_WAY, _N.CREW_COMING, True),
    State.ON_SITE: ResidentStatus(_S.ON_SITE, _N.WORKING_ON_SITE, True),
    State.DONE: ResidentStatus(_S.AWAITING_FOLLOW_UP, _N.FOLLOW_UP_CALL, False),
    State.AWAITING_FOLLOW_UP: ResidentStatus(_S.AWAITING_FOLLOW_UP, _N.FOLLOW_UP_CALL, False),
    State.MERGED: ResidentStatus(_S.RECEIVED, _N.HANDLED_WITH_OTHERS, True),
    State.CLOSED: ResidentStatus(_S.CLOSED, _N.NOTHING, False),
}


def resident_status(state: State) -> ResidentStatus:
    """The stage and next step a resident is shown for a case in ``state``."""
    return RESIDENT_STATUS[State(state)]


class LookupProblem(StrEnum):
    """Why a status query is refused before any look-up (answered with 400)."""

    NUMBER = "number"  # 工单号只能包含字母、数字和"-",最多 32 位
    LAST4 = "last4"  # 请输入电话号码的后四位数字


def lookup_problem(number: str, last4: str) -> LookupProblem | None:
    """What is wrong with a query as typed (already stripped), or None."""
    if not NUMBER_PATTERN.fullmatch(number):
        return LookupProblem.NUMBER
    if not LAST4_PATTERN.fullmatch(last4):
        return LookupProblem.LAST4
    return None


#: Compared against when no case has the number, so both answers take as long.
_NO_PHONE = "\x00\x00\x00\x00"


def phone_matches(stored_phone: str | None, last4: str) -> bool:
    """Whether ``last4`` are the last four digits of ``stored_phone``, in constant time.

    ``stored_phone`` is None when no case has the number: the comparison still
    runs, so a wrong number and wrong digits cost the same. A stored phone of
    fewer than four digits matches nothing.
    """
    digits = "".join(ch for ch in (stored_phone or "") if ch.isdigit())
    known = len(digits) >= 4
    expected = digits[-4:] if known else _NO_PHONE
    same = hmac.compare_digest(expected.encode(), last4.encode())
    return same and known
