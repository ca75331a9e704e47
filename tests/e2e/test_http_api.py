"""The JSON API over real HTTP: the real app on a loopback port, a SQLite file
built by the migrations, and ``requests`` as the client.

Covers the OpenAPI document and its locally served Swagger UI, a case taken
from intake through assignment to acknowledgement by three people with their
own tokens, refusals that answer 4xx naming the field (never 500) without
writing anything, and the case list's filters and pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from sqlalchemy import func, select

from hotline import services
from hotline.app import create_app
from hotline.cli import upgrade_database
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, CaseEvent, Contact
from tests.conftest import SHANGHAI, FakeClock
from tests.e2e.server import LiveServer
from tests.support import LEAK_REPORT, Org, act, bring_case_to, intake_command, seed_org

TIMEOUT = 30
CASE_NUMBER = re.compile(r"^RY-(\d{8})-\d{4}$")


# -- fixtures -------------------------------------------------------------------


@pytest.fixture
def api_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api_app(tmp_path: Path, api_clock: FakeClock) -> Iterator[Any]:
    """The real application on a SQLite file whose schema the migrations built."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade_database(url)
    app = create_app(
        {
            "database_url": url,
            "secret_key": "http-api-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        },
        clock=api_clock,
    )
    yield app
    app.extensions["hotline.engine"].dispose()


@pytest.fixture
def api_org(api_app: Any) -> Org:
    return seed_org(api_app.extensions["hotline"])


@pytest.fixture
def server(api_app: Any) -> Iterator[LiveServer]:
    with LiveServer(api_app) as live:
        yield live


class Caller:
    """One member of staff calling the API with their bearer token (or none)."""

    def __init__(self, server: LiveServer, token: str | None) -> None:
        self.base = server.url
        self.http = requests.Session()
        if token is not None:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=TIMEOUT, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, timeout=TIMEOUT, **kwargs)

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def case_total(self) -> int:
        response = self.get("/api/cases")
        assert response.status_code == 200, response.text
        return response.json()["total"]


@pytest.fixture
def callers(server: LiveServer, api_org: Org) -> Iterator[dict[str, Caller]]:
    people = {name: Caller(server, token) for name, token in api_org.tokens.items()}
    yield people
    for caller in people.values():
        caller.http.close()


def refused(response: requests.Response, status: int, *named: str) -> dict[str, Any]:
    """The response has exactly this status and a JSON body with a message; the body names ``named``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body.get("message"), body
    text = " ".join(str(value) for value in body.values())
    for word in named:
        assert word in text, (word, body)
    return body


def count_rows(app: Any, model: type) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- the OpenAPI document and its page --------------------------------------------


def test_openapi_document_is_json_describing_every_case_endpoint(server: LiveServer) -> None:
    response = requests.get(server.url + "/api/openapi.json", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    paths = document["paths"]
    expected = {
        "/api/contacts": {"post"},
        "/api/cases": {"get"},
        "/api/cases/{number}": {"get"},
        "/api/cases/{number}/actions": {"post"},
        "/api/cases/{number}/history": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
    intake = paths["/api/contacts"]["post"]
    assert "201" in intake["responses"]
    assert "requestBody" in intake
    assert "bearer" in document["components"]["securitySchemes"]


def test_api_docs_page_serves_swagger_ui_from_this_server(server: LiveServer) -> None:
    page = requests.get(server.url + "/api/docs", timeout=TIMEOUT)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", page.text)
    assert any(asset.endswith(".js") for asset in assets), page.text
    assert any(asset.endswith(".css") for asset in assets), page.text
    assert "/api/openapi.json" in page.text
    for asset in assets:
        url = urljoin(page.url, asset)
        assert url.startswith(server.url + "/"), f"{asset} is not served by the product"
        response = requests.get(url, timeout=TIMEOUT)
        assert response.status_code == 200, url
        assert len(response.content) > 1000, url
        kind = "css" if asset.endswith(".css") else "javascript"
        assert kind in response.headers["Content-Type"], (url, response.headers["Content-Type"])


# -- a case from intake to acknowledgement ------------------------------------------


def test_case_goes_from_intake_through_assignment_to_acknowledgement(
    callers: dict[str, Caller], api_org: Org, api_clock: FakeClock
) -> None:
    operator, dispatcher, crew = callers["operator"], callers["dispatcher"], callers["crew"]

    created = operator.post("/api/contacts", json=LEAK_REPORT)

    assert created.status_code == 201, created.text
    intake = created.json()
    match = CASE_NUMBER.match(intake["case_number"] or "")
    assert match, intake
    assert match.group(1) == api_clock.now.astimezone(SHANGHAI).strftime("%Y%m%d")
    assert intake["state"] == State.WITH_DISPATCH
    assert intake["promised_at"] is not None
    assert _time(intake["promised_at"]) > api_clock.now
    number = intake["case_number"]

    case = operator.get(f"/api/cases/{number}").json()
    assert case["state"] == State.WITH_DISPATCH and case["version"] >= 1

    api_clock.advance(minutes=10)
    assigned = dispatcher.post(
        f"/api/cases/{number}/actions",
        json={
            "action": "assign",
            "version": case["version"],
            "department_id": api_org.departments["REPAIR"],
        },
    )

    assert assigned.status_code == 200, assigned.text
    case = assigned.json()
    assert case["state"] == State.ASSIGNED
    assert case["handler_department"]["id"] == api_org.departments["REPAIR"]

    api_clock.advance(minutes=5)
    for body in (
        {"action": "accept"},  # the department signs for it (签收)
        {"action": "assign_worker", "staff_id": api_org["crew"].id},  # and names the worker (派工)
    ):
        step = crew.post(f"/api/cases/{number}/actions", json={**body, "version": case["version"]})
        assert step.status_code == 200, step.text
        case = step.json()
    acknowledged = crew.post(
        f"/api/cases/{number}/actions",
        json={"action": "acknowledge", "version": case["version"]},
    )

    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["state"] == State.ACKNOWLEDGED

    history = operator.get(f"/api/cases/{number}/history")
    assert history.status_code == 200, history.text
    events = history.json()
    assert [event["action"] for event in events] == [
        "register",
        "dispatch",
        "assign",
        "accept",
        "assign_worker",
        "acknowledge",
    ]
    assert [event["seq"] for event in events] == [1, 2, 3, 4, 5, 6]
    assert [event["to_state"] for event in events] == [
        State.REGISTERED,
        State.WITH_DISPATCH,
        State.ASSIGNED,
        State.ACCEPTED,
        State.WORKER_ASSIGNED,
        State.ACKNOWLEDGED,
    ]
    assert [event["actor"]["id"] for event in events] == [
        api_org["operator"].id,
        api_org["operator"].id,
        api_org["dispatcher"].id,
        api_org["crew"].id,
        api_org["crew"].id,
        api_org["crew"].id,
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", event["hash"]) for event in events)


# -- refusals ---------------------------------------------------------------------


def test_intake_without_category_is_refused_naming_it_and_writes_nothing(
    callers: dict[str, Caller], api_app: Any
) -> None:
    operator = callers["operator"]
    cases_before, contacts_before = operator.case_total(), count_rows(api_app, Contact)
    report = {key: value for key, value in LEAK_REPORT.items() if key != "category"}

    response = operator.post("/api/contacts", json=report)

    body = refused(response, 422, "category")
    assert body.get("field") == "category"
    assert operator.case_total() == cases_before
    assert count_rows(api_app, Contact) == contacts_before


def test_intake_refused_after_the_contact_was_started_leaves_no_trace(
    callers: dict[str, Caller], api_app: Any
) -> None:
    operator = callers["operator"]
    cases_before, contacts_before = operator.case_total(), count_rows(api_app, Contact)
    transfer = {
        **LEAK_REPORT,
        "outcome": "transfer",
        "category": "consultation",
        "triage": "not_a_repair",
        "told_caller": "请到营业大厅办理",
        "target_department_id": 99_999,
    }

    response = operator.post("/api/contacts", json=transfer)

    refused(response, 404, "target_department_id")
    assert operator.case_total() == cases_before
    assert count_rows(api_app, Contact) == contacts_before
    assert count_rows(api_app, CaseEvent) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "volcano"}, "category"),
        ({"pipe_size_dn": "big"}, "pipe_size_dn"),
        ({"read_back_confirmed": "perhaps"}, "read_back_confirmed"),
        ({"surprise": 1}, "surprise"),
    ],
    ids=["unknown-category", "text-for-a-number", "text-for-a-boolean", "unknown-field"],
)
def test_intake_with_a_wrongly_typed_field_is_refused_naming_it(
    callers: dict[str, Caller], api_app: Any, change: dict[str, Any], field: str
) -> None:
    operator = callers["operator"]

    response = operator.post("/api/contacts", json={**LEAK_REPORT, **change})

    body = refused(response, 422, field)
    assert field in body["errors"]["json"]
    assert operator.case_total() == 0
    assert count_rows(api_app, Contact) == 0


def test_intake_body_that_is_not_an_object_is_refused(callers: dict[str, Caller]) -> None:
    response = callers["operator"].post("/api/contacts", json=[LEAK_REPORT])

    refused(response, 422)


def test_intake_body_that_is_not_json_is_refused_not_a_server_error(
    callers: dict[str, Caller],
) -> None:
    response = callers["operator"].post(
        "/api/contacts",
        data='{"channel": "phone",',
        headers={"Content-Type": "application/json"},
    )

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    refused(response, response.status_code, "JSON")


@pytest.fixture
def open_case(api_app: Any, api_org: Org) -> str:
    """A case waiting for dispatch, opened through the service layer."""
    return bring_case_to(api_app.extensions["hotline"], api_org, State.WITH_DISPATCH)


def test_unknown_action_is_refused_naming_the_field(
    callers: dict[str, Caller], open_case: str
) -> None:
    response = callers["dispatcher"].post(
        f"/api/cases/{open_case}/actions", json={"action": "teleport", "version": 1}
    )

    refused(response, 422, "action")


def test_action_with_a_version_of_the_wrong_type_is_refused_naming_it(
    callers: dict[str, Caller], open_case: str, api_app: Any
) -> None:
    events_before = count_rows(api_app, CaseEvent)

    response = callers["dispatcher"].post(
        f"/api/cases/{open_case}/actions", json={"action": "assign", "version": "1"}
    )

    refused(response, 422, "version")
    assert count_rows(api_app, CaseEvent) == events_before


def test_stale_version_is_refused_with_409_and_changes_nothing(
    callers: dict[str, Caller], open_case: str, api_org: Org, api_app: Any
) -> None:
    dispatcher = callers["dispatcher"]
    seen = dispatcher.get(f"/api/cases/{open_case}").json()["version"]
    act(
        api_app.extensions["hotline"],
        api_org["dispatcher"],
        open_case,
        Action.ASSIGN,
        department_id=api_org.departments["REPAIR"],
    )
    events_before = count_rows(api_app, CaseEvent)

    response = dispatcher.post(
        f"/api/cases/{open_case}/actions",
        json={"action": "add_note", "version": seen, "reason": "已电话联系来电人"},
    )

    refused(response, 409, "version")
    assert count_rows(api_app, CaseEvent) == events_before
    assert dispatcher.get(f"/api/cases/{open_case}").json()["state"] == State.ASSIGNED


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/cases/RY-20000101-9999", None),
        ("get", "/api/cases/RY-20000101-9999/history", None),
        ("post", "/api/cases/RY-20000101-9999/actions", {"action": "add_note", "version": 1}),
    ],
    ids=["case", "history", "actions"],
)
def test_unknown_case_answers_404(
    callers: dict[str, Caller], method: str, path: str, body: dict[str, Any] | None
) -> None:
    caller = callers["dispatcher"]

    response = caller.get(path) if method == "get" else caller.post(path, json=body)

    refused(response, 404, "RY-20000101-9999")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/cases"), ("post", "/api/contacts"), ("get", "/api/cases/RY-20261126-0001")],
    ids=["list", "intake", "case"],
)
@pytest.mark.parametrize("token", [None, "hl_not-a-real-token"], ids=["no-token", "bad-token"])
def test_requests_without_a_valid_token_answer_401_and_write_nothing(
    server: LiveServer, api_org: Org, api_app: Any, method: str, path: str, token: str | None
) -> None:
    with Caller(server, token) as stranger:
        body = LEAK_REPORT if method == "post" else None
        response = stranger.http.request(method, stranger.base + path, json=body, timeout=TIMEOUT)

    refused(response, 401)
    assert response.json()["message"]
    assert count_rows(api_app, Case) == 0
    assert count_rows(api_app, Contact) == 0


# -- the case list ------------------------------------------------------------------


@pytest.fixture
def listed_cases(api_app: Any, api_org: Org, api_clock: FakeClock) -> dict[str, list[str]]:
    """Four cases opened ten minutes apart: three by the operator, one by operator2;
    the operator's second case assigned to the repair crew."""
    svc = api_app.extensions["hotline"]
    mine = []
    for _ in range(3):
        mine.append(services.intake(svc, api_org["operator"], intake_command()).case_number)
        api_clock.advance(minutes=10)
    other = services.intake(svc, api_org["operator2"], intake_command()).case_number
    api_clock.advance(minutes=10)
    act(
        svc,
        api_org["dispatcher"],
        mine[1],
        Action.ASSIGN,
        department_id=api_org.departments["REPAIR"],
    )
    return {"operator": mine, "operator2": [other], "assigned": [mine[1]]}


def _numbers(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def test_case_list_filters_by_state(
    callers: dict[str, Caller], listed_cases: dict[str, list[str]]
) -> None:
    supervisor = callers["supervisor"]
    everyone = listed_cases["operator"] + listed_cases["operator2"]
    waiting = [number for number in everyone if number not in listed_cases["assigned"]]

    assigned = supervisor.get("/api/cases", params={"state": "assigned"})
    with_dispatch = supervisor.get("/api/cases", params={"state": "with_dispatch"})
    both = supervisor.get("/api/cases", params={"state": ["assigned", "with_dispatch"]})
    closed = supervisor.get("/api/cases", params={"state": "closed"})

    assert _numbers(assigned) == listed_cases["assigned"]
    assert sorted(_numbers(with_dispatch)) == sorted(waiting)
    assert sorted(_numbers(both)) == sorted(everyone)
    assert _numbers(closed) == []
    assert both.json()["total"] == len(everyone)
    refused(supervisor.get("/api/cases", params={"state": "lost"}), 422, "state")


def test_case_list_owner_me_is_the_callers_own_intakes(
    callers: dict[str, Caller], listed_cases: dict[str, list[str]], api_org: Org
) -> None:
    mine = callers["operator"].get("/api/cases", params={"owner": "me"})
    theirs = callers["operator2"].get("/api/cases", params={"owner": "me"})
    by_id = callers["supervisor"].get("/api/cases", params={"owner": str(api_org["operator2"].id)})

    assert sorted(_numbers(mine)) == sorted(listed_cases["operator"])
    assert _numbers(theirs) == listed_cases["operator2"]
    assert _numbers(by_id) == listed_cases["operator2"]
    refused(callers["operator"].get("/api/cases", params={"owner": "someone"}), 422, "owner")


def test_case_list_shows_a_crew_only_its_departments_cases(
    callers: dict[str, Caller], listed_cases: dict[str, list[str]]
) -> None:
    assert _numbers(callers["crew"].get("/api/cases")) == listed_cases["assigned"]
    assert _numbers(callers["crew_meter"].get("/api/cases")) == []


def test_case_list_overdue_filter_follows_the_clock(
    callers: dict[str, Caller], listed_cases: dict[str, list[str]], api_clock: FakeClock
) -> None:
    supervisor = callers["supervisor"]
    everyone = sorted(listed_cases["operator"] + listed_cases["operator2"])
    items = supervisor.get("/api/cases", params={"per_page": 100}).json()["items"]
    due = {item["number"]: _time(item["due_at"]) for item in items}
    assert set(due) == set(everyone)

    def overdue(flag: str) -> list[str]:
        return sorted(_numbers(supervisor.get("/api/cases", params={"overdue": flag})))

    api_clock.now = min(due.values()) - timedelta(seconds=1)
    assert overdue("true") == []
    assert overdue("false") == everyone

    api_clock.now = min(due.values()) + timedelta(seconds=1)
    late = sorted(number for number, at in due.items() if at < api_clock.now)
    on_time = sorted(number for number, at in due.items() if at >= api_clock.now)
    assert late and on_time, due
    assert overdue("true") == late
    assert overdue("false") == on_time

    api_clock.now = max(due.values()) + timedelta(seconds=1)
    assert overdue("true") == everyone
    assert overdue("false") == []
    refused(supervisor.get("/api/cases", params={"overdue": "maybe"}), 422, "overdue")


def test_case_list_pages_through_every_case_once(
    callers: dict[str, Caller], listed_cases: dict[str, list[str]]
) -> None:
    supervisor = callers["supervisor"]
    everyone = sorted(listed_cases["operator"] + listed_cases["operator2"])

    pages = [
        supervisor.get("/api/cases", params={"per_page": 3, "page": page}).json()
        for page in (1, 2, 3)
    ]

    assert [page["total"] for page in pages] == [len(everyone)] * 3
    assert [page["page"] for page in pages] == [1, 2, 3]
    assert [page["per_page"] for page in pages] == [3, 3, 3]
    assert [len(page["items"]) for page in pages] == [3, 1, 0]
    seen = [item["number"] for page in pages for item in page["items"]]
    assert sorted(seen) == everyone
    first = pages[0]["items"]
    assert [item["due_at"] for item in first] == sorted(item["due_at"] for item in first)
    refused(supervisor.get("/api/cases", params={"per_page": 1000}), 422, "per_page")
    refused(supervisor.get("/api/cases", params={"page": 0}), 422, "page")
