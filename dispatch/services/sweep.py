"""The deadline sweep (时限巡检): warnings before a limit runs out, escalation after.

(Kept as one module of about 650 lines on purpose: the exactly-once guarantee
lives in how the batch claims its rows, records its events and writes the
case heads in one transaction; split across files, that reasoning could not
be read in one place.)

One function, :func:`sweep`, run every few seconds by ``dispatch.services.scheduler``.
It finds the stage clocks whose next check has come through a partial index
that holds only live work (``ix_case_deadlines_next_check``), so its cost
follows the cases due, not the history. For each such case it:

* restarts clocks whose pause has ended (the visit the customer chose has come);
* warns at the configured share of the time (临期预警), telling the handler
  and the owner (the first responder, G7);
* escalates a breach one tier (超时升级): handler, then dispatch center, then
  supervisor; a sweep that comes late raises the case straight to the tier it
  should have reached, once, and records how late it was.

In batches, so a backlog (thousands of cases due at once after downtime or a
main break) is worked off in seconds: up to ``batch_size`` due cases per
transaction. The batch's case rows are locked with one ``SELECT ... FOR
UPDATE SKIP LOCKED`` (on SQLite the transaction holds the database's write
lock), their open clocks are read with one query, warnings and escalations
are claimed with one conditional ``UPDATE ... RETURNING`` per kind of step (a
clock restarting after a pause, rarer, with one of its own), the case events
are appended and the cases' event-chain heads and versions written in one go,
and the batch commits once. Browsers are told after each batch's commit.

Exactly once: a step is claimed with a conditional UPDATE (the clock is still
open and as the sweep read it) whose returned rows decide the winner, in the
transaction that holds the case row and appends the case event. A case that
another transaction holds (a user's change, another sweep's batch) is skipped
rather than waited for; when the batches are done the sweep comes back to
those still due and waits for each. The event chain moves once per step and
the case's version once per case and transaction.

Failures: a batch that fails (a database error, or any other) is rolled back
and its cases are tried again one by one, each in its own transaction; a case
that fails on its own is logged, counted and left for the next sweep. The
report counts only committed work; a push to browsers that fails is logged
and never undoes or stops the sweep. Then the dispatch center's roster is
checked for the current hour (P1, ``dispatch.services.duty``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.expression import ClauseElement, Executable

from dispatch.services import duty
from hotline.db import run_guarded
from hotline.models import Case, CaseDeadline
from hotline.services import Services
from hotline.services.audit import append_event
from hotline.services.deadlines import (
    Decision,
    StageClock,
    StagePolicy,
    Step,
    Tier,
    close_pause,
    decide,
    escalated,
    next_check,
    refresh_case,
    resumed,
    warned,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
"""Due cases per transaction (and per read of the due clocks)."""

HELD_ELSEWHERE_LIMIT = 2_000
"""A sweep that has found this many due cases held by other transactions stops
taking new batches: another sweep is working through the same backlog, and
the rest is left to it (or to the next sweep)."""

_cases = Case.__table__
_deadlines = CaseDeadline.__table__


@dataclass
class SweepReport:
    """What one sweep did; ``str()`` is the one line the scheduler prints."""

    at: datetime
    cases: int = 0
    warnings: int = 0
    escalations: int = 0
    resumed: int = 0
    lost: int = 0  # steps another sweep claimed first
    failed: int = 0  # cases left for the next sweep after a database error
    duty_alarm: bool = False

    @property
    def acted(self) -> bool:
        """Whether anything was recorded (or went wrong)."""
        return bool(
            self.warnings or self.escalations or self.resumed or self.failed or self.duty_alarm
        )

    def __str__(self) -> str:
        parts = [
            f"{self.warnings} warning(s)",
            f"{self.escalations} escalation(s)",
            f"{self.resumed} clock(s) resumed",
        ]
        if self.lost:
            parts.append(f"{self.lost} already taken by another sweep")
        if self.failed:
            parts.append(f"{self.failed} case(s) failed, retried next sweep")
        if self.duty_alarm:
            parts.append("ALARM: no dispatcher on duty this hour (P1)")
        return f"sweep at {self.at.isoformat(timespec='seconds')}: {self.cases} case(s), " + (
            ", ".join(parts)
        )


def due_clocks(now: datetime, limit: int) -> Select[tuple[int]]:
    """The query the sweep starts from: cases with a clock to look at by ``now``.

    Soonest first, on the partial index of live clocks; the benchmark prints
    its plan.
    """
    return (
        select(CaseDeadline.case_id)
        .where(CaseDeadline.next_check_at.is_not(None), CaseDeadline.next_check_at <= now)
        .order_by(CaseDeadline.next_check_at)
        .limit(limit)
    )


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` of a query, on PostgreSQL (optionally ``ANALYZE``) or SQLite
    (``EXPLAIN QUERY PLAN``); run it with ``session.execute``."""

    inherit_cache = False

    def __init__(self, statement: Select[Any], *, analyze: bool = False) -> None:
        self.statement = statement
        self.analyze = analyze


@compiles(Explain, "postgresql")
def _explain_postgresql(element: Explain, compiler: Any, **kw: Any) -> str:
    options = "(ANALYZE, BUFFERS) " if element.analyze else ""
    return f"EXPLAIN {options}" + compiler.process(element.statement, **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)


def query_plan(session: Session, now: datetime, *, analyze: bool = False) -> list[str]:
    """The database's plan for the sweep's starting query (one line per plan row)."""
    rows = session.execute(Explain(due_clocks(now, DEFAULT_BATCH), analyze=analyze)).all()
    return [str(row[-1]) for row in rows]


def sweep(
    svc: Services,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH,
    check_duty: bool = True,
) -> SweepReport:
    """Warn, escalate and restart every stage clock due by ``now`` (default: the clock).

    Safe to run in several threads or processes at once and after any
    downtime: each step happens exactly once. A database error in a batch is
    logged and its cases are tried one by one; a case that still fails is left
    for the next sweep. An error reaching the database at all is raised (work
    committed before it stays).
    """
    now = now or svc.now()
    report = SweepReport(now.astimezone(svc.timezone))
    _Sweeper(svc, now, max(1, batch_size), report).run()
    if check_duty:
        alarm = duty.check_duty(svc, now)
        if alarm is not None:
            report.duty_alarm = True
            _publish(
                svc,
                {
                    "case": None,
                    "action": "duty_alarm",
                    "hour_starts_at": alarm.hour_starts_at.isoformat(),
                    "gaps": alarm.gaps,
                },
            )
    return report


def _publish(svc: Services, payload: Mapping[str, Any]) -> None:
    """Tell browsers; a failing push is logged and counted, never raised: the
    sweep's work is committed already."""
    if svc.publish is not None:
        run_guarded("live update", partial(svc.publish, payload))


# -- one sweep: batches, then the cases held elsewhere ----------------------------------------


@dataclass
class _Head:
    """The columns of a case the rules read and the sweep writes, read without the ORM.

    ``refresh_case``, ``close_pause`` (``hotline.services.deadlines``) and
    ``append_event`` (``hotline.services.audit``) only read and set these attributes,
    so they work on it as on a :class:`Case`; the sweep writes the changed
    ones back for the whole batch at once (:func:`_write_heads`).
    """

    id: int
    number: str
    state: str
    category: str
    priority: str
    pipe_size_dn: int | None
    grade: int | None
    zone: str
    handler_department_id: int | None
    handler_staff_id: int | None
    first_responder_id: int | None
    stage: str | None
    stage_started_at: datetime | None
    due_at: datetime | None
    promised_at: datetime | None
    escalation_level: int
    last_event_seq: int
    last_event_hash: str
    version: int


_HEAD_COLUMNS = [_cases.c[f.name] for f in fields(_Head)]
#: What the sweep may change on a case (besides the version).
_WRITTEN = (
    "stage",
    "stage_started_at",
    "due_at",
    "promised_at",
    "escalation_level",
    "last_event_seq",
    "last_event_hash",
)
_WRITE_HEAD = (
    update(_cases)
    .where(_cases.c.id == bindparam("case_id"), _cases.c.version == bindparam("old_version"))
    .values(
        {
            **{name: bindparam(f"new_{name}", type_=_cases.c[name].type) for name in _WRITTEN},
            "version": bindparam("new_version"),
        }
    )
)
_SET_NEXT_CHECK = (
    update(_deadlines)
    .where(_deadlines.c.id == bindparam("row_id"), _deadlines.c.ended_at.is_(None))
    .values(next_check_at=bindparam("next_at", type_=_deadlines.c.next_check_at.type))
)


@dataclass
class _Work:
    """One locked case of a batch: its open clocks and what the sweep did to it."""

    head: _Head
    clocks: dict[int, StageClock] = field(default_factory=dict)
    stored_next: dict[int, datetime | None] = field(default_factory=dict)
    steps: list[tuple[int, StageClock, Decision]] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    """One transaction's cases and what it recorded (counted once it has committed)."""

    locked: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # due, but held by another transaction
    warnings: int = 0
    escalations: int = 0
    resumed: int = 0
    lost: int = 0
    contested: set[int] = field(default_factory=set)  # a step was taken by another sweep
    payloads: list[dict[str, Any]] = field(default_factory=list)


class _Sweeper:
    """Works off everything due by ``now``: batches first, then the cases that were
    held elsewhere when their batch came."""

    def __init__(self, svc: Services, now: datetime, batch_size: int, report: SweepReport):
        self.svc, self.now, self.batch_size, self.report = svc, now, batch_size, report
        self.looked: set[int] = set()  # cases this sweep has locked (or tried to)
        self.set_aside: set[int] = set()  # failed, contested or back again: next sweep
        self.held: set[int] = set()  # due, held by another transaction when seen

    def run(self) -> None:
        while len(self.held) < HELD_ELSEWHERE_LIMIT:
            batch = self.take(exclude=self.set_aside | self.held)
            if not batch.locked and not batch.held:
                break  # nothing more due
            self.held.update(batch.held)
        for case_id in self.still_due(self.held - self.looked):
            self.take_alone(case_id)
        self.report.cases = len(self.looked)

    def take(self, *, exclude: set[int]) -> _Batch:
        """The next batch of due cases that no other transaction holds."""
        batch = _Batch()
        try:
            _run_batch(self.svc, self.now, batch, limit=self.batch_size, exclude=exclude)
        except Exception:
            if not batch.locked:
                raise  # the database did not even hand out the batch
            log.exception(
                "deadline sweep: a batch of %d case(s) failed; trying them one by one",
                len(batch.locked),
            )
            for case_id in batch.locked:
                self.take_alone(case_id)
            return batch
        self.settle(batch)
        return batch

    def take_alone(self, case_id: int) -> None:
        """One case in its own transaction, waiting for whoever holds it."""
        batch = _Batch()
        try:
            _run_batch(self.svc, self.now, batch, limit=self.batch_size, only=[case_id], wait=True)
        except Exception:
            log.exception("deadline sweep: case id %s failed; retried next sweep", case_id)
            self.report.failed += 1
            self.looked.add(case_id)
            self.set_aside.add(case_id)
            return
        self.settle(batch)

    def still_due(self, case_ids: Iterable[int]) -> list[int]:
        wanted = sorted(case_ids)
        due: list[int] = []
        for start in range(0, len(wanted), self.batch_size):
            chunk = wanted[start : start + self.batch_size]
            with self.svc.sessions() as session:
                query = due_clocks(self.now, len(chunk) * 4).where(
                    _among(CaseDeadline.case_id, chunk)
                )
                due.extend(dict.fromkeys(session.scalars(query)))
        return due

    def settle(self, batch: _Batch) -> None:
        """Count a committed batch and tell browsers about it."""
        for case_id in batch.locked:
            if case_id in self.looked:
                self.set_aside.add(case_id)  # due again after its own batch: leave it be
            self.looked.add(case_id)
        self.set_aside |= batch.contested
        self.report.warnings += batch.warnings
        self.report.escalations += batch.escalations
        self.report.resumed += batch.resumed
        self.report.lost += batch.lost
        for payload in batch.payloads:
            _publish(self.svc, payload)


# -- one batch, one transaction ---------------------------------------------------------------


def _run_batch(
    svc: Services,
    now: datetime,
    batch: _Batch,
    *,
    limit: int,
    exclude: Iterable[int] = (),
    only: list[int] | None = None,
    wait: bool = False,
) -> None:
    """Lock up to ``limit`` due cases and take every step due on them, in one
    transaction. ``batch.locked`` is filled as soon as the cases are locked, so
    a caller whose batch failed knows which cases to try again."""
    policy = cast(StagePolicy, svc.policy)
    calendar = policy.calendar
    with svc.sessions() as session, session.begin(), session.no_autoflush:
        due = due_clocks(now, limit)
        if only is not None:
            due = due.where(_among(CaseDeadline.case_id, only))
        skip = sorted(exclude)
        if skip:
            due = due.where(~_among(CaseDeadline.case_id, skip))
        wanted = list(dict.fromkeys(session.scalars(due)))
        if not wanted:
            return
        heads = {
            row.id: _Head(**row._mapping)
            for row in session.execute(
                select(*_HEAD_COLUMNS)
                .where(_among(_cases.c.id, wanted))
                .order_by(_cases.c.id)
                .with_for_update(skip_locked=not wait)
            )
        }
        batch.locked = list(heads)
        batch.held = [case_id for case_id in wanted if case_id not in heads]
        if not heads:
            return
        work = {case_id: _Work(head) for case_id, head in heads.items()}
        for row in session.execute(
            select(_deadlines)
            .where(_among(_deadlines.c.case_id, batch.locked), _deadlines.c.ended_at.is_(None))
            .order_by(_deadlines.c.case_id, _deadlines.c.id)
        ).mappings():
            item = work[row["case_id"]]
            item.clocks[row["id"]] = StageClock.of(dict(row))
            item.stored_next[row["id"]] = row["next_check_at"]

        # 1. Pauses whose end has come: the clocks restart at the planned moment,
        #    however late the sweep runs, so downtime never lengthens a limit.
        for item in work.values():
            _resume(session, policy, item, now, batch)

        # 2. Warnings and escalations: one claim per kind of step for the whole batch.
        next_checks: list[dict[str, Any]] = []
        groups: dict[tuple[Step, int, int], list[int]] = {}
        for item in work.values():
            for row_id, clock in item.clocks.items():
                decision = decide(clock, now)
                if decision is None:
                    expected = next_check(clock)
                    if item.stored_next[row_id] != expected:
                        # keep the index honest so a row never stays due with nothing to do
                        next_checks.append({"row_id": row_id, "next_at": expected})
                    continue
                if decision.step is Step.RESUME:
                    continue  # its restart was taken by another sweep (counted above)
                item.steps.append((row_id, clock, decision))
                key = (decision.step, clock.escalation_level, decision.to_level)
                groups.setdefault(key, []).append(row_id)
        won: set[int] = set()
        for (step, level, to_level), row_ids in groups.items():
            won |= _claim_all(session, row_ids, *_claim_of(step, level, to_level, now))

        # 3. The events, case by case, in clock order.
        for item in work.values():
            for row_id, clock, decision in item.steps:
                if row_id not in won:
                    batch.lost += 1
                    batch.contested.add(item.head.id)
                    continue
                if decision.step is Step.WARN:
                    values = warned(clock, now)
                    batch.warnings += 1
                else:
                    values = escalated(clock, decision, now)
                    batch.escalations += 1
                next_checks.append({"row_id": row_id, "next_at": values["next_check_at"]})
                item.clocks[row_id] = _settled(clock, values)
                refresh_case(_as_case(item.head), item.clocks.values(), calendar)
                item.recorded.append(_record(session, item.head, clock, decision, now))

        if next_checks:
            session.connection().execute(_SET_NEXT_CHECK, next_checks)
        _write_heads(session, [item.head for item in work.values() if item.recorded])
        session.flush()  # the case events
        batch.payloads = [
            _payload(item.head, action) for item in work.values() for action in item.recorded
        ]


def _as_case(head: _Head) -> Case:
    """``head`` where the rules expect a case (they use only its attributes)."""
    return cast(Case, head)


def _among(column: Any, ids: Iterable[int]) -> Any:
    """``column IN (...)`` with the ids (whole numbers) written into the statement,
    so the driver does not bind and parse hundreds of parameters per batch."""
    return column.in_(
        bindparam(
            f"{column.key}_list", list(ids), expanding=True, literal_execute=True, unique=True
        )
    )


def _claim_of(
    step: Step, level: int, to_level: int, now: datetime
) -> tuple[dict[str, Any], list[Any]]:
    """The values a claim writes and the conditions that make it win, for one kind of step."""
    if step is Step.WARN:
        values = {"warned_at": now}
        conditions = [
            _deadlines.c.warned_at.is_(None),
            _deadlines.c.escalation_level == int(Tier.HANDLER),
            _deadlines.c.paused_since.is_(None),
        ]
    else:
        values = {"escalation_level": to_level, "escalated_at": now}
        conditions = [
            _deadlines.c.escalation_level == level,
            _deadlines.c.paused_since.is_(None),
        ]
    return values, conditions


def _claim_all(
    session: Session, row_ids: list[int], values: Mapping[str, Any], conditions: list[Any]
) -> set[int]:
    """Write ``values`` to every clock of ``row_ids`` still open and as expected;
    returns the ids this transaction won."""
    if not session.get_bind().dialect.update_returning:
        return {row_id for row_id in row_ids if _claim(session, row_id, values, *conditions)}
    result = session.execute(
        update(_deadlines)
        .where(_among(_deadlines.c.id, row_ids), _deadlines.c.ended_at.is_(None), *conditions)
        .values(**values)
        .returning(_deadlines.c.id)
    )
    return set(result.scalars())


def _claim(session: Session, row_id: int, values: Mapping[str, Any], *conditions: Any) -> bool:
    """Write ``values`` to the clock if it is still open and as expected; True if this won."""
    result = session.execute(
        update(_deadlines)
        .where(_deadlines.c.id == row_id, _deadlines.c.ended_at.is_(None), *conditions)
        .values(**values)
    )
    return cast(int, getattr(result, "rowcount", 0)) == 1


def _settled(clock: StageClock, values: Mapping[str, Any]) -> StageClock:
    return replace(clock, **{k: v for k, v in values.items() if k != "next_check_at"})


def _resume(
    session: Session, policy: StagePolicy, item: _Work, now: datetime, batch: _Batch
) -> None:
    """Restart the case's clocks whose pause has ended; one event for the case."""
    restarted, pause = [], None
    for row_id, clock in item.clocks.items():
        decision = decide(clock, now)
        if decision is None or decision.step is not Step.RESUME:
            continue
        values = resumed(clock, decision.at, policy.calendar)
        if not _claim(session, row_id, values, _deadlines.c.paused_since == clock.paused_since):
            batch.lost += 1
            batch.contested.add(item.head.id)
            continue
        assert clock.paused_since is not None
        pause = (clock.paused_since, decision.at)
        item.clocks[row_id] = _settled(clock, values)
        item.stored_next[row_id] = values["next_check_at"]
        restarted.append(item.clocks[row_id])
    if not restarted or pause is None:
        return
    case = _as_case(item.head)
    close_pause(policy, case, item.clocks.values(), pause)
    refresh_case(case, item.clocks.values(), policy.calendar)
    append_event(
        session,
        case,
        action="clock_resumed",
        from_state=case.state,
        to_state=case.state,
        actor_id=None,
        at=now,
        data={
            "stages": [str(clock.stage) for clock in restarted],
            "paused_from": pause[0],
            "paused_until": pause[1],
            "due_at": case.due_at,
            "promised_at": case.promised_at,
        },
    )
    batch.resumed += len(restarted)
    item.recorded.append("clock_resumed")


def _write_heads(session: Session, heads: list[_Head]) -> None:
    """Write the changed cases back at once, each moving its version by one.

    The rows are locked by this transaction, so every version still matches;
    if one did not, the batch is rolled back rather than saved half.
    """
    if not heads:
        return
    params = []
    for head in heads:
        params.append(
            {
                "case_id": head.id,
                "old_version": head.version,
                "new_version": head.version + 1,
                **{f"new_{name}": getattr(head, name) for name in _WRITTEN},
            }
        )
        head.version += 1
    result = session.connection().execute(_WRITE_HEAD, params)
    if result.rowcount != len(params):
        raise StaleDataError(
            f"deadline sweep: {len(params)} case(s) to update, {result.rowcount} matched"
        )


def _record(
    session: Session, case: _Head, clock: StageClock, decision: Decision, now: datetime
) -> str:
    """Append the case event for a warning or an escalation; returns its action name."""
    common = {"stage": str(clock.stage), "clock": str(clock.clock), "due_at": clock.due_at}
    if decision.step is Step.WARN:
        action = "deadline_warning"
        data = {
            **common,
            "warn_at": clock.warn_at,
            "seconds_left": int((clock.due_at - now) / timedelta(seconds=1)),
            "told": {
                "handler_department_id": case.handler_department_id,
                "handler_staff_id": case.handler_staff_id,
                "first_responder_id": case.first_responder_id,
            },
        }
    else:
        action = "deadline_escalated"
        data = {
            **common,
            "from_level": clock.escalation_level,
            "to_level": decision.to_level,
            "tier": Tier(decision.to_level).name.lower(),
            "escalate_at": decision.at,
            "overdue_seconds": int((now - clock.due_at) / timedelta(seconds=1)),
            "late_seconds": int((now - decision.at) / timedelta(seconds=1)),
            "tiers_skipped": decision.tiers_skipped,
            "warning_skipped": decision.warning_skipped,
        }
    append_event(
        session,
        _as_case(case),
        action=action,
        from_state=case.state,
        to_state=case.state,
        actor_id=None,
        at=now,
        data=data,
    )
    return action


def _payload(case: _Head, action: str) -> dict[str, Any]:
    """What browsers are told (the rooms follow ``hotline.web.realtime.audience``)."""
    return {
        "case": case.number,
        "action": action,
        "state": str(case.state),
        "category": str(case.category),
        "stage": case.stage,
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "escalation_level": case.escalation_level,
        "handler_department_id": case.handler_department_id,
        "first_responder_id": case.first_responder_id,
        "version": case.version,
    }
