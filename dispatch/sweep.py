"""The deadline sweep (时限巡检): warnings before a limit runs out, escalation after.

One function, :func:`sweep`, run every few seconds by ``dispatch.scheduler``.
It finds the stage clocks whose next check has come through a partial index
that holds only live work (``ix_case_deadlines_next_check``), so its cost
follows the cases due, not the history. For each such case it:

* restarts clocks whose pause has ended (the visit the customer chose has come);
* warns at the configured share of the time (临期预警), telling the handler
  and the owner (the first responder, G7);
* escalates a breach one tier (超时升级): handler, then dispatch center, then
  supervisor; a sweep that comes late raises the case straight to the tier it
  should have reached, once, and records how late it was.

Exactly once: each step is claimed with a conditional UPDATE whose row count
decides the winner, in the transaction that holds the case row and appends
the case event. A second sweep at the same moment finds nothing left to
claim; the event chain and the case's version move once per step. Browsers
are told after the commit. Then the dispatch center's roster is checked for
the current hour (P1, ``dispatch.duty``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement, Executable

from dispatch import duty
from hotline.audit import append_event
from hotline.deadlines import (
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
from hotline.models import Case, CaseDeadline
from hotline.services import Services

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500

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
    downtime: each step happens exactly once. A database error on one case is
    logged and that case is left for the next sweep; an error reaching the
    database at all is raised.
    """
    now = now or svc.now()
    report = SweepReport(now.astimezone(svc.timezone))
    seen: set[int] = set()
    while True:
        with svc.sessions() as session:
            found = list(session.scalars(due_clocks(now, batch_size)))
        fresh = [case_id for case_id in dict.fromkeys(found) if case_id not in seen]
        for case_id in fresh:
            seen.add(case_id)
            report.cases += 1
            try:
                payloads = _sweep_case(svc, case_id, now, report)
            except SQLAlchemyError:
                log.exception("deadline sweep: case id %s failed; retried next sweep", case_id)
                report.failed += 1
                continue
            for payload in payloads:
                _publish(svc, payload)
        if len(found) < batch_size or not fresh:
            break
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
    if svc.publish is None:
        return
    try:
        svc.publish(payload)
    except Exception:  # a browser push must never undo or stop the sweep's recorded work
        log.exception("deadline sweep: could not publish %s", payload.get("action"))


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


def _sweep_case(svc: Services, case_id: int, now: datetime, report: SweepReport) -> list[dict]:
    """Take every step due on one case, in one transaction holding the case row."""
    policy = cast(StagePolicy, svc.policy)
    calendar = policy.calendar
    recorded: list[str] = []
    with svc.sessions() as session, session.begin(), session.no_autoflush:
        case = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
        if case is None:
            return []
        rows = (
            session.execute(
                select(_deadlines)
                .where(_deadlines.c.case_id == case_id, _deadlines.c.ended_at.is_(None))
                .order_by(_deadlines.c.id)
            )
            .mappings()
            .all()
        )
        clocks = {row["id"]: StageClock.of(dict(row)) for row in rows}
        stored_next = {row["id"]: row["next_check_at"] for row in rows}

        # 1. Pauses whose end has come: the clocks restart at the planned moment,
        #    however late the sweep runs, so downtime never lengthens a limit.
        restarted, pause = [], None
        for row_id, clock in clocks.items():
            decision = decide(clock, now)
            if decision is None or decision.step is not Step.RESUME:
                continue
            values = resumed(clock, decision.at, calendar)
            if not _claim(session, row_id, values, _deadlines.c.paused_since == clock.paused_since):
                report.lost += 1
                continue
            assert clock.paused_since is not None
            pause = (clock.paused_since, decision.at)
            clocks[row_id] = _settled(clock, values)
            stored_next[row_id] = values["next_check_at"]
            restarted.append(clocks[row_id])
        if restarted and pause is not None:
            close_pause(policy, case, clocks.values(), pause)
            refresh_case(case, clocks.values(), calendar)
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
            report.resumed += len(restarted)
            recorded.append("clock_resumed")

        # 2. Warnings and escalations, each claimed once per clock.
        for row_id, clock in clocks.items():
            decision = decide(clock, now)
            if decision is None:
                expected = next_check(clock)
                if stored_next[row_id] != expected:
                    # keep the index honest so a row never stays due with nothing to do
                    _claim(session, row_id, {"next_check_at": expected})
                continue
            if decision.step is Step.WARN:
                values = warned(clock, now)
                won = _claim(
                    session,
                    row_id,
                    values,
                    _deadlines.c.warned_at.is_(None),
                    _deadlines.c.escalation_level == int(Tier.HANDLER),
                    _deadlines.c.paused_since.is_(None),
                )
            else:
                values = escalated(clock, decision, now)
                won = _claim(
                    session,
                    row_id,
                    values,
                    _deadlines.c.escalation_level == clock.escalation_level,
                    _deadlines.c.paused_since.is_(None),
                )
            if not won:
                report.lost += 1
                continue
            clocks[row_id] = _settled(clock, values)
            refresh_case(case, clocks.values(), calendar)
            action = _record(session, case, clock, decision, now)
            recorded.append(action)
            if decision.step is Step.WARN:
                report.warnings += 1
            else:
                report.escalations += 1
    return [_payload(case, action) for action in recorded]


def _record(
    session: Session, case: Case, clock: StageClock, decision: Decision, now: datetime
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
        case,
        action=action,
        from_state=case.state,
        to_state=case.state,
        actor_id=None,
        at=now,
        data=data,
    )
    return action


def _payload(case: Case, action: str) -> dict[str, Any]:
    """What browsers are told (the rooms follow ``hotline.realtime.audience``)."""
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
