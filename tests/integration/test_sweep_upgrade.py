"""Upgrading a database that already has open cases (revision 0002 to 0003): every
open case with a due time gets its stage clock, so the sweep watches it too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command as alembic_command
from sqlalchemy import select, text

from dispatch.services.sweep import sweep
from hotline.cli import alembic_config, upgrade_database
from hotline.db import make_engine, make_sessionmaker
from hotline.domain.timelimits import TimeLimitPolicy
from hotline.models import CaseDeadline, CaseEvent
from hotline.services import Services
from tests.conftest import FakeClock, pg_temporary_database

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at revision 0002 (before stage clocks were kept)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = pg_temporary_database(request, "upgrade")
    upgrade_database(url, "0002")
    return url


def _old_rows(url: str) -> None:
    """An organisation and two cases as revision 0002 stored them: one open, one closed."""
    engine = make_engine(url)
    stamp = {"t0": T0, "due": T0 + timedelta(minutes=30), "t": True, "f": False}
    columns = (
        "number, category, priority, channel, problem, need, address, contact_name, "
        "contact_phone, triage, first_responder_id, handler_department_id, state, stage, "
        "stage_started_at, due_at, created_at, updated_at, escalation_level, passed_dispatch, "
        "arrived, extension_requests, follow_up_attempts, result_note, answer, told_caller, "
        "last_event_seq, last_event_hash, version"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO departments (id, code, name_zh, name_en, is_dispatch_center, "
                "phone, office) VALUES (1, 'REPAIR', '维修', 'Repair', :f, '', '')"
            ),
            stamp,
        )
        conn.execute(
            text(
                "INSERT INTO staff (id, username, display_name, role, department_id, "
                "password_hash, active, created_at) VALUES "
                "(1, 'operator', 'op', 'operator', 1, '-', :t, :t0)"
            ),
            stamp,
        )
        for number, state in (("RY-OLD-OPEN", "assigned"), ("RY-OLD-DONE", "closed")):
            conn.execute(
                text(
                    f"INSERT INTO cases ({columns}) VALUES (:number, 'leak', 'normal', 'phone', "
                    "'p', 'n', 'a', 'c', '+8613805341234', 'utility', 1, 1, :state, "
                    "'acknowledge', :t0, :due, :t0, :t0, 0, :t, :f, 0, 0, '', '', '', 0, '', 1)"
                ),
                {**stamp, "number": number, "state": state},
            )
    engine.dispose()


def test_upgrading_gives_open_cases_their_clock_and_the_sweep_watches_them(old_url):
    _old_rows(old_url)
    upgrade_database(old_url)
    engine = make_engine(old_url)
    policy = TimeLimitPolicy.load()
    svc = Services(
        sessions=make_sessionmaker(engine),
        clock=FakeClock(T0 + timedelta(hours=2)),
        policy=policy,
        calendar=policy.calendar,
    )
    with svc.sessions() as session:
        (clock,) = session.scalars(select(CaseDeadline)).all()
        assert (clock.stage, clock.clock, clock.limit_text) == (
            "acknowledge",
            "around_the_clock",
            "30min",
        )
        assert clock.due_at == T0 + timedelta(minutes=30)
        assert clock.warn_at == T0 + timedelta(minutes=24)

    report = sweep(svc, check_duty=False)

    assert report.escalations == 1
    with svc.sessions() as session:
        assert session.scalars(select(CaseEvent.action)).all() == ["deadline_escalated"]
    engine.dispose()
    alembic_command.downgrade(alembic_config(old_url), "0002")  # and back, cleanly
