"""12345 orders as pages and the API show them: the order, its deadlines judged
amber or red, the actions open on it, what was reported back (read only).

The commands are :mod:`hotline.services.gov12345`; the rules
:mod:`hotline.domain.gov12345`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain import gov12345 as rules
from hotline.domain.errors import Forbidden, NotFound
from hotline.domain.gov12345 import OrderDeadlines, OrderStatus, ReportKind, Urgency
from hotline.domain.taxonomy import Role
from hotline.models import Case, Gov12345Order, Gov12345Report
from hotline.services.access import Actor
from hotline.services.context import Services

#: The actions on an order as pages and the API name them.
ACTION_NAMES: dict[ReportKind, str] = {
    ReportKind.RECEIPT: "acknowledge",
    ReportKind.RETURN: "return",
    ReportKind.EXTENSION: "extension",
    ReportKind.REPLY: "reply",
}
#: Who works 12345 orders: the dispatch center and supervisors.
ACT_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR})


@dataclass(frozen=True)
class ReportView:
    """One report back, as the order's page shows it."""

    kind: str
    status: str
    created_at: datetime
    attempts: int
    last_error: str
    sent_at: datetime | None


@dataclass(frozen=True)
class OrderView:
    """One order as the list, the case page and the API show it, judged at ``now``."""

    order_number: str
    source: str
    case_number: str
    case_state: str
    status: str
    received_at: datetime
    citizen_name: str
    request_text: str
    acknowledge_due: datetime
    return_due: datetime
    reply_due: datetime
    acknowledged_at: datetime | None
    returned_at: datetime | None
    return_reason: str
    extension_requested_at: datetime | None
    extension_until: datetime | None
    extension_reason: str
    public_reply: str
    replied_at: datetime | None
    acknowledge_urgency: str
    reply_urgency: str
    return_open: bool
    offers: tuple[str, ...]
    reports: tuple[ReportView, ...] = field(default_factory=tuple)

    @property
    def worst(self) -> str:
        """The most pressing of the order's clocks: ``over``, ``near`` or ``ok``."""
        shown = (self.acknowledge_urgency, self.reply_urgency)
        for level in (Urgency.OVER, Urgency.NEAR):
            if level in shown:
                return str(level)
        return str(Urgency.OK)


def deadlines_of(order: Gov12345Order) -> OrderDeadlines:
    """The order's three deadlines, as the rules take them."""
    return OrderDeadlines(order.acknowledge_due, order.return_due, order.reply_due)


def offers(order: Gov12345Order, now: datetime) -> tuple[str, ...]:
    """The actions open on ``order`` now, in the order the page shows them."""
    status = OrderStatus(order.status)
    shown: list[str] = []
    for kind in (ReportKind.RECEIPT, ReportKind.RETURN, ReportKind.EXTENSION, ReportKind.REPLY):
        if status not in rules.ACTION_FROM[kind]:
            continue
        if kind is ReportKind.RETURN and now > order.return_due:
            continue
        if kind is ReportKind.EXTENSION and (
            order.extension_requested_at is not None or now > order.reply_due
        ):
            continue
        shown.append(ACTION_NAMES[kind])
    return tuple(shown)


def view(
    order: Gov12345Order,
    now: datetime,
    share: float,
    reports: Iterable[Gov12345Report] = (),
) -> OrderView:
    """``order`` as pages show it: its deadlines judged amber or red at ``now``
    (amber after ``share`` of the time)."""
    ack = rules.urgency(
        order.received_at,
        order.acknowledge_due,
        now,
        share,
        done_at=order.acknowledged_at or order.returned_at,
    )
    finished = order.replied_at or order.returned_at
    reply = rules.urgency(order.received_at, order.reply_due, now, share, done_at=finished)
    return OrderView(
        order_number=order.order_number,
        source=order.source,
        case_number=order.case.number,
        case_state=str(order.case.state),
        status=order.status,
        received_at=order.received_at,
        citizen_name=order.citizen_name,
        request_text=order.request_text,
        acknowledge_due=order.acknowledge_due,
        return_due=order.return_due,
        reply_due=order.reply_due,
        acknowledged_at=order.acknowledged_at,
        returned_at=order.returned_at,
        return_reason=order.return_reason,
        extension_requested_at=order.extension_requested_at,
        extension_until=order.extension_until,
        extension_reason=order.extension_reason,
        public_reply=order.public_reply,
        replied_at=order.replied_at,
        acknowledge_urgency=str(ack),
        reply_urgency=str(reply),
        return_open=OrderStatus(order.status) in rules.ACTION_FROM[ReportKind.RETURN]
        and now <= order.return_due,
        offers=offers(order, now),
        reports=tuple(
            ReportView(r.kind, r.status, r.created_at, r.attempts, r.last_error, r.sent_at)
            for r in reports
        ),
    )


def warning_share(svc: Services) -> float:
    """The policy's warning share: amber after this share of a deadline's time."""
    return float(getattr(svc.policy, "warning_share", 0.8))


def find_order(session: Session, order_number: str) -> Gov12345Order:
    """The order ``order_number``; :class:`NotFound` naming ``order_number``."""
    order = session.scalar(
        select(Gov12345Order).where(Gov12345Order.order_number == str(order_number))
    )
    if order is None:
        raise NotFound(
            "no 12345 order '%(order_number)s'", "order_number", order_number=order_number
        )
    return order


def reports_of(session: Session, order_id: int) -> list[Gov12345Report]:
    """The reports back of one order, oldest first."""
    return list(
        session.scalars(
            select(Gov12345Report)
            .where(Gov12345Report.order_id == order_id)
            .order_by(Gov12345Report.id)
        )
    )


def may_read(actor: Actor) -> bool:
    """Who sees the 12345 orders list: the dispatch center and supervisors."""
    return actor.role in ACT_ROLES


def list_orders(
    svc: Services, session: Session, actor: Actor, *, open_only: bool = True, done: int = 50
) -> list[OrderView]:
    """Every open order, the most pressing first (red, amber, then by reply
    deadline); unless ``open_only``, then the ``done`` latest returned or replied."""
    if not may_read(actor):
        raise Forbidden("role '%(role)s' does not work 12345 orders", role=actor.role)
    now = svc.now()
    is_open = Gov12345Order.status.in_([OrderStatus.RECEIVED, OrderStatus.ACKNOWLEDGED])
    orders = list(
        session.scalars(select(Gov12345Order).where(is_open).order_by(Gov12345Order.reply_due))
    )
    if not open_only:
        orders += session.scalars(
            select(Gov12345Order)
            .where(~is_open)
            .order_by(Gov12345Order.received_at.desc(), Gov12345Order.id.desc())
            .limit(done)
        )
    share = warning_share(svc)
    views = [view(o, now, share, reports_of(session, o.id)) for o in orders]
    rank = {"over": 0, "near": 1, "ok": 2}
    return sorted(views, key=lambda v: (v.status in ("returned", "replied"), rank[v.worst]))


def order_for_case(svc: Services, session: Session, case: Case) -> OrderView | None:
    """The 12345 order a case was opened for, or None."""
    order = session.scalar(select(Gov12345Order).where(Gov12345Order.case_id == case.id))
    if order is None:
        return None
    return view(order, svc.now(), warning_share(svc), reports_of(session, order.id))


def get_order(svc: Services, session: Session, actor: Actor, order_number: str) -> OrderView:
    """One order; :class:`NotFound` for an unknown number."""
    if not may_read(actor):
        raise Forbidden("role '%(role)s' does not work 12345 orders", role=actor.role)
    order = find_order(session, order_number)
    return view(order, svc.now(), warning_share(svc), reports_of(session, order.id))


__all__ = [
    "ACTION_NAMES",
    "ACT_ROLES",
    "OrderView",
    "ReportView",
    "deadlines_of",
    "find_order",
    "get_order",
    "list_orders",
    "may_read",
    "offers",
    "order_for_case",
    "reports_of",
    "view",
    "warning_share",
]
