"""The outbound queue's pages: linked where operators work, forms refused by name."""

from __future__ import annotations

from sqlalchemy import select

from callflows.models import OutboundTask
from hotline.domain.lifecycle import State
from hotline.models import Customer
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import bring_case_to


def test_the_queue_is_linked_from_the_console_and_the_staff_bar(app, app_org, client) -> None:
    """Operators reach the queue from their home (the console) and the top bar."""
    logged_in(client, "operator")
    page = text_of(client.get("/console"))
    assert 'id="outbound-link"' in page and 'href="/outbound"' in page
    queue = client.get("/outbound")
    assert queue.status_code == 200
    assert "下一个任务" in text_of(queue)


def test_next_task_opens_the_follow_up_and_the_case_page_links_it(app, app_org, client) -> None:
    """P7: the case page offers the follow-up once, as a link to its task (no rating twice)."""
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.AWAITING_FOLLOW_UP)
    logged_in(client, "operator")
    case_page = text_of(client.get(f"/cases/{number}"))
    assert 'id="follow-up-task"' in case_page
    assert case_page.count('name="attitude"') == 1  # rated once: reopening does not ask again
    reopen_form = case_page.split('data-action="reopen"', 1)[1].split("</form>", 1)[0]
    assert 'name="quality"' not in reopen_form
    token = csrf_from(text_of(client.get("/outbound")))
    taken = client.post("/outbound/next", data={"csrf_token": token})
    assert taken.status_code == 302 and "/outbound/tasks/" in taken.headers["Location"]
    task_page = text_of(client.get(taken.headers["Location"]))
    assert "拨打来电人留下的联系电话" in task_page
    assert number in task_page


def test_a_bad_script_step_is_refused_naming_it(app, app_org, client) -> None:
    """A step the engine refuses comes back as a 4xx naming the problem, nothing stored."""
    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.AWAITING_FOLLOW_UP)
    logged_in(client, "operator")
    token = csrf_from(text_of(client.get("/outbound")))
    location = client.post("/outbound/next", data={"csrf_token": token}).headers["Location"]
    task_id = int(location.rsplit("/", 1)[1])
    refused = client.post(
        f"/outbound/tasks/{task_id}/script",
        data={"csrf_token": token, "op": "answer", "answer": "satisfied"},
    )
    assert refused.status_code == 422
    assert "dial" in text_of(refused)
    bad_op = client.post(
        f"/outbound/tasks/{task_id}/script", data={"csrf_token": token, "op": "end"}
    )
    assert bad_op.status_code == 422 and 'data-field="op"' in text_of(bad_op)
    with svc.sessions() as session:
        assert session.get(OutboundTask, task_id).script_state is None


def test_booked_call_back_form(app, app_org, client) -> None:
    """W11: a call-back booked from the form is queued once; a bad phone is refused by name."""
    svc = app.extensions["hotline"]
    logged_in(client, "operator")
    token = csrf_from(text_of(client.get("/outbound")))
    form = {
        "csrf_token": token,
        "phone": "13805345678",
        "name": "周",
        "note": "系统故障,约回电",
        "due_at": "2026-11-26T10:00",
    }
    assert client.post("/outbound/call-backs", data=form).status_code == 302
    assert client.post("/outbound/call-backs", data=form).status_code == 302
    bad = client.post("/outbound/call-backs", data={**form, "phone": "abc"})
    assert bad.status_code == 422 and 'data-field="phone"' in text_of(bad)
    with svc.sessions() as session:
        kinds = session.scalars(select(OutboundTask.kind)).all()
    assert kinds == ["booked_call_back"]


def test_supervisor_sees_owners_and_fills_the_queue(app, app_org, client) -> None:
    """W14/W15: only a supervisor loads anomalies and runs dunning; the queue shows owners."""
    logged_in(client, "operator")
    token = csrf_from(text_of(client.get("/outbound")))
    forbidden = client.post("/outbound/dunning", data={"csrf_token": token})
    assert forbidden.status_code == 403
    client.post("/logout", data={"csrf_token": token})
    logged_in(client, "supervisor")
    token = csrf_from(text_of(client.get("/outbound")))
    bad = client.post(
        "/outbound/anomalies", data={"csrf_token": token, "csv_text": "account,reading\nX,1\n"}
    )
    assert bad.status_code == 422 and "expected" in text_of(bad)
    page = text_of(client.get("/outbound"))
    assert 'id="anomaly-form"' in page and 'id="dunning-form"' in page and "领取人" in page


def _bearer(org, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[who]}"}


def test_anomalies_over_the_api(app, app_org) -> None:
    """W14: the metering system's anomalies become one task each, with a deadline; once."""
    svc = app.extensions["hotline"]
    with svc.sessions() as session, session.begin():
        session.add(Customer(account_number="M7", name="吴", address="汉槐街 7 号"))
    client = app.test_client()
    body = {"rows": [{"account": "M7", "reading": 88, "expected": "12.5"}]}
    forbidden = client.post(
        "/api/outbound/anomalies", json={"junk": 1}, headers=_bearer(app_org, "operator")
    )
    assert forbidden.status_code == 403  # refused before the body is read
    first = client.post(
        "/api/outbound/anomalies", json=body, headers=_bearer(app_org, "supervisor")
    )
    again = client.post(
        "/api/outbound/anomalies", json=body, headers=_bearer(app_org, "supervisor")
    )
    assert (first.status_code, first.get_json()) == (200, {"created": 1, "rows": 1})
    assert again.get_json() == {"created": 0, "rows": 1}
    bad = client.post(
        "/api/outbound/anomalies",
        json={"rows": [{"account": "M7", "reading": -1, "expected": 1}]},
        headers=_bearer(app_org, "supervisor"),
    )
    assert bad.status_code == 422
    unknown = client.post(
        "/api/outbound/anomalies",
        json={
            "rows": [
                {"account": "M7", "reading": 5, "expected": 1},
                {"account": "NO", "reading": 5, "expected": 1},
            ]
        },
        headers=_bearer(app_org, "supervisor"),
    )
    assert unknown.status_code == 422 and "line 3" in unknown.get_json()["message"]
    with svc.sessions() as session:
        rows = session.scalars(
            select(OutboundTask).where(OutboundTask.kind == "abnormal_usage")
        ).all()
        assert len(rows) == 1 and rows[0].deadline_at is not None


def test_someone_elses_task_is_shown_without_its_controls(app, app_org, client) -> None:
    """Only the holder works a task; others (and dispatch) see it, read-only."""
    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.AWAITING_FOLLOW_UP)
    logged_in(client, "operator")
    token = csrf_from(text_of(client.get("/outbound")))
    location = client.post("/outbound/next", data={"csrf_token": token}).headers["Location"]
    client.post("/logout", data={"csrf_token": token})
    for who in ("operator2", "dispatcher"):
        other = app.test_client()
        logged_in(other, who)
        page = other.get(location)
        assert page.status_code == 200
        assert 'id="click-to-call"' not in text_of(page) and 'id="script-step"' not in text_of(page)
    crew = app.test_client()
    logged_in(crew, "crew")
    assert crew.get(location).status_code == 403
