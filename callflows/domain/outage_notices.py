"""What an outage notice says to the customers in its area (停水通知, P8).

Pure Python: the kinds of notice a customer is texted (the outage published,
a new restore time, water back), the wording of each text and of the line a
caller from the area hears before the queue. The wording follows the
standard's outage notice call (``callflows/scripts/outage_notice_call.toml``):
the reason and the area, the times, storing water, the apology.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: At most this many characters of the area and of the reason go into a text,
#: so that a notice stays a few SMS segments long.
AREA_CHARS = 60
REASON_CHARS = 80


class NoticeKind(StrEnum):
    """Which notice of an outage a customer is texted."""

    PUBLISHED = "published"  # 停水通知
    RESTORE_TIME = "restore_time"  # 恢复供水时间调整
    ENDED = "ended"  # 已恢复供水


@dataclass(frozen=True)
class OutageFacts:
    """An outage as a notice tells it: times are local (the utility's time zone)."""

    area: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    planned: bool


def spoken_time(moment: datetime) -> str:
    """A local time as a text or a voice says it: ``11月26日14:05``."""
    return f"{moment.month}月{moment.day}日{moment:%H:%M}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notice_text(
    kind: NoticeKind, facts: OutageFacts, *, sender: str = "", hotline: str = ""
) -> str:
    """The SMS a customer in the outage's area gets for notice ``kind``."""
    head = f"【{sender}】" if sender else ""
    area = _clip(facts.area, AREA_CHARS)
    reason = _clip(facts.reason, REASON_CHARS)
    start, end = spoken_time(facts.starts_at), spoken_time(facts.ends_at)
    phone = f"如有疑问请拨打服务热线{hotline}。" if hotline else "如有疑问请拨打我们的服务热线。"
    if kind is NoticeKind.PUBLISHED:
        if facts.planned:
            what = f"因{reason},{area}将计划停水(降压),停水时间从{start}开始,预计{end}恢复供水"
        else:
            what = f"因{reason},{area}自{start}起停水,预计{end}恢复供水"
        return (
            f"{head}停水通知:{what}。请您提前做好储水准备;恢复供水初期如水质浑浊,"
            f"请放水片刻后再使用。对不起,给您的用水带来不便,请您谅解。{phone}"
        )
    if kind is NoticeKind.RESTORE_TIME:
        return (
            f"{head}停水通知更新:{area}(因{reason}停水)预计恢复供水时间调整为{end},请您留意。"
            f"对不起,给您的用水带来不便,请您谅解。{phone}"
        )
    return (
        f"{head}{area}已恢复供水。恢复供水初期如水质浑浊,请放水片刻后再使用。"
        f"谢谢您的理解和支持。{phone}"
    )


def caller_announcement(facts: OutageFacts, now: datetime) -> str:
    """What a caller from the outage's area hears after the greeting, before the queue."""
    area = _clip(facts.area, AREA_CHARS)
    reason = _clip(facts.reason, REASON_CHARS)
    end = spoken_time(facts.ends_at)
    if facts.starts_at <= now:
        what = f"因{reason},{area}正在停水,预计{end}恢复供水"
    else:
        what = f"因{reason},{area}将于{spoken_time(facts.starts_at)}开始停水,预计{end}恢复供水"
    return f"{what}。对不起,给您的用水带来不便,请您谅解。"
