"""Supervision orders (督办 / 催办): issue one, answer one, list them.

Each change is one transaction that writes the order and appends one event to
the case's history (``hotline.services.audit``); after the commit the
addressee (their department's room or their own) hears of it live through the
services' publisher (``dispatch.web.live``), with the dispatch board and the
case's people. The rules are ``dispatch.domain.supervision``.

For the dispatch board: :func:`open_orders_by_case` gives the open orders of
a page of cases in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch.domain import supervision as rules
from dispatch.domain.supervision import OrderFacts, OrderKind, OrderStatus
from dispatch.models import SupervisionOrder
from hotline.domain.errors import Forbidden, Invalid, NotFound
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role
from hotline.models import Case, Staff
from hotline.services import Actor, Services, can_view, get_case
from hotline.services.access import find_department, lock_case
from hotline.services.audit import append_event
from hotline.services.context import check_text

#: History events of the orders.
ISSUED = "supervision_issued"
ANSWERED = "supervision_answered"


@dataclass(frozen=True)
class DepartmentNames:
    """A department's names, for pages to show the one of their language."""

    name_zh: str
    name_en: str


@dataclass(frozen=True)
class OrderView:
    """One order as pages and the API show it, judged at ``now``."""

    id: int
    case_number: str
    case_state: str
    kind: str
    issued_by_id: int
    issued_by_name: str
    issued_at: datetime
    to_department_id: int | None
    to_department_name: str
    to_staff_id: int | None
    to_staff_name: str
    instruction: str
    due_at: datetime
    answer: str
    answered_at: datetime | None
    answered_by_id: int | None
    answered_by_name: str
    status: str
    to_department_name_en: str = ""

    @property
    def to_department(self) -> DepartmentNames | None:
        """The addressed department's names in both languages (None: a person)."""
        if self.to_department_id is None:
            return None
        return DepartmentNames(self.to_department_name, self.to_department_name_en)

    @property
    def overdue(self) -> bool:
        return self.status == OrderStatus.OVERDUE

    @property
    def is_open(self) -> bool:
        return self.answered_at is None


def _facts(order: SupervisionOrder) -> OrderFacts:
    return OrderFacts(order.to_department_id, order.to_staff_id, order.due_at, order.answered_at)


def view(order: SupervisionOrder, now: datetime) -> OrderView:
    """The order as shown at ``now``."""
    return OrderView(
        id=order.id,
        case_number=order.case.number,
        case_state=str(order.case.state),
        kind=order.kind,
        issued_by_id=order.issued_by_id,
        issued_by_name=order.issued_by.display_name,
        issued_at=order.issued_at,
        to_department_id=order.to_department_id,
        to_department_name=order.to_department.name_zh if order.to_department else "",
        to_staff_id=order.to_staff_id,
        to_staff_name=order.to_staff.display_name if order.to_staff else "",
        instruction=order.instruction,
        due_at=order.due_at,
        answer=order.answer,
        answered_at=order.answered_at,
        answered_by_id=order.answered_by_id,
        answered_by_name=order.answered_by.display_name if order.answered_by else "",
        status=str(rules.status(_facts(order), now)),
        to_department_name_en=order.to_department.name_en if order.to_department else "",
    )


def _addressee_staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise NotFound(
            "no active staff member with id %(staff_id)r", "to_staff_id", staff_id=staff_id
        )
    role = Role(staff.role)
    if role not in rules.ADDRESSEE_ROLES:
        raise Invalid(
            "%(name)s (%(role)s) does not act on cases; name someone who does",
            "to_staff_id",
            rules.RULE,
            name=staff.display_name,
            role=role,
        )
    return staff


def _publish(svc: Services, case: Case, action: str, order: SupervisionOrder) -> None:
    """After the commit: the board, the case's people and the addressee hear of it."""
    publish = svc.publish
    if publish is None:
        return
    payload: Mapping[str, Any] = {
        "case": case.number,
        "action": action,
        "state": str(case.state),
        "category": str(case.category),
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "handler_department_id": case.handler_department_id,
        "first_responder_id": case.first_responder_id,
        "version": case.version,
        "supervision_order_id": order.id,
        "to_department_id": order.to_department_id,
        "to_staff_id": order.to_staff_id,
        "issued_by_id": order.issued_by_id,
        "order_due_at": order.due_at.isoformat(),
    }
    svc.after_commit("live update", lambda: publish(payload))


def issue(
    svc: Services,
    actor: Actor,
    case_number: str,
    *,
    kind: OrderKind | str = OrderKind.SUPERVISE,
    instruction: str,
    to_department_id: int | None = None,
    to_staff_id: int | None = None,
    due_in_minutes: int = rules.DEFAULT_DUE_MINUTES,
) -> OrderView:
    """Issue a supervision order about a case (督办 / 催办), with its deadline.

    One transaction: the order, and one event on the case naming the
    addressee, the deadline and the instruction; then a live notice to the
    addressee. Raises :class:`Forbidden` for anyone but a supervisor or a
    dispatcher, :class:`Invalid` naming the field (no or two addressees, no
    instruction, a deadline outside 10 minutes to 7 days, an unknown kind),
    :class:`NotFound` for an unknown case, department or person,
    :class:`Conflict` for a closed or merged case.
    """
    try:
        kind = OrderKind(kind)
    except ValueError:
        raise Invalid("unknown kind '%(kind)s': 'supervise' or 'urge'", "kind", kind=kind) from None
    now = svc.now()
    with svc.sessions() as session, session.begin():
        case = lock_case(session, case_number)
        if not can_view(actor, case):
            raise NotFound("no case '%(number)s'", "case", number=case_number)
        decision = rules.check_issue(
            rules.IssueRequest(
                role=actor.role,
                case_state=State(case.state),
                kind=kind,
                instruction=instruction,
                to_department_id=to_department_id,
                to_staff_id=to_staff_id,
                due_in_minutes=due_in_minutes,
            ),
            now,
        )
        if to_department_id is not None:
            find_department(session, to_department_id, "to_department_id")
        if to_staff_id is not None:
            _addressee_staff(session, to_staff_id)
        order = SupervisionOrder(
            case_id=case.id,
            kind=str(kind),
            issued_by_id=actor.id,
            issued_at=now,
            to_department_id=to_department_id,
            to_staff_id=to_staff_id,
            instruction=decision.instruction,
            due_at=decision.due_at,
            answer="",
        )
        session.add(order)
        session.flush()  # the order's id for the record; the case row is not touched yet
        event = append_event(
            session,
            case,
            action=ISSUED,
            from_state=case.state,
            to_state=case.state,
            actor_id=actor.id,
            at=now,
            data={
                "supervision_order_id": order.id,
                "kind": str(kind),
                "to_department_id": to_department_id,
                "to_staff_id": to_staff_id,
                "order_due_at": decision.due_at,
                "note": decision.instruction,
            },
        )
        check_text(svc, session, case, event)
        case.updated_at = now
        session.flush()
        result = view(order, now)
    _publish(svc, case, ISSUED, order)
    return result


def answer(svc: Services, actor: Actor, order_id: int, *, answer: str) -> OrderView:
    """The addressee answers an order, in words; one event on the case records it.

    Raises :class:`Forbidden` (G7) for anyone but the addressee (the person
    named, or a member of the department named), :class:`Conflict` when it is
    already answered, :class:`Invalid` naming ``answer`` when it is blank,
    :class:`NotFound` for an unknown order.
    """
    now = svc.now()
    with svc.sessions() as session, session.begin():
        order = session.get(SupervisionOrder, order_id) if isinstance(order_id, int) else None
        if order is None:
            raise NotFound("no supervision order %(order_id)r", "order_id", order_id=order_id)
        case = lock_case(session, order.case.number)
        session.refresh(order)  # read again under the case's lock
        text = rules.check_answer(_facts(order), actor.id, actor.department_id, answer)
        order.answer = text
        order.answered_at = now
        order.answered_by_id = actor.id
        event = append_event(
            session,
            case,
            action=ANSWERED,
            from_state=case.state,
            to_state=case.state,
            actor_id=actor.id,
            at=now,
            data={
                "supervision_order_id": order.id,
                "kind": order.kind,
                "answered_late": now > order.due_at,
                "answer": text,
            },
        )
        check_text(svc, session, case, event)
        case.updated_at = now
        session.flush()
        session.refresh(order)
        result = view(order, now)
    _publish(svc, case, ANSWERED, order)
    return result


def orders_for_case(
    session: Session, actor: Actor, case_number: str, now: datetime
) -> list[OrderView]:
    """The case's orders in the supervision list's order; :class:`NotFound` if not visible."""
    case = get_case(session, actor, case_number)
    rows = session.scalars(select(SupervisionOrder).where(SupervisionOrder.case_id == case.id))
    return _sorted([view(row, now) for row in rows], now)


def _sorted(views: Iterable[OrderView], now: datetime) -> list[OrderView]:
    return sorted(
        views,
        key=lambda v: rules.sort_key(OrderFacts(None, None, v.due_at, v.answered_at), now),
    )


def may_read_all(actor: Actor) -> bool:
    """Supervisors, dispatchers and administrators read every order."""
    return actor.role in rules.OVERSIGHT_ROLES


def list_orders(
    session: Session, actor: Actor, now: datetime, *, open_only: bool = False, limit: int = 200
) -> list[OrderView]:
    """The supervision list: open and overdue first, then the latest answered.

    Supervisors, dispatchers and administrators see every order; anyone else
    the orders addressed to them or to their department.
    """
    query = select(SupervisionOrder)
    if not may_read_all(actor):
        mine = [SupervisionOrder.to_staff_id == actor.id]
        if actor.department_id is not None:
            mine.append(SupervisionOrder.to_department_id == actor.department_id)
        query = query.where(or_(*mine))
    open_rows = session.scalars(query.where(SupervisionOrder.answered_at.is_(None))).all()
    views = [view(row, now) for row in open_rows]
    if not open_only:
        answered = session.scalars(
            query.where(SupervisionOrder.answered_at.is_not(None))
            .order_by(SupervisionOrder.answered_at.desc())
            .limit(limit)
        ).all()
        views.extend(view(row, now) for row in answered)
    return _sorted(views, now)


def addressed_to(actor: Actor, order: OrderView) -> bool:
    """Whether ``actor`` answers this order (for pages offering the answer form)."""
    facts = OrderFacts(order.to_department_id, order.to_staff_id, order.due_at, order.answered_at)
    return rules.is_addressee(facts, actor.id, actor.department_id)


def may_issue(actor: Actor) -> bool:
    """Whether ``actor`` may issue orders (for pages offering the form)."""
    return actor.role in rules.ISSUER_ROLES


def open_orders_by_case(
    session: Session, case_ids: Iterable[int], now: datetime
) -> dict[int, list[OrderView]]:
    """For the dispatch board: the open orders of these cases, by case id, overdue first.

    One query whatever the number of cases; cases without an open order are absent.
    """
    ids = list(case_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(SupervisionOrder).where(
            SupervisionOrder.case_id.in_(ids), SupervisionOrder.answered_at.is_(None)
        )
    ).all()
    found: dict[int, list[OrderView]] = {}
    for row in rows:
        found.setdefault(row.case_id, []).append(view(row, now))
    return {case_id: _sorted(views, now) for case_id, views in found.items()}


def require_oversight(actor: Actor) -> None:
    """Refuse (403) anyone who may not read every order."""
    if not may_read_all(actor):
        raise Forbidden("role '%(role)s' may not read every supervision order", role=actor.role)
