"""The crew page (班组): the next step first, its place kept, numbers to call,
hand-backs that land on the list, field reports with photos (F8) and the
meter well's on-site check (F10)."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select

from dispatch.domain.crew import MAX_PHOTO_BYTES
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Channel
from hotline.models import Case, CaseEvent, CasePhoto, SiteCheck
from tests.conftest import SHANGHAI
from tests.integration.pagehelp import csrf_from, forms_of, logged_in, text_of
from tests.support import act, bring_case_to

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64


def _crew_forms(client) -> list[dict]:
    return [
        form
        for form in forms_of(text_of(client.get("/crew")))
        if form["attrs"].get("action", "").startswith("/crew/cases/")
    ]


def _case(app, number: str) -> Case:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def test_the_next_step_is_the_first_and_big_button_on_each_card(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    logged_in(client, "crew")
    forms = _crew_forms(client)
    assert forms[0]["attrs"]["data-action"] == Action.START_WORK
    assert "next" in forms[0]["attrs"]["class"]
    assert {f["attrs"]["data-action"] for f in forms[1:]} == {
        Action.RETURN_WORK,
        Action.REQUEST_EXTENSION,
    }
    assert all("side" in f["attrs"]["class"] for f in forms[1:])
    html = text_of(client.get("/crew"))
    assert f'id="case-{number}"' in html
    assert 'href="tel:+8613805341234"' in html  # the crew sees its own cases' numbers


def test_after_an_action_the_page_comes_back_at_the_same_card_with_a_message(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    logged_in(client, "crew")
    fields = _crew_forms(client)[0]["fields"]
    response = client.post(f"/crew/cases/{number}/action", data=fields)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/crew#case-{number}")
    assert f"工单 {number}:已出发处理" in text_of(client.get("/crew"))
    assert _case(app, number).state == State.IN_PROGRESS


def test_a_hand_back_lands_on_the_list_with_a_confirmation_never_a_404(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    logged_in(client, "crew")
    side = next(f for f in _crew_forms(client) if f["attrs"]["data-action"] == Action.RETURN_WORK)
    response = client.post(
        f"/crew/cases/{number}/action", data={**side["fields"], "reason": "不属于本科室"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/crew")
    page = client.get("/crew")
    assert page.status_code == 200
    assert f"已退单:工单 {number} 已交回调度中心" in text_of(page)
    assert _case(app, number).state == State.RETURNED


def test_a_hand_back_from_the_case_page_lands_on_the_crew_list_too(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    logged_in(client, "crew")
    html = text_of(client.get(f"/cases/{number}"))
    response = client.post(
        f"/cases/{number}/action",
        data={
            "csrf_token": csrf_from(html),
            "action": "return_work",
            "version": str(_case(app, number).version),
            "reason": "不属于本科室",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert response.request.path == "/crew"
    assert f"已退单:工单 {number} 已交回调度中心" in text_of(response)


def test_a_missing_page_is_chinese_first(app, app_org, client):
    logged_in(client, "crew")
    response = client.get("/cases/RY-00000000-9999")
    assert response.status_code == 404
    assert "未找到该页面或工单" in text_of(response)


# -- F8: field reports ------------------------------------------------------------------


def _report(client, photos, **overrides):
    html = text_of(client.get("/crew"))
    data = {
        "csrf_token": csrf_from(html),
        "category": "meter_fault",
        "priority": "normal",
        "problem": "抄表发现水表停走",
        "address": "禹城市汉槐街 20 号",
        "contact_name": "王女士",
        "contact_phone": "13805345678",
        **overrides,
    }
    data["photos"] = [(io.BytesIO(body), name) for name, body in photos]
    return client.post("/crew/field-cases", data=data, content_type="multipart/form-data")


def test_f8_a_field_report_is_the_crews_own_work_due_the_same_day_with_its_photos(
    app, app_org, client
):
    logged_in(client, "crew")
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (2 * 1024 * 1024)  # over the pages' 1 MB limit
    response = _report(client, [("a.png", PNG), ("b.jpg", big)])
    assert response.status_code == 302, text_of(response)
    number = response.headers["Location"].rsplit("#case-", 1)[1]
    case = _case(app, number)
    assert case.channel == Channel.FIELD
    assert case.first_responder_id == app_org["crew"].id  # G4
    assert case.handler_staff_id == app_org["crew"].id
    assert case.state == State.WORKER_ASSIGNED
    today = app.extensions["hotline"].now().astimezone(SHANGHAI).date()
    assert case.due_at.astimezone(SHANGHAI).date() == today  # 当日报单
    with app.extensions["hotline"].sessions() as session:
        photos = session.scalars(select(CasePhoto).where(CasePhoto.case_id == case.id)).all()
    assert [(p.content_type, p.size) for p in photos] == [
        ("image/png", len(PNG)),
        ("image/jpeg", len(big)),
    ]
    stored = Path(app.instance_path) / "uploads" / number / photos[0].file_name
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == photos[0].sha256
    # The next step is the worker's to take (接单), on the crew's own page.
    forms = _crew_forms(client)
    assert forms[0]["attrs"]["data-action"] == Action.ACKNOWLEDGE
    # The photos show on the case page and are served to staff who may see the case.
    assert f"/cases/{number}/photos/{photos[0].id}" in text_of(client.get(f"/cases/{number}"))
    served = client.get(f"/cases/{number}/photos/{photos[0].id}")
    assert served.status_code == 200 and served.data == PNG
    assert served.mimetype == "image/png"


def test_f8_photos_are_refused_to_staff_who_may_not_see_the_case(app, app_org, client):
    logged_in(client, "crew")
    number = _report(client, [("a.png", PNG)]).headers["Location"].rsplit("#case-", 1)[1]
    other = app.test_client()
    logged_in(other, "crew_meter")
    with app.extensions["hotline"].sessions() as session:
        photo_id = session.scalar(select(CasePhoto.id))
    assert other.get(f"/cases/{number}/photos/{photo_id}").status_code == 404
    operator = app.test_client()
    logged_in(operator, "operator")
    assert operator.get(f"/cases/{number}/photos/{photo_id}").status_code == 200


@pytest.mark.parametrize(
    ("photos", "overrides", "names"),
    [
        # The crew's page says the refusal in Chinese (its English words are the API's).
        ([(f"{n}.png", PNG) for n in range(6)], {}, "每张工单最多 5 张照片"),
        ([("a.gif", GIF)], {}, "“a.gif”不是 JPEG、PNG 或 WebP 格式的图片"),
        ([("big.jpg", JPEG + b"\x00" * MAX_PHOTO_BYTES)], {}, "照片“big.jpg”超过 5 MB"),
        ([("a.png", PNG)], {"category": "billing"}, "现场报单的类别只能是"),
    ],
)
def test_f8_a_field_report_out_of_bounds_is_refused_naming_the_problem_and_nothing_is_kept(
    app, app_org, client, photos, overrides, names
):
    logged_in(client, "crew")
    response = _report(client, photos, **overrides)
    assert response.status_code == 422
    assert names in unescape(text_of(response))
    with app.extensions["hotline"].sessions() as session:
        assert session.scalar(select(Case.id)) is None
        assert session.scalar(select(CasePhoto.id)) is None
    uploads = Path(app.instance_path) / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.*"))


def test_f8_only_a_crew_reports_from_the_field(app, app_org, client):
    logged_in(client, "operator")
    assert _report(client, []).status_code == 403


# -- F10: the meter well's on-site check ---------------------------------------------------


def test_f10_a_repaired_meter_well_gets_its_on_site_check_within_2_days(app, app_org, clock):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.DONE, category=Category.METER_WELL)
    repaired = clock.now
    with svc.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        checks = session.scalars(select(SiteCheck).where(SiteCheck.case_id == case_id)).all()
    assert len(checks) == 1
    assert checks[0].due_at == repaired + timedelta(days=2)
    assert checks[0].department_id == app_org.departments["METER"]  # the meter readers


def test_f10_no_on_site_check_follows_other_repairs(app, app_org):
    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.DONE, category=Category.LEAK)
    with svc.sessions() as session:
        assert session.scalar(select(SiteCheck.id)) is None


def test_f10_the_meter_reader_records_the_check_and_the_history_says_if_it_was_in_time(
    app, app_org, client, clock
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.DONE, category=Category.METER_WELL)
    logged_in(client, "crew_meter")
    html = text_of(client.get("/crew"))
    assert "待现场核实的水表井" in html and number in html
    form = next(f for f in forms_of(html) if "/crew/site-checks/" in f["attrs"]["action"])
    clock.advance(days=3)  # past the 2-day limit
    response = client.post(
        form["attrs"]["action"], data={**form["fields"], "finding": "井盖已更换,表箱完好"}
    )
    assert response.status_code == 302
    with svc.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        check = session.scalar(select(SiteCheck).where(SiteCheck.case_id == case_id))
        recorded = session.scalar(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "site_check")
        )
    assert check.checked_by_id == app_org["crew_meter"].id
    assert recorded.data["site_check_met"] is False
    assert "待现场核实的水表井" not in text_of(client.get("/crew"))


def test_f10_a_check_without_a_finding_is_refused(app, app_org, client):
    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.DONE, category=Category.METER_WELL)
    logged_in(client, "crew_meter")
    html = text_of(client.get("/crew"))
    form = next(f for f in forms_of(html) if "/crew/site-checks/" in f["attrs"]["action"])
    client.post(form["attrs"]["action"], data={**form["fields"], "finding": " "})
    with svc.sessions() as session:
        assert session.scalar(select(SiteCheck.checked_at)) is None


def test_crew_case_actions_use_the_current_version(app, app_org):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    act(svc, app_org["crew"], number, Action.START_WORK)
    assert _case(app, number).state == State.IN_PROGRESS
