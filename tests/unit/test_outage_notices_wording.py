"""The wording of outage notice texts and of the caller's line (P8), without a database."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from callflows.domain.outage_notices import (
    NoticeKind,
    OutageFacts,
    caller_announcement,
    notice_text,
    spoken_time,
)

ZONE = ZoneInfo("Asia/Shanghai")
FACTS = OutageFacts(
    area="汉槐街东段",
    reason="更换 DN300 阀门",
    starts_at=datetime(2026, 11, 27, 8, 0, tzinfo=ZONE),
    ends_at=datetime(2026, 11, 27, 18, 30, tzinfo=ZONE),
    planned=True,
)


def test_p8_the_published_notice_follows_the_notice_call_wording():
    """P8: reason and area, times, storing water, the apology, as the notice call says them."""
    text = notice_text(NoticeKind.PUBLISHED, FACTS, sender="润禹水务", hotline="0534-2122110")
    assert text == (
        "【润禹水务】停水通知:因更换 DN300 阀门,汉槐街东段将计划停水(降压),"
        "停水时间从11月27日08:00开始,预计11月27日18:30恢复供水。请您提前做好储水准备;"
        "恢复供水初期如水质浑浊,请放水片刻后再使用。对不起,给您的用水带来不便,请您谅解。"
        "如有疑问请拨打服务热线0534-2122110。"
    )


def test_an_unplanned_outage_and_the_updates_say_what_changed():
    burst = OutageFacts(**{**FACTS.__dict__, "planned": False})
    assert "汉槐街东段自11月27日08:00起停水,预计11月27日18:30恢复供水" in notice_text(
        NoticeKind.PUBLISHED, burst
    )
    moved = notice_text(NoticeKind.RESTORE_TIME, FACTS)
    assert moved.startswith("停水通知更新:汉槐街东段") and "调整为11月27日18:30" in moved
    assert notice_text(NoticeKind.ENDED, FACTS).startswith("汉槐街东段已恢复供水。")


def test_long_areas_and_reasons_are_clipped_to_keep_a_text_short():
    long = OutageFacts(**{**FACTS.__dict__, "area": "区" * 200, "reason": "因" * 200})
    assert len(notice_text(NoticeKind.PUBLISHED, long)) < 300


def test_p8_the_caller_hears_an_outage_under_way_or_coming():
    """P8: the line a caller from the area hears before the queue."""
    during = datetime(2026, 11, 27, 9, 0, tzinfo=ZONE)
    before = datetime(2026, 11, 26, 20, 0, tzinfo=ZONE)
    assert caller_announcement(FACTS, during) == (
        "因更换 DN300 阀门,汉槐街东段正在停水,预计11月27日18:30恢复供水。"
        "对不起,给您的用水带来不便,请您谅解。"
    )
    assert "将于11月27日08:00开始停水" in caller_announcement(FACTS, before)
    assert spoken_time(datetime(2026, 1, 5, 7, 3, tzinfo=ZONE)) == "1月5日07:03"
