"""The WeChat official account: the report form, linking, and template pushes.

Checked: the menu's form (no login) opens a web case through the same intake
as every channel, owned by the dispatcher on duty (G4), and shows the case
number and the status page's link; bad input is refused naming the field with
nothing written; submissions are throttled; an authorisation code links the
account to the phone given; a linked account is pushed its case's stage once
per stage after the commit and the outage notices of its area once each
(P8); a failed push is recorded and counted, and the saved change stands.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callflows.services import outage_notices as notices
from dispatch.models import DutyShift
from hotline import db
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Channel
from hotline.models import Case, Contact, WechatLink, WechatPush
from hotline.services import wechat
from hotline.services.accounts import create_staff
from hotline.web.wechat_form import NOTIFIER_KEY
from tests.integration.callhelp import make_flows
from tests.integration.pagehelp import csrf_from, text_of
from tests.integration.test_outage_notices import add_customers, publish
from tests.support import act, seed_org

FORM = {
    "name": "王女士",
    "phone": "138 0534 1234",
    "address": "禹城市汉槐街 18 号",
    "problem": "楼下井盖处冒水",
    "category": "leak",
}


@pytest.fixture
def recorder(app) -> wechat.RecordingWechat:
    notifier = wechat.RecordingWechat(codes={"CODE-1": "oResident_0001"})
    app.extensions[NOTIFIER_KEY] = notifier
    return notifier


def _count(app, model) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _submit(client, **changes):
    token = csrf_from(text_of(client.get("/wechat/report")))
    return client.post("/wechat/report", data={"csrf_token": token, **FORM, **changes})


def test_g4_a_report_from_the_form_is_a_web_case_owned_by_the_dispatcher_on_duty(
    app, client, clock, recorder
):
    """G4: the report gets an accountable owner at intake, the dispatcher on duty."""
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    with svc.sessions() as session, session.begin():
        on_duty = create_staff(
            session,
            username="dispatcher_night",
            password="correct-horse-battery",
            role="dispatcher",
            display_name="夜班调度",
            department_id=org.departments["DISPATCH"],
            now=clock.now,
        )
        session.flush()
        session.add(
            DutyShift(
                staff_id=on_duty.id,
                starts_at=clock.now - timedelta(hours=1),
                ends_at=clock.now + timedelta(hours=7),
                created_by_id=org["supervisor"].id,
                created_at=clock.now,
            )
        )
        on_duty_id = on_duty.id
    page = client.get("/wechat/report?code=CODE-1")
    assert page.status_code == 200 and 'id="wechat-report"' in text_of(page)
    response = client.post("/wechat/report", data={"csrf_token": csrf_from(text_of(page)), **FORM})
    html = text_of(response)
    assert response.status_code == 201 and 'id="status-link"' in html and 'href="/status"' in html
    with svc.sessions() as session:
        case = session.scalars(select(Case)).one()
        contact = session.scalars(select(Contact)).one()
        assert case.number in html
        assert case.first_responder_id == on_duty_id
        assert contact.channel == Channel.WEB and case.contact_phone == "+8613805341234"
        assert case.state == State.WITH_DISPATCH
        links = session.scalars(select(WechatLink)).all()
        assert [(row.openid, row.phone) for row in links] == [("oResident_0001", "+8613805341234")]


def test_with_nobody_on_the_roster_the_first_dispatcher_owns_the_report(app, client, clock):
    """G4: a gap in the roster still gives the report an owner, said in the summary."""
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    response = _submit(client)
    assert response.status_code == 201
    with svc.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.first_responder_id == org["dispatcher"].id
        assert "无人值班" in session.scalars(select(Contact.summary)).one()
        assert session.scalar(select(func.count()).select_from(WechatLink)) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"address": ""}, "address"),
        ({"problem": "x" * 2001}, "problem"),
        ({"category": "outage_enquiry"}, "category"),
        ({"category": "nonsense"}, "category"),
        ({"name": "王\x00"}, "name"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(app, client, changes, field):
    seed_org(app.extensions["hotline"])
    response = _submit(client, **changes)
    assert response.status_code == 422, text_of(response)
    # Text that cannot be stored is refused before the form is read, naming the field.
    html = text_of(response)
    assert f'data-field="{field}"' in html or f"{field} 不能包含空字符" in html
    assert _count(app, Case) == 0 and _count(app, Contact) == 0


def test_reports_are_throttled_per_address(app, client):
    seed_org(app.extensions["hotline"])
    answers = [_submit(client, problem=f"第{i}次反映:门口漏水").status_code for i in range(6)]
    assert answers == [201] * 5 + [429]
    assert _count(app, Case) == 5


def test_a_linked_account_is_pushed_each_stage_of_its_case_once(app, client, clock, recorder):
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    client.get("/wechat/report?code=CODE-1")
    assert _submit(client).status_code == 201
    with svc.sessions() as session:
        number = session.scalars(select(Case.number)).one()
    first = [m.data["stage"] for m in recorder.sent]
    assert first == ["已受理"]
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    stages = [m.data["stage"] for m in recorder.sent]
    assert stages == ["已受理", "已派单"]
    assert {m.openid for m in recorder.sent} == {"oResident_0001"}
    assert all("王女士" not in str(m.data) and "汉槐街" not in str(m.data) for m in recorder.sent)


def test_a_failed_push_is_recorded_and_counted_and_the_case_is_saved(app, client, clock, recorder):
    seed_org(app.extensions["hotline"])
    client.get("/wechat/report?code=CODE-1")
    recorder.fail_with = wechat.WechatUncertain("timed out")
    before = db.after_commit_failures[wechat.FAILURE_KIND]
    assert _submit(client).status_code == 201
    assert _count(app, Case) == 1
    with app.extensions["hotline"].sessions() as session:
        assert session.scalars(select(WechatPush.status)).all() == ["uncertain"]
    assert db.after_commit_failures[wechat.FAILURE_KIND] == before + 1


def test_p8_outage_notices_reach_linked_accounts_in_the_area_once(svc, org, clock):
    """P8: the notice is published to customers through the official account too."""
    ids = add_customers(svc)
    with svc.sessions() as session, session.begin():
        wechat.link(session, "oInArea_0001", "+8613805341234", clock.now)  # customer A1
        wechat.link(session, "oOutside_001", "+8613605341111", clock.now)  # A4, outside
    assert ids
    notifier = wechat.RecordingWechat()
    outage_id = publish(svc, org, clock, hours=6)
    flows = make_flows()
    report = notices.run(svc, flows, notifier=notifier, link_base="https://hotline.example.cn")
    assert report.wechat_sent == 1
    assert [(m.openid, m.kind, m.data["kind"]) for m in notifier.sent] == [
        ("oInArea_0001", "outage", "停水通知")
    ]
    assert notifier.sent[0].url == "https://hotline.example.cn/public/outages"
    notices.run(svc, flows, notifier=notifier)
    assert len(notifier.sent) == 1
    notices.mark_restored(svc, org["dispatcher"], outage_id)
    notices.run(svc, flows, notifier=notifier)
    assert [m.data["kind"] for m in notifier.sent] == ["停水通知", "已恢复供水"]


def test_a_relinked_account_follows_its_new_phone(svc, org, clock):
    add_customers(svc)
    with svc.sessions() as session, session.begin():
        wechat.link(session, "oResident_0001", "+8613805341234", clock.now)
    with svc.sessions() as session, session.begin():
        row = wechat.link(session, "oResident_0001", "+8613905345678", clock.now)
        assert row.customer_id is not None
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WechatLink)) == 1
        assert wechat.linked_openids(session, phones=["+8613905345678"]) == ["oResident_0001"]
        assert wechat.linked_openids(session, phones=["+8613805341234"]) == []


def test_outside_tests_the_push_runs_off_the_requests_thread(app):
    import threading

    from hotline.web import wechat_form

    done = threading.Event()
    ran_in: list[str] = []

    def work() -> None:
        ran_in.append(threading.current_thread().name)
        done.set()

    app.testing = False
    try:
        wechat_form._in_background(app, work)
    finally:
        app.testing = True
    assert done.wait(5)
    assert ran_in[0].startswith("wechat-push") and ran_in[0] != threading.current_thread().name
