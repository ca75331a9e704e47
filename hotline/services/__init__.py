"""Service layer: every change to a case goes through here, one transaction each.

A view, a CLI command or a webhook turns its input into a call of
:func:`intake` or :func:`perform`; these check the rules (``hotline.domain``),
write the state, append exactly one event per change (``hotline.services.audit``), set
the next deadline from the time-limit policy, and commit. Errors are
:class:`ServiceError` subclasses carrying an HTTP status and the field at fault;
when one is raised nothing has been written.

This package re-exports the names callers use (``from hotline import services;
services.intake(...)``); each concept lives in its own module:

* ``hotline.domain.errors``: :class:`ServiceError` and its subclasses;
* ``context``: :class:`Services`, the protocols it needs, live updates, staff-text checks;
* ``access``: :class:`Actor`, who may see which case (G7);
* ``contacts``: intake, a contact recorded and its case opened (rules: ``hotline.domain.intake``);
* ``actions``: :func:`perform`, one lifecycle move, follow-ups, incidents;
* ``queries``: the case list, one case, its history, clocks and visits, unread changes;
* ``staff``: staff and departments as the pages list them, whether logins still hold;
* ``accounts``: logins, passwords, API tokens, opening and closing accounts;
* ``idempotency``: the answers kept for commands sent twice;
* ``bookings``: appointments with the customer (F1; ``hotline.domain.appointments``);
* ``milestones``: steps outside the lifecycle, such as the water shut off (F12);
* ``deadlines``: the stage clocks' rows (arithmetic: ``hotline.domain.deadlines``);
* ``audit``: the tamper-evident history (hashing: ``hotline.domain.audit``);
* ``numbering``: gapless case numbers per day.
"""

from __future__ import annotations

from hotline.domain.appointments import (
    MAX_APPOINTMENT_AHEAD,
    MAX_APPOINTMENT_WINDOW,
    AppointmentStatus,
)
from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from hotline.domain.intake import IntakeCommand, IntakeOutcome, IntakeResult
from hotline.services import audit, deadlines, numbering
from hotline.services.access import Actor, can_view
from hotline.services.actions import facts_of, perform
from hotline.services.bookings import (
    appointments,
    book_appointment,
    cancel_appointment,
    record_no_show,
    reschedule_appointment,
)
from hotline.services.contacts import areas_of, intake
from hotline.services.context import (
    STAFF_TEXT_KEYS,
    DeadlinePolicy,
    Publisher,
    Services,
    TextChecker,
    WorkingDays,
    staff_texts,
)
from hotline.services.milestones import record_shut_off
from hotline.services.queries import (
    CaseFilter,
    case_by_number,
    case_clocks,
    case_visits,
    get_case,
    history,
    list_cases,
    mark_seen,
    open_clocks,
    overdue_seconds,
    unseen_changes,
)

__all__ = [
    "MAX_APPOINTMENT_AHEAD",
    "MAX_APPOINTMENT_WINDOW",
    "STAFF_TEXT_KEYS",
    "Actor",
    "AppointmentStatus",
    "CaseFilter",
    "Conflict",
    "DeadlinePolicy",
    "Forbidden",
    "IntakeCommand",
    "IntakeOutcome",
    "IntakeResult",
    "Invalid",
    "NotFound",
    "Publisher",
    "ServiceError",
    "Services",
    "TextChecker",
    "WorkingDays",
    "appointments",
    "areas_of",
    "audit",
    "book_appointment",
    "can_view",
    "cancel_appointment",
    "case_by_number",
    "case_clocks",
    "case_visits",
    "deadlines",
    "facts_of",
    "get_case",
    "history",
    "intake",
    "list_cases",
    "mark_seen",
    "numbering",
    "open_clocks",
    "overdue_seconds",
    "perform",
    "record_no_show",
    "record_shut_off",
    "reschedule_appointment",
    "staff_texts",
    "unseen_changes",
]
