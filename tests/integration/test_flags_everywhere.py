"""G2 everywhere: every place staff text is stored raises a flag for a banned
phrase, and the supervisors' list ``/flags`` shows the stored flags.

Places (each has a test below): case event notes, reasons, answers given on
the call, result notes, what the caller was told on a transfer, call
summaries (with and without a case), transcripts, supervision order
instructions and answers, incident updates, promise notes, on-site check
findings and field report problems. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callflows import services as calls
from callflows.models import ComplianceFlag
from callflows.services import SubmitForm, flags
from dispatch.services import crew as crew_service
from dispatch.services import supervision
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category
from hotline.models import Case, PromiseUpdate, SiteCheck
from hotline.services import IntakeOutcome
from hotline.services import promises as promise_service
from hotline.services.incidents import post_update
from tests.integration.callhelp import answered_call, make_flows
from tests.integration.pagehelp import logged_in
from tests.support import act, bring_case_to, intake_command


def _flags(svc) -> list[ComplianceFlag]:
    with svc.sessions() as session:
        return list(session.scalars(select(ComplianceFlag).order_by(ComplianceFlag.id)))


def _case_id(svc, number: str) -> int:
    with svc.sessions() as session:
        return session.scalar(select(Case.id).where(Case.number == number))


def _one(svc, source: str, phrase: str, staff_id: int) -> ComplianceFlag:
    found = [f for f in _flags(svc) if f.source == source and f.phrase == phrase]
    assert len(found) == 1, [(f.source, f.phrase) for f in _flags(svc)]
    assert found[0].staff_id == staff_id
    return found[0]


@pytest.fixture
def checked(svc):
    flags.install(svc)
    return svc


# -- case events ---------------------------------------------------------------------------


def test_a_note(checked, org):
    number = bring_case_to(checked, org, State.WITH_DISPATCH)
    act(checked, org["dispatcher"], number, Action.ADD_NOTE, note="这事不归我管")
    flag = _one(checked, "note", "不归我管", org["dispatcher"].id)
    assert flag.case_id == _case_id(checked, number)


def test_a_reason(checked, org):
    number = bring_case_to(checked, org, State.ASSIGNED)
    act(checked, org["crew"], number, Action.RETURN_WORK, reason="这个我们办不了")
    _one(checked, "reason", "办不了", org["crew"].id)


def test_an_answer_given_on_the_call(checked, org):
    services.intake(
        checked,
        org["operator"],
        intake_command(IntakeOutcome.ANSWER_ON_CALL, answer="水费的事我不知道"),
    )
    _one(checked, "answer", "不知道", org["operator"].id)


def test_a_result_note(checked, org):
    number = bring_case_to(checked, org, State.ON_SITE)
    act(
        checked,
        org["crew"],
        number,
        Action.COMPLETE,
        result_note="修好了,这是你自己的问题",
        no_rating_reason="用户不在场",
    )
    _one(checked, "result_note", "这是你自己的问题", org["crew"].id)


def test_what_the_caller_was_told_on_a_transfer(checked, org):
    services.intake(
        checked,
        org["operator"],
        intake_command(
            IntakeOutcome.TRANSFER,
            told_caller="不归我管,找营业厅",
            target_department_id=org.departments["METER"],
        ),
    )
    _one(checked, "told_caller", "不归我管", org["operator"].id)


# -- calls ---------------------------------------------------------------------------------


def test_a_call_summary(checked, org):
    flows = make_flows()
    call_id = answered_call(checked, flows, org["operator"])
    calls.submit(
        checked,
        flows,
        org["operator"],
        call_id,
        SubmitForm(outcome=IntakeOutcome.NO_CASE, summary="打错了,不知道"),
    )
    assert _one(checked, "summary", "不知道", org["operator"].id).call_id == call_id


def test_a_transcript(checked, org):
    flows = make_flows()
    call_id = answered_call(checked, flows, org["operator"])
    turns = [
        {"speaker": "caller", "text": "不知道怎么办"},
        {"speaker": "staff", "text": "等着,没看见正忙着"},
    ]
    assert calls.attach_transcript(checked, call_id=call_id, turns=turns) == 1
    assert _one(checked, "transcript", "等着,没看见正忙着", org["operator"].id).call_id == call_id


# -- dispatch and the case core's other texts ------------------------------------------------


def test_a_supervision_order_and_its_answer(checked, org):
    number = bring_case_to(checked, org, State.ASSIGNED)
    order = supervision.issue(
        checked,
        org["supervisor"],
        number,
        instruction="不知道为什么还没处理,请回复",
        to_department_id=org.departments["REPAIR"],
    )
    _one(checked, "note", "不知道", org["supervisor"].id)
    supervision.answer(checked, org["crew"], order.id, answer="这单办不了")
    _one(checked, "answer", "办不了", org["crew"].id)


def test_an_incident_update(checked, org):
    parent = bring_case_to(checked, org, State.ON_SITE)
    post_update(checked, org["dispatcher"], parent, "爆管", None, "什么时候修好不知道")
    flag = _one(checked, "note", "不知道", org["dispatcher"].id)
    assert flag.case_id == _case_id(checked, parent)


def test_a_promise_note(checked, org):
    number = bring_case_to(checked, org, State.EXTENSION_REQUESTED, category=Category.METER_FAULT)
    act(checked, org["dispatcher"], number, Action.APPROVE_EXTENSION)
    with checked.sessions() as session:
        task = session.scalar(
            select(PromiseUpdate).where(PromiseUpdate.case_id == _case_id(checked, number))
        )
    promise_service.mark_told(
        checked, org["operator"], task.id, note="已告知,让他等着,没看见正忙着"
    )
    _one(checked, "note", "等着,没看见正忙着", org["operator"].id)


def test_an_on_site_check_finding(checked, org):
    number = bring_case_to(checked, org, State.DONE, category=Category.METER_WELL)
    with checked.sessions() as session:
        check = session.scalar(
            select(SiteCheck).where(SiteCheck.case_id == _case_id(checked, number))
        )
    crew_service.record_site_check(checked, org["crew_meter"], check.id, "井盖坏了,不归我管")
    _one(checked, "note", "不归我管", org["crew_meter"].id)


def test_a_field_report_problem(checked, org, tmp_path):
    case = crew_service.open_field_case(
        checked,
        org["crew"],
        crew_service.FieldReport(
            category="leak",
            problem="阀门井渗水,这是你自己的问题",
            address="汉槐街 20 号",
            contact_phone="13905344444",
        ),
        [],
        str(tmp_path),
    )
    flag = _one(checked, "summary", "这是你自己的问题", org["crew"].id)
    assert flag.case_id == _case_id(checked, case.number)


# -- the supervisors' list -------------------------------------------------------------------


def _seed_two(app, app_org, clock):
    svc = app.extensions["hotline"]  # wired by the app: its services flag
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    act(svc, app_org["operator"], number, Action.ADD_NOTE, note="用户又来电,这事不归我管啊")
    clock.advance(days=2)
    flows = app.extensions["callflows"]
    call_id = answered_call(svc, flows, app_org["operator2"])
    calls.submit(
        svc,
        flows,
        app_org["operator2"],
        call_id,
        SubmitForm(outcome=IntakeOutcome.NO_CASE, summary="打错了,不知道"),
    )
    return number, call_id


def test_the_list_shows_each_flag_with_text_author_time_and_link(app, app_org, client, clock):
    number, call_id = _seed_two(app, app_org, clock)
    html = logged_in(client, "supervisor").get("/flags").get_data(as_text=True)
    assert "用户又来电,这事<mark>不归我管</mark>啊" in html
    assert "打错了,<mark>不知道</mark>" in html
    assert f'href="/cases/{number}"' in html
    assert f'href="/calls/{call_id}"' in html
    assert html.count('class="flag-row"') == 2
    with app.app_context():
        svc = app.extensions["hotline"]
        with svc.sessions() as session:
            from hotline.models import Staff

            for who in ("operator", "operator2"):
                name = session.get(Staff, app_org[who].id).display_name
                assert f"<td>{name}</td>" in html
    # newest first, in the utility's time as 11-26 14:05
    assert html.index("打错了") < html.index("用户又来电")
    with app.app_context():
        from hotline.web.i18n import local_time

        for flag in _flags(app.extensions["hotline"]):
            assert local_time(flag.at) in html


def test_the_list_filters_by_days_author_and_phrase(app, app_org, client, clock):
    _seed_two(app, app_org, clock)
    tz = app.extensions["hotline"].timezone
    today = clock.now.astimezone(tz).date()
    earlier = today - timedelta(days=2)
    c = logged_in(client, "supervisor")

    def shown(query: str) -> tuple[bool, bool]:
        html = c.get("/flags?" + query).get_data(as_text=True)
        return "不归我管</mark>" in html, "不知道</mark>" in html

    assert shown("") == (True, True)
    assert shown(f"from={today}&to={today}") == (False, True)
    assert shown(f"from={earlier}&to={earlier}") == (True, False)
    assert shown(f"author={app_org['operator'].id}") == (True, False)
    assert shown("phrase=不知道") == (False, True)
    assert c.get("/flags?from=yesterday").status_code == 400


def test_the_list_pages(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    for i in range(51):
        act(svc, app_org["operator"], number, Action.ADD_NOTE, note=f"第{i}次:不知道")
    c = logged_in(client, "supervisor")
    first = c.get("/flags").get_data(as_text=True)
    second = c.get("/flags?page=2").get_data(as_text=True)
    assert first.count('class="flag-row"') == 50
    assert second.count('class="flag-row"') == 1
    assert "第50次" in first and "第0次:" in second


@pytest.mark.parametrize("who", ["operator", "crew", "dispatcher"])
def test_only_supervisors_see_the_list(app, app_org, client, who):
    assert logged_in(client, who).get("/flags").status_code == 403


def test_supervisors_have_the_link_in_the_top_bar(app, app_org, client):
    html = logged_in(client, "supervisor").get("/flags").get_data(as_text=True)
    assert 'href="/flags"' in html


def test_the_call_review_marks_the_flagged_words(app, app_org, client, clock):
    _number, call_id = _seed_two(app, app_org, clock)
    html = logged_in(client, "supervisor").get(f"/calls/{call_id}").get_data(as_text=True)
    assert "打错了,<mark>不知道</mark>" in html
