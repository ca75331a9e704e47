"""Supervision orders (督办 / 催办): who may issue and answer them, their deadline, their status.

A supervisor or dispatcher orders a department or one person to act on a
case (督办: see it done; 催办: hurry it up), with a deadline of its own (two
hours unless the issuer says otherwise). The addressee answers in words; an
order past its deadline without an answer is overdue and shows first. Pure:
no database, no Flask; the rows are ``dispatch.models.SupervisionOrder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hotline.domain.errors import Conflict, Forbidden, Invalid, words
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role

#: The rule of the standard these orders serve: work under dispatch orders is
#: tracked to the end (G7); complaints follow the dispatch center's procedure (G6).
RULE = "G7"
#: Who issues orders.
ISSUER_ROLES = frozenset({Role.SUPERVISOR, Role.DISPATCHER})
#: Who may be the addressee in person (staff who act on cases).
ADDRESSEE_ROLES = frozenset({Role.OPERATOR, Role.CREW, Role.DISPATCHER, Role.SUPERVISOR})
#: Who reads every order (the supervision list).
OVERSIGHT_ROLES = frozenset({Role.SUPERVISOR, Role.DISPATCHER, Role.ADMIN})
#: The deadline when the issuer gives none, and the range they may give.
DEFAULT_DUE_MINUTES = 120
MIN_DUE_MINUTES = 10
MAX_DUE_MINUTES = 7 * 24 * 60
#: The longest instruction or answer.
MAX_TEXT = 2000
#: Cases an order can no longer be about.
FINISHED_STATES = frozenset({State.CLOSED, State.MERGED})
#: The words of an instruction or answer refused: missing (G7), and too long.
_TEXT_REFUSALS = {
    "instruction": (
        words("G7: what the addressee must do is required"),
        words("'instruction' is longer than %(max_chars)d characters"),
    ),
    "answer": (
        words("G7: the answer is required"),
        words("'answer' is longer than %(max_chars)d characters"),
    ),
}


class OrderKind(StrEnum):
    """督办: see it done; 催办: hurry it up."""

    SUPERVISE = "supervise"
    URGE = "urge"


class OrderStatus(StrEnum):
    """Where an order stands at a given moment."""

    OVERDUE = "overdue"  # past its deadline, not answered
    OPEN = "open"  # waiting for an answer
    ANSWERED_LATE = "answered_late"
    ANSWERED = "answered"


def _text(value: str | None, field: str) -> str:
    missing, too_long = _TEXT_REFUSALS[field]
    text = (value or "").strip()
    if not text:
        raise Invalid(missing, field, RULE)
    if len(text) > MAX_TEXT:
        raise Invalid(too_long, field, RULE, max_chars=MAX_TEXT)
    return text


@dataclass(frozen=True)
class IssueRequest:
    """What an issuer asks for, before the database is read."""

    role: Role
    case_state: State
    kind: OrderKind
    instruction: str
    to_department_id: int | None
    to_staff_id: int | None
    due_in_minutes: int


@dataclass(frozen=True)
class IssueDecision:
    """An accepted order: its cleaned instruction and its deadline."""

    instruction: str
    due_at: datetime


def check_issue(request: IssueRequest, now: datetime) -> IssueDecision:
    """Accept an order or refuse it naming the field.

    Only supervisors and dispatchers issue orders (:class:`Forbidden`). An
    order names exactly one addressee, a department or a person; it says
    what is wanted; its deadline lies 10 minutes to 7 days ahead; a closed or
    merged case takes none (:class:`Conflict`).
    """
    if request.role not in ISSUER_ROLES:
        raise Forbidden(
            "role '%(role)s' may not issue supervision orders; supervisors and dispatchers do",
            None,
            RULE,
            role=request.role,
        )
    if request.case_state in FINISHED_STATES:
        raise Conflict(
            "the case is '%(state)s': a supervision order needs an open case",
            "case",
            state=request.case_state,
        )
    if (request.to_department_id is None) == (request.to_staff_id is None):
        raise Invalid(
            "name exactly one addressee: a department (to_department_id) or a person (to_staff_id)",
            "to_department_id" if request.to_department_id is None else "to_staff_id",
            RULE,
        )
    minutes = request.due_in_minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise Invalid("'due_in_minutes' must be a whole number of minutes", "due_in_minutes")
    if not MIN_DUE_MINUTES <= minutes <= MAX_DUE_MINUTES:
        raise Invalid(
            "'due_in_minutes' must lie between %(min_minutes)d and %(max_minutes)d",
            "due_in_minutes",
            RULE,
            min_minutes=MIN_DUE_MINUTES,
            max_minutes=MAX_DUE_MINUTES,
        )
    instruction = _text(request.instruction, "instruction")
    return IssueDecision(instruction, now + timedelta(minutes=minutes))


@dataclass(frozen=True)
class OrderFacts:
    """What the rules read of one order."""

    to_department_id: int | None
    to_staff_id: int | None
    due_at: datetime
    answered_at: datetime | None = None


def is_addressee(order: OrderFacts, actor_id: int, actor_department_id: int | None) -> bool:
    """Whether the person is the order's addressee: named, or in the department named."""
    if order.to_staff_id is not None:
        return order.to_staff_id == actor_id
    return actor_department_id is not None and order.to_department_id == actor_department_id


def check_answer(
    order: OrderFacts, actor_id: int, actor_department_id: int | None, answer: str
) -> str:
    """The cleaned answer, if this person may give it; else a refusal naming the field.

    Only the addressee answers (:class:`Forbidden`, G7); once (:class:`Conflict`);
    in words (:class:`Invalid` naming ``answer``).
    """
    if not is_addressee(order, actor_id, actor_department_id):
        raise Forbidden("G7: only the addressee of this order answers it", "order_id", RULE)
    if order.answered_at is not None:
        raise Conflict("this order has already been answered", "order_id")
    return _text(answer, "answer")


def status(order: OrderFacts, now: datetime) -> OrderStatus:
    """Where the order stands at ``now``."""
    if order.answered_at is None:
        return OrderStatus.OVERDUE if now >= order.due_at else OrderStatus.OPEN
    return OrderStatus.ANSWERED_LATE if order.answered_at > order.due_at else OrderStatus.ANSWERED


def sort_key(order: OrderFacts, now: datetime) -> tuple[int, float]:
    """Overdue first (longest overdue first), then open (soonest due), then answered
    (latest answer first): the order the supervision list shows."""
    state = status(order, now)
    if state == OrderStatus.OVERDUE:
        return 0, order.due_at.timestamp()
    if state == OrderStatus.OPEN:
        return 1, order.due_at.timestamp()
    assert order.answered_at is not None
    return 2, -order.answered_at.timestamp()
