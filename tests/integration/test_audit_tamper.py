"""P6 against someone with a database shell, SQLite and PostgreSQL.

Each attack is made the way a database owner could make it (triggers off,
plain SQL) and ``hotline.services.audit`` must name what was done: a case row changed
by SQL, a case deleted with its whole history, the event log truncated, a
history rewritten and re-hashed up to its head. And every way the product
writes a case leaves a row that matches the digest its last event recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic_command
from click.testing import CliRunner, Result
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dispatch.services.sweep import sweep
from hotline import services
from hotline.cli import alembic_config, main, upgrade_database
from hotline.db import Base, make_engine, make_sessionmaker
from hotline.domain.lifecycle import Action, State
from hotline.domain.timelimits import TimeLimitPolicy
from hotline.models import AuditAnchor, Case, CaseEvent
from hotline.services import IntakeOutcome, Services, audit
from hotline.settings import SettingsError, audit_key
from tests.conftest import FakeClock, pg_temporary_database
from tests.support import act, bring_case_to, intake_command, seed_org

KEY = "audit-key-of-the-tests-0123456789abcdef"


# -- helpers ------------------------------------------------------------------------------------


def _tamper(svc, *statements: tuple[str, dict[str, Any]] | str) -> None:
    """Change the database behind the product's back, as its owner could: triggers off."""
    with svc.sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in (
                "case_events_no_update",
                "case_events_no_delete",
                "audit_anchors_no_update",
                "audit_anchors_no_delete",
            ):
                session.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        for statement in statements:
            sql, params = (statement, {}) if isinstance(statement, str) else statement
            session.execute(text(sql), params)


def _case(svc, number: str) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _events(svc, number: str) -> list[CaseEvent]:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return list(
            session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
            )
        )


def _problems(svc, *, key: str | None = KEY, case_number: str | None = None) -> list[str]:
    with svc.sessions() as session:
        _checked, problems = audit.verify(session, key=key, case_number=case_number, prefix="RY")
    return [str(problem) for problem in problems]


def _anchor(svc) -> audit.AnchorResult:
    with svc.sessions() as session:
        result = audit.anchor(session, KEY, now=svc.now(), prefix="RY")
        session.commit()
    return result


def _delete_case(svc, number: str, *, lower_counter: bool = False) -> None:
    """Delete a case and every row that points at it, as if it never was."""
    case_id = _case(svc, number).id
    statements: list[tuple[str, dict[str, Any]] | str] = [
        (f"DELETE FROM {table.name} WHERE case_id = :id", {"id": case_id})
        for table in Base.metadata.sorted_tables
        if "case_id" in table.c and table.name != "cases"
    ]
    statements.append(("DELETE FROM cases WHERE id = :id", {"id": case_id}))
    if lower_counter:
        statements.append(
            (
                "UPDATE case_number_counters SET last = last - 1 WHERE day = :day",
                {"day": number.split("-")[1]},
            )
        )
    _tamper(svc, *statements)


def _rewrite_and_rehash(svc, number: str, seq: int, reason: str) -> None:
    """Edit event ``seq``'s reason and recompute every hash after it and the case's head:
    what anyone who knows the (public) chain rule can do."""
    events = _events(svc, number)
    prev = events[seq - 2].hash if seq > 1 else audit.GENESIS
    statements: list[tuple[str, dict[str, Any]] | str] = []
    for evt in events[seq - 1 :]:
        new_reason = reason if evt.seq == seq else evt.reason
        new_hash = audit.event_hash(
            case_id=evt.case_id,
            seq=evt.seq,
            action=evt.action,
            from_state=evt.from_state,
            to_state=evt.to_state,
            actor_id=evt.actor_id,
            at=evt.at,
            reason=new_reason,
            data=evt.data,
            prev_hash=prev,
        )
        statements.append(
            (
                "UPDATE case_events SET reason = :reason, prev_hash = :prev, hash = :hash "
                "WHERE id = :id",
                {"reason": new_reason, "prev": prev, "hash": new_hash, "id": evt.id},
            )
        )
        prev = new_hash
    statements.append(
        ("UPDATE cases SET last_event_hash = :hash WHERE number = :n", {"hash": prev, "n": number})
    )
    _tamper(svc, *statements)


def _assert_every_row_matches_its_last_event(svc) -> None:
    """Every event carries a row digest and every case row is as its last event recorded."""
    with svc.sessions() as session:
        missing = session.scalars(select(CaseEvent.id).where(CaseEvent.row_digest.is_(None))).all()
        checked, problems = audit.verify(session, key=KEY)
    assert checked > 0
    assert missing == [], "events written without a row digest"
    assert [str(p) for p in problems] == []


# -- 1. a case row changed by SQL -------------------------------------------------------------


def test_a_case_closed_by_sql_is_named_with_its_row(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    other = bring_case_to(svc, org, State.ASSIGNED)
    assert _problems(svc) == []
    _tamper(
        svc,
        (
            "UPDATE cases SET state = 'closed', closed_at = created_at WHERE number = :n",
            {"n": number},
        ),
    )

    problems = _problems(svc)

    last = _events(svc, number)[-1]
    assert problems == [
        f"{number} row: the case row differs from the row its last event ({last.seq}) "
        "recorded: changed outside the product; its state is 'closed', its last event left "
        "it 'assigned'"
    ]
    assert _problems(svc, case_number=other) == []


@pytest.mark.parametrize(
    "column, value",
    [
        ("handler_department_id", None),
        ("priority", "emergency"),
        ("due_at", None),
        ("first_responder_id", "<another operator>"),
        ("version", 99),
        ("parent_case_id", "<itself>"),
    ],
)
def test_any_field_that_matters_changed_by_sql_is_named(svc, org, column, value):
    number = bring_case_to(svc, org, State.ASSIGNED)
    stand_ins = {"<itself>": _case(svc, number).id, "<another operator>": org["operator2"].id}
    value = stand_ins.get(value, value)
    _tamper(svc, (f"UPDATE cases SET {column} = :v WHERE number = :n", {"v": value, "n": number}))

    problems = _problems(svc)

    assert len(problems) == 1 and problems[0].startswith(f"{number} row: "), problems


def test_a_row_and_its_last_digest_changed_together_disagree_with_the_seal(svc, org):
    number = bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    case = _case(svc, number)
    case.state = "closed"
    forged = audit.digest_of_row(case)
    _tamper(
        svc,
        ("UPDATE cases SET state = 'closed' WHERE number = :n", {"n": number}),
        (
            "UPDATE case_events SET row_digest = :d WHERE case_id = :id AND seq = :seq",
            {"d": forged, "id": case.id, "seq": case.last_event_seq},
        ),
    )

    problems = _problems(svc)

    assert problems == [
        f"{number} event {case.last_event_seq}: its row digest differs from the one anchor 1 "
        "sealed: edited outside the product"
    ]


def test_a_digest_removed_from_a_recent_event_is_named(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    case = _case(svc, number)
    _tamper(
        svc,
        (
            "UPDATE case_events SET row_digest = NULL WHERE case_id = :id AND seq = :seq",
            {"id": case.id, "seq": case.last_event_seq},
        ),
    )

    (problem,) = _problems(svc)

    assert problem.startswith(f"{number} event {case.last_event_seq}: has no row digest")


def test_events_written_before_digests_were_kept_pass_until_sealed(svc, org):
    """An upgraded database: its old events have no digest and are not held to one;
    the anchors hold the digests they sealed."""
    number = bring_case_to(svc, org, State.ASSIGNED)
    _tamper(svc, "UPDATE case_events SET row_digest = NULL")
    assert _problems(svc) == []

    bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    _tamper(svc, "UPDATE case_events SET row_digest = NULL")

    problems = _problems(svc)
    assert problems and all("row digest" in p for p in problems), problems
    assert not any(p.startswith(number) for p in problems)  # it was sealed without a digest


# -- 2. a case deleted with its whole history ---------------------------------------------------


def test_a_case_deleted_with_its_events_is_named_by_the_hole_in_the_numbers(svc, org):
    numbers = [bring_case_to(svc, org, State.ASSIGNED) for _ in range(3)]
    assert _problems(svc) == []
    _delete_case(svc, numbers[1])

    problems = _problems(svc)

    day = numbers[1].split("-")[1]
    assert problems == [
        f"{numbers[1]}: is missing, yet the numbers of {day} run to 0003: "
        "the case was deleted outside the product"
    ]
    assert _problems(svc, case_number=numbers[1]) == problems


def test_the_last_case_deleted_and_the_counter_lowered_is_named_by_the_anchor(svc, org):
    numbers = [bring_case_to(svc, org, State.ASSIGNED) for _ in range(2)]
    _anchor(svc)
    _delete_case(svc, numbers[-1], lower_counter=True)

    problems = _problems(svc)

    day = numbers[-1].split("-")[1]
    events = len(_events(svc, numbers[0]))
    assert problems == [
        f"{numbers[-1]}: was sealed by anchor 1 with {events} event(s) and is gone: "
        "deleted outside the product",
        f"day {day}: its counter says 0001, anchor 1 sealed 0002: lowered outside the product",
    ]


def test_a_case_deleted_after_the_anchor_is_named_even_when_it_was_renumbered_away(svc, org):
    first = bring_case_to(svc, org, State.ASSIGNED)
    second = bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    _tamper(svc, ("UPDATE cases SET number = 'RY-LOST' WHERE number = :n", {"n": second}))

    problems = _problems(svc)

    assert (
        f"RY-LOST: was numbered {second} when anchor 1 sealed it: renumbered outside the product"
        in problems
    )
    assert (
        f"{second}: is missing, yet the numbers of {second.split('-')[1]} run to 0002: "
        "the case was deleted outside the product" in problems
    )
    assert not any(p.startswith(first) for p in problems)


# -- 3. TRUNCATE ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["case_events", "audit_anchors"])
def test_the_database_refuses_to_empty_the_history_tables(svc, org, table):
    bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    with svc.sessions() as session:
        statements = (
            [f"TRUNCATE {table}", f"TRUNCATE {table} CASCADE", "TRUNCATE cases CASCADE"]
            if session.get_bind().dialect.name == "postgresql"
            else [f"DELETE FROM {table}"]  # SQLite has no TRUNCATE
        )
    for statement in statements:
        with (
            pytest.raises(DBAPIError, match="append-only"),
            svc.sessions() as session,
            session.begin(),
        ):
            session.execute(text(statement))
    assert _problems(svc) == []


def test_an_event_log_emptied_past_the_triggers_is_named_case_by_case(svc, org):
    numbers = [bring_case_to(svc, org, State.ASSIGNED) for _ in range(2)]
    _tamper(
        svc,
        "DELETE FROM case_events",
        "UPDATE cases SET last_event_seq = 0, last_event_hash = ''",
    )

    problems = _problems(svc)

    assert problems == [
        f"{number} head: the case has no events, yet every case is registered with one: "
        "its history was removed outside the product"
        for number in numbers
    ]


def test_everything_emptied_but_the_anchors_is_named_by_the_anchors(svc, org):
    numbers = [bring_case_to(svc, org, State.ASSIGNED) for _ in range(2)]
    _anchor(svc)
    _tamper(
        svc,
        *[
            f"DELETE FROM {table.name}"
            for table in reversed(Base.metadata.sorted_tables)
            if "case_id" in table.c and table.name != "cases"
        ],
        "DELETE FROM cases",
        "DELETE FROM case_number_counters",
    )

    problems = _problems(svc)

    day = numbers[0].split("-")[1]
    assert [p.split(":")[0] for p in problems] == [*numbers, f"day {day}"], problems


# -- 4. a history rewritten and re-hashed ------------------------------------------------------


def test_a_rewritten_and_rehashed_history_passes_the_chain_but_not_the_seal(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    _anchor(svc)
    _rewrite_and_rehash(svc, number, 2, "用户撤回投诉")
    case = _case(svc, number)
    assert audit.check_chain(case, _events(svc, number)) == []  # the chain alone is fooled

    problems = _problems(svc)

    assert problems == [
        f"{number} event {case.last_event_seq}: differs from the event anchor 1 sealed: "
        "the history was rewritten outside the product"
    ]


def test_an_anchor_forged_without_the_key_does_not_seal_a_rewritten_history(svc, org):
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    first = _anchor(svc)
    _rewrite_and_rehash(svc, number, 2, "用户撤回投诉")
    case = _case(svc, number)
    digest = _events(svc, number)[-1].row_digest
    heads = {"cases": {str(case.id): [number, case.last_event_seq, case.last_event_hash, digest]}}
    with svc.sessions() as session:
        at = svc.now()
        guessed = "a-key-the-attacker-guessed-0123456789"
        session.add(
            AuditAnchor(
                seq=2,
                at=at,
                case_count=1,
                heads={**heads, "days": {}},
                key_id=audit.key_id(KEY),  # public: copied from anchor 1
                prev_seal=first.seal,
                seal=audit.seal_of(
                    guessed,
                    seq=2,
                    at=at,
                    case_count=1,
                    heads={**heads, "days": {}},
                    prev_seal=first.seal,
                ),
            )
        )
        session.commit()

    problems = _problems(svc)

    assert problems == ["anchor 2: its seal does not match: the anchor was forged or edited"]


def test_an_edited_anchor_is_named(svc, org):
    bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    _tamper(svc, "UPDATE audit_anchors SET case_count = case_count + 1")

    assert _problems(svc) == ["anchor 1: its seal does not match: the anchor was forged or edited"]
    assert _problems(svc, key="another-key-another-key-another-key")[0].startswith(
        "anchor 1: was sealed with another key"
    )


def test_a_deleted_anchor_is_named(svc, org):
    bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    bring_case_to(svc, org, State.ASSIGNED)
    _anchor(svc)
    bring_case_to(svc, org, State.ASSIGNED)
    assert _anchor(svc).seq == 3
    _tamper(svc, "DELETE FROM audit_anchors WHERE seq = 2")

    assert _problems(svc) == [
        "anchor 3: anchor 2 is missing: anchors were deleted outside the product",
        "anchor 3: does not follow the anchor before it",
    ]


# -- anchoring ----------------------------------------------------------------------------------


def test_anchoring_seals_only_what_changed_and_refuses_to_seal_tampering(svc, org):
    first = bring_case_to(svc, org, State.ASSIGNED)
    result = _anchor(svc)
    assert (result.seq, result.sealed, result.case_count, result.written) == (1, 1, 1, True)
    unchanged = _anchor(svc)
    assert (unchanged.seq, unchanged.written, unchanged.seal) == (1, False, result.seal)

    second = bring_case_to(svc, org, State.ASSIGNED)
    act(svc, org["crew"], first, Action.ACCEPT)
    result = _anchor(svc)
    assert (result.seq, result.sealed, result.case_count) == (2, 2, 2)

    act(svc, org["crew"], second, Action.ACCEPT)
    _rewrite_and_rehash(svc, second, 2, "改过")
    refused = _anchor(svc)
    assert not refused.written and refused.seq == 2
    assert [str(p) for p in refused.problems] == [
        f"{second} event 3: differs from the event anchor 2 sealed: "
        "the history was rewritten outside the product"
    ]
    with svc.sessions() as session:
        assert session.scalar(select(AuditAnchor.seq).order_by(AuditAnchor.seq.desc())) == 2


def test_an_empty_store_is_anchored_too(svc, org):
    result = _anchor(svc)
    assert (result.seq, result.case_count, result.written) == (1, 0, True)
    assert _problems(svc) == []


# -- every path the product writes a case by leaves a matching row --------------------------


def _intakes(svc, org, clock) -> None:
    for outcome in (IntakeOutcome.DISPATCH, IntakeOutcome.ANSWER_ON_CALL):
        services.intake(svc, org["operator"], intake_command(outcome))
    bring_case_to(svc, org, State.TRANSFERRED)
    number = services.intake(svc, org["operator"], intake_command()).case_number
    clock.advance(minutes=5)
    services.intake(
        svc,
        org["operator2"],
        intake_command(IntakeOutcome.JOIN, join_case_number=number, summary="再次来电催促"),
    )


def _the_whole_life(svc, org, clock) -> None:
    bring_case_to(svc, org, State.CLOSED)
    bring_case_to(svc, org, State.REOPENED)
    bring_case_to(svc, org, State.EXTENSION_APPROVED)
    bring_case_to(svc, org, State.RETURNED)


def _merge_and_settle_the_incident(svc, org, clock) -> None:
    parent = services.intake(svc, org["operator"], intake_command()).case_number
    child = services.intake(svc, org["operator2"], intake_command()).case_number
    act(svc, org["dispatcher"], child, Action.MERGE, parent_case_number=parent)
    for username, action, data in (
        ("dispatcher", Action.ASSIGN, {"department_id": org.departments["REPAIR"]}),
        ("crew", Action.ACCEPT, {}),
        ("crew", Action.ASSIGN_WORKER, {"staff_id": org["crew"].id}),
        ("crew", Action.ACKNOWLEDGE, {}),
        ("crew", Action.ARRIVE, {}),
        ("crew", Action.COMPLETE, {"result_note": "已修复", "customer_rating": 5}),
        ("dispatcher", Action.CONFIRM_DONE, {}),  # the child moves in the same transaction
    ):
        act(svc, org[username], parent, action, **data)
    assert _case(svc, child).state == State.AWAITING_FOLLOW_UP


def _appointments(svc, org, clock) -> None:
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)

    def book(hours: float, by_customer: bool = True):
        starts = clock.now + timedelta(hours=hours)
        return services.book_appointment(
            svc,
            org["crew"],
            number,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            requested_by_customer=by_customer,
        )

    first = book(2)
    starts = clock.now + timedelta(hours=3)
    moved = services.reschedule_appointment(
        svc,
        org["crew"],
        number,
        first.id,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        requested_by_customer=True,
        reason="用户改约",
    )
    clock.now = moved.starts_at + timedelta(minutes=20)
    services.record_no_show(svc, org["crew"], number, moved.id, told_customer="已电话告知")
    again = book(1, by_customer=False)
    services.cancel_appointment(svc, org["crew"], number, again.id, reason="用户已自行修好")


def _shut_off(svc, org, clock) -> None:
    number = bring_case_to(svc, org, State.ON_SITE)
    clock.advance(minutes=30)
    services.record_shut_off(svc, org["crew"], number, pipe_size_dn=300, note="关闭 3 号阀门")


def _sweep_warnings_and_escalations(svc, org, clock) -> None:
    numbers = [
        services.intake(svc, org["operator"], intake_command()).case_number for _ in range(3)
    ]
    for number in numbers:
        act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    clock.advance(minutes=24)
    assert sweep(svc, check_duty=False, batch_size=2).warnings == 3
    clock.advance(minutes=7)
    assert sweep(svc, check_duty=False, batch_size=2).escalations == 3


def _sweep_resumes_a_paused_clock(svc, org, clock) -> None:
    number = bring_case_to(svc, org, State.ACKNOWLEDGED)
    starts = clock.now + timedelta(hours=2)
    services.book_appointment(
        svc,
        org["crew"],
        number,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        requested_by_customer=True,
    )
    clock.now = starts + timedelta(minutes=10)
    assert sweep(svc, check_duty=False).resumed == 2  # the on-site and the set-out clock


PATHS: dict[str, Callable[..., None]] = {
    "intake": _intakes,
    "perform": _the_whole_life,
    "merge": _merge_and_settle_the_incident,
    "appointments": _appointments,
    "shut_off": _shut_off,
    "sweep_steps": _sweep_warnings_and_escalations,
    "sweep_resume": _sweep_resumes_a_paused_clock,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_every_write_path_leaves_the_row_its_last_event_recorded(svc, org, clock, path):
    PATHS[path](svc, org, clock)

    _assert_every_row_matches_its_last_event(svc)
    assert _anchor(svc).written
    _assert_every_row_matches_its_last_event(svc)


def test_the_digest_describes_the_row_as_committed_not_as_appended(svc, org):
    """Intake sets the promised time after its events are appended; the digest has it."""
    number = services.intake(svc, org["operator"], intake_command()).case_number
    case = _case(svc, number)
    assert case.promised_at is not None and case.version == 2
    assert _events(svc, number)[-1].row_digest == audit.digest_of_row(case)


# -- cost ------------------------------------------------------------------------------------


def _statements(svc, work: Callable[[], Any], *, with_digest: bool = True) -> int:
    engine = svc.sessions.kw["bind"]
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    hook = audit._give_new_events_their_row_digest
    if not with_digest:
        sa_event.remove(Session, "before_flush", hook)
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
        if not with_digest:
            sa_event.listen(Session, "before_flush", hook)
    return len(seen)


def test_the_row_digest_costs_an_intake_and_an_action_no_statement(svc, org):
    def intake() -> None:
        services.intake(svc, org["operator"], intake_command())

    assert _statements(svc, intake) == _statements(svc, intake, with_digest=False)
    numbers = [services.intake(svc, org["operator"], intake_command()).case_number for _ in "ab"]

    def assign(number: str) -> Callable[[], None]:
        return lambda: act(
            svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"]
        )

    assert _statements(svc, assign(numbers[0])) == _statements(
        svc, assign(numbers[1]), with_digest=False
    )


def test_the_row_digest_costs_the_sweep_one_statement_per_batch(svc, org, clock):
    def assigned_leaks() -> None:
        for _ in range(3):
            number = services.intake(svc, org["operator"], intake_command()).case_number
            act(
                svc,
                org["dispatcher"],
                number,
                Action.ASSIGN,
                department_id=org.departments["REPAIR"],
            )

    def warn_three() -> None:
        assert sweep(svc, check_duty=False).warnings == 3

    assigned_leaks()  # 09:00: warnings at 09:24, escalations at 09:30
    clock.advance(minutes=24)
    with_digest = _statements(svc, warn_three)
    assigned_leaks()  # 09:24: warnings at 09:48
    clock.advance(minutes=7)
    assert sweep(svc, check_duty=False).escalations == 3  # the first three, next due at 10:00
    clock.advance(minutes=17)
    without = _statements(svc, warn_three, with_digest=False)
    assert with_digest == without + 1


# -- the digest's field list ---------------------------------------------------------------


def test_every_column_of_a_case_is_in_the_digest_or_left_out_on_purpose():
    columns = set(Case.__table__.c.keys())
    covered = set(audit.ROW_FIELDS[audit.ROW_DIGEST_VERSION])
    assert covered | set(audit.NOT_IN_ROW_DIGEST) == columns, (
        "a new column of cases: add it to NOT_IN_ROW_DIGEST, or to a new digest "
        "version in hotline.services.audit.ROW_FIELDS (an old version's list never changes)"
    )
    assert not covered & set(audit.NOT_IN_ROW_DIGEST)


# -- the migration ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database brought to the head revision by the migrations."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        url = pg_temporary_database(request, "audit_migrate")
    upgrade_database(url)
    return url


def _event_triggers(engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        return set(conn.execute(text(query)).scalars())


def test_the_migration_goes_down_and_up_and_old_events_pass_without_a_digest(migrated_url):
    engine = make_engine(migrated_url)
    try:
        policy = TimeLimitPolicy.load()
        svc = Services(
            sessions=make_sessionmaker(engine),
            clock=FakeClock(),
            policy=policy,
            calendar=policy.calendar,
            area_code="0534",
        )
        org = seed_org(svc)
        bring_case_to(svc, org, State.ASSIGNED)
        assert _anchor(svc).written
        pg = engine.dialect.name == "postgresql"
        assert _event_triggers(engine) >= (
            {"case_events_no_update", "case_events_no_truncate", "audit_anchors_no_update"}
            | {"audit_anchors_no_truncate"}
            if pg
            else {"case_events_no_update", "case_events_no_delete"}
            | {"audit_anchors_no_update", "audit_anchors_no_delete"}
        )
        engine.dispose()

        alembic_command.downgrade(alembic_config(migrated_url), "0007")

        assert "audit_anchors" not in inspect(engine).get_table_names()
        assert "row_digest" not in {c["name"] for c in inspect(engine).get_columns("case_events")}
        assert _event_triggers(engine) == (
            {"case_events_no_update"} if pg else {"case_events_no_update", "case_events_no_delete"}
        )
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM case_events"))
        engine.dispose()

        upgrade_database(migrated_url)  # the events written so far have no digest

        number = bring_case_to(svc, org, State.ACKNOWLEDGED)
        assert _problems(svc) == []
        assert _anchor(svc).seq == 1
        assert _events(svc, number)[-1].row_digest
    finally:
        engine.dispose()


# -- the key and the command line -------------------------------------------------------------


def test_the_audit_key_is_generated_once_into_the_instance_folder(tmp_path: Path):
    instance = tmp_path / "instance"
    key = audit_key({"audit_key": ""}, instance)
    assert len(key) == 64 and (instance / "audit_key").read_text().strip() == key
    assert (instance / "audit_key").stat().st_mode & 0o777 == 0o600
    assert audit_key({"audit_key": ""}, instance) == key
    assert audit_key({"audit_key": KEY}, instance) == KEY
    with pytest.raises(SettingsError, match="audit_key"):
        audit_key({"audit_key": "short"}, instance)


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hotline.db"
    for name in ("HOTLINE_CONFIG", "HOTLINE_AUDIT_KEY", "HOTLINE_PORT", "HOTLINE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    return path


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="hotline")


def _broken(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]


def test_the_commands_anchor_and_name_a_rewritten_history(cli_database: Path, tmp_path: Path):
    import sqlite3

    assert _run("demo").exit_code == 0
    result = _run("audit", "anchor")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("anchor 1: sealed ")
    assert (tmp_path / "instance" / "audit_key").exists()
    assert _run("audit", "anchor").output.startswith("nothing changed since anchor 1")

    conn = sqlite3.connect(cli_database)
    try:
        number, case_id = conn.execute(
            "SELECT number, id FROM cases WHERE last_event_seq >= 2 ORDER BY id LIMIT 1"
        ).fetchone()
        with conn:
            conn.execute("UPDATE cases SET state = 'closed' WHERE id = ?", (case_id,))
    finally:
        conn.close()

    result = _run("audit", "verify")
    assert result.exit_code == 1, result.output
    assert _broken(result) == [
        line for line in _broken(result) if line.startswith(f"BROKEN {number} row: ")
    ]
    assert len(_broken(result)) == 1
    refused = _run("audit", "anchor")
    assert refused.exit_code == 1 and "nothing sealed" in refused.stderr


def test_the_commands_refuse_a_short_audit_key(cli_database: Path, monkeypatch):
    monkeypatch.setenv("HOTLINE_AUDIT_KEY", "short")
    assert _run("db", "upgrade").exit_code == 0
    for command in (["audit", "verify"], ["audit", "anchor"]):
        result = _run(*command)
        assert result.exit_code == 1
        assert result.output.startswith("Error: settings: setting 'audit_key'"), result.output


def test_the_leading_scheduler_seals_the_history_and_names_tampering(app, app_org):
    """The scheduler's anchor job: seals when all is well, names problems and seals
    nothing when a case row was changed behind the product's back."""
    from dispatch.services.scheduler import audit_anchorer

    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.ASSIGNED)
    run = audit_anchorer(app)
    first = run()
    assert first is not None and "sealed" in first
    assert run() is None  # nothing changed since
    with svc.sessions() as session, session.begin():
        case = session.scalar(select(Case))
        session.execute(text("UPDATE cases SET state = 'closed' WHERE id = :id"), {"id": case.id})
    warning = run()
    assert warning is not None and "AUDIT" in warning
