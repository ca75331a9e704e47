"""Twilio voice: webhooks signed with Twilio's RequestValidator, the REST client on a
fake HttpClient. Offline: nothing here reaches Twilio.

Checked: every webhook refuses a bad signature with 403 (checked against the
configured public URL, not the URL the app sees); the inbound call is greeted
in Mandarin and queued with a hold message every 30 seconds (P3); status
callbacks record ringing, answer and end once per CallSid and SequenceNumber
(Twilio retries), measuring ring-to-answer (P1); recordings are linked;
outbound requests write their attempt first and are sent once.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from callflows.models import (
    AttemptKind,
    AttemptStatus,
    Call,
    CallStatus,
    CallStatusEvent,
    OutboundAttempt,
)
from callflows.services import missed_calls
from callflows.telephony import TwilioConfig, TwilioTelephony
from callflows.web.twilio_voice import hold_pause_seconds
from hotline.models import Contact
from tests.integration.pagehelp import csrf_from, logged_in
from tests.support import seed_org
from tests.unit.test_telephony import ACCOUNT, BASE, SETTINGS, FakeHttpClient

TOKEN = SETTINGS["twilio_auth_token"]
CALL_SID = "CA" + "a" * 32
CHILD_SID = "CA" + "b" * 32
CALLER = "+8613805341234"


@pytest.fixture
def http() -> FakeHttpClient:
    return FakeHttpClient()


@pytest.fixture
def twilio_app(db_url: str, clock, tmp_path: Path, http: FakeHttpClient) -> Iterator[Any]:
    from hotline.app import create_app

    settings = dict(SETTINGS)
    app = create_app(
        {
            "database_url": db_url,
            "secret_key": "test-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TESTING": True,
            **settings,
        },
        clock=clock,
        telephony=TwilioTelephony(TwilioConfig.from_settings(settings), http),
    )
    yield app
    app.extensions["hotline.engine"].dispose()


@pytest.fixture
def org(twilio_app):
    return seed_org(twilio_app.extensions["hotline"])


@pytest.fixture
def client(twilio_app):
    return twilio_app.test_client()


def signed_post(client, path: str, params: dict[str, str], *, url: str | None = None, token=TOKEN):
    """POST as Twilio does: form fields and X-Twilio-Signature for ``url`` (default: public)."""
    signature = RequestValidator(token).compute_signature(url or BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _inbound(client, sid: str = CALL_SID):
    return signed_post(
        client,
        "/twilio/voice",
        {"CallSid": sid, "From": CALLER, "To": "+8653421221100", "CallStatus": "ringing"},
    )


def _status(client, status: str, sequence: str | None, sid: str = CALL_SID, **extra: str):
    params = {
        "CallSid": sid,
        "CallStatus": status,
        "From": CALLER,
        "To": "+8653421221100",
        "CallbackSource": "call-progress-events",
        "Timestamp": "Thu, 26 Nov 2026 01:00:05 +0000",
        **extra,
    }
    if sequence is not None:
        params["SequenceNumber"] = sequence
    return signed_post(client, "/twilio/voice/status", params)


def _rows(app, model, *where) -> list[Any]:
    with app.extensions["hotline"].sessions() as session:
        return list(session.scalars(select(model).where(*where)))


def _count(app, model) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _twiml(response) -> ET.Element:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    return ET.fromstring(response.get_data(as_text=True))


# -- signatures ---------------------------------------------------------------------


WEBHOOKS = [
    "/twilio/voice",
    "/twilio/voice/hold",
    "/twilio/voice/connect",
    "/twilio/voice/dial-result",
    "/twilio/voice/status",
    "/twilio/voice/recording",
    "/twilio/voice/outbound/1",
    "/twilio/sms/status",
]


@pytest.mark.parametrize("path", WEBHOOKS)
def test_every_webhook_refuses_a_request_without_a_valid_signature(twilio_app, client, path):
    params = {"CallSid": CALL_SID, "From": CALLER, "CallStatus": "completed"}

    unsigned = client.post(path, data=params)
    wrong_token = signed_post(client, path, params, token="not-the-token")
    tampered = client.post(
        path,
        data={**params, "From": "+8613900000000"},
        headers={
            "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(BASE + path, params)
        },
    )

    assert [unsigned.status_code, wrong_token.status_code, tampered.status_code] == [403] * 3
    assert _count(twilio_app, Call) == 0
    assert _count(twilio_app, CallStatusEvent) == 0


def test_the_signature_is_checked_against_the_public_url_not_the_one_the_app_sees(
    twilio_app, client
):
    params = {"CallSid": CALL_SID, "From": CALLER}

    as_seen_behind_the_proxy = signed_post(
        client, "/twilio/voice", params, url="http://localhost/twilio/voice"
    )
    as_twilio_sent_it = signed_post(client, "/twilio/voice", params)

    assert as_seen_behind_the_proxy.status_code == 403
    assert as_twilio_sent_it.status_code == 200


def test_webhooks_are_not_served_when_telephony_is_the_simulator(app):
    client = app.test_client()
    params = {"CallSid": CALL_SID}

    response = signed_post(client, "/twilio/voice", params)

    assert response.status_code == 404


# -- the inbound call ----------------------------------------------------------------


def test_an_incoming_call_is_greeted_in_mandarin_and_queued(twilio_app, client, org):
    root = _twiml(_inbound(client))

    say, enqueue = list(root)
    assert say.tag == "Say"
    assert say.get("language") == "cmn-CN"
    assert say.get("voice") == "Polly.Zhiyu"
    assert "禹城市润禹水务有限公司" in say.text
    assert say.text.startswith("您好")  # G1
    assert enqueue.tag == "Enqueue"
    assert enqueue.text == "hotline"
    assert enqueue.get("waitUrl") == f"{BASE}/twilio/voice/hold"
    (call,) = _rows(twilio_app, Call)
    assert (call.provider, call.provider_call_sid, call.from_number, call.status) == (
        "twilio",
        CALL_SID,
        CALLER,
        CallStatus.RINGING,
    )


def test_a_retried_inbound_webhook_answers_the_same_and_records_one_call(twilio_app, client):
    first = _inbound(client).get_data(as_text=True)
    second = _inbound(client).get_data(as_text=True)

    assert first == second
    assert _count(twilio_app, Call) == 1


def test_p3_the_hold_message_starts_every_30_seconds(twilio_app, client):
    root = _twiml(signed_post(client, "/twilio/voice/hold", {"CallSid": CALL_SID}))

    say, pause = list(root)
    assert say.tag == "Say" and say.get("language") == "cmn-CN"
    assert "请您稍等" in say.text
    assert pause.tag == "Pause"
    spoken = -(-len(say.text) // 4)  # about four characters a second
    assert int(pause.get("length")) + spoken == 30
    assert int(pause.get("length")) == hold_pause_seconds()


def test_answering_on_the_console_moves_the_caller_to_the_operators_line(
    twilio_app, client, org, http
):
    _inbound(client)
    (call,) = _rows(twilio_app, Call)
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))
    http.answers.append((200, {"sid": CALL_SID, "status": "queued"}))

    response = client.post(f"/api/calls/{call.id}/answer", json={}, headers={"X-CSRFToken": token})

    assert response.status_code == 200, response.get_json()
    (request,) = http.requests
    assert (
        request["uri"]
        == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json"
    )
    assert request["data"]["Url"] == f"{BASE}/twilio/voice/connect"
    root = _twiml(signed_post(client, "/twilio/voice/connect", {"CallSid": CALL_SID}))
    say, dial = list(root)
    assert say.get("language") == "cmn-CN"
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == f"{BASE}/twilio/voice/recording"
    assert dial.get("action") == f"{BASE}/twilio/voice/dial-result"
    (number,) = list(dial)
    assert number.text == SETTINGS["twilio_operator_number"]
    assert number.get("statusCallback") == f"{BASE}/twilio/voice/status"


def test_a_refused_connection_leaves_the_call_ringing_for_others(twilio_app, client, org, http):
    _inbound(client)
    (call,) = _rows(twilio_app, Call)
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))
    http.answers.append((404, {"status": 404, "code": 20404, "message": "not found"}))

    response = client.post(f"/api/calls/{call.id}/answer", json={}, headers={"X-CSRFToken": token})

    assert response.status_code == 502
    assert response.get_json()["uncertain"] is False
    (call,) = _rows(twilio_app, Call)
    assert call.answered_by_id is None and call.status == CallStatus.RINGING


def test_when_the_operators_line_does_not_answer_the_caller_waits_again(
    twilio_app, client, org, http
):
    _inbound(client)
    (call,) = _rows(twilio_app, Call)
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))
    http.answers.append((200, {"sid": CALL_SID}))
    client.post(f"/api/calls/{call.id}/answer", json={}, headers={"X-CSRFToken": token})

    root = _twiml(
        signed_post(
            client,
            "/twilio/voice/dial-result",
            {"CallSid": CALL_SID, "DialCallStatus": "no-answer"},
        )
    )

    assert [child.tag for child in root] == ["Say", "Enqueue"]
    (call,) = _rows(twilio_app, Call)
    assert call.answered_by_id is None and call.status == CallStatus.RINGING


def test_after_a_conversation_the_dial_result_hangs_up(twilio_app, client):
    root = _twiml(
        signed_post(
            client,
            "/twilio/voice/dial-result",
            {"CallSid": CALL_SID, "DialCallStatus": "completed"},
        )
    )

    assert [child.tag for child in root] == ["Hangup"]


# -- status callbacks -----------------------------------------------------------------


def test_a_retried_status_callback_is_recorded_once_and_changes_nothing(twilio_app, client):
    _inbound(client)

    first = _status(client, "completed", "3")
    retried = _status(client, "completed", "3")

    assert (first.status_code, retried.status_code) == (204, 204)
    assert _count(twilio_app, CallStatusEvent) == 1
    assert _count(twilio_app, Contact) == 1
    (call,) = _rows(twilio_app, Call)
    assert call.status == CallStatus.ABANDONED


def test_a_status_callback_without_a_sequence_number_still_counts_once_per_status(
    twilio_app, client
):
    _inbound(client)

    _status(client, "completed", None)
    _status(client, "completed", None)

    assert _count(twilio_app, CallStatusEvent) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("completed", CallStatus.ABANDONED),
        ("canceled", CallStatus.ABANDONED),
        ("busy", CallStatus.MISSED),
        ("no-answer", CallStatus.MISSED),
        ("failed", CallStatus.MISSED),
    ],
)
def test_a_call_that_ends_before_an_operator_answers_waits_for_a_call_back(
    twilio_app, client, status, expected
):
    _inbound(client)

    _status(client, status, "5")

    (call,) = _rows(twilio_app, Call)
    assert call.status == expected
    assert call.ended_at is not None
    with twilio_app.extensions["hotline"].sessions() as session:
        assert [c.id for c in missed_calls(session)] == [call.id]


def test_a_status_callback_for_a_call_never_seen_records_it_as_missed(twilio_app, client):
    _status(client, "no-answer", "2")

    (call,) = _rows(twilio_app, Call)
    assert (call.provider_call_sid, call.from_number, call.status) == (
        CALL_SID,
        CALLER,
        CallStatus.MISSED,
    )


def test_the_operators_leg_is_recorded_against_its_parent_and_changes_nothing_else(
    twilio_app, client
):
    _inbound(client)

    _status(client, "ringing", "1", sid=CHILD_SID, ParentCallSid=CALL_SID)
    _status(client, "completed", "2", sid=CHILD_SID, ParentCallSid=CALL_SID)

    (call,) = _rows(twilio_app, Call)
    assert call.status == CallStatus.RINGING and call.ended_at is None
    events = _rows(twilio_app, CallStatusEvent)
    assert {e.parent_call_sid for e in events} == {CALL_SID}


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("CallSid", {"CallStatus": "completed", "SequenceNumber": "1"}),
        ("CallStatus", {"CallSid": CALL_SID, "SequenceNumber": "1"}),
        ("SequenceNumber", {"CallSid": CALL_SID, "CallStatus": "completed", "SequenceNumber": "x"}),
        ("Timestamp", {"CallSid": CALL_SID, "CallStatus": "completed", "Timestamp": "yesterday"}),
    ],
)
def test_a_malformed_status_callback_answers_4xx_naming_the_parameter(
    twilio_app, client, field, params
):
    response = signed_post(client, "/twilio/voice/status", params)

    assert 400 <= response.status_code < 500
    assert field in response.get_data(as_text=True)
    assert _count(twilio_app, CallStatusEvent) == 0


def test_recording_callbacks_link_the_recording_once(twilio_app, client):
    _inbound(client)
    params = {
        "CallSid": CALL_SID,
        "RecordingSid": "RE" + "c" * 32,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'c' * 32}",
        "RecordingStatus": "completed",
    }

    first = signed_post(client, "/twilio/voice/recording", params)
    again = signed_post(client, "/twilio/voice/recording", params)

    assert (first.status_code, again.status_code) == (204, 204)
    (call,) = _rows(twilio_app, Call)
    assert call.recording_url == params["RecordingUrl"]
    assert call.recording_sid == params["RecordingSid"]


def test_a_recording_for_an_unknown_call_answers_404_naming_it(twilio_app, client):
    response = signed_post(
        client,
        "/twilio/voice/recording",
        {
            "CallSid": CALL_SID,
            "RecordingSid": "RE1",
            "RecordingUrl": "https://api.twilio.com/x",
            "RecordingStatus": "completed",
        },
    )

    assert response.status_code == 404
    assert CALL_SID in response.get_data(as_text=True)


# -- calls going out ----------------------------------------------------------------------


def _missed_call(client, twilio_app) -> int:
    _inbound(client)
    _status(client, "completed", "9")
    (call,) = _rows(twilio_app, Call)
    return call.id


def test_a_call_back_writes_its_attempt_first_and_p1_is_measured_from_twilios_times(
    twilio_app, client, org, http, clock
):
    call_id = _missed_call(client, twilio_app)
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))
    out_sid = "CA" + "d" * 32
    seen_before_request: list[str] = []

    original = http.request

    def spying_request(*args: Any, **kwargs: Any):
        seen_before_request.extend(a.status for a in _rows(twilio_app, OutboundAttempt))
        return original(*args, **kwargs)

    http.request = spying_request  # type: ignore[method-assign]
    http.answers.append((201, {"sid": out_sid, "status": "queued"}))

    response = client.post(
        f"/api/calls/{call_id}/call-back", json={}, headers={"X-CSRFToken": token}
    )

    assert response.status_code == 200, response.get_json()
    assert seen_before_request == [AttemptStatus.PENDING]
    (attempt,) = _rows(twilio_app, OutboundAttempt)
    assert (attempt.status, attempt.provider_sid, attempt.to_number) == (
        AttemptStatus.REQUESTED,
        out_sid,
        CALLER,
    )
    root = _twiml(signed_post(client, f"/twilio/voice/outbound/{attempt.id}", {"CallSid": out_sid}))
    say, dial = list(root)
    assert "很抱歉" in say.text and say.get("language") == "cmn-CN"
    assert dial[0].text == SETTINGS["twilio_operator_number"]

    # P1 on the way out: ring-to-answer measured from Twilio's own times.
    for sequence, status, second in (
        ("0", "initiated", "00"),
        ("1", "ringing", "01"),
        ("2", "in-progress", "07"),
        ("3", "completed", "59"),
    ):
        signed_post(
            client,
            "/twilio/voice/status",
            {
                "CallSid": out_sid,
                "CallStatus": status,
                "SequenceNumber": sequence,
                "Direction": "outbound-api",
                "From": "+8653421221100",
                "To": CALLER,
                "Timestamp": f"Thu, 26 Nov 2026 02:00:{second} +0000",
            },
        )
    (outbound,) = _rows(twilio_app, Call, Call.provider_call_sid == out_sid)
    assert outbound.direction == "outbound"
    assert outbound.ring_to_answer_seconds == pytest.approx(6.0)
    assert outbound.status == CallStatus.COMPLETED
    (attempt,) = _rows(twilio_app, OutboundAttempt)
    assert attempt.status == AttemptStatus.COMPLETED
    # The caller answered the call-back: the missed call has left the list.
    (missed,) = _rows(twilio_app, Call, Call.id == call_id)
    assert missed.called_back_at is not None
    assert client.get("/api/calls/incoming").get_json()["missed"] == []


def test_a_call_back_nobody_answers_keeps_the_caller_listed(twilio_app, client, org, http, clock):
    call_id = _missed_call(client, twilio_app)
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))
    out_sid = "CA" + "e" * 32
    http.answers.append((201, {"sid": out_sid, "status": "queued"}))
    response = client.post(
        f"/api/calls/{call_id}/call-back", json={}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200, response.get_json()
    for sequence, status in (("0", "initiated"), ("1", "ringing"), ("2", "no-answer")):
        signed_post(
            client,
            "/twilio/voice/status",
            {
                "CallSid": out_sid,
                "CallStatus": status,
                "SequenceNumber": sequence,
                "Direction": "outbound-api",
                "From": "+8653421221100",
                "To": CALLER,
            },
        )
    (attempt,) = _rows(twilio_app, OutboundAttempt)
    assert attempt.status == AttemptStatus.NOT_REACHED
    (row,) = client.get("/api/calls/incoming").get_json()["missed"]
    assert (row["id"], row["may_call_back"], row["awaiting_outcome"]) == (call_id, True, False)


def test_twilio_refusing_a_call_back_is_recorded_and_the_caller_stays_listed(
    twilio_app, client, org, http
):
    call_id = _missed_call(client, twilio_app)
    logged_in(client, "operator")
    token = csrf_from(client.get("/console").get_data(as_text=True))
    http.answers.append((400, {"status": 400, "code": 21215, "message": "Geo permission"}))

    response = client.post(
        f"/api/calls/{call_id}/call-back", json={}, headers={"X-CSRFToken": token}
    )

    assert response.status_code == 502
    assert len(http.requests) == 1
    (attempt,) = _rows(twilio_app, OutboundAttempt)
    assert attempt.status == AttemptStatus.REFUSED
    assert "21215" in attempt.error
    listed = client.get("/api/calls/incoming").get_json()["missed"]
    assert [row["id"] for row in listed] == [call_id]


def test_sms_delivery_reports_move_the_attempt_on(twilio_app, client, org):
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    with twilio_app.extensions["hotline"].sessions() as session:
        session.add(
            OutboundAttempt(
                kind="sms",
                purpose="case_number",
                to_number=CALLER,
                body="x",
                status=AttemptStatus.REQUESTED,
                provider="twilio",
                provider_sid="SM1",
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()

    response = signed_post(
        client, "/twilio/sms/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}
    )

    assert response.status_code == 204
    (attempt,) = _rows(twilio_app, OutboundAttempt)
    assert attempt.status == AttemptStatus.COMPLETED


def test_a_task_call_answered_introduces_the_utility_without_the_missed_call_apology(
    twilio_app, client, clock
):
    from callflows.services.outbound_tasks import PURPOSE

    with twilio_app.extensions["hotline"].sessions() as session, session.begin():
        attempt = OutboundAttempt(
            kind=AttemptKind.CALL,
            purpose=PURPOSE,
            to_number=CALLER,
            status=AttemptStatus.REQUESTED,
            provider="twilio",
            created_at=clock.now,
            updated_at=clock.now,
        )
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id

    root = _twiml(signed_post(client, f"/twilio/voice/outbound/{attempt_id}", {"CallSid": "CA1"}))
    say, dial = list(root)
    assert "很抱歉" not in say.text and "现在为您接通客服人员" in say.text
    assert dial[0].text == SETTINGS["twilio_operator_number"]
