"""The tables: departments, staff, customers, contacts, cases and their history.

SQLAlchemy 2 typed declarative. The schema is created and changed only by
Alembic (``migrations/``); tests may call ``create_all`` on a scratch database.
(About 500 lines on purpose: the case core's tables and their constraints are
read together, as the migrations write them.)
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db import Base, UTCDateTime
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    Disposition,
    FollowUpOutcome,
    Priority,
    Role,
    TriageOutcome,
)


def _enum(enum_cls: type) -> String:
    """Enums are stored as their readable values in a plain string column."""
    return String(max(len(member.value) for member in enum_cls) + 8)


class Department(Base):
    """A department or section (科室), the dispatch center among them."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    is_dispatch_center: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str] = mapped_column(String(40), default="")
    office: Mapped[str] = mapped_column(String(200), default="")


class Staff(Base):
    """A member of staff who logs in. Also Flask-Login's user object."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum(Role))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Raised at logout, deactivation and password reset: every login session
    #: carries the number it was opened with and is refused once it is stale.
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    department: Mapped[Department | None] = relationship(lazy="joined")

    # Flask-Login's protocol, written out so the model needs no web import.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """What the login session keeps: ``"<id>:<session_version>"``."""
        return f"{self.id}:{self.session_version}"


class ApiToken(Base):
    """A token an integration sends as ``Authorization: Bearer``; only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    staff: Mapped[Staff] = relationship(lazy="joined")

    def status(self, now: datetime) -> str:
        """``"revoked"``, ``"expired"`` or ``"active"`` at ``now``."""
        return token_status(self.revoked_at, self.expires_at, now)


def token_status(revoked_at: datetime | None, expires_at: datetime, now: datetime) -> str:
    """An API token's ``"revoked"``, ``"expired"`` or ``"active"`` at ``now``."""
    if revoked_at is not None:
        return "revoked"
    if expires_at <= now:
        return "expired"
    return "active"


class Customer(Base):
    """A water customer (用户) with an account."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    arrears_cents: Mapped[int] = mapped_column(Integer, default=0)
    arrears_since: Mapped[date | None] = mapped_column(Date)
    #: From the billing system's import (``hotline/services/customers.py``, docs/customers.md):
    #: the meter, the service area's code (``config/areas.toml``) and when the
    #: import last changed the row (None: never imported, e.g. demo data).
    meter_number: Mapped[str] = mapped_column(String(32), default="")
    area: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )


class CustomerPhone(Base):
    """A customer's phone number, normalised to E.164 so a caller ID matches."""

    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    number: Mapped[str] = mapped_column(String(20), index=True)

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Contact(Base):
    """One call, counter visit, field report or web message (来电/来访记录)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    caller_number: Mapped[str | None] = mapped_column(String(20), index=True)
    caller_name: Mapped[str] = mapped_column(String(100), default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    disposition: Mapped[Disposition | None] = mapped_column(_enum(Disposition))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")

    handled_by: Mapped[Staff | None] = relationship(lazy="joined")


class Case(Base):
    """A case (工单): what the caller needs, who owns it, where it stands."""

    __tablename__ = "cases"
    __table_args__ = (
        # The deadline sweep reads only open cases by due time.
        Index("ix_cases_open_due", "due_at", "state"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[Category] = mapped_column(_enum(Category))
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    # P4: the four things every call records
    problem: Mapped[str] = mapped_column(Text)
    need: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(300))
    #: The service area (片区) the address lies in: an area code of
    #: ``config/areas.toml``, named at intake or found from the address; empty
    #: when neither placed it. With the category it proposes the department
    #: (``config/routing.toml``). Cases registered before area codes keep the
    #: text their intake wrote.
    area: Mapped[str] = mapped_column(String(100), default="")
    #: The zone of the area when the case was registered (town, outskirts,
    #: villages; empty: unknown, held to the town's limits). With the grade it
    #: sets the on-site limit.
    zone: Mapped[str] = mapped_column(String(16), default="")
    #: Severity grade (事件分级) 1, 2 or 3 of a graded category's case; None: not graded.
    grade: Mapped[int | None] = mapped_column(SmallInteger)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(20))
    triage: Mapped[TriageOutcome] = mapped_column(_enum(TriageOutcome))
    pipe_size_dn: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # G4: set at intake, changed only by a supervisor, with a reason, on record
    first_responder_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    handler_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id"), index=True
    )
    handler_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    state: Mapped[State] = mapped_column(_enum(State), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    promised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stage: Mapped[str | None] = mapped_column(String(32))
    stage_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    passed_dispatch: Mapped[bool] = mapped_column(Boolean, default=False)
    arrived: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_requests: Mapped[int] = mapped_column(Integer, default=0)
    extra_working_days: Mapped[int | None] = mapped_column(Integer)
    follow_up_attempts: Mapped[int] = mapped_column(Integer, default=0)
    follow_up_outcome: Mapped[FollowUpOutcome | None] = mapped_column(_enum(FollowUpOutcome))
    result_note: Mapped[str] = mapped_column(Text, default="")
    # F6: the customer's rating on the spot (《回访单》, 1-5), or why there is none
    customer_rating: Mapped[int | None] = mapped_column(Integer)
    no_rating_reason: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    transfer_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    told_caller: Mapped[str] = mapped_column(Text, default="")
    parent_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # head of the event hash chain, so a deleted last event shows too
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_event_hash: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    first_responder: Mapped[Staff] = relationship(foreign_keys=[first_responder_id])
    handler_department: Mapped[Department | None] = relationship(
        foreign_keys=[handler_department_id]
    )
    handler_staff: Mapped[Staff | None] = relationship(foreign_keys=[handler_staff_id])
    transfer_department: Mapped[Department | None] = relationship(
        foreign_keys=[transfer_department_id]
    )
    customer: Mapped[Customer | None] = relationship()
    parent: Mapped[Case | None] = relationship(remote_side=[id])

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}


class CaseEvent(Base):
    """One change to a case (P6). Append-only; each row carries the hash of the last.

    The database refuses UPDATE and DELETE on this table (triggers below); the
    hash chain makes any edit made around them visible to ``hotline audit verify``.
    """

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: Digest of the case row as this event's transaction wrote it (``hotline.services.audit``,
    #: docs/audit.md); empty on events written before it was kept.
    row_digest: Mapped[str | None] = mapped_column(String(72))

    actor: Mapped[Staff | None] = relationship(lazy="joined")


class CaseNumberCounter(Base):
    """The last case number handed out each day (RY-YYYYMMDD-NNNN)."""

    __tablename__ = "case_number_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class FollowUp(Base):
    """One follow-up call (回访) attempt and what the caller said (P7, F6)."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[FollowUpOutcome] = mapped_column(_enum(FollowUpOutcome))
    attitude: Mapped[int | None] = mapped_column(Integer)
    quality: Mapped[int | None] = mapped_column(Integer)
    timeliness: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")


class Appointment(Base):
    """A visit time booked with the customer (F1); no-shows and moves are kept."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="booked")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PromiseUpdate(Base):
    """A promise gone stale (G7): tell the caller the new time (告知来电人).

    Put in the first responder's list when an extension is approved or a visit
    moves, with the time the caller heard and the new one; done when they
    record what they told the caller. Rules: ``hotline.domain.promises``.
    """

    __tablename__ = "promise_updates"
    __table_args__ = (Index("ix_promise_updates_owner_open", "owner_id", "done_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    cause: Mapped[str] = mapped_column(String(32))
    old_promised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    new_promised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    visit_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    note: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(lazy="joined")


#: Triggers that make the event log append-only in the database itself.
APPEND_ONLY_DDL: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events "
        "BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END",
        "CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events "
        "BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION case_events_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'case_events is append-only'; END $$",
        "CREATE TRIGGER case_events_no_update BEFORE UPDATE OR DELETE ON case_events "
        "FOR EACH ROW EXECUTE FUNCTION case_events_append_only()",
        # TRUNCATE fires no row triggers; SQLite has no TRUNCATE.
        "CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only()",
    ],
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(
            CaseEvent.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),
        )


class AuditAnchor(Base):
    """A keyed seal over every case's chain head (P6), written by ``hotline audit anchor``.

    ``heads`` holds what changed since the anchor before: each case's number,
    last event (sequence number and hash) and that event's row digest, and
    each day's last case number. ``seal`` is an HMAC-SHA256, with a key kept
    outside the database, over this anchor and the seal of the one before, so
    a rewritten and re-hashed history no longer matches. Append-only like the
    events (triggers below). See docs/audit.md.
    """

    __tablename__ = "audit_anchors"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    case_count: Mapped[int] = mapped_column(Integer)
    heads: Mapped[dict[str, Any]] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(16))
    prev_seal: Mapped[str] = mapped_column(String(64))
    seal: Mapped[str] = mapped_column(String(64))


#: Triggers that make the anchors append-only too.
ANCHORS_APPEND_ONLY_DDL: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only'); END",
        "CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'audit_anchors is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_anchors_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit_anchors is append-only'; END $$",
        "CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE OR DELETE ON audit_anchors "
        "FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only()",
        "CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_append_only()",
    ],
}

for _dialect, _statements in ANCHORS_APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(
            AuditAnchor.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),
        )


class CaseSeen(Base):
    """How far a member of staff has read a case's history (G7: the owner is told)."""

    __tablename__ = "case_seen"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    seen_seq: Mapped[int] = mapped_column(Integer, default=0)


class Outage(Base):
    """A water outage or pressure drop (停水/降压), planned or not (P8).

    ``area_keywords`` are the street, community or village names the outage
    covers, separated by spaces; an address containing any of them is affected.
    ``supply_points`` says where people fetch water meanwhile (临时供水点); an
    outage over 24 hours is prompted to have them.
    """

    __tablename__ = "outages"
    __table_args__ = (Index("ix_outages_window", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    planned: Mapped[bool] = mapped_column(Boolean, default=True)
    area: Mapped[str] = mapped_column(String(300))
    area_keywords: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Temporary water supply points (临时供水点) for a long outage; empty when none.
    supply_points: Mapped[str] = mapped_column(Text, default="")


class CaseDeadline(Base):
    """One time limit of one case (环节时限): a stage's clock, from start to end.

    A row opens when the case enters a stage that the time-limit policy gives
    a limit, and ends when the case leaves it, so every stage can be judged
    met or missed afterwards (met: ``ended_at <= due_at``). The work stages
    (dispatch, acknowledge, on site, shut off, resolve, follow-up) follow one
    another; the caller's reply clock (答复) runs beside them from intake.

    ``due_at`` is the limit's due time, moved on by approved extensions (延期)
    and by settled pauses while the customer was waited for; ``limit_due_at``
    keeps the limit as first set. ``escalation_level`` says who has been
    alerted: 0 the handler (承办人), 1 the dispatch center (调度中心), 2 the
    supervisor (主管). ``next_check_at`` is the next moment the deadline sweep
    must look at the row; it is empty once nothing more can happen.
    """

    __tablename__ = "case_deadlines"
    __table_args__ = (
        CheckConstraint("escalation_level BETWEEN 0 AND 2", name="escalation_level_range"),
        CheckConstraint("due_at >= started_at", name="due_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    clock: Mapped[str] = mapped_column(String(24))
    limit_text: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    limit_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str] = mapped_column(String(40), default="")


# The deadline sweep reads only rows that still need a look, soonest first.
# Ended and fully escalated rows leave the index, so it grows with open work,
# not with history (a partial index on both SQLite and PostgreSQL).
Index(
    "ix_case_deadlines_next_check",
    CaseDeadline.next_check_at,
    sqlite_where=CaseDeadline.next_check_at.is_not(None),
    postgresql_where=CaseDeadline.next_check_at.is_not(None),
)


class IdempotentRequest(Base):
    """The first answer to a command sent with an ``Idempotency-Key`` header.

    Written in the same transaction as the change it answers, so a change that
    was saved always has its answer on file: a client that lost the answer (a
    dropped connection, a server killed after the commit) sends the same key
    again and gets the same answer, and nothing is written twice.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("staff_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    #: SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class IncidentUpdate(Base):
    """What an incident (a parent case, a main break) tells its callers: the cause,
    when water should be back, and free text (事件进展). Kept for good, newest last;
    the same update is recorded in the history of the incident and of every case
    merged into it (``hotline.services.incidents``)."""

    __tablename__ = "incident_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    cause: Mapped[str] = mapped_column(Text, default="")
    estimated_restore_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: How many callers' cases the update reached when it was posted.
    children: Mapped[int] = mapped_column(Integer, default=0)

    by: Mapped[Staff] = relationship(lazy="joined")


class CasePhoto(Base):
    """A photo a crew took on site for a case it reported from the field (F8).

    The image is a file under the instance folder (``uploads/``); the row
    keeps its name, type, size and SHA-256, who took it and when.
    """

    __tablename__ = "case_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    taken_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SiteCheck(Base):
    """F10: the on-site check of a repaired meter well (现场核实), due within 2 days.

    Opened in the transaction that completes the repair (one per repair: a
    case reopened and repaired again is checked again); the meter readers'
    department records it done with what they found.
    """

    __tablename__ = "site_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    finding: Mapped[str] = mapped_column(Text, default="")


class KnowledgeArticle(Base):
    """An answer staff give callers (G3): a procedure, a fee or a common problem.

    ``version`` counts its versions (each kept in ``knowledge_article_versions``);
    a retired article stays, unlisted, for the cases that cite it. ``slug``
    keys the articles loaded from the seed file. On PostgreSQL, title and body
    carry pg_trgm trigram (GIN) indexes for the search's ILIKE; SQLite gets
    plain indexes of the same names.
    """

    __tablename__ = "knowledge_articles"
    __table_args__ = (
        Index(
            "ix_knowledge_articles_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        Index(
            "ix_knowledge_articles_body_trgm",
            "body",
            postgresql_using="gin",
            postgresql_ops={"body": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str | None] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(20), index=True)
    tags: Mapped[str] = mapped_column(String(240), default="")
    summary: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


event.listen(
    KnowledgeArticle.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)


class KnowledgeArticleVersion(Base):
    """One version of an article as saved: who, when, which fields changed, G2 hits."""

    __tablename__ = "knowledge_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("knowledge_articles.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(20))
    tags: Mapped[str] = mapped_column(String(240), default="")
    summary: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The versioned fields that differ from the version before.
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: G2: banned phrases found in the text saved.
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(String(200), default="")
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    changed_by: Mapped[Staff | None] = relationship(lazy="joined")


class CaseArticle(Base):
    """G3: the article a consultation answered on the call cites, at the version given."""

    __tablename__ = "case_articles"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_articles.id"), primary_key=True, index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    cited_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    cited_at: Mapped[datetime] = mapped_column(UTCDateTime())

    article: Mapped[KnowledgeArticle] = relationship(lazy="joined")


class KnowledgeQuestion(Base):
    """W10: a consultation nobody could answer on the call, awaiting a named superior.

    ``due_at`` is the case's reply deadline (its ``reply`` stage clock). The
    superior's answer is recorded here and on the case; the first responder
    then tells the caller (``replied_at``, by call or SMS). The answer may
    become an article (``article_id``).
    """

    __tablename__ = "knowledge_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    question: Mapped[str] = mapped_column(Text)
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answerer_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reply_method: Mapped[str] = mapped_column(String(8), default="")
    article_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_articles.id"))

    case: Mapped[Case] = relationship(lazy="joined")
    answerer: Mapped[Staff] = relationship(foreign_keys=[answerer_id], lazy="joined")
    asked_by: Mapped[Staff] = relationship(foreign_keys=[asked_by_id], lazy="joined")


class Gov12345Order(Base):
    """An order from the city government's 12345 hotline (12345转办工单) and the case it opened.

    The platform's order number, when it was received, the platform's
    deadlines and the citizen's request as sent; the 12345 clock (签收, 回退,
    延期申请, 答复) is kept here, apart from the case's own. The public reply
    (答复) lives here, never among the case's internal notes.
    """

    __tablename__ = "gov12345_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(String(64), unique=True)
    #: Which way it came in: "file_drop" or "webhook".
    source: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    citizen_name: Mapped[str] = mapped_column(String(100), default="")
    request_text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    acknowledge_due: Mapped[datetime] = mapped_column(UTCDateTime())
    return_due: Mapped[datetime] = mapped_column(UTCDateTime())
    reply_due: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    return_reason: Mapped[str] = mapped_column(Text, default="")
    extension_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    #: The public reply (答复) to the citizen, as reported to the platform.
    public_reply: Mapped[str] = mapped_column(Text, default="")
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    case: Mapped[Case] = relationship(lazy="joined")


class Gov12345Report(Base):
    """One report back to the 12345 platform (签收, 回退, 延期申请, 答复) and its outcome.

    Written with the action it reports, delivered after the commit; a failed
    delivery is kept with its error and tried again by the scheduled job.
    """

    __tablename__ = "gov12345_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("gov12345_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    order: Mapped[Gov12345Order] = relationship(lazy="joined")


class Open311Client(Base):
    """An app that submits service requests through Open311 GeoReport v2 (docs/open311.md).

    Only the SHA-256 of its API key is kept; the key is shown once, when it is
    made. A revoked client keeps its row (and its requests) but submits no more.
    """

    __tablename__ = "open311_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The administrator who made it (None: made with the ``hotline open311`` command).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_by: Mapped[Staff | None] = relationship(lazy="joined")


class Open311Request(Base):
    """What an Open311 submission brought besides its case: where, from which app, how.

    The case (``case_id``) holds the problem, the address and the contact like
    a case from any channel; this row keeps the coordinates, the app's own
    identifiers, the e-mail and the photo link, and the app's
    ``Idempotency-Key`` (unique per app) so a retried submission opens no
    second case.
    """

    __tablename__ = "open311_requests"
    __table_args__ = (UniqueConstraint("client_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("open311_clients.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(32))
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    address_string: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    device_id: Mapped[str] = mapped_column(String(100), default="")
    account_id: Mapped[str] = mapped_column(String(100), default="")
    media_url: Mapped[str] = mapped_column(String(2000), default="")
    #: The service's attributes as submitted, by code (lists for multi-value ones).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the submission: the same key with another submission is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    case: Mapped[Case] = relationship(lazy="joined")


class WechatLink(Base):
    """A resident's WeChat openid linked to their phone (公众号绑定), for notifications.

    Linked from the official account's report form; ``customer_id`` is the one
    customer with that phone when it was linked (None: none or several).
    """

    __tablename__ = "wechat_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WechatPush(Base):
    """One WeChat template message to one openid, written before WeChat is asked.

    Unique on (openid, purpose, ref): an outage notice (``outage``,
    ``notice-<id>``) or a case's stage (``case``, ``<number>:<stage>``) reaches
    an account once, whoever retries. ``status``: ``pending`` until WeChat
    answers, then ``sent``, ``refused`` or ``uncertain``.
    """

    __tablename__ = "wechat_pushes"
    __table_args__ = (UniqueConstraint("openid", "purpose", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    msgid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccessLog(Base):
    """One view of a customer's whole personal data, or one export (W7). Append-only.

    ``kind`` says what was read (``case``, ``call``, ``customer``, ``crew_work``,
    ``export``…), ``ref`` which one (a case number, a call id, an account
    number, an export's name with its filter). Written by
    ``hotline.services.access_log`` before the data is shown; the database
    refuses UPDATE and DELETE (triggers below). See docs/privacy.md.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_staff_at", "staff_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(500))
    client: Mapped[str] = mapped_column(String(64), default="")

    staff: Mapped[Staff] = relationship(lazy="joined")


#: Triggers that make the access log append-only.
ACCESS_LOG_APPEND_ONLY_DDL: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log "
        "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
        "CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log "
        "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'access_log is append-only'; END $$",
        "CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION access_log_append_only()",
        "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only()",
    ],
}

for _dialect, _statements in ACCESS_LOG_APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(
            AccessLog.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),
        )
