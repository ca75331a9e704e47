"""The telephony adapters, offline: the real ``twilio`` library over a fake HttpClient.

Nothing leaves the process: the Twilio REST client is given an HttpClient
that records each request and answers as Twilio would (or fails as a network
does). Outbound requests are sent exactly once, whatever happens; a clear
refusal and an unclear outcome are told apart.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from requests.exceptions import ConnectTimeout
from twilio.http import HttpClient
from twilio.http.response import Response

from callflows.telephony import (
    OutboundCall,
    OutboundSms,
    SimulatorTelephony,
    Telephony,
    TelephonyRefused,
    TelephonyUncertain,
    TwilioConfig,
    TwilioTelephony,
    make_telephony,
)
from hotline.settings import SettingsError

ACCOUNT = "AC" + "0" * 32
BASE = "https://hotline.example.cn"

SETTINGS = {
    "telephony": "twilio",
    "twilio_account_sid": ACCOUNT,
    "twilio_auth_token": "secret-token",
    "twilio_from_number": "+8653421221100",
    "twilio_public_base_url": BASE,
    "twilio_operator_number": "+8653421221101",
    "twilio_voice": "Polly.Zhiyu",
    "twilio_language": "cmn-CN",
    "twilio_queue": "hotline",
    "twilio_record_calls": True,
}


class FakeHttpClient(HttpClient):
    """Twilio's HttpClient, answering from a script instead of the network."""

    def __init__(self, *answers: Any) -> None:
        super().__init__(logger=None, is_async=False)  # type: ignore[arg-type]
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def request(
        self,
        method: str,
        uri: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append({"method": method, "uri": uri, "data": dict(data or {}), "auth": auth})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return Response(status, json.dumps(body))


def _adapter(*answers: Any) -> tuple[TwilioTelephony, FakeHttpClient]:
    http = FakeHttpClient(*answers)
    return TwilioTelephony(TwilioConfig.from_settings(SETTINGS), http), http


def _twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"status": status, "code": code, "message": message, "more_info": ""}


def test_both_adapters_are_telephony_ports():
    assert isinstance(SimulatorTelephony(), Telephony)
    assert isinstance(_adapter()[0], Telephony)


def test_a_call_back_is_created_with_the_outbound_twiml_and_status_callbacks():
    adapter, http = _adapter((201, {"sid": "CA" + "1" * 32, "status": "queued"}))

    sid = adapter.place_call(OutboundCall(attempt_id=7, to="+8613805341234"))

    assert sid == "CA" + "1" * 32
    (request,) = http.requests
    assert request["method"] == "POST"
    assert request["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    data = request["data"]
    assert data["To"] == "+8613805341234"
    assert data["From"] == "+8653421221100"
    assert data["Url"] == f"{BASE}/twilio/voice/outbound/7"
    assert data["StatusCallback"] == f"{BASE}/twilio/voice/status"
    assert data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert request["auth"] == (ACCOUNT, "secret-token")


def test_an_sms_is_sent_through_the_messages_resource():
    adapter, http = _adapter((201, {"sid": "SM" + "2" * 32, "status": "queued"}))

    sid = adapter.send_sms(OutboundSms(attempt_id=3, to="+8613805341234", body="您好,工单号RY-1"))

    assert sid == "SM" + "2" * 32
    (request,) = http.requests
    assert request["uri"].endswith(f"/Accounts/{ACCOUNT}/Messages.json")
    assert request["data"]["Body"] == "您好,工单号RY-1"
    assert request["data"]["StatusCallback"] == f"{BASE}/twilio/sms/status"


def test_connecting_redirects_the_queued_call_to_the_connect_twiml():
    adapter, http = _adapter((200, {"sid": "CA" + "3" * 32, "status": "queued"}))

    adapter.connect_to_operator("CA" + "3" * 32)

    (request,) = http.requests
    assert request["uri"].endswith(f"/Calls/{'CA' + '3' * 32}.json")
    assert request["data"]["Url"] == f"{BASE}/twilio/voice/connect"
    assert request["data"]["Method"] == "POST"


def test_a_twilio_4xx_is_a_refusal_sent_once():
    adapter, http = _adapter(_twilio_error(400, 21211, "Invalid 'To' Phone Number"))

    with pytest.raises(TelephonyRefused, match="21211"):
        adapter.place_call(OutboundCall(attempt_id=1, to="+8613805341234"))

    assert len(http.requests) == 1


def test_a_twilio_5xx_is_uncertain_and_not_retried():
    adapter, http = _adapter(_twilio_error(503, 20503, "Service unavailable"))

    with pytest.raises(TelephonyUncertain):
        adapter.send_sms(OutboundSms(attempt_id=1, to="+8613805341234", body="x"))

    assert len(http.requests) == 1


def test_a_lost_connection_is_uncertain_and_not_retried():
    adapter, http = _adapter(ConnectTimeout("timed out"))

    with pytest.raises(TelephonyUncertain, match="no answer from Twilio"):
        adapter.place_call(OutboundCall(attempt_id=1, to="+8613805341234"))

    assert len(http.requests) == 1


def test_the_default_http_client_has_a_timeout_and_no_automatic_retries():
    adapter = TwilioTelephony(TwilioConfig.from_settings(SETTINGS))

    http = adapter.client.http_client
    assert http.timeout == pytest.approx(10.0)
    assert http.session.get_adapter("https://api.twilio.com").max_retries.total == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("twilio_account_sid", ""),
        ("twilio_account_sid", "XX123"),
        ("twilio_auth_token", ""),
        ("twilio_from_number", "0534-2122110"),
        ("twilio_operator_number", ""),
        ("twilio_public_base_url", "hotline.example.cn"),
        ("twilio_voice", ""),
        ("twilio_record_calls", "yes"),
    ],
)
def test_an_unusable_twilio_setting_is_refused_naming_its_key(key, value):
    with pytest.raises(SettingsError, match=key):
        TwilioConfig.from_settings({**SETTINGS, key: value})


def test_webhook_urls_are_built_on_the_public_base_url():
    config = TwilioConfig.from_settings({**SETTINGS, "twilio_public_base_url": BASE + "/hl/"})

    assert config.url("/twilio/voice") == BASE + "/hl/twilio/voice"


def test_the_telephony_setting_chooses_the_adapter():
    assert isinstance(make_telephony({"telephony": "simulator"}), SimulatorTelephony)
    assert isinstance(make_telephony(SETTINGS, http_client=FakeHttpClient()), TwilioTelephony)
    with pytest.raises(SettingsError, match="telephony"):
        make_telephony({"telephony": "pbx"})


def test_the_simulator_keeps_what_the_line_would_have_sent():
    simulator = SimulatorTelephony()

    call_sid = simulator.place_call(OutboundCall(attempt_id=1, to="+8613805341234"))
    sms_sid = simulator.send_sms(OutboundSms(attempt_id=2, to="+8613805341234", body="您好"))
    simulator.connect_to_operator("SIM-1")

    assert call_sid.startswith("SIM-OUT-") and sms_sid.startswith("SIM-SMS-")
    assert [c.to for c in simulator.calls] == ["+8613805341234"]
    assert [m.body for m in simulator.messages] == ["您好"]
    assert list(simulator.connected) == ["SIM-1"]


def test_request_bodies_are_form_encoded_the_way_twilio_reads_them():
    # The fake sees the library's data dict; check it encodes as repeated form fields.
    from urllib.parse import urlencode

    adapter, http = _adapter((201, {"sid": "CA" + "4" * 32}))
    adapter.place_call(OutboundCall(attempt_id=9, to="+8613805341234"))

    encoded = parse_qs(urlencode(http.requests[0]["data"], doseq=True))
    assert encoded["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
