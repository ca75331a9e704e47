"""What the pages show, worked out before a template sees it.

Templates only show: every decision about time limits (when a countdown turns
amber or red, whether a clock is paused), about who may do what and about
which states belong together is made here or in the views, from the same
rules the services and the deadline sweep use. Pure functions and frozen
dataclasses; no Flask, no database.

The countdown of a case (:class:`Due`) comes from its real stage clocks
(``case_deadlines`` rows) through :mod:`hotline.services.deadlines`: the warning
instant is the one the sweep acts on, pauses and approved extensions
included, never a share of the time worked out again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.domain.taxonomy import Priority, Role
from hotline.domain.workcalendar import WorkCalendar
from hotline.services.deadlines import StageClock, Step, decide, effective_due, met, shifted_warning

#: The countdown states a page can show.
OK, WARN, BREACH, PAUSED, NONE = "ok", "warn", "breach", "paused", "none"


def _ts(moment: datetime | None) -> float | None:
    """Epoch seconds, to the microsecond: rows due in the same second keep their order."""
    return moment.timestamp() if moment is not None else None


@dataclass(frozen=True)
class Due:
    """A countdown as shown: the due time, the sweep's warning instant and the state at ``now``.

    ``due_at`` and ``warn_at`` count a pause still running as ending when
    planned (as the sweep will settle it); ``paused_until`` is that end while
    the clock stands still. ``state`` is one of ``ok``, ``warn``, ``breach``,
    ``paused`` or ``none`` (no running time limit).
    """

    due_at: datetime | None
    warn_at: datetime | None
    state: str
    paused_until: datetime | None = None

    @property
    def due_ts(self) -> float | None:
        """The due instant in seconds since the epoch (for the live countdown)."""
        return _ts(self.due_at)

    @property
    def warn_ts(self) -> float | None:
        """The warning instant in seconds since the epoch (for the live countdown)."""
        return _ts(self.warn_at)

    @property
    def resume_ts(self) -> float | None:
        """When a paused countdown runs again, in seconds since the epoch."""
        return _ts(self.paused_until) if self.state == PAUSED else None

    @property
    def css(self) -> str:
        """The class the countdown starts with: ``warn`` or ``breach``, else none."""
        return self.state if self.state in (WARN, BREACH, PAUSED) else ""


NO_DUE = Due(None, None, NONE)


def _state(due_at: datetime, warn_at: datetime, warned: bool, now: datetime) -> str:
    if due_at <= now:
        return BREACH
    if warned or warn_at <= now:
        return WARN
    return OK


def is_paused(clock: StageClock, now: datetime) -> bool:
    """Whether ``clock`` stands still at ``now``: paused, and the sweep has nothing to resume."""
    if clock.ended_at is not None or clock.paused_since is None:
        return False
    decision = decide(clock, now)
    return decision is None or decision.step != Step.RESUME


def clock_due(clock: StageClock, now: datetime, calendar: WorkCalendar) -> Due:
    """The countdown of one stage clock at ``now``.

    A paused clock's due time and warning move as the sweep will move them
    when the pause ends as planned (:func:`hotline.services.deadlines.effective_due`,
    :func:`hotline.services.deadlines.shifted_warning`); a running clock's warning is
    the row's own ``warn_at``, which an approved extension has already
    recomputed. An ended clock has no countdown.
    """
    if clock.ended_at is not None:
        return NO_DUE
    if clock.paused_since is None:
        due, warn = clock.due_at, clock.warn_at
    else:
        due = effective_due(clock, calendar)
        warn = shifted_warning(clock, due)
    if is_paused(clock, now):
        return Due(due, warn, PAUSED, clock.paused_until)
    return Due(due, warn, _state(due, warn, clock.warned_at is not None, now))


def case_due(
    rows: Iterable[Any],
    now: datetime,
    calendar: WorkCalendar,
    *,
    fallback_due: datetime | None = None,
) -> Due:
    """The countdown of a case: that of its open clock due first (the case's ``due_at``).

    ``rows`` are the case's clocks (ORM rows, mappings of their columns or
    :class:`StageClock` views); ended ones are skipped. With no open clock,
    ``fallback_due`` (the case's stored due time, if any) is shown without a
    warning instant.
    """
    clocks = [row if isinstance(row, StageClock) else StageClock.of(row) for row in rows]
    views = [clock_due(clock, now, calendar) for clock in clocks if clock.ended_at is None]
    views = [view for view in views if view.due_at is not None]
    if views:
        return min(views, key=lambda view: view.due_at or now)
    if fallback_due is None:
        return NO_DUE
    return Due(fallback_due, None, BREACH if fallback_due <= now else OK)


@dataclass(frozen=True)
class CaseRow:
    """One case in a list or on the dispatch board, with its countdown."""

    case: Any
    due: Due

    @property
    def urgent(self) -> bool:
        """Whether the case is flagged as an emergency (紧急)."""
        return str(self.case.priority) == Priority.EMERGENCY


def case_rows(
    cases: Sequence[Any],
    clocks: Mapping[int, Sequence[Any]],
    now: datetime,
    calendar: WorkCalendar,
) -> list[CaseRow]:
    """``cases`` with their countdowns; ``clocks`` maps a case id to its open clocks."""
    return [
        CaseRow(case, case_due(clocks.get(case.id, ()), now, calendar, fallback_due=case.due_at))
        for case in cases
    ]


@dataclass(frozen=True)
class ClockRow:
    """One stage clock in the case page's table.

    ``outcome``: ``met`` or ``missed`` once ended, ``overdue`` while open
    past its due time, ``running`` otherwise.
    """

    stage: str
    limit_text: str
    started_at: datetime
    due_at: datetime
    ended_at: datetime | None
    paused: bool
    outcome: str
    escalation_level: int


def clock_rows(rows: Iterable[Any], now: datetime, calendar: WorkCalendar) -> list[ClockRow]:
    """The case page's table of stage clocks."""
    out = []
    for row in rows:
        clock = StageClock.of(row)
        result = met(clock)
        if result is not None:
            outcome = "met" if result else "missed"
        else:
            outcome = "overdue" if clock_due(clock, now, calendar).state == BREACH else "running"
        out.append(
            ClockRow(
                stage=str(clock.stage),
                limit_text=row.limit_text,
                started_at=clock.started_at,
                due_at=clock.due_at,
                ended_at=clock.ended_at,
                paused=is_paused(clock, now),
                outcome=outcome,
                escalation_level=clock.escalation_level,
            )
        )
    return out


# -- navigation ----------------------------------------------------------------------

_STAFF = (Role.OPERATOR, Role.SUPERVISOR)
_DISPATCH = (Role.DISPATCHER, Role.SUPERVISOR)

#: The top bar's links, in order, and the roles that see each.
NAV: tuple[tuple[str, tuple[Role, ...]], ...] = (
    ("console.home", _STAFF),
    ("pages.operator_home", _STAFF),
    ("console.call_log", (Role.SUPERVISOR,)),
    ("pages.dispatch_home", _DISPATCH),
    ("duty.roster", _DISPATCH),
    ("duty.outages_page", (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR)),
    ("pages.crew_home", (Role.CREW,)),
    ("pages.supervisor_home", (Role.SUPERVISOR,)),
    ("pages.admin_staff", (Role.ADMIN,)),
)


def nav_endpoints(role: str | None) -> list[str]:
    """The endpoints of the top bar's links for someone in ``role`` (none when unknown)."""
    try:
        who = Role(role) if role else None
    except ValueError:
        return []
    if who is None:
        return []
    return [endpoint for endpoint, roles in NAV if who in roles]
