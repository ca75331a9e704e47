"""The knowledge base's pure rules (G3, W10): terms, ranking, articles, versions, the seed."""

from __future__ import annotations

import pytest

from hotline.domain import knowledge as kb
from hotline.domain.errors import Forbidden, Invalid
from hotline.domain.taxonomy import Category, Role
from hotline.settings import CONFIG_DIR


def test_chinese_is_cut_into_character_bigrams_and_words_are_kept_whole():
    assert kb.terms("停水时间") == ["停水", "水时", "时间"]
    assert kb.terms("水费") == ["水费"]
    assert kb.terms("Meter  reading，水表 A") == ["meter", "reading", "水表"]
    assert kb.terms("水") == ["水"]
    assert kb.terms("") == [] and kb.terms("!!! ,。") == []


def test_terms_are_folded_deduplicated_and_capped():
    assert kb.terms("ＡＢＣ abc") == ["abc"]  # full-width folds to half-width, once
    assert kb.terms("水费水费") == ["水费", "费水"]
    assert len(kb.terms("一二三四五六七八九十" * 5)) <= kb.TERMS_MAX


def _score(query: str, **article: str) -> kb.Score:
    fields = {"title": "", "tags": "", "summary": "", "body": ""} | article
    return kb.score(kb.terms(query), query=query, **fields)


def test_g3_title_matches_rank_before_body_matches():
    """G3: an answer whose title holds the words comes first."""
    in_body = _score("停水", title="水质问题", body="停水后水发黄,放水几分钟。" * 3)
    in_title = _score("停水", title="停水时间与停水通知", body="发布通知")
    assert in_title.matched and in_body.matched
    ranked = kb.rank([("body", in_body), ("title", in_title)], limit=10)
    assert ranked == ["title", "body"]


def test_the_whole_query_in_the_title_beats_scattered_title_hits():
    whole = _score("水费", title="水费缴纳")
    scattered = _score("水费", title="缴费时用水", tags="水费")
    assert whole.key > scattered.key


def test_unmatched_articles_are_left_out_and_the_limit_holds():
    miss = _score("报装", title="水质问题", body="水发黄")
    assert not miss.matched
    hits = [(i, _score("水表", title=f"水表 {i}")) for i in range(5)]
    assert kb.rank([("miss", miss), *hits], limit=3) == [0, 1, 2]


def test_an_article_needs_a_title_a_known_category_a_summary_and_a_body():
    good = kb.check_article(
        title=" 水费缴纳 ",
        category="fee",
        tags="水费、缴费, 水费",
        summary="可到营业厅",
        body="正文",
    )
    assert good.title == "水费缴纳" and good.tags == ("水费", "缴费")
    cases = [
        ({"title": ""}, "title"),
        ({"title": "长" * 121}, "title"),
        ({"category": "rumour"}, "category"),
        ({"summary": " "}, "summary"),
        ({"body": ""}, "body"),
        ({"body": "长" * 8001}, "body"),
        ({"tags": ",".join(f"t{i}" for i in range(11))}, "tags"),
    ]
    for change, field in cases:
        fields = {"title": "标题", "category": "fee", "tags": "", "summary": "要点", "body": "正文"}
        fields.update(change)
        with pytest.raises(Invalid) as refused:
            kb.check_article(**fields)
        assert refused.value.field == field


def test_versions_name_the_fields_that_changed():
    before = {
        "title": "a",
        "category": "fee",
        "tags": "",
        "summary": "s",
        "body": "b",
        "retired": False,
    }
    assert kb.changed_fields(None, before) == ["title", "category", "tags", "summary", "body"]
    after = before | {"body": "b2", "tags": "x"}
    assert kb.changed_fields(before, after) == ["tags", "body"]
    assert kb.changed_fields(before, before) == []


def test_only_supervisors_edit_articles():
    kb.require_editor(Role.SUPERVISOR)
    for role in (Role.OPERATOR, Role.DISPATCHER, Role.CREW, Role.ADMIN):
        with pytest.raises(Forbidden):
            kb.require_editor(role)


def test_w10_only_a_consultation_waits_and_only_a_superior_is_asked():
    """W10: the question goes to a named superior who may answer; only a consultation waits."""
    ok = kb.check_question(
        category=Category.CONSULTATION,
        question=" 二次供水加压费怎么收? ",
        answerer_role=Role.SUPERVISOR,
        answerer_active=True,
    )
    assert ok == "二次供水加压费怎么收?"
    with pytest.raises(Invalid) as leak:
        kb.check_question(
            category=Category.LEAK,
            question="q",
            answerer_role=Role.SUPERVISOR,
            answerer_active=True,
        )
    assert (leak.value.field, leak.value.rule) == ("category", "W10")
    for role, active in ((Role.OPERATOR, True), (Role.CREW, True), (Role.SUPERVISOR, False)):
        with pytest.raises(Invalid) as who:
            kb.check_question(
                category=Category.CONSULTATION,
                question="q",
                answerer_role=role,
                answerer_active=active,
            )
        assert who.value.field == "answerer_id"
    with pytest.raises(Invalid) as blank:
        kb.check_question(
            category=Category.CONSULTATION,
            question=" ",
            answerer_role=Role.DISPATCHER,
            answerer_active=True,
        )
    assert blank.value.field == "question"


def test_w10_the_person_asked_answers_in_words():
    """W10: only the superior asked (or a supervisor) answers; a blank answer is refused."""
    assert (
        kb.check_answer(answer=" 按阶梯价 ", answerer_id=7, actor_id=7, actor_role=Role.DISPATCHER)
        == "按阶梯价"
    )
    kb.check_answer(answer="x", answerer_id=7, actor_id=9, actor_role=Role.SUPERVISOR)
    with pytest.raises(Forbidden):
        kb.check_answer(answer="x", answerer_id=7, actor_id=9, actor_role=Role.OPERATOR)
    with pytest.raises(Invalid):
        kb.check_answer(answer=" ", answerer_id=7, actor_id=7, actor_role=Role.DISPATCHER)
    assert kb.status_of(False, False) == kb.QuestionStatus.AWAITING_ANSWER
    assert kb.status_of(True, False) == kb.QuestionStatus.AWAITING_REPLY
    assert kb.status_of(True, True) == kb.QuestionStatus.REPLIED


def test_g3_the_shipped_seed_covers_the_procedures_the_standard_names():
    """G3: meter reading, payment, new connections, outages, water quality, meter faults, billing."""
    articles = kb.load_seed(CONFIG_DIR / "knowledge.toml")
    text = " ".join(a.draft.title + " ".join(a.draft.tags) for a in articles)
    for topic in ("抄表", "缴费", "报装", "停水", "水质", "水表故障", "账单"):
        assert topic in text, topic
    assert len({a.slug for a in articles}) == len(articles)


def test_a_bad_seed_file_is_refused_naming_the_problem():
    with pytest.raises(ValueError, match="not valid TOML"):
        kb.parse_seed("articles = [", "x.toml")
    with pytest.raises(ValueError, match="category"):
        kb.parse_seed(
            '[[articles]]\nslug="a"\ntitle="t"\ncategory="rumour"\nsummary="s"\nbody="b"\n',
            "x.toml",
        )
    twice = '[[articles]]\nslug="a"\ntitle="t"\ncategory="fee"\nsummary="s"\nbody="b"\n' * 2
    with pytest.raises(ValueError, match="twice"):
        kb.parse_seed(twice, "x.toml")
