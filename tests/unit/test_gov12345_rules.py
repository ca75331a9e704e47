"""12345 orders, the pure rules: the 12345 clock on the working-day calendar, amber
and red, what each action needs, the webhook's signature, an order as sent."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.domain.gov12345 import (
    Gov12345Error,
    Gov12345Limits,
    OrderDeadlines,
    OrderStatus,
    ReportKind,
    Urgency,
    check_action,
    latest_extension,
    order_deadlines,
    read_order,
    signature,
    signature_valid,
    urgency,
)
from hotline.domain.timelimits import DEFAULT_POLICY_PATH, PolicyError, TimeLimitPolicy

BJ = ZoneInfo("Asia/Shanghai")
POLICY = TimeLimitPolicy.load()
LIMITS: Gov12345Limits = POLICY.gov12345
CAL = POLICY.calendar
RAW = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BJ)


def test_the_shipped_policy_has_the_12345_limits_with_their_sources():
    assert LIMITS.acknowledge.text == "1 working day"
    assert LIMITS.return_.text == "2 working days"
    assert LIMITS.reply.text == "5 working days"
    assert LIMITS.extension.text == "10 working days"
    for limit in (LIMITS.acknowledge, LIMITS.return_, LIMITS.reply, LIMITS.extension):
        assert limit.source.startswith("SEED-RULES table")


def test_a_return_is_due_two_working_days_after_receipt_over_a_weekend():
    """G5: an order received on Thursday afternoon may be returned until Monday afternoon."""
    due = order_deadlines(at("2026-11-26 14:00"), LIMITS, CAL)
    assert due.return_due == at("2026-11-30 14:00")
    assert due.acknowledge_due == at("2026-11-27 14:00")
    assert due.reply_due == at("2026-12-03 14:00")


def test_the_12345_clock_stops_over_national_day():
    """Received the day before the 2026 National Day holiday (1-7 Oct, 10 Oct a make-up
    working day): signing is due on 8 Oct, the return on 9 Oct, the reply on 14 Oct."""
    due = order_deadlines(at("2026-09-30 10:00"), LIMITS, CAL)
    assert due.acknowledge_due == at("2026-10-08 10:00")
    assert due.return_due == at("2026-10-09 10:00")
    # 30 Sep (from 10:00), 8, 9, 10 (a Saturday, worked) and 12 Oct: 10:00 on the 13th.
    assert due.reply_due == at("2026-10-13 10:00")


def test_the_platforms_own_deadlines_win_and_the_return_never_outlives_the_reply():
    due = order_deadlines(
        at("2026-11-26 14:00"),
        LIMITS,
        CAL,
        acknowledge_due=at("2026-11-26 16:00"),
        reply_due=at("2026-11-27 12:00"),
    )
    assert due.acknowledge_due == at("2026-11-26 16:00")
    assert due.reply_due == at("2026-11-27 12:00")
    assert due.return_due == at("2026-11-27 12:00")


def test_the_longest_extension_counts_working_days_from_the_reply_deadline():
    assert latest_extension(at("2026-12-03 14:00"), LIMITS, CAL) == at("2026-12-17 14:00")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-26 10:00", Urgency.OK),
        ("2026-11-26 16:00", Urgency.NEAR),  # 80 % of 08:30..17:30 is 15:42
        ("2026-11-26 17:31", Urgency.OVER),
    ],
)
def test_amber_after_the_warning_share_red_after_the_deadline(now, expected):
    assert urgency(at("2026-11-26 08:30"), at("2026-11-26 17:30"), at(now), 0.8) is expected


def test_a_step_done_is_met_or_missed():
    start, due = at("2026-11-26 08:30"), at("2026-11-26 17:30")
    assert urgency(start, due, at("2026-11-27 09:00"), 0.8, done_at=at("2026-11-26 12:00")) is (
        Urgency.MET
    )
    assert urgency(start, due, at("2026-11-27 09:00"), 0.8, done_at=at("2026-11-26 18:00")) is (
        Urgency.MISSED
    )


DUE = OrderDeadlines(at("2026-11-27 14:00"), at("2026-11-30 14:00"), at("2026-12-03 14:00"))


def test_a_return_needs_a_reason():
    """G5: work that is not ours goes back with a reason."""
    with pytest.raises(Gov12345Error) as refused:
        check_action(ReportKind.RETURN, OrderStatus.RECEIVED, DUE, at("2026-11-27 09:00"), text=" ")
    assert refused.value.field == "reason" and refused.value.rule == "G5"


def test_a_return_after_its_two_working_days_is_refused():
    """G5: within 2 working days of receipt."""
    ok = check_action(
        ReportKind.RETURN, OrderStatus.ACKNOWLEDGED, DUE, at("2026-11-30 13:59"), text=" 非我司 "
    )
    assert ok == "非我司"
    with pytest.raises(Gov12345Error) as refused:
        check_action(
            ReportKind.RETURN, OrderStatus.ACKNOWLEDGED, DUE, at("2026-11-30 14:01"), text="非我司"
        )
    assert refused.value.rule == "G5"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (ReportKind.RECEIPT, OrderStatus.ACKNOWLEDGED),
        (ReportKind.REPLY, OrderStatus.RECEIVED),
        (ReportKind.REPLY, OrderStatus.RETURNED),
        (ReportKind.RETURN, OrderStatus.REPLIED),
        (ReportKind.EXTENSION, OrderStatus.RECEIVED),
    ],
)
def test_actions_only_from_their_statuses(kind, status):
    with pytest.raises(Gov12345Error) as refused:
        check_action(
            kind,
            status,
            DUE,
            at("2026-11-27 09:00"),
            text="x",
            extension_until=at("2026-12-10 09:00"),
        )
    assert refused.value.field == "status"


def test_an_extension_needs_a_reason_a_later_date_within_the_longest_and_comes_once():
    now = at("2026-11-27 09:00")
    ask = dict(latest_extension_until=at("2026-12-17 14:00"))
    with pytest.raises(Gov12345Error, match="reason"):
        check_action(
            ReportKind.EXTENSION,
            OrderStatus.ACKNOWLEDGED,
            DUE,
            now,
            extension_until=at("2026-12-10 09:00"),
            **ask,
        )
    with pytest.raises(Gov12345Error) as refused:
        check_action(
            ReportKind.EXTENSION,
            OrderStatus.ACKNOWLEDGED,
            DUE,
            now,
            text="r",
            extension_until=at("2026-12-03 13:00"),
            **ask,
        )
    assert refused.value.field == "until"
    with pytest.raises(Gov12345Error, match="longest"):
        check_action(
            ReportKind.EXTENSION,
            OrderStatus.ACKNOWLEDGED,
            DUE,
            now,
            text="r",
            extension_until=at("2026-12-18 09:00"),
            **ask,
        )
    with pytest.raises(Gov12345Error, match="already"):
        check_action(
            ReportKind.EXTENSION,
            OrderStatus.ACKNOWLEDGED,
            DUE,
            now,
            text="r",
            extension_requested=True,
            extension_until=at("2026-12-10 09:00"),
            **ask,
        )
    with pytest.raises(Gov12345Error, match="passed"):
        check_action(
            ReportKind.EXTENSION,
            OrderStatus.ACKNOWLEDGED,
            DUE,
            at("2026-12-03 15:00"),
            text="r",
            extension_until=at("2026-12-10 09:00"),
            **ask,
        )
    assert (
        check_action(
            ReportKind.EXTENSION,
            OrderStatus.ACKNOWLEDGED,
            DUE,
            now,
            text="r",
            extension_until=at("2026-12-10 09:00"),
            **ask,
        )
        == "r"
    )


def test_a_reply_needs_its_text():
    with pytest.raises(Gov12345Error) as refused:
        check_action(
            ReportKind.REPLY, OrderStatus.ACKNOWLEDGED, DUE, at("2026-11-27 09:00"), text="\x00 "
        )
    assert refused.value.field == "reply"


def test_the_signature_is_the_hmac_of_the_body():
    body = b'{"order_number": "GD1"}'
    good = signature("secret", body)
    assert signature_valid("secret", body, good)
    assert signature_valid("secret", body, "sha256=" + good.upper())
    assert not signature_valid("secret", body + b" ", good)
    assert not signature_valid("other", body, good)
    assert not signature_valid("", body, signature("", body))  # no secret: nothing is taken
    assert not signature_valid("secret", body, None)


def test_an_order_is_read_strictly():
    order = read_order(
        {
            "order_number": "GD-1",
            "received_at": "2026-11-26T08:30:00+08:00",
            "request_text": " 水发黄 ",
            "citizen_phone": "13800138000",
            "address": "幸福小区",
        }
    )
    assert order.request_text == "水发黄" and order.category == "complaint"
    for bad, field in [
        ({"order_number": "../etc"}, "order_number"),
        ({"received_at": "2026-11-26T08:30:00"}, "received_at"),
        ({"reply_due": "2026-11-26T08:00:00+08:00"}, "reply_due"),
        ({"extra": 1}, "extra"),
        ({"request_text": "x" * 4001}, "request_text"),
    ]:
        data = {
            "order_number": "GD-1",
            "received_at": "2026-11-26T08:30:00+08:00",
            "request_text": "水发黄",
            "citizen_phone": "13800138000",
            "address": "幸福小区",
            **bad,
        }
        with pytest.raises(Gov12345Error) as refused:
            read_order(data)
        assert refused.value.field == field


def test_the_policy_file_is_read_strictly_in_its_12345_section():
    data = copy.deepcopy(RAW)
    del data["gov12345"]["reply"]["source"]
    with pytest.raises(PolicyError, match=r"gov12345\.reply\.source"):
        TimeLimitPolicy.from_dict(data)
    data = copy.deepcopy(RAW)
    data["gov12345"]["sign"] = {"duration": "1h", "source": "x"}
    with pytest.raises(PolicyError, match=r"gov12345\.sign"):
        TimeLimitPolicy.from_dict(data)
    data = copy.deepcopy(RAW)
    data["gov12345"]["return"]["duration"] = "soon"
    with pytest.raises(PolicyError, match=r"gov12345\.return\.duration"):
        TimeLimitPolicy.from_dict(data)
    data = copy.deepcopy(RAW)
    del data["gov12345"]
    assert TimeLimitPolicy.from_dict(data).gov12345 is None
