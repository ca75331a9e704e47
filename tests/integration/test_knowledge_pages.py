"""The knowledge base on the web (G3, W10): the pages, the API, the case page's section."""

from __future__ import annotations

from sqlalchemy import select

from hotline import services
from hotline.domain.taxonomy import Category, TriageOutcome
from hotline.models import Case, KnowledgeArticle
from hotline.services import IntakeOutcome, knowledge
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import intake_command


def _svc(app):
    return app.extensions["hotline"]


def test_g3_every_staff_member_finds_answers_on_the_knowledge_page(app, app_org, client):
    """G3: /knowledge is linked from the top bar and searches in Chinese."""
    knowledge.load_seed_file(_svc(app))
    logged_in(client, "crew")
    home = text_of(client.get("/knowledge"))
    assert "抄表:抄表日程与读数异常" in home and "新建条目" not in home
    found = text_of(client.get("/knowledge?q=停水"))
    assert found.index("停水时间与停水通知") < found.index("</table>")
    assert "没有找到相关条目" in text_of(client.get("/knowledge?q=火星移民"))
    assert client.get("/knowledge/new").status_code == 403
    other = app.test_client()
    logged_in(other, "dispatcher")
    assert 'href="/knowledge"' in text_of(other.get("/board"))  # in the top bar


def test_g3_the_api_search_answers_title_matches_first(app, app_org, client):
    knowledge.load_seed_file(_svc(app))
    logged_in(client, "operator")
    response = client.get("/api/knowledge/articles?q=水费&limit=3")
    assert response.status_code == 200
    hits = response.get_json()
    assert hits[0]["title"] == "水费缴纳:缴费方式与欠费查询" and hits[0]["summary"]
    assert client.get("/api/knowledge/articles?limit=0").status_code == 422
    assert client.get("/api/knowledge/articles?q=" + "长" * 201).status_code == 422


def test_g3_a_supervisor_writes_edits_and_retires_on_the_pages_with_history(app, app_org, client):
    """G3: create, change (a new version shown with who and what), retire."""
    logged_in(client, "supervisor")
    form = text_of(client.get("/knowledge/new"))
    token = csrf_from(form)
    refused = client.post(
        "/knowledge/new",
        data={"csrf_token": token, "title": "", "category": "fee", "summary": "s", "body": "b"},
    )
    assert refused.status_code == 422 and "title" in text_of(refused)
    created = client.post(
        "/knowledge/new",
        data={
            "csrf_token": token,
            "title": "二次供水加压费",
            "category": "fee",
            "tags": "加压、高层",
            "summary": "按核定标准收取",
            "body": "高层住宅加压费按核定标准收取。",
        },
    )
    assert created.status_code == 302
    article_url = created.headers["Location"]
    edit_url = article_url + "/edit"
    edit_form = text_of(client.get(edit_url))
    assert 'name="version" value="1"' in edit_form
    changed = client.post(
        edit_url,
        data={
            "csrf_token": token,
            "version": "1",
            "title": "二次供水加压费",
            "category": "fee",
            "tags": "加压、高层",
            "summary": "按核定标准收取,详见营业厅公示",
            "body": "高层住宅加压费按核定标准收取。",
        },
    )
    assert changed.status_code == 302
    page = text_of(client.get(article_url))
    assert "v2" in page and "修改了 答复要点" in page and "详见营业厅公示" in page
    stale = client.post(
        edit_url,
        data={
            "csrf_token": token,
            "version": "1",
            "title": "x",
            "category": "fee",
            "summary": "s",
            "body": "b",
        },
    )
    assert stale.status_code == 409
    retired = client.post(article_url + "/retire", data={"csrf_token": token, "note": "停用"})
    assert retired.status_code == 302
    assert "已停用" in text_of(client.get(article_url))
    assert "二次供水加压费" not in text_of(client.get("/knowledge?q=加压"))


def test_the_api_writes_articles_for_supervisors_only(app, app_org, client):
    supervisor = {"Authorization": f"Bearer {app_org.tokens['supervisor']}"}
    operator = {"Authorization": f"Bearer {app_org.tokens['operator']}"}
    body = {"title": "夜间水压", "category": "problem", "summary": "高峰后恢复", "body": "正文"}
    assert client.post("/api/knowledge/articles", json=body, headers=operator).status_code == 403
    assert (
        client.post(
            "/api/knowledge/articles", json={**body, "title": ""}, headers=supervisor
        ).status_code
        == 422
    )
    created = client.post("/api/knowledge/articles", json=body, headers=supervisor)
    assert created.status_code == 201
    article_id = created.get_json()["id"]
    changed = client.put(
        f"/api/knowledge/articles/{article_id}",
        json={**body, "body": "正文二", "version": 1},
        headers=supervisor,
    )
    assert changed.get_json()["version"] == 2
    with _svc(app).sessions() as session:
        assert session.get(KnowledgeArticle, article_id).body == "正文二"


def test_w10_the_case_page_routes_the_question_and_shows_the_answer(app, app_org, client):
    """W10: asked from the case page, answered by the superior in their list, passed on."""
    svc = _svc(app)
    cmd = intake_command(
        IntakeOutcome.DISPATCH,
        category=Category.CONSULTATION,
        triage=TriageOutcome.NOT_A_REPAIR,
        problem="加压费怎么收",
    )
    number = services.intake(svc, app_org["operator"], cmd).case_number
    logged_in(client, "operator")
    page = text_of(client.get(f"/cases/{number}"))
    assert "请示上级(W10)" in page
    token = csrf_from(page)
    asked = client.post(
        f"/cases/{number}/question",
        data={
            "csrf_token": token,
            "answerer_id": str(app_org["dispatcher"].id),
            "question": "加压费怎么收",
        },
    )
    assert asked.status_code == 302
    assert "待上级答复" in text_of(client.get(f"/cases/{number}"))
    client.post("/logout", data={"csrf_token": token})

    other = app.test_client()
    logged_in(other, "dispatcher")
    listing = text_of(other.get("/knowledge/questions"))
    assert number in listing and "question-answer-form" in listing
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        question = knowledge.question_for_case(session, case.id, svc.now())
    answered = other.post(
        f"/knowledge/questions/{question.id}/answer",
        data={"csrf_token": csrf_from(listing), "answer": "按核定标准收取"},
    )
    assert answered.status_code == 302

    third = app.test_client()
    logged_in(third, "operator")
    to_reply = text_of(third.get("/knowledge/questions"))
    assert "question-reply-form" in to_reply and "按核定标准收取" in to_reply
    replied = third.post(
        f"/knowledge/questions/{question.id}/reply",
        data={
            "csrf_token": csrf_from(to_reply),
            "method": "call",
            "case_number": number,
            "back": "case",
        },
    )
    assert replied.status_code == 302
    assert "已告知来电人" in text_of(third.get(f"/cases/{number}"))


def test_w10_the_api_asks_answers_and_records_the_reply(app, app_org, client):
    """W10 through the API: the superior asked sees it, answers; the first responder replies."""
    svc = _svc(app)
    cmd = intake_command(
        IntakeOutcome.DISPATCH,
        category=Category.CONSULTATION,
        triage=TriageOutcome.NOT_A_REPAIR,
    )
    number = services.intake(svc, app_org["operator"], cmd).case_number

    def auth(who):
        return {"Authorization": f"Bearer {app_org.tokens[who]}"}

    bad = client.post(
        f"/api/cases/{number}/question",
        json={"answerer_id": app_org["crew"].id, "question": "加压费?"},
        headers=auth("operator"),
    )
    assert bad.status_code == 422 and bad.get_json()["field"] == "answerer_id"
    assert (
        client.post(
            f"/api/cases/{number}/question", json={"answerer_id": 1}, headers=auth("operator")
        ).status_code
        == 422
    )
    asked = client.post(
        f"/api/cases/{number}/question",
        json={"answerer_id": app_org["dispatcher"].id, "question": "加压费?"},
        headers=auth("operator"),
    )
    assert asked.status_code == 201, asked.get_json()
    question_id = asked.get_json()["id"]
    lists = client.get("/api/knowledge/questions", headers=auth("dispatcher")).get_json()
    assert [q["id"] for q in lists["to_answer"]] == [question_id]
    assert (
        client.post(
            f"/api/knowledge/questions/{question_id}/answer",
            json={"answer": "猜一个"},
            headers=auth("operator"),
        ).status_code
        == 403
    )
    answered = client.post(
        f"/api/knowledge/questions/{question_id}/answer",
        json={"answer": "按核定标准收取"},
        headers=auth("dispatcher"),
    )
    assert answered.get_json()["status"] == "awaiting_reply"
    replied = client.post(
        f"/api/knowledge/questions/{question_id}/reply",
        json={"method": "call"},
        headers=auth("operator"),
    )
    assert replied.status_code == 200 and replied.get_json()["status"] == "replied"
