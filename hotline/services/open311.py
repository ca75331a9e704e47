"""Open311 GeoReport v2: the apps' keys, a submitted request becoming a case, reading requests.

A submission enters the same intake as a call or a counter visit
(:func:`hotline.services.contacts.intake`, channel ``web``): one transaction
writes the contact, the case, its first stage clock, its history and its
number, and the row of :class:`~hotline.models.Open311Request` that keeps
what only the app sent (coordinates, its identifiers, the photo link). The
first responder (G4) is the dispatcher on duty when the request arrives:
the composition root hands in who owns new work (``owner``,
:mod:`hotline.services.ownership`). When the roster has a gap, the first
active dispatcher by name owns it and the contact's summary says so; with
no active dispatcher at all nothing is written and the app is told to try
again (:class:`NobodyOnDuty`).

Reading gives only what anyone may see: no name, phone or e-mail, the
description with phone numbers and e-mail addresses masked, no staff.
Only requests that came in through Open311 are listed or found; cases
from other channels are not published. See docs/open311.md.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.domain import open311 as rules
from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound, words
from hotline.domain.intake import IntakeCommand, IntakeOutcome
from hotline.domain.lifecycle import State
from hotline.domain.phones import InvalidPhoneNumber, normalise
from hotline.domain.taxonomy import Channel, Priority
from hotline.models import Case, Contact, Department, Open311Client, Open311Request
from hotline.services.access import Actor
from hotline.services.contacts import intake
from hotline.services.context import Services, in_unit
from hotline.services.ownership import ROSTER_GAP, NobodyToOwn, OwnerLookup, owner_or_refuse

#: How an app's key starts, so it is recognised when pasted in the wrong place.
KEY_PREFIX = "o311_"


#: The refusal when no dispatcher can own a request (503, nothing saved).
NobodyOnDuty = NobodyToOwn


class KeyReused(Invalid):
    """An ``Idempotency-Key`` sent again with another submission."""


# -- the apps' keys ---------------------------------------------------------------------


def hash_key(key: str) -> str:
    """What is stored of an app's key: its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def add_client(
    session: Session, name: str, *, now: datetime, by_id: int | None = None
) -> tuple[Open311Client, str]:
    """Register an app and make its key; returns the row and the key, shown once.

    Raises :class:`Invalid` for an empty or overlong name and :class:`Conflict`
    for a name already taken (revoked apps keep theirs).
    """
    name = (name or "").strip()
    if not name:
        raise Invalid("the app needs a name", "name")
    if len(name) > 100:
        raise Invalid("the name is longer than 100 characters", "name")
    if not name.isprintable():
        raise Invalid("the name must be printable text", "name")
    if session.scalar(select(Open311Client.id).where(Open311Client.name == name)) is not None:
        raise Conflict("an app named '%(name)s' already exists", "name", name=name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    client = Open311Client(
        name=name, key_hash=hash_key(key), active=True, created_at=now, created_by_id=by_id
    )
    session.add(client)
    session.flush()
    return client, key


def list_clients(session: Session) -> list[Open311Client]:
    """Every app, active ones first, then by name."""
    return list(
        session.scalars(
            select(Open311Client).order_by(Open311Client.active.desc(), Open311Client.name)
        )
    )


def revoke_client(
    session: Session, *, now: datetime, name: str | None = None, client_id: int | None = None
) -> Open311Client:
    """Revoke an app's key (by name or id): it submits no more; its requests stay.

    Raises :class:`NotFound` for no such app and :class:`Conflict` for one already revoked.
    """
    query = select(Open311Client)
    if client_id is not None:
        query = query.where(Open311Client.id == client_id)
    else:
        query = query.where(Open311Client.name == (name or "").strip())
    client = session.scalar(query)
    if client is None:
        raise NotFound(
            "no Open311 app %(app)r", "name", app=name if client_id is None else client_id
        )
    if not client.active:
        raise Conflict("the key of '%(name)s' is already revoked", "name", name=client.name)
    client.active = False
    client.revoked_at = now
    return client


def active_client(session: Session, key: str) -> Open311Client | None:
    """The active app whose key is ``key``, or None."""
    if not key:
        return None
    return session.scalar(
        select(Open311Client).where(
            Open311Client.key_hash == hash_key(key), Open311Client.active.is_(True)
        )
    )


# -- a submission -----------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A service request as an app posts it, each field already within its limits."""

    service_code: str
    description: str
    phone: str
    lat: float | None = None
    long: float | None = None
    address_string: str = ""
    address_id: str = ""
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    media_url: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        return rules.fingerprint(self.__dict__)


@dataclass(frozen=True)
class Submitted:
    """What the app is told: the case number and the time the utility promised (F11)."""

    number: str
    promised_at: datetime | None
    account_id: str
    replayed: bool = False


def _checked(svc: Services, sub: Submission) -> tuple[rules.Service, dict[str, Any], str]:
    found = rules.service(sub.service_code)
    if found is None:
        raise NotFound(
            "no service with service_code '%(service_code)s'",
            "service_code",
            service_code=sub.service_code,
        )
    rules.check_location(sub.lat, sub.long, sub.address_string, sub.address_id)
    attributes = rules.check_attributes(found, sub.attributes)
    if not sub.description.strip():
        raise Invalid("'description' is required: say what is wrong", "description", "P4")
    try:
        phone = normalise(sub.phone, region=svc.phone_region, default_area_code=svc.area_code)
    except InvalidPhoneNumber as exc:
        raise Invalid("'phone': %(problem)s", "phone", "P4", problem=str(exc)) from None
    return found, attributes, phone


def _replay(session: Session, client: Open311Client, key: str, print_: str) -> Submitted | None:
    row = session.execute(
        select(Open311Request.fingerprint, Open311Request.account_id, Case.number, Case.promised_at)
        .join(Case, Case.id == Open311Request.case_id)
        .where(Open311Request.client_id == client.id, Open311Request.idempotency_key == key)
    ).one_or_none()
    if row is None:
        return None
    if row.fingerprint != print_:
        raise KeyReused(
            "this Idempotency-Key was already used for another submission", "Idempotency-Key"
        )
    return Submitted(row.number, row.promised_at, row.account_id, replayed=True)


def submit(
    svc: Services,
    key: str,
    sub: Submission,
    *,
    owner: OwnerLookup,
    idempotency_key: str | None = None,
) -> Submitted:
    """Open a case for an app's service request, in one transaction.

    Raises :class:`Forbidden` for a key that is unknown or revoked,
    :class:`NotFound` for an unknown ``service_code``, :class:`Invalid` naming
    the field (where: ``address_string`` or ``lat`` and ``long``; the service's
    attributes; ``description``; ``phone``; and every refusal of the intake),
    :class:`KeyReused` for an ``Idempotency-Key`` already used for another
    submission and :class:`NobodyOnDuty` when no dispatcher can own it. A
    repeated ``Idempotency-Key`` with the same submission answers the first
    answer again, ``replayed``; nothing is written twice.
    """
    found, attributes, phone = _checked(svc, sub)
    print_ = sub.fingerprint()
    now = svc.now()
    try:
        with svc.sessions() as session, session.begin():
            client = active_client(session, key)
            if client is None:
                raise Forbidden("invalid api_key", "api_key")
            if idempotency_key:
                replayed = _replay(session, client, idempotency_key, print_)
                if replayed is not None:
                    return replayed
            owner_staff, on_the_roster = owner_or_refuse(session, owner, now, words("the request"))
            summary = f"Open311 · {client.name}"
            if not on_the_roster:
                summary += f" · {ROSTER_GAP}"
            command = IntakeCommand(
                channel=Channel.WEB,
                outcome=IntakeOutcome.DISPATCH,
                caller_number=phone,
                caller_name=rules.contact_name(sub.first_name, sub.last_name),
                category=found.category,
                priority=Priority.NORMAL,
                problem=rules.problem_text(found, sub.description, attributes),
                need=found.need,
                address=rules.place_text(sub.address_string, sub.lat, sub.long),
                contact_name=rules.contact_name(sub.first_name, sub.last_name),
                contact_phone=phone,
                triage=found.triage,
                summary=summary,
                started_at=now,
                answered_at=now,
            )
            result = intake(in_unit(svc, session), Actor.of(owner_staff), command)
            contact = session.get(Contact, result.contact_id)
            assert contact is not None and contact.case_id is not None
            session.add(
                Open311Request(
                    case_id=contact.case_id,
                    client_id=client.id,
                    service_code=found.code,
                    lat=sub.lat,
                    long=sub.long,
                    address_string=sub.address_string.strip(),
                    email=sub.email.strip(),
                    device_id=sub.device_id.strip(),
                    account_id=sub.account_id.strip(),
                    media_url=sub.media_url.strip(),
                    attributes=attributes,
                    idempotency_key=idempotency_key or None,
                    fingerprint=print_,
                    created_at=now,
                )
            )
            session.flush()
            return Submitted(result.case_number or "", result.promised_at, sub.account_id.strip())
    except IntegrityError:
        # Another copy of the same submission (same app, same key) committed first.
        if not idempotency_key:
            raise
        with svc.sessions() as session, session.begin():
            client = active_client(session, key)
            replayed = _replay(session, client, idempotency_key, print_) if client else None
        if replayed is None:
            raise
        return replayed


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicRequest:
    """What anyone may read of a request: nothing personal, no staff."""

    number: str
    service_code: str
    state: State
    description: str
    address: str
    lat: float | None
    long: float | None
    media_url: str
    requested_at: datetime
    updated_at: datetime
    promised_at: datetime | None
    department: str


@dataclass(frozen=True)
class RequestQuery:
    """The specification's filters of ``GET requests``."""

    numbers: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()


def _public(row: Any) -> PublicRequest:
    return PublicRequest(
        number=row.number,
        service_code=row.service_code,
        state=State(row.state),
        description=rules.mask_personal(row.problem),
        address=rules.mask_personal(row.address_string or row.address),
        lat=row.lat,
        long=row.long,
        media_url=row.media_url,
        requested_at=row.created_at,
        updated_at=row.updated_at,
        promised_at=row.promised_at,
        department=row.name_zh or "",
    )


def _columns() -> Any:
    return (
        select(
            Case.number,
            Case.state,
            Case.problem,
            Case.address,
            Case.created_at,
            Case.updated_at,
            Case.promised_at,
            Open311Request.service_code,
            Open311Request.address_string,
            Open311Request.lat,
            Open311Request.long,
            Open311Request.media_url,
            Department.name_zh,
        )
        .join(Case, Case.id == Open311Request.case_id)
        .outerjoin(Department, Department.id == Case.handler_department_id)
    )


def find_requests(session: Session, query: RequestQuery, *, now: datetime) -> list[PublicRequest]:
    """The requests ``query`` names, newest first, at most :data:`~rules.QUERY_LIMIT`.

    ``numbers`` wins over every other filter (the specification). Without
    dates the last :data:`~rules.DEFAULT_QUERY_DAYS` days are read.
    """
    statement = _columns()
    if query.numbers:
        statement = statement.where(Case.number.in_(query.numbers))
    else:
        start, end = query.start, query.end
        if start is None and end is None:
            start = now - timedelta(days=rules.DEFAULT_QUERY_DAYS)
        if start is not None:
            statement = statement.where(Open311Request.created_at >= start)
        if end is not None:
            statement = statement.where(Open311Request.created_at <= end)
        if query.service_codes:
            statement = statement.where(Open311Request.service_code.in_(query.service_codes))
        statuses = set(query.statuses)
        if statuses == {rules.OPEN}:
            statement = statement.where(Case.state != State.CLOSED)
        elif statuses == {rules.CLOSED}:
            statement = statement.where(Case.state == State.CLOSED)
    statement = statement.order_by(Open311Request.created_at.desc(), Open311Request.id.desc())
    return [_public(row) for row in session.execute(statement.limit(rules.QUERY_LIMIT))]


def find_request(session: Session, number: str) -> PublicRequest | None:
    """The request whose case number is ``number``, if it came in through Open311."""
    row = session.execute(_columns().where(Case.number == number)).one_or_none()
    return _public(row) if row is not None else None
