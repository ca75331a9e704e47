"""12345 transfers: an order from the city's 12345 hotline becomes a case and runs on the 12345 clock.

* :func:`receive`: one order, from either way in (the file drop, the
  webhook), becomes a contact and a case through the same intake as every
  channel (``hotline.services.contacts.intake``), owned (G4) by the dispatcher
  on duty; the order row keeps the platform's number, deadlines and request.
  An order number already known is not taken twice.
* :func:`import_drop`: every ``*.json`` file of the drop folder, each moved
  to ``done/`` or, with the reason beside it, to ``failed/``.
* :func:`acknowledge`, :func:`return_order`, :func:`request_extension`,
  :func:`reply`: 签收, 回退 (G5: with a reason, within 2 working days),
  延期申请 (with a reason), 答复 (the public reply, checked for banned
  phrases like all staff text, G2). Each is one transaction: the order, one
  event on the case, and the report back to the platform as a pending row.
* After the commit the report is handed to the platform
  (:class:`hotline.domain.gov12345.Platform`) by
  :func:`hotline.services.gov12345_platform.deliver`; the outcome is written
  to its row. A failure is logged and counted and never turns the saved
  action into an error: ``retry_reports`` (the scheduled job) tries again.

The rules are :mod:`hotline.domain.gov12345`; the orders as pages show them
:mod:`hotline.services.gov12345_queries` (re-exported here).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.domain import gov12345 as rules
from hotline.domain.errors import Conflict, Forbidden, Invalid, ServiceError, words
from hotline.domain.gov12345 import (
    Gov12345Error,
    Gov12345Limits,
    IncomingOrder,
    OrderStatus,
    Platform,
    ReportKind,
    ReportStatus,
)
from hotline.domain.intake import IntakeCommand, IntakeOutcome
from hotline.domain.taxonomy import Category, Channel, TriageOutcome
from hotline.models import Gov12345Order, Gov12345Report
from hotline.services.access import Actor, lock_case
from hotline.services.audit import append_event
from hotline.services.contacts import intake
from hotline.services.context import Services, in_unit, publish_change
from hotline.services.gov12345_platform import REPORT_KIND, deliver, retry_reports
from hotline.services.gov12345_queries import (
    ACT_ROLES,
    ACTION_NAMES,
    OrderView,
    ReportView,
    deadlines_of,
    find_order,
    get_order,
    list_orders,
    may_read,
    order_for_case,
    reports_of,
    view,
    warning_share,
)
from hotline.services.ownership import OwnerLookup

log = logging.getLogger(__name__)

#: History events of an order.
RECEIVED = "gov12345_received"
EVENTS: dict[ReportKind, str] = {
    ReportKind.RECEIPT: "gov12345_acknowledged",
    ReportKind.RETURN: "gov12345_returned",
    ReportKind.EXTENSION: "gov12345_extension_requested",
    ReportKind.REPLY: "gov12345_replied",
}
#: Ways an order comes in.
SOURCES = ("file_drop", "webhook")
#: A drop file larger than this is refused unread (bytes).
MAX_DROP_FILE = 256 * 1024
#: Categories that are repair reports: judged "undetermined" until dispatch looks.
_REPAIRS = frozenset(
    {
        Category.LEAK,
        Category.NO_WATER,
        Category.WATER_QUALITY,
        Category.METER_FAULT,
        Category.METER_WELL,
    }
)

#: The intake's field names as an order names them.
_ORDER_FIELDS = {
    "caller_number": "citizen_phone",
    "contact_phone": "citizen_phone",
    "problem": "request_text",
    "address": "address",
    "category": "category",
}


class NoOwner(Conflict):
    """No dispatcher to own an order; it waits (the drop file stays, the webhook answers 503)."""


def limits_of(svc: Services) -> Gov12345Limits:
    """The ``[gov12345]`` limits of the policy; :class:`Invalid` when the policy has none."""
    limits = getattr(svc.policy, "gov12345", None)
    if not isinstance(limits, Gov12345Limits):
        raise Invalid("the time-limit policy has no [gov12345] section", "gov12345")
    return limits


# -- receiving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """What became of one order: its case, and whether it was new."""

    order_number: str
    case_number: str
    created: bool


def _intake_command(order: IncomingOrder) -> IntakeCommand:
    triage = (
        TriageOutcome.UNDETERMINED if order.category in _REPAIRS else TriageOutcome.NOT_A_REPAIR
    )
    return IntakeCommand(
        channel=Channel.WEB,
        outcome=IntakeOutcome.DISPATCH,
        caller_number=order.citizen_phone,
        caller_name=order.citizen_name,
        category=order.category,
        problem=order.request_text,
        need=f"12345工单 {order.order_number}:按市民诉求办理,并在时限内答复",
        address=order.address,
        contact_name=order.citizen_name,
        contact_phone=order.citizen_phone,
        triage=triage,
        summary=f"12345工单 {order.order_number}",
        started_at=order.received_at,
        answered_at=order.received_at,
    )


def receive(svc: Services, order: IncomingOrder, *, source: str, owner: OwnerLookup) -> Received:
    """Take one order in: a contact and its case (the same intake as every channel), the
    order row with its 12345 deadlines, and one event naming the order; one transaction.

    The case's first responder is the dispatcher ``owner`` finds on duty
    (G4). An order number already taken in answers with its case and changes
    nothing. Raises :class:`NoOwner` when there is no dispatcher to own it,
    :class:`Invalid` naming the field when the intake refuses the order (a
    phone number that is not one, say).
    """
    if source not in SOURCES:
        raise Invalid("unknown source '%(source)s'", "source", source=source)
    limits = limits_of(svc)
    now = svc.now()
    try:
        with svc.sessions() as session, session.begin():
            known = _known(session, order.order_number)
            if known is not None:
                return known
            found = owner(session, now)
            if found is None:
                raise NoOwner(
                    "no dispatcher on duty or active to own the 12345 order", "owner", "G4"
                )
            staff = found[0]
            try:
                result = intake(in_unit(svc, session), Actor.of(staff), _intake_command(order))
            except Invalid as exc:  # named as the order names it
                name = _ORDER_FIELDS.get(exc.field or "", exc.field)
                raise Invalid(
                    "%(name)s: %(problem)s", name, exc.rule, name=name, problem=exc.message
                ) from None
            assert result.case_number is not None
            case = lock_case(session, result.case_number)
            due = rules.order_deadlines(
                order.received_at,
                limits,
                svc.policy.calendar,  # type: ignore[attr-defined]
                acknowledge_due=order.acknowledge_due,
                reply_due=order.reply_due,
            )
            session.add(
                Gov12345Order(
                    order_number=order.order_number,
                    source=source,
                    case_id=case.id,
                    received_at=order.received_at,
                    citizen_name=order.citizen_name,
                    request_text=order.request_text,
                    status=OrderStatus.RECEIVED,
                    acknowledge_due=due.acknowledge_due,
                    return_due=due.return_due,
                    reply_due=due.reply_due,
                    return_reason="",
                    extension_reason="",
                    public_reply="",
                )
            )
            append_event(
                session,
                case,
                action=RECEIVED,
                from_state=case.state,
                to_state=case.state,
                actor_id=staff.id,
                at=now,
                data={
                    "order_number": order.order_number,
                    "source": source,
                    "acknowledge_due": due.acknowledge_due,
                    "return_due": due.return_due,
                    "reply_due": due.reply_due,
                },
            )
            session.flush()
            received = Received(order.order_number, case.number, True)
    except IntegrityError:
        # The same order came in twice at once; the other one took it.
        with svc.sessions() as session:
            known = _known(session, order.order_number)
        if known is None:
            raise
        return known
    return received


def _known(session: Session, order_number: str) -> Received | None:
    order = session.scalar(select(Gov12345Order).where(Gov12345Order.order_number == order_number))
    return None if order is None else Received(order_number, order.case.number, False)


@dataclass
class DropResult:
    """What one pass over the drop folder did, file by file."""

    imported: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"12345 drop: {len(self.imported)} imported, {len(self.duplicates)} already known, "
            f"{len(self.failed)} failed, {len(self.waiting)} waiting"
        )


def read_drop_file(path: Path) -> IncomingOrder:
    """One order from a drop file; :class:`Gov12345Error` names what is wrong with it."""
    size = path.stat().st_size
    if size > MAX_DROP_FILE:
        raise Gov12345Error(
            words("file is %(size)s bytes; at most %(most)s are read"),
            size=size,
            most=MAX_DROP_FILE,
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise Gov12345Error(words("file is not UTF-8 text")) from None
    except json.JSONDecodeError as exc:
        raise Gov12345Error(words("not valid JSON: %(problem)s"), problem=str(exc)) from None
    return rules.read_order(data)


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}-{datetime.now().strftime('%Y%m%d%H%M%S%f')}{path.suffix}"
    os.replace(path, target)
    return target


def import_drop(svc: Services, folder: Path, *, owner: OwnerLookup) -> DropResult:
    """Take in every ``*.json`` order of ``folder``, oldest name first.

    An order taken in (or already known) moves to ``done/``; one that cannot
    be taken moves to ``failed/`` with ``<name>.reason.txt`` beside it saying
    why. With no dispatcher to own it the file stays for the next pass.
    """
    result = DropResult()
    if not folder.is_dir():
        return result
    for path in sorted(folder.glob("*.json")):
        if not path.is_file():
            continue
        try:
            order = read_drop_file(path)
            received = receive(svc, order, source="file_drop", owner=owner)
        except NoOwner as exc:
            result.waiting.append((path.name, exc.message))
            continue
        except (Gov12345Error, ServiceError) as exc:
            reason = exc.message
            moved = _move(path, folder / "failed")
            moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
            result.failed.append((path.name, reason))
            log.warning("12345 drop file %s refused: %s", path.name, reason)
            continue
        _move(path, folder / "done")
        (result.imported if received.created else result.duplicates).append(path.name)
    return result


# -- acting on an order ---------------------------------------------------------------------


def _act(
    svc: Services,
    platform: Platform,
    actor: Actor,
    order_number: str,
    kind: ReportKind,
    *,
    text: str = "",
    until: datetime | None = None,
) -> OrderView:
    if actor.role not in ACT_ROLES:
        raise Forbidden("role '%(role)s' does not work 12345 orders", role=actor.role)
    limits = limits_of(svc)
    calendar = svc.policy.calendar  # type: ignore[attr-defined]
    now = svc.now()
    with svc.sessions() as session, session.begin():
        order = find_order(session, order_number)
        case = lock_case(session, order.case.number)
        session.refresh(order)  # read again under the case's lock
        try:
            cleaned = rules.check_action(
                kind,
                OrderStatus(order.status),
                deadlines_of(order),
                now,
                text=text,
                extension_requested=order.extension_requested_at is not None,
                extension_until=until,
                latest_extension_until=rules.latest_extension(order.reply_due, limits, calendar),
            )
        except Gov12345Error as exc:
            raise Invalid.from_error(exc, exc.field, exc.rule) from None
        data: dict[str, Any] = {"order_number": order.order_number}
        reason = ""
        if kind is ReportKind.RECEIPT:
            order.status = OrderStatus.ACKNOWLEDGED
            order.acknowledged_at, order.acknowledged_by_id = now, actor.id
        elif kind is ReportKind.RETURN:
            order.status = OrderStatus.RETURNED
            order.returned_at, order.return_reason = now, cleaned
            reason = cleaned
        elif kind is ReportKind.EXTENSION:
            order.extension_requested_at, order.extension_reason = now, cleaned
            order.extension_until = until
            data["until"] = until
            reason = cleaned
        else:
            order.status = OrderStatus.REPLIED
            order.public_reply = cleaned
            order.replied_at, order.replied_by_id = now, actor.id
            data["public_reply"] = cleaned
        event = append_event(
            session,
            case,
            action=EVENTS[kind],
            from_state=case.state,
            to_state=case.state,
            actor_id=actor.id,
            at=now,
            reason=reason,
            data=data,
        )
        texts = [("reason", reason)] if reason else []
        if kind is ReportKind.REPLY:
            texts.append(("public_reply", cleaned))
        if svc.text_checker is not None and texts:  # G2, like every staff text
            svc.text_checker(session, case, event, texts, actor.id)
        report = Gov12345Report(
            order_id=order.id,
            kind=str(kind),
            text=cleaned,
            until=until,
            created_at=now,
            status=ReportStatus.PENDING,
            attempts=0,
            last_error="",
            by_id=actor.id,
        )
        session.add(report)
        case.updated_at = now
        session.flush()
        report_id = report.id
        result = view(order, now, warning_share(svc), reports_of(session, order.id))
    svc.after_commit(REPORT_KIND, lambda: deliver(svc, platform, report_id))
    publish_change(svc, case, EVENTS[kind])
    return result


def acknowledge(svc: Services, platform: Platform, actor: Actor, order_number: str) -> OrderView:
    """签收: sign for the order; reported to the platform after the commit."""
    return _act(svc, platform, actor, order_number, ReportKind.RECEIPT)


def return_order(
    svc: Services, platform: Platform, actor: Actor, order_number: str, *, reason: str
) -> OrderView:
    """回退: hand the order back as not the utility's, with the reason, within 2 working
    days of receipt (G5); :class:`Invalid` naming ``reason`` otherwise."""
    return _act(svc, platform, actor, order_number, ReportKind.RETURN, text=reason)


def request_extension(
    svc: Services,
    platform: Platform,
    actor: Actor,
    order_number: str,
    *,
    reason: str,
    until: datetime,
) -> OrderView:
    """延期申请: ask the platform for a new reply deadline ``until``, with the reason,
    before the current one runs out, once."""
    return _act(svc, platform, actor, order_number, ReportKind.EXTENSION, text=reason, until=until)


def reply(
    svc: Services, platform: Platform, actor: Actor, order_number: str, *, text: str
) -> OrderView:
    """答复: the public reply to the citizen, kept apart from the case's notes and
    checked for banned phrases (G2); reported to the platform after the commit."""
    return _act(svc, platform, actor, order_number, ReportKind.REPLY, text=text)


__all__ = [
    "ACTION_NAMES",
    "ACT_ROLES",
    "EVENTS",
    "RECEIVED",
    "DropResult",
    "NoOwner",
    "OrderView",
    "OwnerLookup",
    "Received",
    "ReportView",
    "acknowledge",
    "deliver",
    "get_order",
    "import_drop",
    "limits_of",
    "list_orders",
    "may_read",
    "order_for_case",
    "read_drop_file",
    "receive",
    "reply",
    "request_extension",
    "retry_reports",
    "return_order",
    "view",
]
