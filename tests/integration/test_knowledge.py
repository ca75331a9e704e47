"""The knowledge base (G3) and questions awaiting a superior's answer (W10), on
SQLite and PostgreSQL: search, editing with history, citing, the W10 route."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callflows.domain.compliance import find_banned_phrases
from callflows.services import SubmitForm
from callflows.services import submit as submit_call
from hotline import services
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category, Stage, TriageOutcome
from hotline.models import Case, CaseArticle, CaseDeadline, KnowledgeQuestion
from hotline.services import Conflict, Forbidden, IntakeOutcome, Invalid, NotFound, knowledge
from tests.integration.callhelp import (
    answered_call,
    confirm_and_triage,
    make_flows,
    walk_to_read_back,
)
from tests.support import bring_case_to, intake_command


def _phrases(text: str) -> list[str]:
    return [flag.phrase for flag in find_banned_phrases(text)]


def _article(svc, org, who="supervisor", **change):
    fields = {
        "title": "二次供水加压费",
        "category": "fee",
        "tags": "加压,二次供水",
        "summary": "按物价部门核定标准收取",
        "body": "高层住宅二次供水加压费按核定标准收取。",
    }
    fields.update(change)
    return knowledge.create(svc, org[who], finder=_phrases, **fields)


def _titles(svc, query, **kwargs):
    with svc.sessions() as session:
        return [hit.title for hit in knowledge.search(session, query, **kwargs)]


def test_g3_the_seed_loads_once_and_chinese_queries_find_the_procedures(svc, org):
    """G3: 「水费」 finds paying for water, 「停水」 the outage times, 「报装」 new connections."""
    added, changed = knowledge.load_seed_file(svc)
    assert added >= 7 and changed == 0
    assert knowledge.load_seed_file(svc) == (0, 0)  # idempotent
    assert _titles(svc, "水费")[0] == "水费缴纳:缴费方式与欠费查询"
    assert _titles(svc, "停水")[0] == "停水时间与停水通知"
    assert _titles(svc, "报装")[0] == "用水报装:需提供的资料与办理流程"
    assert _titles(svc, "水表坏了不走字")[0] == "水表故障、表箱损坏、水表井损坏"
    assert "水质问题:水发黄、浑浊、有异味" in _titles(svc, "自来水发黄")
    assert _titles(svc, "抄表", category="procedure")[0] == "抄表:抄表日程与读数异常"
    assert _titles(svc, "火星移民") == []
    assert len(_titles(svc, "", limit=50)) == added


def test_g3_a_title_match_ranks_before_body_matches(svc, org):
    """G3: the article whose title holds the words comes first, whatever its age."""
    _article(svc, org, title="水压低怎么办", body="检查表后阀门。", tags="")
    _article(svc, org, title="夜间用水", body="夜间水压偏低属正常,高峰后恢复。" * 2, tags="")
    assert _titles(svc, "水压") == ["水压低怎么办", "夜间用水"]


def test_search_escapes_wildcards(svc, org):
    _article(svc, org, title="百分之百_测试", body="正文")
    assert _titles(svc, "%%") == []
    assert _titles(svc, "__") == []


def test_g3_supervisors_edit_with_every_version_kept(svc, org, clock):
    """G3: each change is a new version: who, when, which fields; the old text kept."""
    article_id = _article(svc, org)
    clock.advance(minutes=5)
    version = knowledge.edit(
        svc,
        org["supervisor"],
        article_id,
        title="二次供水加压费",
        category="fee",
        tags="加压,二次供水,高层",
        summary="按物价部门核定标准收取,详见营业厅公示",
        body="高层住宅二次供水加压费按核定标准收取。",
        expected_version=1,
        finder=_phrases,
    )
    assert version == 2
    with svc.sessions() as session:
        rows = knowledge.versions(session, article_id)
        assert [v.version for v in rows] == [2, 1]
        assert rows[0].changes == ["tags", "summary"]
        assert rows[0].changed_by_id == org["supervisor"].id
        assert rows[0].changed_at > rows[1].changed_at
        assert rows[1].summary == "按物价部门核定标准收取"
    with pytest.raises(Conflict) as stale:
        knowledge.edit(
            svc,
            org["supervisor"],
            article_id,
            title="x",
            category="fee",
            summary="s",
            body="b",
            expected_version=1,
        )
    assert stale.value.field == "version"
    with pytest.raises(Forbidden):
        knowledge.edit(
            svc, org["operator"], article_id, title="x", category="fee", summary="s", body="b"
        )
    with pytest.raises(Forbidden):
        _article(svc, org, who="dispatcher")
    with pytest.raises(NotFound):
        knowledge.edit(
            svc, org["supervisor"], 99999, title="x", category="fee", summary="s", body="b"
        )


def test_g3_a_retired_article_leaves_the_search_and_keeps_its_history(svc, org):
    article_id = _article(svc, org)
    assert knowledge.retire(svc, org["supervisor"], article_id, note="标准已调整") == 2
    assert _titles(svc, "加压") == []
    assert _titles(svc, "加压", include_retired=True) == ["二次供水加压费"]
    with svc.sessions() as session:
        latest = knowledge.versions(session, article_id)[0]
        assert latest.retired and latest.changes == ["retired"] and latest.note == "标准已调整"
    with pytest.raises(Conflict):
        knowledge.retire(svc, org["supervisor"], article_id)


def test_g2_banned_phrases_in_an_article_are_recorded_with_its_version(svc, org):
    """G2: staff text in the knowledge base is checked like any other."""
    article_id = _article(svc, org, summary="这个我们办不了,请找物业")
    with svc.sessions() as session:
        assert knowledge.versions(session, article_id)[0].flags == ["办不了"]


def test_g3_a_consultation_answered_on_the_call_cites_its_article(svc, org):
    """G3: the consultation case records the article it answered with, at that version."""
    knowledge.load_seed_file(svc)
    with svc.sessions() as session:
        [hit] = knowledge.search(session, "水费", limit=1)
    number = bring_case_to(svc, org, State.ANSWERED_ON_CALL)
    knowledge.cite(svc, org["operator"], number, hit.id)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        [cited] = knowledge.articles_for_case(session, case.id)
        assert (cited.article_id, cited.version, cited.cited_by_id) == (
            hit.id,
            1,
            org["operator"].id,
        )
        last = services.history(session, org["operator"], number)[-1]
        assert last.action == "knowledge_cited" and last.data["article_id"] == hit.id
    dispatched = bring_case_to(svc, org, State.WITH_DISPATCH)
    with pytest.raises(Invalid) as refused:
        knowledge.cite(svc, org["operator"], dispatched, hit.id)
    assert refused.value.field == "article_id"
    with pytest.raises(Invalid):
        knowledge.cite(svc, org["operator"], number, 99999)


def _consultation(svc, org) -> str:
    cmd = intake_command(
        IntakeOutcome.DISPATCH,
        category=Category.CONSULTATION,
        triage=TriageOutcome.NOT_A_REPAIR,
        problem="高层二次供水加压费怎么收",
        need="想知道收费标准",
    )
    return services.intake(svc, org["operator"], cmd).case_number or ""


def test_w10_a_question_waits_for_the_named_superior_by_the_reply_deadline(svc, org, clock):
    """W10: do not guess: the consultation is routed to a named superior, due at the
    case's reply deadline (the time-limit policy's reply stage), in their list."""
    published = []
    svc.publish = published.append
    number = _consultation(svc, org)
    view = knowledge.ask(
        svc, org["operator"], number, answerer_id=org["dispatcher"].id, question="加压费怎么收?"
    )
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        reply_due = session.scalar(
            select(CaseDeadline.due_at).where(
                CaseDeadline.case_id == case.id, CaseDeadline.stage == str(Stage.REPLY)
            )
        )
        assert view.due_at == reply_due
        assert reply_due == svc.policy.due_at(
            case.created_at, Category.CONSULTATION, case.priority, Stage.REPLY
        )
        mine = knowledge.questions(session, org["dispatcher"], clock.now)
        assert [q.case_number for q in mine["to_answer"]] == [number]
        assert knowledge.questions(session, org["operator2"], clock.now)["to_answer"] == []
    assert view.status == "awaiting_answer" and view.answerer_name
    assert any(p["action"] == "question_asked" for p in published)
    with pytest.raises(Conflict):
        knowledge.ask(svc, org["operator"], number, answerer_id=org["dispatcher"].id, question="q")

    with pytest.raises(Forbidden):
        knowledge.answer(svc, org["operator"], view.id, answer="我猜是两块")
    clock.advance(hours=3)
    answered = knowledge.answer(svc, org["dispatcher"], view.id, answer="按核定标准每吨0.3元")
    assert answered.status == "awaiting_reply" and not answered.overdue
    with pytest.raises(Conflict):
        knowledge.answer(svc, org["dispatcher"], view.id, answer="again")
    with svc.sessions() as session:
        assert [
            q.id for q in knowledge.questions(session, org["operator"], clock.now)["to_reply"]
        ] == [view.id]
    with pytest.raises(Forbidden):
        knowledge.record_reply(svc, org["crew"], view.id, method="call")
    replied = knowledge.record_reply(svc, org["operator"], view.id, method="sms", note="已短信告知")
    assert replied.status == "replied" and replied.reply_method == "sms"
    with svc.sessions() as session:
        actions = [e.action for e in services.history(session, org["operator"], number)]
        assert actions[-3:] == ["question_asked", "question_answered", "question_replied"]


def test_w10_only_a_consultation_with_dispatch_and_a_superior_may_wait(svc, org):
    """W10: a leak does not wait for an answer; an operator is not a superior; an
    answered-on-call case has no reply clock."""
    leak = bring_case_to(svc, org, State.WITH_DISPATCH)
    with pytest.raises(Invalid) as not_consultation:
        knowledge.ask(svc, org["operator"], leak, answerer_id=org["supervisor"].id, question="q")
    assert not_consultation.value.field == "category"
    number = _consultation(svc, org)
    with pytest.raises(Invalid) as operator:
        knowledge.ask(svc, org["operator"], number, answerer_id=org["operator2"].id, question="q")
    assert operator.value.field == "answerer_id"
    answered = bring_case_to(svc, org, State.ANSWERED_ON_CALL, category=Category.CONSULTATION)
    with pytest.raises(Invalid) as no_clock:
        knowledge.ask(
            svc, org["operator"], answered, answerer_id=org["supervisor"].id, question="q"
        )
    assert no_clock.value.rule == "W10"
    with svc.sessions() as session:
        assert session.scalar(select(KnowledgeQuestion.id)) is None


def test_w10_a_supervisors_answer_may_become_an_article(svc, org):
    number = _consultation(svc, org)
    view = knowledge.ask(
        svc, org["operator"], number, answerer_id=org["supervisor"].id, question="加压费怎么收?"
    )
    answered = knowledge.answer(
        svc,
        org["supervisor"],
        view.id,
        answer="按核定标准收取,详见营业厅公示",
        make_article=True,
        title="二次供水加压费怎么收",
        category="fee",
    )
    assert answered.article_id
    assert _titles(svc, "加压费") == ["二次供水加压费怎么收"]


def test_the_submission_cites_the_article_and_asks_in_one_transaction(svc, org):
    """G3 and W10 through a call's submission: all written together, or nothing."""
    knowledge.load_seed_file(svc)
    with svc.sessions() as session:
        [hit] = knowledge.search(session, "停水", limit=1)
    flows = make_flows()
    operator = org["operator"]

    call_id = answered_call(svc, flows, operator, sid="KB-1")
    walk_to_read_back(svc, flows, operator, call_id, category="consultation")
    confirm_and_triage(svc, flows, operator, call_id, triage="not_a_repair")
    result = submit_call(
        svc,
        flows,
        operator,
        call_id,
        SubmitForm(outcome=IntakeOutcome.ANSWER_ON_CALL, answer="明日恢复供水", article_id=hit.id),
    )
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == result.case_number))
        assert [c.article_id for c in knowledge.articles_for_case(session, case.id)] == [hit.id]

    bad = answered_call(svc, flows, operator, number="13905340000", sid="KB-2")
    walk_to_read_back(svc, flows, operator, bad, category="consultation")
    confirm_and_triage(svc, flows, operator, bad, triage="not_a_repair")
    with pytest.raises(Invalid) as refused:
        submit_call(
            svc,
            flows,
            operator,
            bad,
            SubmitForm(
                outcome=IntakeOutcome.DISPATCH, ask_answerer_id=org["crew"].id, question="q"
            ),
        )
    assert refused.value.field == "answerer_id"
    with svc.sessions() as session:
        assert (
            session.scalar(select(Case.id).where(Case.id > case.id)) is None
        )  # nothing half-written
        assert session.scalar(select(CaseArticle).where(CaseArticle.case_id != case.id)) is None

    asked = submit_call(
        svc,
        flows,
        operator,
        bad,
        SubmitForm(
            outcome=IntakeOutcome.DISPATCH,
            ask_answerer_id=org["supervisor"].id,
            question="高层加压费怎么收",
        ),
    )
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == asked.case_number))
        view = knowledge.question_for_case(session, case.id, svc.now())
        assert view is not None and view.answerer_id == org["supervisor"].id
        assert view.question == "高层加压费怎么收"
