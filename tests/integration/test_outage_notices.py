"""Outage notices texted to the customers of the affected area (P8).

Checked: a published outage is texted once to every customer in its area with
a mobile phone, in the notice's wording, after the commit and in batches; a
second run, a retry or a second process texts nobody again; a refused or
uncertain text is recorded, logged and counted and not sent again; a new
restore time and water back are texted as their own notices; the outage page
shows the counts and offers dispatchers the two updates; the scheduler's job
is registered.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from callflows.models import (
    OutageAnnouncement,
    OutageNoticeSms,
    OutageNoticeStatus,
    OutboundAttempt,
)
from callflows.services import outage_notices as notices
from callflows.telephony import TelephonyRefused, TelephonyUncertain
from dispatch.services.outages import OutageNotice, publish_outage
from dispatch.services.scheduler import JOBS_KEY
from hotline import db
from hotline.models import Customer, CustomerPhone
from hotline.services import Forbidden, Invalid
from tests.integration.callhelp import FakeTelephony, make_flows
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import seed_org

#: (account, address, phones): three customers in the area, one outside it.
CUSTOMERS = [
    ("A1", "禹城市汉槐街 18 号", ["+8613805341234"]),
    ("A2", "禹城市南关小区 3 号楼", ["+8605347261234", "+8613905345678"]),
    ("A3", "禹城市汉槐街 20 号", ["+8605347265555"]),  # a fixed line only: no text
    ("A4", "禹城市文化路 1 号", ["+8613605341111"]),  # outside the area
]


def add_customers(svc, rows=CUSTOMERS) -> dict[str, int]:
    ids: dict[str, int] = {}
    with svc.sessions() as session, session.begin():
        for account, address, phones in rows:
            customer = Customer(account_number=account, name=f"用户{account}", address=address)
            customer.phones = [CustomerPhone(number=p) for p in phones]
            session.add(customer)
            session.flush()
            ids[account] = customer.id
    return ids


def publish(svc, org, clock, *, ahead_hours: float = 0, hours: float = 6, planned=False) -> int:
    starts = clock.now + timedelta(hours=ahead_hours)
    with svc.sessions() as session, session.begin():
        outage = publish_outage(
            session,
            OutageNotice(
                area="汉槐街东段",
                area_keywords=["汉槐街", "南关小区"],
                reason="DN300 主管爆管抢修",
                starts_at=starts,
                ends_at=starts + timedelta(hours=hours),
                planned=planned,
            ),
            by_id=org["dispatcher"].id,
            now=clock.now,
        )
        session.flush()
        return outage.id


def sms_rows(svc) -> list[OutageNoticeSms]:
    with svc.sessions() as session:
        return list(session.scalars(select(OutageNoticeSms).order_by(OutageNoticeSms.id)))


@pytest.fixture
def phone() -> FakeTelephony:
    return FakeTelephony()


@pytest.fixture
def flows(phone):
    return make_flows(phone)


def test_p8_a_published_outage_is_texted_once_to_each_customer_in_its_area(
    svc, org, clock, flows, phone
):
    """P8: the notice reaches the customers of the area, each once, by mobile."""
    add_customers(svc)
    outage_id = publish(svc, org, clock, ahead_hours=30, hours=8, planned=True)

    report = notices.run(svc, flows)

    assert (report.announced, report.queued, report.sent, report.failed) == (1, 2, 2, [])
    assert sorted(m.to for m in phone.messages) == ["+8613805341234", "+8613905345678"]
    body = phone.messages[0].body
    assert body.startswith(
        f"【{flows.company_short}】停水通知:因DN300 主管爆管抢修,汉槐街东段将计划停水(降压)"
    )
    assert "请您提前做好储水准备" in body and "对不起,给您的用水带来不便,请您谅解" in body
    local = (clock.now + timedelta(hours=30)).astimezone(svc.timezone)
    assert f"停水时间从{local.month}月{local.day}日{local:%H:%M}开始" in body
    assert {r.status for r in sms_rows(svc)} == {OutageNoticeStatus.SENT}
    with svc.sessions() as session:
        attempts = session.scalars(select(OutboundAttempt)).all()
        assert {a.purpose for a in attempts} == {"outage_notice"}
        assert {a.provider_sid for a in attempts} == {f"FAKE-SMS-{a.id}" for a in attempts}
        assert notices.notice_counts(session, [outage_id]) == {
            outage_id: notices.NoticeCounts(waiting=0, sent=2, failed=0)
        }

    again = notices.run(svc, flows)
    assert not again.acted and len(phone.messages) == 2


def test_p8_the_same_notice_never_reaches_a_customer_twice(svc, org, clock, flows, phone):
    """P8: the unique constraint holds even when a run writes the same text again."""
    ids = add_customers(svc)
    publish(svc, org, clock)
    notices.run(svc, flows)
    announcement_id = sms_rows(svc)[0].announcement_id
    with pytest.raises(IntegrityError), svc.sessions() as session, session.begin():
        session.add(
            OutageNoticeSms(
                announcement_id=announcement_id,
                customer_id=ids["A1"],
                to_number="+8613805341234",
                body="x",
                status=OutageNoticeStatus.QUEUED,
                created_at=clock.now,
                updated_at=clock.now,
            )
        )
    assert len(phone.messages) == 2


def test_p8_two_runs_at_once_text_each_customer_once(svc, org, clock, flows, phone):
    """P8: two processes running the job together send each text once."""
    many = [(f"B{i}", f"禹城市汉槐街 {i} 号", [f"+86138053{i:05d}"]) for i in range(120)]
    add_customers(svc, many)
    publish(svc, org, clock)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            notices.run(svc, flows)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    notices.run(svc, flows)  # whatever a losing run left, a later one finishes
    sent = [m.to for m in phone.messages]
    assert len(sent) == 120 and len(set(sent)) == 120
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutageAnnouncement)) == 1


def test_p8_texts_go_in_batches(svc, org, clock, flows, phone):
    add_customers(svc, [(f"C{i}", f"南关小区 {i} 号", [f"+86139053{i:05d}"]) for i in range(7)])
    publish(svc, org, clock)
    notices.announce_published(svc)
    notices.expand(svc, flows)
    first = notices.send_batch(svc, flows, limit=5)
    assert first.sent == 5 and len(phone.messages) == 5
    statuses = [r.status for r in sms_rows(svc)]
    assert statuses.count(OutageNoticeStatus.QUEUED) == 2
    assert notices.send_batch(svc, flows, limit=5).sent == 2
    assert notices.send_batch(svc, flows, limit=5).sent == 0


def test_a_failed_text_is_recorded_counted_and_not_sent_again(svc, org, clock, flows, phone):
    add_customers(svc)
    outage_id = publish(svc, org, clock)
    before = db.after_commit_failures[notices.FAILURE_KIND]
    phone.fail_with = TelephonyRefused("21610: unsubscribed recipient")
    report = notices.run(svc, flows)
    assert report.sent == 0 and len(report.failed) == 2
    assert db.after_commit_failures[notices.FAILURE_KIND] == before + 2
    rows = sms_rows(svc)
    assert {r.status for r in rows} == {OutageNoticeStatus.REFUSED}
    assert all("21610" in r.error for r in rows)
    phone.fail_with = None
    assert not notices.run(svc, flows).acted and phone.messages == []
    with svc.sessions() as session:
        assert notices.notice_counts(session, [outage_id])[outage_id].failed == 2


def test_an_uncertain_text_is_not_sent_again(svc, org, clock, flows, phone):
    add_customers(svc)
    publish(svc, org, clock)
    phone.fail_with = TelephonyUncertain("timed out")
    notices.run(svc, flows)
    assert {r.status for r in sms_rows(svc)} == {OutageNoticeStatus.UNCERTAIN}
    phone.fail_with = None
    notices.run(svc, flows)
    assert phone.messages == []


def test_p8_a_new_restore_time_and_water_back_are_texted_as_their_own_notices(
    svc, org, clock, flows, phone
):
    """P8: the significant updates of an outage reach the same customers."""
    add_customers(svc)
    outage_id = publish(svc, org, clock, hours=6)
    notices.run(svc, flows)
    later = clock.now + timedelta(hours=9)
    notices.change_restore_time(svc, org["dispatcher"], outage_id, later)
    notices.run(svc, flows)
    local = later.astimezone(svc.timezone)
    update = [m for m in phone.messages if "停水通知更新" in m.body]
    assert len(update) == 2
    assert f"预计恢复供水时间调整为{local.month}月{local.day}日{local:%H:%M}" in update[0].body

    clock.advance(hours=1)
    notices.mark_restored(svc, org["dispatcher"], outage_id)
    notices.run(svc, flows)
    ended = [m for m in phone.messages if "已恢复供水" in m.body]
    assert len(ended) == 2 and len(phone.messages) == 6
    with svc.sessions() as session:
        kinds = session.scalars(
            select(OutageAnnouncement.key).order_by(OutageAnnouncement.id)
        ).all()
    assert kinds == ["published", "restore-1", "ended"]
    with pytest.raises(Invalid):
        notices.mark_restored(svc, org["dispatcher"], outage_id)


def test_restore_time_and_water_back_are_refused_before_anything_is_written(svc, org, clock, flows):
    add_customers(svc)
    coming = publish(svc, org, clock, ahead_hours=30, hours=4, planned=True)
    with pytest.raises(Forbidden):
        notices.change_restore_time(svc, org["operator"], coming, clock.now + timedelta(days=3))
    with pytest.raises(Invalid) as err:
        notices.change_restore_time(svc, org["dispatcher"], coming, clock.now)
    assert err.value.field == "ends_at"
    with pytest.raises(Invalid) as err:
        notices.mark_restored(svc, org["dispatcher"], coming)  # not started yet
    assert err.value.field == "outage"
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutageAnnouncement)) == 0


def test_p8_the_outage_page_shows_the_counts_and_takes_the_updates(app, client, clock):
    """P8: dispatchers see each outage's texts sent and failed, and announce updates."""
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    add_customers(svc)
    outage_id = publish(svc, org, clock)
    notices.run(svc, app.extensions["callflows"])
    logged_in(client, "dispatcher")
    html = text_of(client.get("/outages"))
    assert f'data-outage="{outage_id}"' in html and "已发 2" in html and "失败 0" in html
    token = csrf_from(html)
    bad = client.post(
        f"/outages/{outage_id}/restore-time", data={"csrf_token": token, "ends_at": "soon"}
    )
    assert bad.status_code == 422 and "ends_at" in text_of(bad)
    later = (clock.now + timedelta(hours=10)).astimezone(svc.timezone)
    ok = client.post(
        f"/outages/{outage_id}/restore-time",
        data={"csrf_token": token, "ends_at": later.strftime("%Y-%m-%dT%H:%M")},
    )
    assert ok.status_code == 302
    assert (
        client.post(f"/outages/{outage_id}/restored", data={"csrf_token": token}).status_code == 302
    )
    with svc.sessions() as session:
        keys = session.scalars(select(OutageAnnouncement.key)).all()
    assert sorted(keys) == ["ended", "published", "restore-1"]
    assert client.post("/outages/99999/restored", data={"csrf_token": token}).status_code == 404


def test_operators_may_not_announce_updates(app, client, clock):
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    outage_id = publish(svc, org, clock)
    logged_in(client, "operator")
    token = csrf_from(text_of(client.get("/outages")))
    assert (
        client.post(f"/outages/{outage_id}/restored", data={"csrf_token": token}).status_code == 403
    )


def test_the_scheduler_runs_the_outage_notices(app):
    jobs = dict(app.extensions[JOBS_KEY])
    assert "outage-notices" in jobs
    assert jobs["outage-notices"]() is None  # nothing to do, nothing said
