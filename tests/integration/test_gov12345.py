"""12345 transfers through the services: orders in by the file drop, each one a case
owned by the dispatcher on duty, acted on the 12345 clock, every action reported
back to the platform and recorded with its outcome."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline import services
from hotline.domain.gov12345 import ReportKind, read_order
from hotline.domain.lifecycle import State
from hotline.models import Case, Gov12345Order, Gov12345Report, Staff
from hotline.services import Forbidden, Invalid
from hotline.services import gov12345 as orders
from hotline.services.gov12345_platform import FileDropPlatform, RecordingPlatform


def order_json(number: str = "GD20261126001", **overrides):
    body = {
        "order_number": number,
        "received_at": "2026-11-26T08:30:00+08:00",
        "request_text": "市民反映:幸福小区3号楼自来水发黄已两天,要求供水公司尽快处理并答复。",
        "citizen_name": "王女士",
        "citizen_phone": "13800138000",
        "address": "禹城市幸福小区3号楼2单元",
        "category": "water_quality",
    }
    body.update(overrides)
    return body


def dispatcher_owner(org):
    def owner(session, at):
        return session.get(Staff, org["dispatcher"].id), True

    return owner


def drop(folder: Path, name: str, body) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def _receive(svc, org, **overrides):
    return orders.receive(
        svc, read_order(order_json(**overrides)), source="webhook", owner=dispatcher_owner(org)
    )


def test_a_dropped_order_becomes_a_case_owned_by_the_dispatcher_on_duty(svc, org, tmp_path):
    """G4: the order's case belongs to the dispatcher on duty; the file moves to done/."""
    folder = tmp_path / "drop"
    drop(folder, "a.json", order_json())
    result = orders.import_drop(svc, folder, owner=dispatcher_owner(org))
    assert result.imported == ["a.json"] and not result.failed
    assert (folder / "done" / "a.json").exists() and not (folder / "a.json").exists()
    with svc.sessions() as session:
        order = session.scalar(select(Gov12345Order))
        case = session.get(Case, order.case_id)
        assert case.first_responder_id == org["dispatcher"].id
        assert case.state == State.WITH_DISPATCH
        assert case.category == "water_quality"
        assert "发黄" in case.problem
        assert order.source == "file_drop" and order.status == "received"
        history = services.history(session, org["supervisor"], case.number)
    assert [e.action for e in history][-1] == orders.RECEIVED
    assert history[-1].data["order_number"] == "GD20261126001"


def test_the_same_order_twice_opens_one_case(svc, org, tmp_path):
    folder = tmp_path / "drop"
    drop(folder, "a.json", order_json())
    orders.import_drop(svc, folder, owner=dispatcher_owner(org))
    drop(folder, "again.json", order_json())
    again = orders.import_drop(svc, folder, owner=dispatcher_owner(org))
    assert again.duplicates == ["again.json"] and not again.imported
    with svc.sessions() as session:
        assert len(session.scalars(select(Gov12345Order)).all()) == 1


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "not valid JSON"),
        (order_json(received_at="2026-11-26T08:30:00"), "received_at"),
        (order_json(request_text="   "), "request_text"),
        (order_json(citizen_phone="12"), "citizen_phone"),
        (order_json(surprise=1), "surprise"),
        (order_json(citizen_phone="not a phone"), "citizen_phone: "),
    ],
)
def test_a_bad_drop_file_moves_to_failed_with_its_reason(svc, org, tmp_path, content, said):
    folder = tmp_path / "drop"
    drop(folder, "bad.json", content)
    result = orders.import_drop(svc, folder, owner=dispatcher_owner(org))
    assert [name for name, _ in result.failed] == ["bad.json"]
    reason = (folder / "failed" / "bad.json.reason.txt").read_text(encoding="utf-8")
    assert said in reason
    with svc.sessions() as session:
        assert session.scalars(select(Gov12345Order)).all() == []
        assert session.scalars(select(Case)).all() == []


def test_with_no_dispatcher_the_file_waits_for_the_next_pass(svc, org, tmp_path):
    folder = tmp_path / "drop"
    drop(folder, "a.json", order_json())
    result = orders.import_drop(svc, folder, owner=lambda session, at: None)
    assert [name for name, _ in result.waiting] == ["a.json"]
    assert (folder / "a.json").exists()


def test_deadlines_come_from_the_platform_or_the_working_day_calendar(svc, org):
    """The platform's reply deadline wins; the others count working days from receipt."""
    afternoon = "2026-11-26T14:00:00+08:00"  # a Thursday
    _receive(svc, org, received_at=afternoon, reply_due="2026-12-04T17:30:00+08:00")
    _receive(svc, org, received_at=afternoon, order_number="GD2")
    with svc.sessions() as session:
        given = session.scalar(
            select(Gov12345Order).where(Gov12345Order.order_number == "GD20261126001")
        )
        own = session.scalar(select(Gov12345Order).where(Gov12345Order.order_number == "GD2"))
    local = svc.timezone
    assert given.reply_due.astimezone(local).isoformat() == "2026-12-04T17:30:00+08:00"
    # 2 working days: Friday and, over the weekend, Monday.
    assert given.return_due.astimezone(local).isoformat() == "2026-11-30T14:00:00+08:00"
    assert own.acknowledge_due.astimezone(local).isoformat() == "2026-11-27T14:00:00+08:00"
    assert own.reply_due.astimezone(local).isoformat() == "2026-12-03T14:00:00+08:00"


def test_an_order_is_returned_with_its_reason_and_the_platform_hears_of_it(svc, org, clock):
    """G5: a return needs a reason and is reported back; the report's outcome is kept."""
    platform = RecordingPlatform()
    _receive(svc, org, category="complaint")
    with pytest.raises(Invalid) as refused:
        orders.return_order(svc, platform, org["dispatcher"], "GD20261126001", reason="  ")
    assert refused.value.field == "reason" and refused.value.rule == "G5"
    done = orders.return_order(
        svc,
        platform,
        org["dispatcher"],
        "GD20261126001",
        reason="小区二次供水归物业管理,非我司产权",
    )
    assert done.status == "returned" and done.return_reason.startswith("小区二次供水")
    [report] = platform.reports
    assert report.kind is ReportKind.RETURN and report.order_number == "GD20261126001"
    assert report.text == "小区二次供水归物业管理,非我司产权"
    with svc.sessions() as session:
        [row] = session.scalars(select(Gov12345Report)).all()
    assert row.status == "sent" and row.attempts == 1 and row.sent_at == clock.now


def test_a_return_after_two_working_days_is_refused(svc, org, clock):
    """G5: the 2 working days to return run on the working-day calendar."""
    _receive(svc, org)
    clock.now = clock.now.replace(day=27, hour=17, minute=31)  # Fri 27 Nov, just past
    with pytest.raises(Invalid) as refused:
        orders.return_order(
            svc, RecordingPlatform(), org["dispatcher"], "GD20261126001", reason="非我司"
        )
    assert "2 working days" in refused.value.message


def test_an_order_is_acknowledged_and_replied_and_each_report_reaches_the_platform(svc, org):
    platform = RecordingPlatform()
    _receive(svc, org)
    with pytest.raises(Invalid):  # no reply before signing for it
        orders.reply(svc, platform, org["dispatcher"], "GD20261126001", text="已处理")
    orders.acknowledge(svc, platform, org["dispatcher"], "GD20261126001")
    done = orders.reply(
        svc,
        platform,
        org["supervisor"],
        "GD20261126001",
        text="经现场取样检测,水质合格;发黄系楼内管道老化,已冲洗管网,现已恢复正常。",
    )
    assert done.status == "replied" and "水质合格" in done.public_reply
    assert [r.kind for r in platform.reports] == [ReportKind.RECEIPT, ReportKind.REPLY]
    assert "水质合格" in platform.reports[1].text
    with svc.sessions() as session:
        seen = orders.get_order(svc, session, org["dispatcher"], "GD20261126001")
    assert [(r.kind, r.status) for r in seen.reports] == [("receipt", "sent"), ("reply", "sent")]


def test_a_failed_report_keeps_the_action_and_is_retried(svc, org, clock):
    """The saved action stands when the platform fails; the retry job sends it later."""
    platform = RecordingPlatform()
    _receive(svc, org)
    platform.failing = "platform down"
    done = orders.acknowledge(svc, platform, org["dispatcher"], "GD20261126001")
    assert done.status == "acknowledged"
    with svc.sessions() as session:
        [row] = session.scalars(select(Gov12345Report)).all()
        assert row.status == "failed" and "platform down" in row.last_error
    platform.failing = ""
    assert orders.retry_reports(svc, platform) == (0, 0)  # too soon
    clock.advance(minutes=5)
    assert orders.retry_reports(svc, platform) == (1, 0)
    assert [r.kind for r in platform.reports] == [ReportKind.RECEIPT]
    with svc.sessions() as session:
        [row] = session.scalars(select(Gov12345Report)).all()
        assert row.status == "sent" and row.attempts == 2


def test_an_extension_is_asked_once_with_a_reason_before_the_deadline(svc, org, clock):
    platform = RecordingPlatform()
    _receive(svc, org)
    orders.acknowledge(svc, platform, org["dispatcher"], "GD20261126001")
    until = clock.now + timedelta(days=10)
    with pytest.raises(Invalid) as refused:
        orders.request_extension(
            svc, platform, org["dispatcher"], "GD20261126001", reason="", until=until
        )
    assert refused.value.field == "reason"
    with pytest.raises(Invalid) as refused:
        orders.request_extension(
            svc,
            platform,
            org["dispatcher"],
            "GD20261126001",
            reason="需更换主管道",
            until=clock.now,
        )
    assert refused.value.field == "until"
    done = orders.request_extension(
        svc, platform, org["dispatcher"], "GD20261126001", reason="需更换主管道", until=until
    )
    assert done.extension_reason == "需更换主管道" and "extension" not in done.offers
    assert platform.reports[-1].kind is ReportKind.EXTENSION and platform.reports[-1].until == until
    with pytest.raises(Invalid):
        orders.request_extension(
            svc, platform, org["dispatcher"], "GD20261126001", reason="再次", until=until
        )


def test_the_public_reply_is_checked_for_banned_phrases(svc, org):
    """G2: the public reply is staff text: a banned phrase is flagged, the reply kept."""
    from callflows.models import ComplianceFlag
    from callflows.services.flags import install

    install(svc)
    platform = RecordingPlatform()
    _receive(svc, org)
    orders.acknowledge(svc, platform, org["dispatcher"], "GD20261126001")
    orders.reply(
        svc, platform, org["dispatcher"], "GD20261126001", text="这事不归我管,你找物业去。"
    )
    with svc.sessions() as session:
        flags = session.scalars(select(ComplianceFlag)).all()
    assert flags and {f.source for f in flags} == {"public_reply"}


def test_only_dispatch_and_supervisors_work_orders(svc, org):
    _receive(svc, org)
    with pytest.raises(Forbidden):
        orders.acknowledge(svc, RecordingPlatform(), org["crew"], "GD20261126001")


def test_reports_go_to_the_file_drop_reports_folder(svc, org, tmp_path):
    platform = FileDropPlatform(tmp_path / "reports")
    _receive(svc, org)
    orders.acknowledge(svc, platform, org["dispatcher"], "GD20261126001")
    [written] = list((tmp_path / "reports").glob("*.json"))
    body = json.loads(written.read_text(encoding="utf-8"))
    assert body["order_number"] == "GD20261126001" and body["kind"] == "receipt"
