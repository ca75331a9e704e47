"""The services' context: :class:`Services`, what they need from outside, injected once.

Holds the protocols the time-limit policy and the working-day calendar meet,
the live-update publisher, the staff-text checker (G2) and the two steps every
change ends with: :func:`check_text` on the event appended and
:func:`publish_change` once the change is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hotline.db import UnitSession, run_guarded
from hotline.domain import lifecycle
from hotline.domain.taxonomy import Category, Priority, Stage
from hotline.models import Case, CaseEvent


class DeadlinePolicy(Protocol):
    """What the service needs of the time-limit policy (``hotline.domain.timelimits``)."""

    follow_up_unreachable_attempts: int
    extension_max_working_days: int

    def due_at(
        self,
        start: datetime,
        category: Category,
        priority: Priority,
        stage: Stage,
        *,
        pipe_size_dn: int | None = None,
    ) -> datetime | None: ...


class WorkingDays(Protocol):
    """What the service needs of the working-day calendar."""

    def add_working_days(self, start: datetime, days: int) -> datetime: ...


Publisher = Callable[[Mapping[str, Any]], None]

#: Checks staff text as it is stored (G2), called with the session, the case,
#: the event that carries the text, the ``(field, text)`` pairs and who wrote
#: them; whatever it records it adds to the session, so it is written in the
#: same transaction as the text or not at all.
TextChecker = Callable[[Session, Case, CaseEvent, Sequence[tuple[str, str]], int | None], Any]

#: Called in the same transaction each time a case changes state, after its event,
#: with the state it left (the call flows' outbound queue makes or settles the
#: case's follow-up task).
CaseMoved = Callable[[Session, Case, lifecycle.State, datetime], None]

#: Keys of event data that hold text staff typed; an event's reason is staff text too.
STAFF_TEXT_KEYS: tuple[str, ...] = ("note", "answer", "result_note", "told_caller", "summary")


@dataclass
class Services:
    """Everything the service functions use from outside, injected once at start-up."""

    sessions: Callable[[], Session]
    clock: Callable[[], datetime]
    policy: DeadlinePolicy
    calendar: WorkingDays
    case_prefix: str = "RY"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    phone_region: str = "CN"
    area_code: str = ""
    publish: Publisher | None = None
    #: Sessions for pages and reads; writes go through ``sessions``. In a web
    #: request both hand out the request's one session (``hotline.db.ScopedSessions``).
    readers: Callable[[], Session] | None = None
    #: Called right after an event carrying staff text is appended (None: not checked).
    text_checker: TextChecker | None = None
    #: Routing rules (``hotline.domain.routing``); None: the shipped ``config/routing.toml``.
    routing: Any = None
    #: Told of every change of a case's state, inside its transaction (None: nobody).
    case_moved: CaseMoved | None = None

    def read_session(self) -> Session:
        """A session for reading only (no write lock on SQLite)."""
        return (self.readers or self.sessions)()

    @property
    def rules(self) -> lifecycle.Settings:
        return lifecycle.Settings(
            follow_up_unreachable_attempts=self.policy.follow_up_unreachable_attempts,
            extension_max_working_days=self.policy.extension_max_working_days,
            follow_up_attempt_gap=timedelta(
                minutes=getattr(self.policy, "follow_up_attempt_gap_minutes", 120)
            ),
        )

    def after_commit(self, kind: str, work: Callable[[], Any]) -> None:
        """Run ``work`` (a push, an SMS, a call) once the open unit of work has
        committed, or now when none is open; a failure is logged and counted,
        never raised: the change it follows is saved."""
        current = getattr(self.sessions, "current", None)
        session = current() if current is not None else None
        if isinstance(session, UnitSession):
            session.after_commit(kind, work)
        else:
            run_guarded(kind, work)

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the clock must return timezone-aware times")
        return moment


def staff_texts(event: CaseEvent) -> list[tuple[str, str]]:
    """The ``(field, text)`` pairs of text staff typed that ``event`` carries."""
    data = event.data or {}
    texts = [
        (key, value)
        for key in STAFF_TEXT_KEYS
        if isinstance(value := data.get(key), str) and value.strip()
    ]
    if event.reason:
        texts.append(("reason", event.reason))
    return texts


def check_text(svc: Services, session: Session, case: Case, event: CaseEvent) -> CaseEvent:
    """Hand the staff text ``event`` carries to ``svc.text_checker``; returns ``event``."""
    if svc.text_checker is not None and (texts := staff_texts(event)):
        svc.text_checker(session, case, event, texts, event.actor_id)
    return event


def publish_change(svc: Services, case: Case, action: str) -> None:
    """Tell browsers about the change once it is committed; a failed push never
    turns the saved change into an error."""
    publish = svc.publish
    if publish is None:
        return
    payload = {
        "case": case.number,
        "action": str(action),
        "state": str(case.state),
        "category": str(case.category),
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "handler_department_id": case.handler_department_id,
        "first_responder_id": case.first_responder_id,
        "version": case.version,
    }
    svc.after_commit("live update", lambda: publish(payload))


class _UnitSessions:
    """Sessions that hand out the one session of an open unit of work.

    Services open ``with svc.sessions() as session, session.begin()``: with
    these they get that session, their ``begin()`` joins the open unit and
    their ``with`` block leaves the session open. ``current`` is what
    :meth:`Services.after_commit` asks for, so work they schedule after their
    commit waits for the commit of the whole unit.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self) -> Session:
        return self.session

    def __call__(self) -> AbstractContextManager[Session]:
        return nullcontext(self.session)


def in_unit(svc: Services, session: Session) -> Services:
    """``svc`` whose services work in ``session``'s open unit of work.

    For a command made of several services (a call's submission, a crew's
    field report): everything commits once, together, and pushes wait for
    that commit.
    """
    return replace(svc, sessions=_UnitSessions(session))  # type: ignore[arg-type]
