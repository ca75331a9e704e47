"""Promises stay true (G7, F11): when the time the caller was told goes stale.

The caller was promised a time (承诺时限, F11). When dispatch approves an
extension, or a booked visit moves, the case's deadline is no longer the one
the caller heard; the first responder, who tracks the case to the end (G7),
must tell them (告知来电人). These are the rules for that task: when a promise
is stale, which time the caller actually heard, who may say it is done and
what they must record. Pure: no database, no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hotline.domain.errors import Conflict, Forbidden, Invalid

#: The rule every refusal here names.
RULE = "G7"
#: Differences smaller than this are rounding, not a new promise.
TOLERANCE = timedelta(minutes=1)
#: The longest note of what the caller was told.
MAX_NOTE = 2000


class PromiseCause(StrEnum):
    """Why the promised time moved."""

    EXTENSION_APPROVED = "extension_approved"
    APPOINTMENT_RESCHEDULED = "appointment_rescheduled"


def is_stale(told: datetime | None, new: datetime | None) -> bool:
    """Whether ``new`` (the case's deadline now) differs from what the caller was ``told``.

    No new time (the case has no running clock) leaves nothing to tell; a
    caller who was never given a time is told the new one.
    """
    if new is None:
        return False
    if told is None:
        return True
    return abs(new - told) >= TOLERANCE


def new_promise(
    told: datetime | None,
    promise_clock_due: datetime | None,
    due_before: datetime | None,
    due_after: datetime | None,
) -> datetime | None:
    """The time the caller should now be told.

    The open resolve (else reply) clock's due time when the case has one: the
    promise is when the matter will be resolved (F11). Before that clock
    starts (a leak not yet shut off), the promise moves by as much as the
    case's deadline moved; a caller never given a time gets the deadline.
    """
    if promise_clock_due is not None:
        return promise_clock_due
    if told is None:
        return due_after
    if due_before is None or due_after is None:
        return told
    return told + (due_after - due_before)


def heard(
    promised_at: datetime | None, open_task_old: datetime | None, has_open_task: bool
) -> datetime | None:
    """The time the caller actually heard last.

    While an earlier "tell the caller" task is still open, the caller has not
    heard that task's new time either: they still hold its old one.
    """
    return open_task_old if has_open_task else promised_at


@dataclass(frozen=True)
class TaskFacts:
    """What the rules read of one "tell the caller" task and its case."""

    owner_id: int
    first_responder_id: int
    done_at: datetime | None


def check_mark_told(actor_id: int, task: TaskFacts, note: str) -> str:
    """The cleaned note, if ``actor_id`` may mark the task done; else a refusal naming G7.

    Only the case's first responder (the task's owner, or whoever owns the
    case now after a supervisor moved it) tells the caller: the person who
    made the promise keeps it (G7). A task already done is a conflict; the
    note of what was said is required.
    """
    if actor_id not in (task.owner_id, task.first_responder_id):
        raise Forbidden(
            "G7: only the case's first responder tells the caller and marks this done",
            "promise_update_id",
            RULE,
        )
    if task.done_at is not None:
        raise Conflict("the caller was already told; nothing left to do", "promise_update_id")
    text = (note or "").strip()
    if not text:
        raise Invalid("G7: record what the caller was told", "note", RULE)
    if len(text) > MAX_NOTE:
        raise Invalid("the note is longer than %(limit)s characters", "note", RULE, limit=MAX_NOTE)
    return text
