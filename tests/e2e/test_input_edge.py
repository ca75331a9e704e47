"""Input at the edges, as a fuzzer sends it: never a 500, always the documented refusal.

Each case here once answered 500 (or the wrong refusal): integers past what a
database column holds, in paths, query strings, JSON bodies, page forms and
Twilio's form fields (``²`` passes ``str.isdigit`` but not ``int``); text with
NUL characters (PostgreSQL refuses them) or unpaired surrogates (no encoder
writes them); a large body from a caller without a token (it was parsed before
the token was looked at); and error bodies whose shape the OpenAPI document
described wrongly. Each test runs the real app on a fresh SQLite file.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

import callflows.models  # noqa: F401
import dispatch.models  # noqa: F401
from callflows.telephony import TwilioConfig, TwilioTelephony
from callflows.web.simulator import place_call
from hotline.app import create_app
from hotline.db import Base, make_engine
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, Contact
from hotline.settings import load_settings
from hotline.web.forms import MAX_INT
from tests.conftest import FakeClock
from tests.integration.pagehelp import csrf_from, logged_in
from tests.support import LEAK_REPORT, Org, act, bring_case_to, seed_org
from tests.unit.test_telephony import BASE, SETTINGS, FakeHttpClient

#: The request size limit these tests configure (the shipped default is 1 MiB).
LIMIT = 64 * 1024
#: A body far over the limit ("100 MB" in the fuzzer's report; a few MB is enough here).
BIG = 4 * 1024 * 1024
TOO_BIG_FOR_ANY_COLUMN = "99999999999999999999"  # past 2**64
CALL_SID = "CA" + "c" * 32


def _fresh_database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def edge_app(tmp_path: Path) -> Iterator[Any]:
    """The real app with the simulator, a 64 KiB request limit and a fake clock."""
    app = create_app(
        {
            "database_url": _fresh_database(tmp_path),
            "secret_key": "edge-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "max_request_bytes": LIMIT,
        },
        clock=FakeClock(),
    )
    yield app
    app.extensions["hotline.engine"].dispose()


@pytest.fixture
def org(edge_app: Any) -> Org:
    return seed_org(edge_app.extensions["hotline"])


@pytest.fixture
def client(edge_app: Any) -> Any:
    return edge_app.test_client()


@pytest.fixture
def case_number(edge_app: Any, org: Org) -> str:
    return bring_case_to(edge_app.extensions["hotline"], org, State.WITH_DISPATCH)


def bearer(org: Org, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[username]}"}


def refusal(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """A JSON refusal with this status in the one error shape, naming ``field``."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status, body
    assert isinstance(body["error"], str) and re.fullmatch(r"[A-Za-z]+", body["error"]), body
    assert isinstance(body["message"], str) and body["message"], body
    if field is not None:
        assert body.get("field") == field, body
        assert field in body["message"], body
    return body


def page_refusal(response: Any, status: int, word: str | None = None) -> str:
    """An HTML error page with this status (naming ``word``)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    if word is not None:
        assert word in text, text
    return text


def count(app: Any, model: type) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- integers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("owner=2147483648", "owner"),
        (f"owner={TOO_BIG_FOR_ANY_COLUMN}", "owner"),
        (f"handler={TOO_BIG_FOR_ANY_COLUMN}", "handler"),
        ("handler_department=2147483648", "handler_department"),
        (f"page={TOO_BIG_FOR_ANY_COLUMN}", "page"),
        ("page=100001", "page"),
        (f"per_page={TOO_BIG_FOR_ANY_COLUMN}", "per_page"),
    ],
)
def test_an_integer_out_of_range_in_a_query_answers_422_naming_it(
    client: Any, org: Org, query: str, field: str
) -> None:
    response = client.get(f"/api/cases?{query}", headers=bearer(org, "supervisor"))

    refusal(response, 422, field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/cases/{number}/appointments/2147483648/cancel"),
        ("post", f"/api/cases/{{number}}/appointments/{TOO_BIG_FOR_ANY_COLUMN}/cancel"),
        ("post", "/api/duty/shifts/2147483648/cancel"),
        ("post", f"/api/duty/shifts/{TOO_BIG_FOR_ANY_COLUMN}/cancel"),
        ("get", "/api/calls/99999999999"),
        ("get", f"/api/calls/{TOO_BIG_FOR_ANY_COLUMN}"),
        ("post", f"/api/calls/{TOO_BIG_FOR_ANY_COLUMN}/answer"),
        ("get", "/api/calls/0"),
        ("get", f"/api/calls/{MAX_INT + 1}"),
    ],
)
def test_an_id_out_of_range_in_a_path_answers_404(
    client: Any, org: Org, case_number: str, method: str, path: str
) -> None:
    body = {"reason": "客户改期"} if path.endswith("appointments/2147483648/cancel") else None

    response = client.open(
        path.format(number=case_number),
        method=method.upper(),
        json=body,
        headers=bearer(org, "supervisor"),
    )

    refusal(response, 404)


def test_a_date_past_what_the_clock_can_count_answers_422(client: Any, org: Org) -> None:
    response = client.get(
        "/api/figures/time-limits?from=9999-12-31", headers=bearer(org, "supervisor")
    )

    refusal(response, 422, "from")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/cases/{number}/actions", {"action": "assign", "version": 1, "department_id": 2**31}, "department_id"),
        ("/api/cases/{number}/actions", {"action": "assign", "version": 2**63, "department_id": 1}, "version"),
        ("/api/contacts", {**LEAK_REPORT, "target_department_id": 2**64}, "target_department_id"),
        ("/api/duty/shifts", {"staff_id": 2**31, "starts_at": "2026-11-26T10:00:00+08:00", "ends_at": "2026-11-26T18:00:00+08:00"}, "staff_id"),
        ("/api/calls/1/submit", {"outcome": "dispatch", "target_department_id": TOO_BIG_FOR_ANY_COLUMN}, "target_department_id"),
        ("/api/cases/{number}/appointments", {"starts_at": "9999-12-31T23:59:59-14:00", "ends_at": "9999-12-31T23:59:59-14:00", "requested_by_customer": True}, "starts_at"),
    ],
    ids=["action-id", "version", "intake-id", "shift-staff", "console-digits", "far-time"],
)  # fmt: skip
def test_an_integer_or_time_out_of_range_in_a_body_answers_422_naming_it(
    client: Any, org: Org, case_number: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(
        path.format(number=case_number), json=body, headers=bearer(org, "supervisor")
    )

    refusal(response, 422, field)


@pytest.fixture
def supervisor(client: Any, org: Org) -> Any:
    return logged_in(client, "supervisor")


@pytest.mark.parametrize(
    "path",
    [
        f"/calls?page={TOO_BIG_FOR_ANY_COLUMN}",
        f"/supervisor?page={TOO_BIG_FOR_ANY_COLUMN}",
        f"/calls?operator={TOO_BIG_FOR_ANY_COLUMN}",
    ],
)
def test_a_page_number_out_of_range_on_a_page_answers_422(supervisor: Any, path: str) -> None:
    page_refusal(supervisor.get(path), 422, path.split("?")[1].split("=")[0])


# -- Twilio's form fields ------------------------------------------------------------------------


@pytest.fixture
def twilio_client(tmp_path: Path) -> Iterator[Any]:
    settings = dict(SETTINGS)
    app = create_app(
        {
            "database_url": _fresh_database(tmp_path),
            "secret_key": "edge-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            **settings,
        },
        clock=FakeClock(),
        telephony=TwilioTelephony(TwilioConfig.from_settings(settings), FakeHttpClient()),
    )
    seed_org(app.extensions["hotline"])
    yield app.test_client()
    app.extensions["hotline.engine"].dispose()


def signed_post(client: Any, path: str, params: dict[str, str]) -> Any:
    token = SETTINGS["twilio_auth_token"]
    signature = RequestValidator(token).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@pytest.mark.parametrize("sequence", ["99999999999", TOO_BIG_FOR_ANY_COLUMN, "²", "-1", "1e3"])
def test_a_twilio_sequence_number_that_is_not_a_small_ascii_number_answers_422(
    twilio_client: Any, sequence: str
) -> None:
    params = {"CallSid": CALL_SID, "CallStatus": "ringing", "SequenceNumber": sequence}

    response = signed_post(twilio_client, "/twilio/voice/status", params)

    assert response.status_code == 422, response.get_data(as_text=True)
    assert "SequenceNumber" in response.get_data(as_text=True)


@pytest.mark.parametrize("attempt", ["99999999999", TOO_BIG_FOR_ANY_COLUMN, "0"])
def test_a_twilio_call_back_id_out_of_range_answers_404(twilio_client: Any, attempt: str) -> None:
    response = signed_post(
        twilio_client, f"/twilio/voice/outbound/{attempt}", {"CallSid": CALL_SID}
    )

    assert response.status_code == 404, response.get_data(as_text=True)


def test_a_twilio_field_with_a_nul_character_answers_422_naming_it(twilio_client: Any) -> None:
    params = {"CallSid": CALL_SID, "From": "+86138\x0005341234", "To": "+8653421221100"}

    response = signed_post(twilio_client, "/twilio/voice", params)

    assert response.status_code == 422, response.get_data(as_text=True)
    assert "From" in response.get_data(as_text=True)


def test_an_unsigned_twilio_request_is_refused_before_its_fields_are_judged(
    twilio_client: Any,
) -> None:
    response = twilio_client.post("/twilio/voice/status", data={"SequenceNumber": "²"})

    assert response.status_code == 403


# -- text that cannot be stored ------------------------------------------------------------------


BAD_TEXT = [("a\x00b", "NUL"), ("a\ud800b", "surrogate"), ("\udfff", "surrogate")]


@pytest.mark.parametrize(("text", "kind"), BAD_TEXT, ids=["nul", "high-surrogate", "low-surrogate"])
def test_bad_text_in_an_intake_answers_422_naming_the_field_and_saves_nothing(
    edge_app: Any, client: Any, org: Org, text: str, kind: str
) -> None:
    # json.dumps writes a lone surrogate as the escape "\ud800", as any client would.
    data = json.dumps({**LEAK_REPORT, "problem": text})

    response = client.post(
        "/api/contacts", data=data, content_type="application/json", headers=bearer(org, "operator")
    )

    body = refusal(response, 422, "problem")
    assert kind in body["message"]
    assert count(edge_app, Contact) == 0


@pytest.mark.parametrize(("text", "kind"), BAD_TEXT, ids=["nul", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize(
    ("path", "make_body", "field"),
    [
        ("/api/cases/{number}/actions", lambda t: {"action": "add_note", "version": 1, "reason": t}, "reason"),
        ("/api/compliance/check", lambda t: {"text": t}, "text"),
        ("/api/calls/1/script", lambda t: {"op": "capture", "field": "problem", "value": t}, "value"),
        ("/api/contacts", lambda t: {**LEAK_REPORT, t: "x"}, None),
    ],
    ids=["action", "console-check", "console-script", "field-name"],
)  # fmt: skip
def test_bad_text_in_any_json_body_answers_422(
    client: Any,
    org: Org,
    case_number: str,
    path: str,
    make_body: Any,
    field: str | None,
    text: str,
    kind: str,
) -> None:
    response = client.post(
        path.format(number=case_number),
        data=json.dumps(make_body(text)),
        content_type="application/json",
        headers=bearer(org, "operator"),
    )

    refusal(response, 422, field)


def test_a_nul_character_in_a_query_answers_422_naming_it(client: Any, org: Org) -> None:
    response = client.get("/api/customers?q=%00", headers=bearer(org, "operator"))

    refusal(response, 422, "q")


def test_a_nul_character_in_a_path_names_nothing_404(client: Any, org: Org) -> None:
    response = client.get("/api/cases/RY%00", headers=bearer(org, "operator"))

    refusal(response, 404)


def test_a_nul_character_in_a_page_form_answers_422_and_saves_nothing(
    edge_app: Any, client: Any, org: Org
) -> None:
    logged_in(client, "operator")
    token = csrf_from(client.get("/operator").get_data(as_text=True))
    form = {
        **{key: str(value) for key, value in LEAK_REPORT.items()},
        "read_back_confirmed": "on",
        "problem": "路边\x00冒水",
        "csrf_token": token,
    }

    response = client.post("/contacts/new", data=form)

    page_refusal(response, 422, "problem")
    assert count(edge_app, Case) == 0


def test_a_nul_character_in_the_console_counter_form_answers_422(client: Any, org: Org) -> None:
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))

    response = client.post(
        "/console/counter", data={"caller_number": "138\x0005341234", "csrf_token": token}
    )

    page_refusal(response, 422, "caller_number")


# -- size and who asks first -------------------------------------------------------------------


class CountingStream(io.BytesIO):
    """A request body that counts the bytes the app reads from it."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.read_bytes += len(chunk)
        return chunk


def _big_post(client: Any, path: str, headers: dict[str, str] | None = None) -> tuple[Any, int]:
    stream = CountingStream(b'{"problem": "' + b"x" * BIG + b'"}')
    builder = EnvironBuilder(
        path=path,
        method="POST",
        input_stream=stream,
        content_length=len(stream.getvalue()),
        content_type="application/json",
        headers=headers or {},
    )
    return client.open(builder), stream.read_bytes


@pytest.mark.parametrize("path", ["/api/contacts", "/api/compliance/check", "/api/calls/1/submit"])
def test_a_large_body_without_a_token_answers_401_before_a_byte_of_it_is_read(
    client: Any, org: Org, path: str
) -> None:
    response, read = _big_post(client, path)

    refusal(response, 401)
    assert read == 0


def test_a_large_body_with_a_bad_token_answers_401_before_it_is_read(client: Any, org: Org) -> None:
    response, read = _big_post(client, "/api/contacts", {"Authorization": "Bearer hl_forged"})

    refusal(response, 401)
    assert read == 0


def test_a_large_body_with_a_token_answers_413_in_the_error_shape(
    edge_app: Any, client: Any, org: Org
) -> None:
    response, read = _big_post(client, "/api/contacts", bearer(org, "operator"))

    body = refusal(response, 413)
    assert str(LIMIT) in body["message"]
    assert read <= LIMIT
    assert count(edge_app, Contact) == 0


def test_a_large_page_form_answers_413_as_a_page(client: Any, org: Org) -> None:
    logged_in(client, "operator")

    response = client.post("/contacts/new", data={"problem": "x" * BIG})

    page_refusal(response, 413)


def test_the_size_limit_is_a_setting_with_an_environment_override() -> None:
    assert load_settings({})["max_request_bytes"] == 1024 * 1024
    assert (
        load_settings({}, environ={"HOTLINE_MAX_REQUEST_BYTES": "2048"})["max_request_bytes"]
        == 2048
    )


# -- the documented error shape is the returned one ---------------------------------------------


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def _conforms(document: dict[str, Any], schema: dict[str, Any], body: dict[str, Any]) -> None:
    schema = _resolve(document, schema)
    types = {"integer": int, "string": str, "object": dict, "array": list, "boolean": bool}
    for name in schema.get("required", []):
        assert name in body, (name, body)
    for name, value in body.items():
        spec = schema.get("properties", {}).get(name)
        if spec is None:
            assert schema.get("additionalProperties", True) is not False, (name, body)
            continue
        assert isinstance(value, types[spec["type"]]), (name, value, spec)


def _documented(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, (path, method, status, sorted(responses))
    response = _resolve(document, responses[str(status)])
    return response["content"]["application/json"]["schema"]


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    return client.get("/api/openapi.json").get_json()


def test_every_documented_refusal_of_every_operation_uses_the_error_schema(
    document: dict[str, Any],
) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "error", "message"}
    assert {"code", "error", "message", "field", "rule", "errors"} <= set(error["properties"])
    assert "status" not in error["properties"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status in operation["responses"]:
                if status.startswith(("4", "5")):
                    schema = _documented(document, path, method, int(status))
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
            secured = operation.get("security") != []
            assert ("401" in operation["responses"]) == secured, (path, method)
            assert "default" not in operation["responses"], (path, method)
            if method == "post":
                assert "413" in operation["responses"], (path, method)


def test_the_public_operations_are_marked_public(client: Any, document: dict[str, Any]) -> None:
    assert document["paths"]["/api/lifecycle"]["get"]["security"] == []
    assert document["paths"]["/api/openapi.json"]["get"]["security"] == []
    assert client.get("/api/lifecycle").status_code == 200
    for path in ("/api/calls/incoming", "/api/customers", "/api/compliance/check"):
        assert path in document["paths"], sorted(document["paths"])


def test_the_rules_that_refuse_valid_looking_requests_are_stated(document: dict[str, Any]) -> None:
    def described(path: str, method: str) -> str:
        operation = document["paths"][path][method]
        return operation.get("summary", "") + " " + operation.get("description", "")

    assert "366 days" in described("/api/figures/time-limits", "get")
    assert "366 days" in described("/api/duty/alarms", "get")
    assert "ahead" in described("/api/cases/{number}/appointments", "post")
    assert "phone number" in described("/api/contacts", "post")
    assert "2147483647" in document["info"]["description"]


@pytest.fixture
def stale_action(edge_app: Any, org: Org, case_number: str) -> dict[str, Any]:
    """An add-note sent with the version before someone else's assignment."""
    svc = edge_app.extensions["hotline"]
    act(svc, org["dispatcher"], case_number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    return {"action": "add_note", "version": 1, "reason": "已电话联系来电人"}


def test_the_returned_error_bodies_have_the_documented_shape(
    edge_app: Any,
    client: Any,
    org: Org,
    case_number: str,
    document: dict[str, Any],
    stale_action: Any,
) -> None:
    too_big = json.dumps({**LEAK_REPORT, "problem": "x" * LIMIT})
    examples = [
        (401, "/api/cases", "get", client.get("/api/cases")),
        (403, "/api/figures/time-limits", "get", client.get("/api/figures/time-limits", headers=bearer(org, "operator"))),
        (404, "/api/cases/{number}", "get", client.get("/api/cases/RY-20000101-9999", headers=bearer(org, "operator"))),
        (409, "/api/cases/{number}/actions", "post", client.post(f"/api/cases/{case_number}/actions", json=stale_action, headers=bearer(org, "dispatcher"))),
        (413, "/api/contacts", "post", client.post("/api/contacts", data=too_big, content_type="application/json", headers=bearer(org, "operator"))),
        (422, "/api/contacts", "post", client.post("/api/contacts", json={**LEAK_REPORT, "category": None}, headers=bearer(org, "operator"))),
        (422, "/api/contacts", "post", client.post("/api/contacts", json={**LEAK_REPORT, "pipe_size_dn": "big"}, headers=bearer(org, "operator"))),
        (422, "/api/calls/{call_id}/submit", "post", client.post("/api/calls/1/submit", json={}, headers=bearer(org, "operator"))),
        (404, "/api/duty/shifts/{shift_id}/cancel", "post", client.post("/api/duty/shifts/4242/cancel", headers=bearer(org, "dispatcher"))),
    ]  # fmt: skip
    for status, path, method, response in examples:
        body = refusal(response, status)
        _conforms(document, _documented(document, path, method, status), body)


def test_a_service_refusal_and_a_schema_refusal_name_the_field_the_same_way(
    client: Any, org: Org
) -> None:
    by_service = client.post(
        "/api/contacts",
        json={k: v for k, v in LEAK_REPORT.items() if k != "category"},
        headers=bearer(org, "operator"),
    )
    by_schema = client.post(
        "/api/contacts",
        json={**LEAK_REPORT, "category": "volcano"},
        headers=bearer(org, "operator"),
    )

    assert refusal(by_service, 422, "category")["error"] == "Invalid"
    assert refusal(by_schema, 422, "category")["errors"]["json"]["category"]


def test_a_session_caller_still_needs_the_csrf_header(client: Any, org: Org) -> None:
    logged_in(client, "operator")

    response = client.post("/api/contacts", json=LEAK_REPORT)

    refusal(response, 400)


def test_a_live_call_accepts_the_consoles_own_bodies(edge_app: Any, client: Any, org: Org) -> None:
    """The console sends numbers as text and empty text for none; that still works."""
    svc, flows = edge_app.extensions["hotline"], edge_app.extensions["callflows"]
    call_id = place_call(svc, flows, "13805341234")
    headers = bearer(org, "operator")
    assert client.post(f"/api/calls/{call_id}/answer", json={}, headers=headers).status_code == 200

    response = client.post(
        f"/api/calls/{call_id}/submit",
        json={"outcome": "no_case", "category": "", "pipe_size_dn": "", "target_department_id": "", "summary": "咨询"},
        headers=headers,
    )  # fmt: skip

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["result"]["contact_id"]
