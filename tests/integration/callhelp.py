"""Helpers shared by the call tests (this module holds no tests of its own).

A fake telephony adapter that records what it was asked and can be told to
fail, a recorder of what the console would be told over Socket.IO, the call
flows wired for the service layer, and the shortest path through the inbound
script to any point of a call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callflows import services as calls
from callflows.bootstrap import load_scripts
from callflows.models import Provider
from callflows.services import CallFlows
from callflows.telephony import OutboundCall, OutboundSms, TelephonyError
from hotline.services import Actor, Services
from hotline.settings import load_settings

CALLER = "13805341234"
CALLER_E164 = "+8613805341234"

#: P4's four fields as an operator captures them.
P4_FIELDS = {
    "problem": "汉槐街路边冒水",
    "need": "派人维修",
    "address": "禹城市汉槐街 18 号",
    "contact_phone": "138 0534 1234",
}


@dataclass
class FakeTelephony:
    """Records every request; ``fail_with`` makes the next ones raise; ``on_request`` spies on outbound ones."""

    name: str = "simulator"
    connected: list[str] = field(default_factory=list)
    calls: list[OutboundCall] = field(default_factory=list)
    messages: list[OutboundSms] = field(default_factory=list)
    fail_with: TelephonyError | None = None
    on_request: Callable[[Any], None] | None = None

    def _check(self, request: Any) -> None:
        if self.on_request is not None:
            self.on_request(request)
        if self.fail_with is not None:
            raise self.fail_with

    def connect_to_operator(self, call_sid: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.connected.append(call_sid)

    def place_call(self, call: OutboundCall) -> str:
        self._check(call)
        self.calls.append(call)
        return f"FAKE-CALL-{call.attempt_id}"

    def send_sms(self, message: OutboundSms) -> str:
        self._check(message)
        self.messages.append(message)
        return f"FAKE-SMS-{message.attempt_id}"


@dataclass
class Published:
    """What the operators' consoles were told, in order: (room, event, payload)."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, room: str, event: str, payload: Mapping[str, Any]) -> None:
        self.events.append((room, event, dict(payload)))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [payload for _room, name, payload in self.events if name == event]


def make_flows(telephony: Any | None = None, published: Published | None = None) -> CallFlows:
    """Call flows over the shipped scripts and settings, with fakes for the outside world."""
    settings = load_settings()
    return CallFlows(
        scripts=load_scripts(settings),
        telephony=telephony or FakeTelephony(),
        emit=published if published is not None else Published(),
        ring_limit_seconds=15.0,
        company_name=settings["company_name"],
        company_short=settings["company_short"],
        hotline_number=settings["hotline_number"],
    )


def ring(svc: Services, flows: CallFlows, number: str = CALLER, sid: str = "SIM-1") -> int:
    call_id, _created = calls.ring(
        svc, flows, provider=Provider.SIMULATOR, sid=sid, from_raw=number
    )
    return call_id


def op(svc: Services, flows: CallFlows, actor: Actor, call_id: int, name: str, **args: str) -> None:
    calls.apply_script(svc, flows, actor, call_id, name, args)


def walk_to_read_back(
    svc: Services, flows: CallFlows, actor: Actor, call_id: int, **fields: str
) -> None:
    """Greeting, purpose (help), apology, name, the P4 items, category: at the read-back step."""
    values = {**P4_FIELDS, **fields}
    op(svc, flows, actor, call_id, "complete")
    op(svc, flows, actor, call_id, "answer", answer="help")
    op(svc, flows, actor, call_id, "complete")
    op(svc, flows, actor, call_id, "capture", field="contact_phone", value=values["contact_phone"])
    op(svc, flows, actor, call_id, "complete")
    for name in ("problem", "need", "address"):
        op(svc, flows, actor, call_id, "capture", field=name, value=values[name])
        op(svc, flows, actor, call_id, "complete")
    op(
        svc,
        flows,
        actor,
        call_id,
        "capture",
        field="category",
        value=fields.get("category", "leak"),
    )
    op(svc, flows, actor, call_id, "complete")


def confirm_and_triage(
    svc: Services, flows: CallFlows, actor: Actor, call_id: int, triage: str = "utility"
) -> None:
    """Read-back confirmed by the caller, step left, triage answered."""
    op(svc, flows, actor, call_id, "confirm_read_back")
    op(svc, flows, actor, call_id, "complete")
    op(svc, flows, actor, call_id, "answer", answer=triage)


def answered_call(
    svc: Services, flows: CallFlows, actor: Actor, number: str = CALLER, sid: str = "SIM-1"
) -> int:
    call_id = ring(svc, flows, number, sid)
    calls.answer(svc, flows, actor, call_id)
    return call_id
