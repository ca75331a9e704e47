"""The operator console over HTTP, on SQLite and PostgreSQL: pages, JSON endpoints,
the Socket.IO pop-up, the simulator, start-up loading of the scripts.

Rules checked here: P4 (the console's "create case" passes the engine's
read-back gate on the server), P3 (the look-up asks for the reassurance line
every 30 seconds), P1 (ring-to-answer shown in the call log), W13 (arrears on
screen), G2 (warned while typing; flags on the call log), W1 (counter visits),
and that bad input is a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from callflows.domain.scripts import ScriptError
from callflows.models import Call, CallStatus, ComplianceFlag
from hotline.cli import main
from hotline.db import make_engine
from hotline.domain.lifecycle import State
from hotline.models import Case, Customer, CustomerPhone, Outage
from hotline.settings import PROJECT_ROOT
from hotline.web.realtime import socketio
from tests.integration.callhelp import CALLER, CALLER_E164, P4_FIELDS
from tests.integration.pagehelp import csrf_from, csrf_token, logged_in, text_of
from tests.support import bring_case_to


def _services(app):
    return app.extensions["hotline"]


def _count(app, model, *where) -> int:
    with _services(app).sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _place_call(client, number: str = CALLER) -> int:
    token = csrf_token(client, "/simulator")
    response = client.post("/simulator", data={"from": number, "csrf_token": token})
    assert response.status_code == 302, text_of(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


class Console:
    """An operator at the console: JSON calls with the session's CSRF header."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = csrf_from(text_of(client.get("/console")))

    def post(self, path: str, body: Any = None):
        # As the console's JavaScript does: a fresh Idempotency-Key with each POST.
        headers = {"X-CSRFToken": self.token, "Idempotency-Key": str(uuid.uuid4())}
        return self.client.post(path, json=body or {}, headers=headers)

    def answer(self, call_id: int):
        return self.post(f"/api/calls/{call_id}/answer")

    def op(self, call_id: int, name: str, **args: str):
        return self.post(f"/api/calls/{call_id}/script", {"op": name, **args})

    def ok(self, call_id: int, name: str, **args: str) -> dict[str, Any]:
        response = self.op(call_id, name, **args)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def walk_to_read_back(self, call_id: int) -> dict[str, Any]:
        self.ok(call_id, "complete")
        self.ok(call_id, "answer", answer="help")
        self.ok(call_id, "complete")
        self.ok(call_id, "complete")
        for name in ("problem", "need", "address"):
            self.ok(call_id, "capture", field=name, value=P4_FIELDS[name])
            self.ok(call_id, "complete")
        self.ok(call_id, "capture", field="category", value="leak")
        return self.ok(call_id, "complete")


@pytest.fixture
def operator(client, app_org) -> Console:
    return Console(logged_in(client, "operator"))


def _answered(app, operator: Console, number: str = CALLER) -> int:
    call_id = _place_call(operator.client, number)
    assert operator.answer(call_id).status_code == 200
    return call_id


# -- pages and who may open them --------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "path", "status"),
    [
        ("operator", "/console", 200),
        ("supervisor", "/console", 200),
        ("dispatcher", "/console", 403),
        ("crew", "/console", 403),
        ("admin", "/console", 403),
        ("operator", "/calls", 403),
        ("supervisor", "/calls", 200),
        ("crew", "/api/calls/incoming", 403),
        ("operator", "/api/calls/incoming", 200),
        ("crew", "/simulator", 200),
    ],
)
def test_console_pages_open_to_the_roles_that_take_calls(client, app_org, username, path, status):
    response = logged_in(client, username).get(path)

    assert response.status_code == status


def test_anonymous_visitors_are_sent_to_login_or_refused(client, app_org):
    assert client.get("/console").status_code == 302
    assert client.get("/api/calls/incoming").status_code == 401


def test_the_console_is_linked_from_the_operators_navigation(client, app_org):
    html = text_of(logged_in(client, "operator").get("/operator"))

    assert 'href="/console"' in html


# -- a call pops up --------------------------------------------------------------------


def test_an_incoming_call_pops_up_on_every_operators_console_over_socketio(app, client, app_org):
    logged_in(client, "operator")
    live = socketio.test_client(app, namespace="/live", flask_test_client=client)
    assert live.is_connected("/live")
    live.get_received("/live")
    caller = app.test_client()
    logged_in(caller, "crew")

    call_id = _place_call(caller)

    received = [m for m in live.get_received("/live") if m["name"] == "incoming_call"]
    assert [m["args"][0]["call_id"] for m in received] == [call_id]
    assert received[0]["args"][0]["from"] == "138 0534 1234"
    live.disconnect("/live")


def test_calls_ringing_are_listed_for_consoles_that_poll(operator, app_org):
    call_id = _place_call(operator.client)

    listing = operator.client.get("/api/calls/incoming").get_json()

    assert [row["id"] for row in listing["waiting"]] == [call_id]
    assert listing["missed"] == []
    assert f'data-call-id="{call_id}"' in text_of(operator.client.get("/console"))


def test_answering_opens_the_live_call_and_a_second_operator_is_told_it_is_taken(
    app, operator, app_org
):
    call_id = _place_call(operator.client)

    first = operator.answer(call_id)
    other = Console(logged_in(app.test_client(), "operator2"))
    second = other.answer(call_id)

    assert first.get_json()["url"] == f"/console/calls/{call_id}"
    assert operator.client.get(f"/console/calls/{call_id}").status_code == 200
    assert second.status_code == 409
    assert second.get_json()["field"] == "call"
    assert other.client.get(f"/console/calls/{call_id}").status_code == 403


# -- the caller column (W13, outages, open cases) ----------------------------------------


def test_w13_the_caller_is_shown_with_account_arrears_open_cases_and_outages(
    app, app_org, operator, clock
):
    svc = _services(app)
    with svc.sessions() as session:
        customer = Customer(
            account_number="100456",
            name="周玉兰",
            address="禹城市行政街 72 号院 2 号楼 101",
            arrears_cents=18600,
            arrears_since=date(2026, 8, 1),
        )
        customer.phones.append(CustomerPhone(number=CALLER_E164))
        session.add(customer)
        session.add(
            Outage(
                planned=False,
                area="行政街",
                area_keywords="行政街",
                reason="主管道爆管抢修",
                starts_at=clock.now - timedelta(hours=1),
                ends_at=clock.now + timedelta(hours=5),
                published_at=clock.now - timedelta(hours=1),
                created_by_id=1,
            )
        )
        session.commit()
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH, customer_account="100456")
    call_id = _answered(app, operator)

    view = operator.client.get(f"/api/calls/{call_id}").get_json()

    (shown,) = view["caller"]["customers"]
    assert shown["account_number"] == "100456"
    assert shown["arrears"] == "186.00" and shown["in_arrears"] is True
    assert shown["arrears_since"] == "2026-08-01"
    assert [c["number"] for c in view["caller"]["open_cases"]] == [number]
    assert view["caller"]["outages"][0]["reason"] == "主管道爆管抢修"
    assert view["caller"]["outages"][0]["under_way"] is True
    assert view["caller"]["recent_contacts"][0]["case_number"] == number


def test_an_unknown_number_is_matched_by_searching_name_account_or_address(app, operator):
    with _services(app).sessions() as session:
        session.add(
            Customer(account_number="101580", name="冯志刚", address="禹城市伦镇驻地 88 号")
        )
        session.commit()
    call_id = _answered(app, operator, "13900000000")
    view = operator.client.get(f"/api/calls/{call_id}").get_json()
    assert view["caller"]["known"] is False

    found = operator.client.get("/api/customers?q=伦镇").get_json()["customers"]
    chosen = operator.post(f"/api/calls/{call_id}/customer", {"account_number": "101580"})

    assert [c["account_number"] for c in found] == ["101580"]
    assert chosen.get_json()["caller"]["customers"][0]["name"] == "冯志刚"


def test_open_cases_at_the_same_address_are_offered_to_join(app, app_org, operator):
    number = bring_case_to(_services(app), app_org, State.WITH_DISPATCH, address="禹城市汉槐街18号")
    call_id = _answered(app, operator)
    operator.ok(call_id, "capture", field="address", value="禹城市汉槐街 18 号 3 单元 501")

    view = operator.client.get(f"/api/calls/{call_id}").get_json()
    joined = operator.post(
        f"/api/calls/{call_id}/submit", {"outcome": "join", "join_case_number": number}
    )

    assert [c["number"] for c in view["similar_cases"]] == [number]
    assert joined.status_code == 200
    assert joined.get_json()["result"]["case_number"] == number
    assert _count(app, Case) == 1


# -- the script and the case (P3, P4) ------------------------------------------------------


def test_the_greeting_is_the_standards_wording_with_the_configured_company(app, operator):
    call_id = _answered(app, operator)

    step = operator.client.get(f"/api/calls/{call_id}").get_json()["script"]["current"]

    assert step["id"] == "greeting"
    assert step["zh"] == "您好,这里是禹城市润禹水务有限公司,请问有什么可以帮您"
    assert step["verbatim"] is True


def test_a_step_refused_by_the_engine_answers_422_naming_the_field(app, operator):
    call_id = _answered(app, operator)
    for name, args in (
        ("complete", {}),
        ("answer", {"answer": "help"}),
        ("complete", {}),
        ("complete", {}),
    ):
        operator.ok(call_id, name, **args)

    refused = operator.op(call_id, "complete")

    assert refused.status_code == 422
    assert refused.get_json()["field"] == "problem"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "op"),
        ({"op": "teleport"}, "op"),
        ({"op": "capture", "field": "category", "value": "meteor"}, "field"),
        ({"op": "capture", "field": "contact_phone", "value": "not a number"}, "contact_phone"),
        ({"op": "answer", "answer": 3}, "answer"),
        ({"op": "end", "hung_up_by": "caller"}, "op"),
    ],
)
def test_bad_script_requests_answer_4xx_naming_the_field(app, operator, body, field):
    call_id = _answered(app, operator)

    response = operator.post(f"/api/calls/{call_id}/script", body)

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field


def test_a_body_that_is_not_a_json_object_answers_400(app, operator):
    call_id = _answered(app, operator)

    response = operator.client.post(
        f"/api/calls/{call_id}/script",
        data="[1, 2]",
        content_type="application/json",
        headers={"X-CSRFToken": operator.token},
    )

    assert response.status_code == 400


def test_json_changes_need_the_csrf_header(app, operator):
    call_id = _place_call(operator.client)

    response = operator.client.post(f"/api/calls/{call_id}/answer", json={})

    assert response.status_code == 400
    with _services(app).sessions() as session:
        assert session.get(Call, call_id).answered_by_id is None


def test_p4_create_case_without_the_read_back_is_refused_on_the_server(app, operator):
    call_id = _answered(app, operator)
    operator.walk_to_read_back(call_id)
    operator.ok(call_id, "capture", field="triage", value="utility")

    refused = operator.post(f"/api/calls/{call_id}/submit", {"outcome": "dispatch"})

    assert refused.status_code == 422
    body = refused.get_json()
    assert (body["error"], body["field"], body["rule"]) == ("ReadBackMissing", "read_back", "P4")
    assert _count(app, Case) == 0


def test_p4_a_read_back_cannot_be_confirmed_before_its_items_are_captured(app, operator):
    call_id = _answered(app, operator)

    refused = operator.op(call_id, "confirm_read_back")

    assert refused.status_code == 422
    assert refused.get_json()["missing"] == ["problem", "need", "address"]


def test_the_console_takes_a_call_from_ring_to_case_number(app, operator):
    call_id = _answered(app, operator)
    operator.walk_to_read_back(call_id)
    operator.ok(call_id, "confirm_read_back")
    operator.ok(call_id, "complete")
    operator.ok(call_id, "answer", answer="utility")
    view = operator.ok(call_id, "complete")
    assert view["script"]["current"]["id"] == "promised_time"

    created = operator.post(f"/api/calls/{call_id}/submit", {"outcome": "dispatch"})

    assert created.status_code == 200, created.get_json()
    result = created.get_json()["result"]
    assert result["case_number"].startswith("RY-")
    assert result["promised_at"]
    step = created.get_json()["script"]["current"]
    assert result["case_number"] in step["zh"] and result["promised_text"] in step["zh"]
    view = operator.ok(call_id, "complete")
    assert view["script"]["current"]["id"] == "anything_else"
    view = operator.ok(call_id, "skip")
    assert view["script"]["current"]["zh"] == "感谢您的来电,再见"
    again = operator.post(f"/api/calls/{call_id}/submit", {"outcome": "dispatch"})
    assert again.status_code == 409
    assert _count(app, Case) == 1


def test_p3_a_look_up_asks_for_the_reassurance_line_every_30_seconds(app, operator, clock):
    call_id = _answered(app, operator)
    started = operator.ok(call_id, "start_lookup")
    assert started["script"]["lookup"]["active"] is True
    assert started["script"]["lookup"]["seconds_left"] == pytest.approx(30)

    clock.advance(seconds=31)
    waiting = operator.client.get(f"/api/calls/{call_id}").get_json()["script"]["lookup"]
    said = operator.ok(call_id, "reassure")["script"]["lookup"]

    assert waiting["due"] == 1
    assert said["due"] == 0 and said["seconds_left"] == pytest.approx(30)
    assert started["script"]["prompts"]["lookup"]["zh"] == "请您稍等,我正在查询"


def test_g2_the_console_warns_while_the_operator_types(app, operator):
    warned = operator.post("/api/compliance/check", {"text": "这个我不知道,不归我管"})
    fine = operator.post("/api/compliance/check", {"text": "我帮您查询一下"})

    assert [f["phrase"] for f in warned.get_json()["flags"]] == ["不知道", "不归我管"]
    assert fine.get_json()["flags"] == []
    assert _count(app, ComplianceFlag) == 0  # a warning is not a record


def test_g2_flags_of_a_call_show_in_the_supervisors_call_log(app, operator, client):
    call_id = _answered(app, operator)
    operator.post(f"/api/calls/{call_id}/submit", {"outcome": "no_case", "summary": "不归我管"})
    operator.post(f"/api/calls/{call_id}/end")

    supervisor = logged_in(app.test_client(), "supervisor")
    log = text_of(supervisor.get("/calls?flagged=1"))
    detail = text_of(supervisor.get(f"/calls/{call_id}"))

    assert f"/calls/{call_id}" in log
    assert "不归我管" in detail and "G2" in detail


def test_p1_a_call_answered_after_three_rings_is_marked_in_the_call_log(app, operator, clock):
    call_id = _place_call(operator.client)
    clock.advance(seconds=21)
    operator.answer(call_id)

    supervisor = logged_in(app.test_client(), "supervisor")
    slow = text_of(supervisor.get("/calls?slow=1"))
    detail = text_of(supervisor.get(f"/calls/{call_id}"))

    assert f"/calls/{call_id}" in slow
    assert 'class="log-flag" id="ring-to-answer">21 s' in detail


def test_the_call_log_refuses_a_malformed_day_with_400(app, app_org, client):
    response = logged_in(client, "supervisor").get("/calls?day=26-11-2026")

    assert response.status_code == 400


# -- counter visits, the end of a call, missed calls ----------------------------------------


def test_w1_a_counter_visit_opens_the_same_console_without_telephony(app, operator):
    token = csrf_from(text_of(operator.client.get("/console")))

    response = operator.client.post(
        "/console/counter", data={"caller_number": "", "csrf_token": token}
    )

    assert response.status_code == 302
    call_id = int(response.headers["Location"].rsplit("/", 1)[1])
    view = operator.client.get(f"/api/calls/{call_id}").get_json()
    assert view["call"]["channel"] == "counter"
    assert view["script"]["current"]["id"] == "greeting"


def test_a_simulated_caller_who_hangs_up_is_listed_until_called_back(app, operator):
    call_id = _place_call(operator.client)
    token = csrf_from(text_of(operator.client.get(f"/simulator/calls/{call_id}")))

    operator.client.post(f"/simulator/calls/{call_id}/hang-up", data={"csrf_token": token})

    missed = operator.client.get("/api/calls/incoming").get_json()["missed"]
    assert [(row["id"], row["status"]) for row in missed] == [(call_id, "abandoned")]
    status = operator.client.get(f"/simulator/calls/{call_id}/status").get_json()
    assert status["ended"] is True and status["answered"] is False

    called = operator.post(f"/api/calls/{call_id}/call-back")

    assert called.status_code == 200
    assert called.get_json()["attempt"]["status"] == "requested"
    (row,) = operator.client.get("/api/calls/incoming").get_json()["missed"]
    assert (row["id"], row["awaiting_outcome"], row["may_call_back"]) == (call_id, True, False)
    assert row["situation"] == "来电人已挂断 · 已回拨,请记录是否联系上"

    not_reached = operator.post(f"/api/calls/{call_id}/call-back/outcome", {"reached": False})
    assert not_reached.status_code == 200, not_reached.get_json()
    (row,) = operator.client.get("/api/calls/incoming").get_json()["missed"]
    assert (row["awaiting_outcome"], row["may_call_back"]) == (False, True)

    assert operator.post(f"/api/calls/{call_id}/call-back").status_code == 200
    reached = operator.post(f"/api/calls/{call_id}/call-back/outcome", {"reached": True})
    assert reached.get_json()["attempt"]["status"] == "completed"
    assert operator.client.get("/api/calls/incoming").get_json()["missed"] == []
    again = operator.post(f"/api/calls/{call_id}/call-back/outcome", {"reached": True})
    assert again.status_code == 409
    assert "138 0534 1234" in text_of(operator.client.get("/simulator"))


def test_the_operator_ending_the_call_is_recorded_as_the_operator_hanging_up(app, operator):
    call_id = _answered(app, operator)

    ended = operator.post(f"/api/calls/{call_id}/end").get_json()

    assert ended["call"]["live"] is False
    assert ended["call"]["hung_up_by"] == "operator"
    with _services(app).sessions() as session:
        call = session.get(Call, call_id)
        assert call.status == CallStatus.COMPLETED
        assert call.compliance["hung_up_by"] == "operator"


def test_the_simulator_refuses_a_number_it_cannot_read(app, operator):
    token = csrf_token(operator.client, "/simulator")

    response = operator.client.post("/simulator", data={"from": "hello", "csrf_token": token})

    assert response.status_code == 422
    assert 'data-field="from"' in text_of(response)
    assert _count(app, Call) == 0


# -- start-up and the command line ----------------------------------------------------------


def _app_with(tmp_path: Path, db_url: str, **settings: Any):
    from hotline.app import create_app

    return create_app(
        {
            "database_url": db_url,
            "secret_key": "x",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            **settings,
        }
    )


def test_a_malformed_script_stops_the_start_naming_the_file_and_the_step(tmp_path, sqlite_url):
    folder = tmp_path / "scripts"
    shutil.copytree(PROJECT_ROOT / "callflows" / "scripts", folder)
    broken = folder / "inbound_hotline.toml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace('next = "ask_need"', 'next = "ask_needs"'),
        encoding="utf-8",
    )

    with pytest.raises(ScriptError) as refused:
        _app_with(tmp_path, sqlite_url, call_scripts_path=str(folder))

    message = str(refused.value)
    assert "inbound_hotline.toml" in message
    assert "step 'ask_problem'" in message
    assert "ask_needs" in message


def test_the_company_name_setting_fills_the_scripts_at_start_up(tmp_path, sqlite_url):
    app = _app_with(tmp_path, sqlite_url, company_name="某某县自来水公司")
    try:
        script = app.extensions["callflows"].scripts["inbound_hotline"]
        assert script.step("greeting").zh == "您好,这里是某某县自来水公司,请问有什么可以帮您"
    finally:
        app.extensions["hotline.engine"].dispose()


def test_simulate_call_from_the_command_line_rings_the_console(tmp_path, monkeypatch, sqlite_url):
    monkeypatch.setenv("HOTLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "x")
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["simulate-call", "--from", "13805341234"])
    refused = CliRunner().invoke(main, ["simulate-call", "--from", "hello"])

    assert result.exit_code == 0, result.output
    assert "ringing" in result.output
    assert refused.exit_code == 1 and "from" in refused.output
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Call.from_number, Call.status)).all()
    engine.dispose()
    assert rows == [(CALLER_E164, "ringing")]
