"""In a real browser: during a call the operator finds the answer in the knowledge
panel beside the script (suggested from the caller's words), answers with it,
and the consultation case cites the article (G3); a question nobody can answer
goes to a named superior with the reply deadline (W10).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from hotline.models import Case, CaseArticle, KnowledgeQuestion
from hotline.services import knowledge
from tests.e2e.browser import log_in

CASE_NUMBER = re.compile(r"^RY-\d{8}-\d{4}$")
OUTAGE_TITLE = "停水时间与停水通知"


def _ring(new_page: Any, base_url: str, number: str) -> None:
    caller = new_page()
    log_in(caller, base_url, "crew")
    caller.goto(f"{base_url}/simulator")
    caller.fill("input[name=from]", number)
    with caller.expect_navigation():
        caller.click("#place-call")
    expect(caller.locator("#sim-status")).to_have_attribute("data-status", "ringing")


def _at(page: Any, step: str) -> None:
    expect(page.locator("#step-box")).to_have_attribute("data-step", step)


def _enquiry_to_read_back(page: Any, problem: str, need: str) -> None:
    """Greeting, an enquiry, name, the P4 items, category consultation, read back."""
    banner = page.locator("#incoming-banner")
    expect(banner).to_be_visible()
    with page.expect_navigation(url=re.compile(r"/console/calls/\d+$")):
        banner.locator(".incoming-answer").click()
    page.click("#step-complete")
    _at(page, "purpose")
    page.click("#step-answers button[data-answer=enquiry]")
    _at(page, "ask_name")
    page.fill("#step-captures [data-field=caller_name]", "孙")
    page.click("#step-complete")
    for step, value in (
        ("ask_problem", problem),
        ("ask_need", need),
        ("ask_address", "禹城市汉槐街 18 号"),
    ):
        _at(page, step)
        page.fill(f"#step-captures [data-field={step.removeprefix('ask_')}]", value)
        page.click("#step-complete")
    _at(page, "classify")
    page.select_option("#step-captures select[data-field=category]", "consultation")
    page.click("#step-complete")
    _at(page, "read_back")
    page.click("#confirm-read-back")
    expect(page.locator("#read-back-flag")).to_have_class(re.compile(r"\bok\b"))
    page.select_option("#case-form select[data-field=triage]", "not_a_repair")


@pytest.mark.browser
def test_g3_the_operator_answers_from_the_knowledge_base_and_the_case_cites_it(
    live_server, page, new_page
) -> None:
    """G3: searchable answers beside the script; the consultation cites the answer given."""
    base = live_server.url
    knowledge.load_seed_file(live_server.app.extensions["hotline"])
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    _ring(new_page, base, "13805341234")
    _enquiry_to_read_back(page, "家里停水了,想问什么时候来水", "告知恢复供水时间")

    panel = page.locator("#knowledge-panel")
    expect(panel).to_be_visible()
    # Suggested from the caller's words, the outage article first.
    first = panel.locator("#knowledge-results .knowledge-hit").first
    expect(first).to_contain_text(OUTAGE_TITLE)
    # The search box finds other answers too.
    page.fill("#knowledge-query", "水费")
    expect(panel.locator("#knowledge-results .knowledge-hit").first).to_contain_text("水费缴纳")
    page.fill("#knowledge-query", "停水")
    hit = panel.locator("#knowledge-results .knowledge-hit").first
    expect(hit).to_contain_text(OUTAGE_TITLE)
    hit.locator(".knowledge-use").click()
    expect(page.locator("#knowledge-chosen")).to_contain_text(OUTAGE_TITLE)
    expect(page.locator("#case-form [name=answer]")).to_have_value(re.compile("停水"))

    page.click("#submit-answer")
    number_box = page.locator("#result-case-number")
    expect(number_box).to_be_visible()
    number = number_box.inner_text().strip()
    assert CASE_NUMBER.match(number), number
    expect(page.locator("#console-error")).to_be_hidden()

    with live_server.app.extensions["hotline"].sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        [cited] = session.scalars(select(CaseArticle).where(CaseArticle.case_id == case.id)).all()
        assert cited.article.title == OUTAGE_TITLE
    page.goto(f"{base}/cases/{number}")
    expect(page.locator("#knowledge-cited")).to_contain_text(OUTAGE_TITLE)


@pytest.mark.browser
def test_w10_a_question_nobody_can_answer_goes_to_a_named_superior(
    live_server, page, new_page
) -> None:
    """W10: do not guess: the consultation waits for the chosen superior, who sees it."""
    base = live_server.url
    log_in(page, base, "operator")
    page.goto(f"{base}/console")
    _ring(new_page, base, "13905345678")
    _enquiry_to_read_back(page, "高层二次供水加压费怎么收", "想知道收费标准")

    page.locator("#knowledge-ask summary").click()
    page.select_option("#knowledge-answerer", str(live_server.org["supervisor"].id))
    page.click("#knowledge-ask-submit")
    number_box = page.locator("#result-case-number")
    expect(number_box).to_be_visible()
    number = number_box.inner_text().strip()
    with live_server.app.extensions["hotline"].sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        question = session.scalar(
            select(KnowledgeQuestion).where(KnowledgeQuestion.case_id == case.id)
        )
        assert question is not None and question.question == "高层二次供水加压费怎么收"
        assert question.answerer_id == live_server.org["supervisor"].id

    superior = new_page()
    log_in(superior, base, "supervisor")
    superior.goto(f"{base}/knowledge/questions")
    expect(superior.locator("#questions-to-answer")).to_contain_text(number)
