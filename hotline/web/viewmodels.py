"""What the pages show, worked out before a template sees it.

Templates only show: every decision about time limits (when a countdown turns
amber or red, whether a clock is paused), about who may do what
(:mod:`hotline.domain.actions`), about paging and about which states belong
together is made here, from the same rules the services and the deadline
sweep use. Frozen dataclasses and functions without Flask or the database: the
rows they show (a list's open clocks, :func:`hotline.services.queries.open_clocks`)
are read by the services and handed in.

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

from hotline.domain import actions as case_actions
from hotline.domain import privacy
from hotline.domain.lifecycle import Action, State
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

    @property
    def address(self) -> str:
        """The address as every list shows it (W7): the street or community, masked."""
        return privacy.mask_address(self.case.address)


def with_countdowns(
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
class CaseListing:
    """One page of a list of cases: ``cases`` as listed, ``items`` the rows shown."""

    cases: Sequence[Any]
    items: Sequence[CaseRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one)."""
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def paged(self) -> bool:
        """Whether the list runs over more than one page (the pager shows)."""
        return self.pages > 1

    @property
    def more(self) -> bool:
        """Whether cases beyond those shown exist (the board says so)."""
        return self.total > len(self.items)


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


# -- the case page -------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One input of an action's form: the command's field, how it is asked, whether it must be."""

    name: str
    widget: str
    required: bool


@dataclass(frozen=True)
class ActionForm:
    """One action the person may take, with the inputs its rule needs."""

    action: Action
    fields: tuple[FormField, ...]


#: How each input is asked for, by field name (``staff_id`` depends on the action).
_WIDGETS = {
    "reason": "reason",
    "department_id": "department",
    "target_department_id": "department",
    "outcome": "outcome",
    "attitude": "score",
    "quality": "score",
    "timeliness": "score",
    "result": "score",
    "customer_rating": "rating",
    "no_rating_reason": "no_rating_reason",
    "extra_working_days": "extra_days",
    "parent_case_number": "case_number",
}
#: Inputs that must be filled in whatever the action (the text ones follow the rule).
_ALWAYS_REQUIRED = frozenset(
    {"reason", "department_id", "target_department_id", "extra_working_days", "parent_case_number"}
)


def form_field(action: Action, name: str) -> FormField:
    """How ``action``'s form asks for ``name``."""
    if name == "staff_id":
        # 派工 and a direct assignment name a crew member; so does a change of owner.
        if action in (Action.ASSIGN_DIRECT, Action.ASSIGN_WORKER):
            return FormField(name, "crew", True)
        return FormField(name, "person", True)
    if name in case_actions.TEXT_INPUTS:
        return FormField(name, "text", name in case_actions.required_text(action))
    return FormField(name, _WIDGETS.get(name, "text"), name in _ALWAYS_REQUIRED)


def action_forms(role: Role, state: State) -> list[ActionForm]:
    """The forms of the actions ``role`` may take on a case in ``state``."""
    return [
        ActionForm(
            action, tuple(form_field(action, name) for name in case_actions.inputs_of(action))
        )
        for action in case_actions.available_actions(role, state)
    ]


@dataclass(frozen=True)
class VisitRow:
    """A visit booked on the case, and whether this person may still change it."""

    visit: Any
    may_change: bool


@dataclass(frozen=True)
class CaseOffer:
    """What the case page offers this person: action forms, visits, the shut-off report."""

    actions: tuple[ActionForm, ...]
    visits: tuple[VisitRow, ...]
    may_book: bool
    may_shut_off: bool

    @property
    def shows_visits(self) -> bool:
        """Whether the visits section shows: visits on file, or a form to book one."""
        return bool(self.visits) or self.may_book


def case_offer(role: Role, state: State, visits: Iterable[Any], clocks: Iterable[Any]) -> CaseOffer:
    """What the case page offers ``role`` on a case in ``state`` with these visits and clocks."""
    open_stages = [str(clock.stage) for clock in clocks if clock.ended_at is None]
    return CaseOffer(
        actions=tuple(action_forms(role, state)),
        visits=tuple(
            VisitRow(visit, case_actions.may_change_visit(role, state, visit.status))
            for visit in visits
        ),
        may_book=case_actions.may_book(role, state),
        may_shut_off=case_actions.may_shut_off(role, open_stages),
    )


# -- promises to tell the caller (G7) -------------------------------------------------


@dataclass(frozen=True)
class CallerTask:
    """A "tell the caller" task (告知来电人) as shown: the times, and whether I may close it."""

    id: int
    case_number: str
    cause: str
    old_promised_at: datetime | None
    new_promised_at: datetime | None
    visit_starts_at: datetime | None
    created_at: datetime
    done_at: datetime | None
    done_by_id: int | None
    note: str
    may_mark_done: bool


def caller_tasks(rows: Iterable[Any], me_id: int) -> list[CallerTask]:
    """``promise_updates`` rows as shown to ``me_id``: only the case's first responder
    (the task's owner, or the case's owner now) marks one done (G7)."""
    return [
        CallerTask(
            id=row.id,
            case_number=row.case.number,
            cause=row.cause,
            old_promised_at=row.old_promised_at,
            new_promised_at=row.new_promised_at,
            visit_starts_at=row.visit_starts_at,
            created_at=row.created_at,
            done_at=row.done_at,
            done_by_id=row.done_by_id,
            note=row.note,
            may_mark_done=row.done_at is None
            and me_id in (row.owner_id, row.case.first_responder_id),
        )
        for row in rows
    ]


# -- navigation ----------------------------------------------------------------------

_STAFF = (Role.OPERATOR, Role.SUPERVISOR)
_DISPATCH = (Role.DISPATCHER, Role.SUPERVISOR)

#: The top bar's links, in order, and the roles that see each.
NAV: tuple[tuple[str, tuple[Role, ...]], ...] = (
    ("console.home", _STAFF),
    ("homes.operator_home", _STAFF),
    ("outbound.queue_page", _STAFF),
    ("console.call_log", (Role.SUPERVISOR,)),
    ("flags.page", (Role.SUPERVISOR,)),
    ("quality.sample", (Role.SUPERVISOR,)),
    ("board.page", _DISPATCH),
    ("duty.roster", _DISPATCH),
    ("supervision.page", _DISPATCH),
    ("gov12345.page", _DISPATCH),
    ("outages.page", (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR)),
    ("knowledge.page", (Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR)),
    ("crew.home", (Role.CREW,)),
    ("homes.supervisor_home", (Role.SUPERVISOR,)),
    ("figures.page", (Role.SUPERVISOR, Role.ADMIN)),
    ("admin.staff", (Role.ADMIN,)),
    ("open311_admin.clients", (Role.ADMIN,)),
    ("audit_page.page", (Role.SUPERVISOR, Role.ADMIN)),
    ("access_log.page", (Role.SUPERVISOR,)),  # W7: who saw personal data whole
)
#: Element ids of top-bar links, by endpoint.
_NAV_IDS = {"console.home": "nav-console"}


def nav_endpoints(role: str | None) -> list[str]:
    """The endpoints of the top bar's links for someone in ``role`` (none when unknown)."""
    try:
        who = Role(role) if role else None
    except ValueError:
        return []
    if who is None:
        return []
    return [endpoint for endpoint, roles in NAV if who in roles]


@dataclass(frozen=True)
class NavLink:
    """One link of the top bar: where it goes, what it says, its element id (if any)."""

    endpoint: str
    title: str
    element_id: str = ""


def nav_links(role: str | None, titles: Mapping[str, Any]) -> list[NavLink]:
    """The top bar's links for someone in ``role``, titled from ``titles`` by endpoint."""
    return [
        NavLink(endpoint, str(titles[endpoint]), _NAV_IDS.get(endpoint, ""))
        for endpoint in nav_endpoints(role)
    ]
