"""Case numbers people can read aloud: ``RY-20261126-0001``.

One counter row a day, bumped with a single UPDATE ... RETURNING inside the
caller's transaction, so two operators never get the same number on SQLite or
PostgreSQL.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import update
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
