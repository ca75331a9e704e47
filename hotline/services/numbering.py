"""Case numbers people can read aloud: ``RY-20261126-0001``.

One counter row a day, bumped inside the caller's transaction, so two
operators never get the same number on SQLite or PostgreSQL and a rolled-back
intake leaves no gap.

The counter row is locked from the bump until the commit, so intake draws
the number as the last statement of its transaction
(:func:`assign_case_number`): the case is written with a placeholder
(:func:`placeholder_number`) and gets its number in one statement that bumps
the counter and sets it, just before the commit. Intakes at the same moment
then queue on the counter for one statement and a commit, not for the whole
transaction.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hotline.models import CaseNumberCounter


def format_case_number(prefix: str, day: date, serial: int) -> str:
    """``prefix-YYYYMMDD-NNNN`` (more digits once a day passes 9999 cases)."""
    return f"{prefix}-{day:%Y%m%d}-{serial:04d}"


def next_case_number(session: Session, prefix: str, day: date) -> str:
    """Hand out the next number of ``day``; the caller commits."""
    key = f"{day:%Y%m%d}"
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(CaseNumberCounter)
        .values(day=key, last=0)
        .on_conflict_do_nothing(index_elements=["day"])
    )
    serial = session.execute(
        update(CaseNumberCounter)
        .where(CaseNumberCounter.day == key)
        .values(last=CaseNumberCounter.last + 1)
        .returning(CaseNumberCounter.last)
    ).scalar_one()
    return format_case_number(prefix, day, serial)


#: Placeholder numbers start with this; a committed case never carries one.
PLACEHOLDER_PREFIX = "~"

_DRAW_AND_SET_POSTGRES = text(
    """
    WITH drawn AS (
        INSERT INTO case_number_counters (day, last) VALUES (:day, 1)
        ON CONFLICT (day) DO UPDATE SET last = case_number_counters.last + 1
        RETURNING last
    )
    UPDATE cases SET number = :prefix || '-' || :day || '-' ||
        CASE WHEN drawn.last < 10000 THEN lpad(drawn.last::text, 4, '0')
             ELSE drawn.last::text END
    FROM drawn WHERE cases.id = :case_id
    RETURNING cases.number
    """
)

_DRAW_SQLITE = text(
    "INSERT INTO case_number_counters (day, last) VALUES (:day, 1) "
    "ON CONFLICT (day) DO UPDATE SET last = case_number_counters.last + 1 "
    "RETURNING last"
)


def placeholder_number() -> str:
    """A unique stand-in for a case's number until :func:`assign_case_number`."""
    return PLACEHOLDER_PREFIX + uuid.uuid4().hex[:31]


def assign_case_number(session: Session, case_id: int, prefix: str, day: date) -> str:
    """Draw the next number of ``day`` and give it to case ``case_id``; the caller
    commits right after (the counter row stays locked until then)."""
    key = f"{day:%Y%m%d}"
    if session.get_bind().dialect.name == "postgresql":
        return str(
            session.execute(
                _DRAW_AND_SET_POSTGRES, {"day": key, "prefix": prefix, "case_id": case_id}
            ).scalar_one()
        )
    serial = session.execute(_DRAW_SQLITE, {"day": key}).scalar_one()
    number = format_case_number(prefix, day, serial)
    session.execute(
        text("UPDATE cases SET number = :number WHERE id = :case_id"),
        {"number": number, "case_id": case_id},
    )
    return number
