"""12345 transfers (12345政务服务便民热线转办工单): the rules of an order on the 12345 clock.

The city government's 12345 hotline hands the utility orders (工单). Each
order carries the platform's order number, when it was sent, the platform's
own deadlines and the citizen's request; it becomes a case like any other
contact and runs on the platform's clock besides the case's own:

* 签收 (``acknowledge``): sign for the order within its limit;
* 回退 (``return``): hand back an order that is not the utility's, with a
  reason, within 2 working days of receipt (SEED-RULES table, 退单; G5);
* 延期申请 (``extension``): ask the platform for more time, with a reason,
  before the reply is due, at most once;
* 答复 (``reply``): the public reply to the citizen, before its deadline.

Pure Python: the limits come from ``[gov12345]`` of ``config/time_limits.toml``
(read strictly by :mod:`hotline.domain.policy_schema`); the platform is a
port (:class:`Platform`) the services report back through. An order as a
platform sends it is read by :class:`IncomingOrderSchema`, the one schema of
both ways in (the file drop and the webhook).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from hotline.domain.errors import Rejected, words
from hotline.domain.taxonomy import Category
from hotline.domain.timelimits import Limit, deadline
from hotline.domain.workcalendar import WorkCalendar

#: The longest public reply, return reason or extension reason kept (characters).
MAX_TEXT = 2000
#: The longest citizen request kept (characters).
MAX_REQUEST = 4000
#: Header of the webhook's signature: hex HMAC-SHA256 of the raw body.
SIGNATURE_HEADER = "X-Gov12345-Signature"
#: The most times a report back is tried before it waits for someone to look.
MAX_REPORT_ATTEMPTS = 10


class OrderStatus(StrEnum):
    """Where an order stands with the platform."""

    RECEIVED = "received"  # 待签收
    ACKNOWLEDGED = "acknowledged"  # 已签收
    RETURNED = "returned"  # 已回退
    REPLIED = "replied"  # 已答复


class ReportKind(StrEnum):
    """What the utility reports back to the platform."""

    RECEIPT = "receipt"  # 签收
    RETURN = "return"  # 回退
    EXTENSION = "extension"  # 延期申请
    REPLY = "reply"  # 答复


class ReportStatus(StrEnum):
    """Whether a report back reached the platform."""

    PENDING = "pending"  # 待上报
    SENT = "sent"  # 已上报
    FAILED = "failed"  # 上报失败(将重试)


class Urgency(StrEnum):
    """How near a 12345 deadline is: shown plain, amber or red."""

    OK = "ok"
    NEAR = "near"  # amber: past the warning share of its time
    OVER = "over"  # red: past the deadline
    MET = "met"  # done in time
    MISSED = "missed"  # done late


class Gov12345Error(Rejected):
    """A 12345 action refused by the rules; ``field`` names the input at fault.

    Its words are a template and its values, as a refusal's are
    (:class:`~hotline.domain.errors.Rejected`); :attr:`message` is the English
    text filled in.
    """

    def __init__(
        self, message: str, field: str | None = None, rule: str | None = None, **params: Any
    ) -> None:
        super().__init__(message, **params)
        self.message = str(self)
        self.field = field
        self.rule = rule


# -- the limits --------------------------------------------------------------------


@dataclass(frozen=True)
class Gov12345Limits:
    """``[gov12345]`` of the policy file: the limits of the 12345 clock.

    ``acknowledge`` and ``reply`` hold when the platform sends no deadline of
    its own; ``return_`` always counts from receipt; ``extension`` is the most
    an extension request may ask for beyond the reply deadline.
    """

    acknowledge: Limit
    return_: Limit
    reply: Limit
    extension: Limit


@dataclass(frozen=True)
class OrderDeadlines:
    """The three deadlines an order runs on (all aware, in the calendar's zone)."""

    acknowledge_due: datetime
    return_due: datetime
    reply_due: datetime


def order_deadlines(
    received_at: datetime,
    limits: Gov12345Limits,
    calendar: WorkCalendar,
    *,
    acknowledge_due: datetime | None = None,
    reply_due: datetime | None = None,
) -> OrderDeadlines:
    """The deadlines of an order received at ``received_at``.

    The platform's own deadline wins where it sends one; otherwise the
    policy's limit counts from receipt on its clock. A return is due within
    ``limits.return_`` of receipt (2 working days), never after the reply.
    """
    ack = acknowledge_due or deadline(received_at, limits.acknowledge, calendar)
    reply = (reply_due or deadline(received_at, limits.reply, calendar)).astimezone(calendar.tz)
    back = min(deadline(received_at, limits.return_, calendar), reply)
    return OrderDeadlines(ack.astimezone(calendar.tz), back.astimezone(calendar.tz), reply)


def latest_extension(
    reply_due: datetime, limits: Gov12345Limits, calendar: WorkCalendar
) -> datetime:
    """The latest new reply deadline an extension request may ask for."""
    return deadline(reply_due, limits.extension, calendar)


def urgency(
    start: datetime,
    due: datetime,
    now: datetime,
    warning_share: float,
    *,
    done_at: datetime | None = None,
) -> Urgency:
    """Amber once ``warning_share`` of the time from ``start`` to ``due`` has
    passed, red once ``due`` has; for a step already done, met or missed."""
    if done_at is not None:
        return Urgency.MET if done_at <= due else Urgency.MISSED
    if now > due:
        return Urgency.OVER
    if due <= start or now >= start + (due - start) * warning_share:
        return Urgency.NEAR
    return Urgency.OK


# -- what may be done ---------------------------------------------------------------

#: The statuses each action is taken from.
ACTION_FROM: Mapping[ReportKind, frozenset[OrderStatus]] = {
    ReportKind.RECEIPT: frozenset({OrderStatus.RECEIVED}),
    ReportKind.RETURN: frozenset({OrderStatus.RECEIVED, OrderStatus.ACKNOWLEDGED}),
    ReportKind.EXTENSION: frozenset({OrderStatus.ACKNOWLEDGED}),
    ReportKind.REPLY: frozenset({OrderStatus.ACKNOWLEDGED}),
}


def check_action(
    kind: ReportKind,
    status: OrderStatus,
    deadlines: OrderDeadlines,
    now: datetime,
    *,
    text: str = "",
    extension_requested: bool = False,
    extension_until: datetime | None = None,
    latest_extension_until: datetime | None = None,
) -> str:
    """Check one action on an order; returns its text cleaned.

    Raises :class:`Gov12345Error` naming the field: an action not open from
    ``status``; a return after its 2 working days or without a reason (G5);
    an extension request without a reason, after the reply deadline, a second
    time, or asking for a date not after the deadline or beyond the longest
    extension; a reply without its text.
    """
    if status not in ACTION_FROM[kind]:
        raise Gov12345Error(
            words("order is '%(order_status)s': '%(kind)s' is not possible now"),
            "status",
            _RULE.get(kind),
            order_status=status,
            kind=kind,
        )
    cleaned = clean_text(text)
    if kind is ReportKind.RETURN:
        if not cleaned:
            raise Gov12345Error(words("a return needs the reason it is not ours"), "reason", "G5")
        if now > deadlines.return_due:
            raise Gov12345Error(
                words(
                    "the 2 working days to return the order have passed; handle and reply instead"
                ),
                "reason",
                "G5",
            )
    if kind is ReportKind.EXTENSION:
        if not cleaned:
            raise Gov12345Error(words("an extension request needs its reason"), "reason")
        if extension_requested:
            raise Gov12345Error(
                words("an extension has already been asked for this order"), "reason"
            )
        if now > deadlines.reply_due:
            raise Gov12345Error(
                words("the reply deadline has passed; an extension is asked before it"), "until"
            )
        if extension_until is None or extension_until <= deadlines.reply_due:
            raise Gov12345Error(words("ask for a new deadline after the current one"), "until")
        if latest_extension_until is not None and extension_until > latest_extension_until:
            raise Gov12345Error(
                words("the new deadline is beyond the longest extension the policy allows"),
                "until",
            )
    if kind is ReportKind.REPLY and not cleaned:
        raise Gov12345Error(words("the public reply is empty"), "reply")
    return cleaned


_RULE = {ReportKind.RETURN: "G5"}


def clean_text(text: str) -> str:
    """Text as kept: no control characters but line breaks, trimmed."""
    kept = "".join(ch for ch in text or "" if ch in "\n\t" or ch.isprintable())
    return kept.replace("\t", " ").strip()


# -- the platform port ----------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One report back to the platform: what, for which order, when, in words."""

    kind: ReportKind
    order_number: str
    at: datetime
    text: str = ""
    until: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The report as the shipped adapters send it."""
        body: dict[str, Any] = {
            "order_number": self.order_number,
            "kind": str(self.kind),
            "at": self.at.isoformat(),
        }
        if self.text:
            body["text"] = self.text
        if self.until is not None:
            body["until"] = self.until.isoformat()
        return body


class Platform(Protocol):
    """A city's 12345 platform, as the utility reports back to it.

    ``report`` delivers one report or raises; a failure is recorded and the
    report tried again later.
    """

    name: str

    def report(self, report: Report) -> None: ...


def signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret`` (the webhook's header)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, given: str | None) -> bool:
    """Whether ``given`` (the header, optionally ``sha256=``-prefixed) signs ``body``.

    An empty secret accepts nothing: the webhook is off until one is set.
    """
    if not secret or not given:
        return False
    given = given.strip().removeprefix("sha256=")
    return hmac.compare_digest(signature(secret, body), given.lower())


# -- an order as the platform sends it --------------------------------------------------


@dataclass(frozen=True)
class IncomingOrder:
    """One 12345 order, read and checked."""

    order_number: str
    received_at: datetime
    request_text: str
    citizen_phone: str
    address: str
    citizen_name: str = ""
    category: Category = Category.COMPLAINT
    acknowledge_due: datetime | None = None
    reply_due: datetime | None = None


class _Moment(fields.AwareDateTime):
    """A time with its zone (ISO 8601); one without a zone is refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)


class IncomingOrderSchema(Schema):
    """An order as a 12345 platform sends it (JSON), for the file drop and the webhook."""

    class Meta:
        unknown = RAISE

    order_number = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$",
            error="expected the platform's order number: letters, digits, - or _, at most 64",
        ),
    )
    received_at = _Moment(required=True)
    acknowledge_due = _Moment(load_default=None, allow_none=True)
    reply_due = _Moment(load_default=None, allow_none=True)
    request_text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_REQUEST))
    citizen_name = fields.String(load_default="", validate=validate.Length(max=100))
    citizen_phone = fields.String(required=True, validate=validate.Length(min=3, max=40))
    address = fields.String(required=True, validate=validate.Length(min=1, max=300))
    category = fields.Enum(Category, by_value=True, load_default=Category.COMPLAINT)

    @validates("request_text")
    def _not_blank(self, value: str, **kwargs: Any) -> None:
        if not clean_text(value):
            raise ValidationError("the citizen's request is empty")

    @validates("address")
    def _address(self, value: str, **kwargs: Any) -> None:
        if not clean_text(value):
            raise ValidationError("the address is empty")

    @post_load
    def _order(self, data: dict[str, Any], **kwargs: Any) -> IncomingOrder:
        received = data["received_at"]
        for key in ("acknowledge_due", "reply_due"):
            if data[key] is not None and data[key] <= received:
                raise ValidationError({key: ["must be after received_at"]})
        return IncomingOrder(
            order_number=data["order_number"],
            received_at=received,
            request_text=clean_text(data["request_text"]),
            citizen_phone=data["citizen_phone"].strip(),
            address=clean_text(data["address"]),
            citizen_name=clean_text(data["citizen_name"]),
            category=data["category"],
            acknowledge_due=data["acknowledge_due"],
            reply_due=data["reply_due"],
        )


def read_order(data: Any) -> IncomingOrder:
    """Read one order (the parsed JSON); raises :class:`Gov12345Error` naming the field."""
    if not isinstance(data, Mapping):
        raise Gov12345Error(words("expected a JSON object for one order"), None)
    try:
        return IncomingOrderSchema().load(data)
    except ValidationError as exc:
        field, message = _first(exc.messages)
        if not field:
            raise Gov12345Error(message) from None  # the schema's words, kept as written
        raise Gov12345Error(
            words("%(name)s: %(problem)s"), field, name=field, problem=message
        ) from None


def _first(messages: Any) -> tuple[str | None, str]:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            inner_field, message = _first(value)
            if key == "_schema":
                return inner_field, message
            return str(key), message
    if isinstance(messages, list) and messages:
        return _first(messages[0])
    return None, str(messages)


__all__ = [
    "ACTION_FROM",
    "MAX_REPORT_ATTEMPTS",
    "MAX_REQUEST",
    "MAX_TEXT",
    "SIGNATURE_HEADER",
    "Gov12345Error",
    "Gov12345Limits",
    "IncomingOrder",
    "IncomingOrderSchema",
    "OrderDeadlines",
    "OrderStatus",
    "Platform",
    "Report",
    "ReportKind",
    "ReportStatus",
    "Urgency",
    "check_action",
    "clean_text",
    "latest_extension",
    "order_deadlines",
    "read_order",
    "signature",
    "signature_valid",
    "urgency",
]
