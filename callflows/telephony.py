"""Telephony: one port, two adapters (the built-in simulator and Twilio).

The product asks three things of a phone system, and nothing else:

* connect a caller waiting in the hotline queue to the operator who answered
  the call on the console;
* place an outbound call (a call-back to a missed caller);
* send an SMS (the case number and promised time).

Incoming calls, their status changes and recordings come the other way: the
simulator page and Twilio's webhooks both hand them to :mod:`callflows.services`.

Outbound requests are not idempotent. The caller of :meth:`Telephony.place_call`
and :meth:`Telephony.send_sms` writes the attempt first; an adapter never
retries. It raises :class:`TelephonyRefused` when the provider clearly said no
(nothing went out) and :class:`TelephonyUncertain` when there was no clear
answer (it may have gone out).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from hotline.domain.errors import words
from hotline.settings import SettingsError

__all__ = [
    "OutboundCall",
    "OutboundSms",
    "SimulatorTelephony",
    "Telephony",
    "TelephonyError",
    "TelephonyRefused",
    "TelephonyUncertain",
    "TwilioConfig",
    "TwilioTelephony",
    "make_telephony",
]

T = TypeVar("T")

#: Paths of the Twilio webhooks, below the configured public base URL.
VOICE_PATH = "/twilio/voice"
HOLD_PATH = "/twilio/voice/hold"
CONNECT_PATH = "/twilio/voice/connect"
DIAL_RESULT_PATH = "/twilio/voice/dial-result"
STATUS_PATH = "/twilio/voice/status"
RECORDING_PATH = "/twilio/voice/recording"
OUTBOUND_PATH = "/twilio/voice/outbound/{attempt_id}"
SMS_STATUS_PATH = "/twilio/sms/status"

#: Call progress events asked for on outbound calls.
OUTBOUND_EVENTS = ("initiated", "ringing", "answered", "completed")


class TelephonyError(Exception):
    """The phone system did not do what was asked.

    Its words are a template and values (``template``, ``params``), like a
    refusal's, so a page can say them in the reader's language.
    """

    def __init__(self, message: str = "", /, **params: Any) -> None:
        self.template, self.params = message, params
        super().__init__(message % params if params else message)


class TelephonyRefused(TelephonyError):
    """The provider answered with an error: the call or message did not go out."""


class TelephonyUncertain(TelephonyError):
    """No clear answer (timeout, lost connection, server error): it may have gone out."""


@dataclass(frozen=True)
class OutboundCall:
    """An outbound call to place; ``attempt_id`` is its already-written attempt row."""

    attempt_id: int
    to: str


@dataclass(frozen=True)
class OutboundSms:
    """An SMS to send; ``attempt_id`` is its already-written attempt row."""

    attempt_id: int
    to: str
    body: str


@runtime_checkable
class Telephony(Protocol):
    """The port: what the product asks of a phone system."""

    name: str

    def connect_to_operator(self, call_sid: str) -> None:
        """Connect the queued caller of ``call_sid`` to the operator's line."""

    def place_call(self, call: OutboundCall) -> str:
        """Place ``call``; return the provider's id for it."""

    def send_sms(self, message: OutboundSms) -> str:
        """Send ``message``; return the provider's id for it."""


class SimulatorTelephony:
    """The embedded default: no phone account, everything happens in the browser.

    The simulator page plays the caller; connecting is immediate; outbound
    calls and messages are kept in memory (the last hundred) for the
    simulator page to show, so a newcomer sees what a real line would send.
    """

    name = "simulator"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connected: deque[str] = deque(maxlen=100)
        self.calls: deque[OutboundCall] = deque(maxlen=100)
        self.messages: deque[OutboundSms] = deque(maxlen=100)

    def connect_to_operator(self, call_sid: str) -> None:
        """The simulated caller is on the console's line as soon as it is answered."""
        with self._lock:
            self.connected.append(call_sid)

    def place_call(self, call: OutboundCall) -> str:
        """Record the call; returns a simulator id ``SIM-OUT-…``."""
        with self._lock:
            self.calls.append(call)
        return f"SIM-OUT-{uuid.uuid4().hex[:16]}"

    def send_sms(self, message: OutboundSms) -> str:
        """Record the message; returns a simulator id ``SIM-SMS-…``."""
        with self._lock:
            self.messages.append(message)
        return f"SIM-SMS-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class TwilioConfig:
    """The Twilio settings (``twilio_*`` in ``config/hotline.toml``)."""

    account_sid: str
    auth_token: str
    from_number: str
    public_base_url: str
    operator_number: str
    voice: str = "Polly.Zhiyu"
    language: str = "cmn-CN"
    queue_name: str = "hotline"
    record_calls: bool = True
    request_timeout: float = 10.0

    def url(self, path: str) -> str:
        """The public URL Twilio uses for ``path`` (and that signatures cover)."""
        return self.public_base_url.rstrip("/") + path

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TwilioConfig:
        """Read and check the ``twilio_*`` settings.

        Raises :class:`~hotline.settings.SettingsError` naming the first key
        that is missing or malformed.
        """

        def text(key: str) -> str:
            value = settings.get(key)
            if not isinstance(value, str) or not value.strip():
                raise SettingsError(f"setting '{key}' is required when telephony = \"twilio\"")
            return value.strip()

        account_sid = text("twilio_account_sid")
        if not account_sid.startswith("AC"):
            raise SettingsError("setting 'twilio_account_sid' must start with 'AC'")
        base = text("twilio_public_base_url")
        parts = urlsplit(base)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
            raise SettingsError(
                "setting 'twilio_public_base_url' must be the URL Twilio reaches, "
                "such as https://hotline.example.cn"
            )
        for key in ("twilio_from_number", "twilio_operator_number"):
            number = text(key)
            if not number.startswith("+") or not number[1:].isdigit():
                raise SettingsError(f"setting '{key}' must be an E.164 number such as +8653421221")
        record = settings.get("twilio_record_calls", True)
        if not isinstance(record, bool):
            raise SettingsError("setting 'twilio_record_calls' must be true or false")
        return cls(
            account_sid=account_sid,
            auth_token=text("twilio_auth_token"),
            from_number=text("twilio_from_number"),
            public_base_url=base,
            operator_number=text("twilio_operator_number"),
            voice=text("twilio_voice"),
            language=text("twilio_language"),
            queue_name=text("twilio_queue"),
            record_calls=record,
        )


class TwilioTelephony:
    """The Twilio adapter: the REST client of the ``twilio`` library.

    ``http_client`` replaces the library's HTTP client (tests pass a fake one;
    nothing then leaves the process). The default client gets a timeout and no
    automatic retries: an outbound request is sent once.
    """

    name = "twilio"

    def __init__(self, config: TwilioConfig, http_client: Any | None = None) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.config = config
        self.client = Client(
            config.account_sid,
            config.auth_token,
            http_client=http_client
            or TwilioHttpClient(timeout=config.request_timeout, max_retries=0),
        )

    def _send(self, what: str, request: Callable[[], T]) -> T:
        from twilio.base.exceptions import TwilioRestException

        try:
            return request()
        except TwilioRestException as exc:
            values = {"what": what, "status": exc.status, "detail": exc.msg}
            template = words("%(what)s: Twilio answered %(status)s (%(detail)s)")
            if exc.code:
                template = words(
                    "%(what)s: Twilio answered %(status)s (error %(code)s: %(detail)s)"
                )
                values["code"] = exc.code
            if exc.status >= 500:
                # A server error says nothing about whether the request took effect.
                raise TelephonyUncertain(template, **values) from exc
            raise TelephonyRefused(template, **values) from exc
        except Exception as exc:  # timeouts and lost connections: the outcome is unknown
            raise TelephonyUncertain(
                "%(what)s: no answer from Twilio (%(detail)s)", what=what, detail=str(exc)
            ) from exc

    def connect_to_operator(self, call_sid: str) -> None:
        """Move the queued call to the connect TwiML, which dials the operator's line.

        Raises :class:`TelephonyRefused` or :class:`TelephonyUncertain`.
        """
        self._send(
            words("connecting the caller"),
            lambda: self.client.calls(call_sid).update(
                url=self.config.url(CONNECT_PATH), method="POST"
            ),
        )

    def place_call(self, call: OutboundCall) -> str:
        """Create the call; status events come back to the status webhook.

        Returns the CallSid. Raises :class:`TelephonyRefused` or
        :class:`TelephonyUncertain`.
        """
        created = self._send(
            words("placing the call"),
            lambda: self.client.calls.create(
                to=call.to,
                from_=self.config.from_number,
                url=self.config.url(OUTBOUND_PATH.format(attempt_id=call.attempt_id)),
                method="POST",
                status_callback=self.config.url(STATUS_PATH),
                status_callback_method="POST",
                status_callback_event=list(OUTBOUND_EVENTS),
            ),
        )
        return str(created.sid)

    def send_sms(self, message: OutboundSms) -> str:
        """Send the message. Returns the MessageSid. Raises as :meth:`place_call`."""
        sent = self._send(
            words("sending the SMS"),
            lambda: self.client.messages.create(
                to=message.to,
                from_=self.config.from_number,
                body=message.body,
                status_callback=self.config.url(SMS_STATUS_PATH),
            ),
        )
        return str(sent.sid)


def make_telephony(settings: Mapping[str, Any], *, http_client: Any | None = None) -> Telephony:
    """The adapter the ``telephony`` setting names.

    Raises :class:`~hotline.settings.SettingsError` for another value or a
    missing Twilio setting.
    """
    chosen = settings.get("telephony", "simulator")
    if chosen == "simulator":
        return SimulatorTelephony()
    if chosen == "twilio":
        return TwilioTelephony(TwilioConfig.from_settings(settings), http_client)
    raise SettingsError(f'setting \'telephony\' must be "simulator" or "twilio", got {chosen!r}')
