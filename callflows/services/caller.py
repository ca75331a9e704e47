"""Who is calling: what the console shows in its left column, and similar cases.

For a caller's number (normalised to E.164) this finds the customers who have
that number, with their account, address and arrears (W13), the outages under
way at their address, their open cases with the promised time, and the last
contacts. For an address it finds open cases at the same place, so a caller
can join a case already under way instead of opening a duplicate.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch.services.outages import active_at
from hotline.domain.lifecycle import OPEN_STATES, State
from hotline.models import Case, Contact, Customer, CustomerPhone
from hotline.services.incidents import IncidentFacts, open_incidents

__all__ = [
    "JOINABLE_STATES",
    "CallerFacts",
    "CaseFacts",
    "ContactFacts",
    "CustomerFacts",
    "OutageFacts",
    "address_key",
    "caller_facts",
    "find_customer",
    "search_customers",
    "similar_open_cases",
]

#: Cases a new caller about the same problem can join: work not yet done.
JOINABLE_STATES: frozenset[State] = OPEN_STATES - {
    State.MERGED,
    State.ANSWERED_ON_CALL,
    State.TRANSFERRED,
    State.DONE,
    State.AWAITING_FOLLOW_UP,
}

_RECENT_CONTACTS = 5
_OPEN_CASES = 10
_SIMILAR_LIMIT = 5
# Two addresses sharing this much of the shorter one are the same place
# (the same building written with or without the flat number).
_SHARED_PREFIX = 0.8


@dataclass(frozen=True)
class OutageFacts:
    """An outage under way (or about to start) at a customer's address."""

    area: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    planned: bool


@dataclass(frozen=True)
class CustomerFacts:
    """A customer matched to the caller (W13: arrears shown at once)."""

    id: int
    account_number: str
    name: str
    address: str
    arrears_cents: int
    arrears_since: date | None
    outages: tuple[OutageFacts, ...]


@dataclass(frozen=True)
class CaseFacts:
    """An open case, as the console lists it."""

    number: str
    category: str
    state: str
    address: str
    problem: str
    promised_at: datetime | None
    due_at: datetime | None
    created_at: datetime
    #: An incident (a main break): a caller joins it with a case of their own.
    incident: IncidentFacts | None = None


@dataclass(frozen=True)
class ContactFacts:
    """A past contact of the caller."""

    started_at: datetime
    channel: str
    disposition: str | None
    case_number: str | None
    summary: str


@dataclass(frozen=True)
class CallerFacts:
    """Everything the console's left column shows about a caller."""

    number: str | None
    customers: tuple[CustomerFacts, ...]
    open_cases: tuple[CaseFacts, ...]
    recent_contacts: tuple[ContactFacts, ...]
    #: Open incidents the caller's cases joined, or under way at their address,
    #: each with its latest update (cause, estimated restore time) to read out.
    incidents: tuple[IncidentFacts, ...] = ()

    @property
    def known(self) -> bool:
        """True when at least one customer matched."""
        return bool(self.customers)

    @property
    def outages(self) -> tuple[OutageFacts, ...]:
        """Every outage at any matched customer's address, without repeats."""
        return tuple(dict.fromkeys(o for c in self.customers for o in c.outages))


def _case_facts(case: Case) -> CaseFacts:
    return CaseFacts(
        number=case.number,
        category=str(case.category),
        state=str(case.state),
        address=case.address,
        problem=case.problem,
        promised_at=case.promised_at,
        due_at=case.due_at,
        created_at=case.created_at,
    )


def _customer_facts(session: Session, customer: Customer, now: datetime) -> CustomerFacts:
    return CustomerFacts(
        id=customer.id,
        account_number=customer.account_number,
        name=customer.name,
        address=customer.address,
        arrears_cents=customer.arrears_cents,
        arrears_since=customer.arrears_since,
        outages=tuple(
            OutageFacts(o.area, o.reason, o.starts_at, o.ends_at, o.planned)
            for o in active_at(session, customer.address, now)
        ),
    )


def caller_facts(
    session: Session,
    number: str | None,
    now: datetime,
    *,
    customer_ids: Iterable[int] = (),
) -> CallerFacts:
    """What is known about the caller of ``number`` (E.164, or ``None`` if withheld).

    ``customer_ids`` adds customers chosen by hand (an unknown number, found
    by a search) to those matched by number.
    """
    ids = set(customer_ids)
    if number:
        ids.update(
            session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.number == number))
        )
    customers = (
        list(session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)))
        if ids
        else []
    )
    conditions = []
    if ids:
        conditions.append(Case.customer_id.in_(ids))
    if number:
        conditions.append(Case.contact_phone == number)
    open_cases: Sequence[Case] = []
    contacts: Sequence[Contact] = []
    if conditions:
        open_cases = session.scalars(
            select(Case)
            .where(or_(*conditions), Case.state.in_([str(s) for s in OPEN_STATES]))
            .order_by(Case.created_at.desc())
            .limit(_OPEN_CASES)
        ).all()
        contact_conditions = []
        if ids:
            contact_conditions.append(Contact.customer_id.in_(ids))
        if number:
            contact_conditions.append(Contact.caller_number == number)
        contacts = session.scalars(
            select(Contact)
            .where(or_(*contact_conditions))
            .order_by(Contact.started_at.desc())
            .limit(_RECENT_CONTACTS)
        ).all()
    case_numbers = {}
    case_ids = {c.case_id for c in contacts if c.case_id}
    if case_ids:
        case_numbers = dict(
            session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all()
        )
    return CallerFacts(
        number=number,
        customers=tuple(_customer_facts(session, c, now) for c in customers),
        open_cases=tuple(_case_facts(c) for c in open_cases),
        incidents=_incidents_for(session, open_cases, customers),
        recent_contacts=tuple(
            ContactFacts(
                started_at=c.started_at,
                channel=str(c.channel),
                disposition=str(c.disposition) if c.disposition else None,
                case_number=case_numbers.get(c.case_id) if c.case_id else None,
                summary=c.summary,
            )
            for c in contacts
        ),
    )


def find_customer(session: Session, customer_id: int | None) -> Customer | None:
    """The customer ``customer_id``, or ``None`` when there is no id or no such customer."""
    return session.get(Customer, customer_id) if customer_id else None


def search_customers(session: Session, query: str, *, limit: int = 10) -> list[Customer]:
    """Customers whose account number, name or address contains ``query``.

    For an unknown number: the operator asks the caller and searches. A query
    shorter than two characters finds nothing (it would match everyone).
    """
    text = query.strip()
    if len(text) < 2:
        return []
    pattern = f"%{text.replace('%', '').replace('_', '')}%"
    return list(
        session.scalars(
            select(Customer)
            .where(
                or_(
                    Customer.account_number.like(pattern),
                    Customer.name.like(pattern),
                    Customer.address.like(pattern),
                )
            )
            .order_by(Customer.account_number)
            .limit(limit)
        )
    )


def address_key(address: str) -> str:
    """An address reduced to its letters and digits (full-width folded), for comparing."""
    folded = unicodedata.normalize("NFKC", address or "").casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def _same_place(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared >= _SHARED_PREFIX * min(len(a), len(b))


def similar_open_cases(
    session: Session,
    address: str,
    *,
    customer_ids: Iterable[int] = (),
    limit: int = _SIMILAR_LIMIT,
) -> list[CaseFacts]:
    """Open cases at the same address (or of the same customer) a caller could join.

    Newest first. Addresses match when one contains the other once spaces and
    punctuation are dropped (汉槐街 18 号 and 汉槐街18号3单元501), or when they
    share most of the shorter one.
    """
    key = address_key(address)
    ids = set(customer_ids)
    if not key and not ids:
        return []
    candidates = session.scalars(
        select(Case)
        .where(Case.state.in_([str(s) for s in JOINABLE_STATES]))
        .order_by(Case.created_at.desc())
        .limit(500)
    )
    found = [
        case
        for case in candidates
        if (case.customer_id is not None and case.customer_id in ids)
        or _same_place(key, address_key(case.address))
    ][:limit]
    incidents = {
        i.id: i
        for i in open_incidents(session, ids=[c.id for c in found])
        if i.children or i.latest is not None
    }
    return [replace(_case_facts(case), incident=incidents.get(case.id)) for case in found]


def _incidents_for(
    session: Session, open_cases: Sequence[Case], customers: Sequence[Customer]
) -> tuple[IncidentFacts, ...]:
    """The incidents the caller's open cases joined, and those with an update at their address."""
    joined = {c.parent_case_id for c in open_cases if c.parent_case_id is not None}
    places = [key for c in customers if (key := address_key(c.address))]
    if not joined and not places:
        return ()
    return tuple(
        incident
        for incident in open_incidents(session, ids=joined)
        if incident.id in joined
        or (
            incident.latest is not None
            and any(_same_place(place, address_key(incident.address)) for place in places)
        )
    )
