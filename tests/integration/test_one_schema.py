"""One schema per command: a page form and the API refuse the same bad input alike.

The case page's action, visit and shut-off forms and the contact form are
loaded with the API's own schemas, so the same bad value is refused with the
same status, naming the same field, in the same words, and nothing is written.
"""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from hotline.domain.lifecycle import State
from hotline.models import Appointment, Case, CaseEvent
from tests.integration.pagehelp import action_form, csrf_from, logged_in, text_of
from tests.support import RATED, bring_case_to

LEAK = {
    "channel": "phone",
    "outcome": "dispatch",
    "caller_number": "13805341234",
    "contact_name": "孙先生",
    "contact_phone": "13805341234",
    "category": "leak",
    "priority": "normal",
    "problem": "汉槐街路边冒水",
    "need": "派人维修",
    "address": "禹城市汉槐街 18 号",
    "triage": "utility",
}


def _bearer(org, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[who]}"}


def _count(app, model) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _api_refusal(response, field: str) -> str:
    """The API's words for ``field``'s refusal (422, named)."""
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["field"] == field
    return " ".join(body["errors"]["json"][field])


def _page_refusal(response, field: str) -> str:
    """The refused page's message, which must name ``field`` (422)."""
    assert response.status_code == 422, text_of(response)
    page = html.unescape(text_of(response))
    assert f'data-field="{field}"' in page
    return page


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("attitude", 9),  # a follow-up score is 1 to 5
        ("quality", 0),
        ("version", 2**31),  # beyond any column
    ],
)
def test_a_case_action_form_and_the_api_refuse_the_same_value_in_the_same_words(
    app, app_org, client, field, bad
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.AWAITING_FOLLOW_UP)
    page = text_of(logged_in(client, "operator").get(f"/cases/{number}"))
    form = action_form(page, "close")
    events = _count(app, CaseEvent)

    api = app.test_client().post(
        f"/api/cases/{number}/actions",
        json={"action": "close", "version": int(form["version"]), "outcome": "satisfied", **RATED}
        | {field: bad},
        headers=_bearer(app_org, "operator"),
    )
    refused = client.post(
        f"/cases/{number}/action", data=form | {"outcome": "satisfied", field: str(bad)}
    )

    words = _api_refusal(api, field)
    assert f"form.{field}: {words}" in _page_refusal(refused, field)
    assert _count(app, CaseEvent) == events


def test_a_reopening_from_the_page_is_a_dissatisfied_follow_up(app, app_org, client):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.AWAITING_FOLLOW_UP)
    page = text_of(logged_in(client, "operator").get(f"/cases/{number}"))
    form = action_form(page, "reopen")
    reopen_form = page.split('data-action="reopen"', 1)[1].split("</form>", 1)[0]
    assert 'name="outcome"' not in reopen_form  # the page does not ask: reopening says it

    response = client.post(f"/cases/{number}/action", data=form | {"note": "漏水未修好"})

    assert response.status_code == 302, text_of(response)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        assert case.state == State.REOPENED
        assert case.follow_up_outcome == "dissatisfied"


@pytest.mark.parametrize(
    ("field", "bad", "sent"),
    [
        ("pipe_size_dn", "5", 5),  # DN15 to DN3000
        ("channel", "pigeon", "pigeon"),
        ("problem", "冒" * 4001, "冒" * 4001),
    ],
)
def test_the_contact_form_and_the_api_refuse_the_same_value_in_the_same_words(
    app, app_org, client, field, bad, sent
):
    page = text_of(logged_in(client, "operator").get("/operator"))

    api = app.test_client().post(
        "/api/contacts",
        json=LEAK | {"read_back_confirmed": True, field: sent},
        headers=_bearer(app_org, "operator"),
    )
    refused = client.post(
        "/contacts/new",
        data=LEAK | {"read_back_confirmed": "on", field: bad, "csrf_token": csrf_from(page)},
    )

    words = _api_refusal(api, field)
    assert f"form.{field}: {words}" in _page_refusal(refused, field)
    assert _count(app, Case) == 0


def test_the_visit_form_and_the_api_refuse_a_time_beyond_2099_in_the_same_words(
    app, app_org, client
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ACKNOWLEDGED)
    page = text_of(logged_in(client, "crew").get(f"/cases/{number}"))
    # The page says a refusal in its language: in English, the API's very words.
    assert client.post("/lang/en", data={"csrf_token": csrf_from(page)}).status_code == 302
    page = text_of(client.get(f"/cases/{number}"))

    api = app.test_client().post(
        f"/api/cases/{number}/appointments",
        json={
            "starts_at": "2150-01-01T10:00:00+08:00",
            "ends_at": "2150-01-01T12:00:00+08:00",
            "requested_by_customer": True,
        },
        headers=_bearer(app_org, "crew"),
    )
    refused = client.post(
        f"/cases/{number}/appointments",
        data={"csrf_token": csrf_from(page), "what": "book", "starts_at": "2150-01-01T10:00"},
    )

    words = _api_refusal(api, "starts_at")
    assert f"form.starts_at: {words}" in _page_refusal(refused, "starts_at")
    assert _count(app, Appointment) == 0


def test_a_chinese_page_says_the_schemas_words_in_chinese_naming_the_same_field(
    app, app_org, client
):
    number = bring_case_to(app.extensions["hotline"], app_org, State.ACKNOWLEDGED)
    page = text_of(logged_in(client, "crew").get(f"/cases/{number}"))
    refused = client.post(
        f"/cases/{number}/appointments",
        data={"csrf_token": csrf_from(page), "what": "book", "starts_at": "2150-01-01T10:00"},
    )
    assert "form.starts_at: 应在 2000 年至 2099 年之间" in _page_refusal(refused, "starts_at")


def test_the_shut_off_form_and_the_api_refuse_the_same_pipe_size_in_the_same_words(
    app, app_org, client
):
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ON_SITE)
    page = text_of(logged_in(client, "crew").get(f"/cases/{number}"))
    assert 'id="shut-off-form"' in page

    api = app.test_client().post(
        f"/api/cases/{number}/shut-off",
        json={"pipe_size_dn": 5},
        headers=_bearer(app_org, "crew"),
    )
    refused = client.post(
        f"/cases/{number}/shut-off", data={"csrf_token": csrf_from(page), "pipe_size_dn": "5"}
    )

    words = _api_refusal(api, "pipe_size_dn")
    assert f"form.pipe_size_dn: {words}" in _page_refusal(refused, "pipe_size_dn")
    assert 'id="shut-off-form"' in text_of(client.get(f"/cases/{number}"))  # still pending
