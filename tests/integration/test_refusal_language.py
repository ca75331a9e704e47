"""A refusal is said in the reader's language: Chinese on a Chinese page, English
after the switch, and both in an API error body (``message`` in English for
machines, ``display`` in the session's language for people)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError
from sqlalchemy import select

from callflows.domain.refusals import CallEnded
from hotline.domain.errors import Conflict, words
from hotline.domain.lifecycle import Action, IllegalTransition, State
from hotline.models import Case
from hotline.services.ownership import NobodyToOwn, owner_or_refuse
from hotline.web import labels
from hotline.web.refusals import refusal_text
from hotline.web.schemas import refusal_of
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import bring_case_to

ENGLISH = "completing the work needs a result note"
_CHINESE = re.compile(r"[\u3400-\u9fff]")


def _version(app, number: str) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(Case.version).where(Case.number == number))


def _complete_without_a_note(app, client, number: str):
    html = text_of(client.get(f"/cases/{number}"))
    return client.post(
        f"/cases/{number}/action",
        data={
            "csrf_token": csrf_from(html),
            "action": Action.COMPLETE.value,
            "version": str(_version(app, number)),
            "no_rating_reason": "用户不在场",
        },
    )


def _flash(response) -> str:
    found = re.search(r'<p class="flash error"[^>]*>(.*?)</p>', text_of(response), re.S)
    assert found, text_of(response)
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_a_guard_refusal_is_shown_in_chinese_on_a_chinese_page(app, app_org, client):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ON_SITE)
    response = _complete_without_a_note(app, logged_in(client, "crew"), number)
    assert response.status_code == 422
    shown = _flash(response)
    assert shown.startswith("未保存:"), shown
    assert ENGLISH not in shown
    words = shown.removeprefix("未保存:").split(" — ")[0]
    assert _CHINESE.search(words), words
    assert "(F6)" in words  # the rule that refused
    assert "result_note" in shown  # the field at fault is still named


def test_the_same_refusal_is_shown_in_english_after_the_switch(app, app_org, client):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ON_SITE)
    logged_in(client, "crew")
    html = text_of(client.get(f"/cases/{number}"))
    assert client.post("/lang/en", data={"csrf_token": csrf_from(html)}).status_code == 302
    shown = _flash(_complete_without_a_note(app, client, number))
    assert ENGLISH in shown
    assert not _CHINESE.search(shown.split(" — ")[0]), shown


def test_an_api_refusal_keeps_english_for_machines_and_adds_words_for_people(app, app_org, client):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ON_SITE)
    response = client.post(
        f"/api/cases/{number}/actions",
        json={
            "action": Action.COMPLETE.value,
            "version": _version(app, number),
            "no_rating_reason": "用户不在场",
        },
        headers={"Authorization": f"Bearer {app_org.tokens['crew']}"},
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"] == ENGLISH
    assert (body["field"], body["rule"]) == ("result_note", "F6")
    assert _CHINESE.search(body["display"]) and ENGLISH not in body["display"]


def test_values_that_are_words_of_the_vocabulary_are_filled_in_by_their_names(app):
    refusal = Conflict.from_error(IllegalTransition(State.CLOSED, Action.ACCEPT), "action")
    assert refusal.message == "action 'accept' is not allowed when the case is 'closed'"
    with app.test_request_context("/"):
        shown = refusal_text(refusal)
        assert labels.label(labels.STATE, State.CLOSED) in shown
        assert labels.label(labels.ACTION, Action.ACCEPT) in shown
    assert "closed" not in shown and "not allowed" not in shown


def test_a_time_in_a_refusal_is_the_utilitys_local_time(app):
    ended = datetime(2026, 11, 30, 19, 17, 45, tzinfo=UTC)
    refusal = Conflict.from_error(
        CallEnded(
            "cannot ask the caller to repeat: the call ended at %(ended_at)s",
            ended_at=ended.isoformat(),
        ),
        "call",
    )
    assert "2026-11-30T19:17:45+00:00" in refusal.message  # machines keep the exact time
    with app.test_request_context("/"):
        shown = refusal_text(refusal)
    assert "12-01 03:17" in shown and "2026-11-30T" not in shown  # Beijing time, as people read it


def test_a_schema_refusal_names_each_field_and_says_its_problem_in_the_page_language(app):
    refusal = refusal_of(ValidationError({"version": ["Not a valid integer."]}), "form")
    assert refusal.message == "invalid input: form.version: Not a valid integer."
    with app.test_request_context("/"):
        shown = refusal_text(refusal)
    assert "form.version: 应为整数。" in shown and "Not a valid" not in shown


def test_a_phrase_marked_as_words_is_filled_in_in_the_page_language(app):
    """G4: nobody on duty to own a WeChat report: the phrase naming the work is translated too."""
    with pytest.raises(NobodyToOwn) as refused:
        owner_or_refuse(None, lambda _session, _at: None, datetime.now(UTC), words("the report"))
    assert "no dispatcher can take the report now" in refused.value.message
    with app.test_request_context("/"):
        shown = refusal_text(refused.value)
    assert "受理这次报事" in shown and "the report" not in shown and shown.endswith("(G4)")
