"""The figures a utility publishes about its hotline: pure arithmetic over plain rows.

Every figure is a :class:`Ratio`, a numerator over a denominator, never a
bare percentage. The rows come from ``dispatch.services.reports``; the
definitions (what each numerator and denominator counts) are in
``docs/figures.md`` and repeated on each function below.

- 接通率 (:func:`answer_rate`): inbound phone calls answered / calls offered.
- 三声内接听率 (:func:`three_ring_rate`): answered within the ring limit / answered.
- 按时办结率 (:func:`on_time_rate`): stages that met their limit / stages judged.
- 回访率 (:func:`follow_up_rate`): cases followed up / cases that reached follow-up.
- 满意率 (:func:`satisfaction_rate`): satisfied or basically satisfied / followed up.
- 一次解决率 (:func:`first_contact_rate`): new matters resolved with no repeat / new matters.
- 72 小时重复来电率 (:func:`repeat_rate`): contacts followed by a repeat within 72 h / contacts.

Rows are grouped by local day, ISO week (Monday first), month, operator or
department (:class:`Grouping`); a period grouping lists every bucket of the
period, empty ones included, so a chart shows the gaps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hotline.domain.errors import Rejected
from hotline.domain.taxonomy import Disposition, FollowUpOutcome, Stage

#: The longest period one request covers (a year, a leap year included).
MAX_PERIOD_DAYS = 366
#: The repeat window of the repeat-call rate and of first-contact resolution.
REPEAT_WINDOW = timedelta(hours=72)

#: Contacts where an operator talked with the caller (the repeat rate's base).
ANSWERED_DISPOSITIONS = frozenset(
    {
        Disposition.ANSWERED,
        Disposition.TRANSFERRED,
        Disposition.CASE_CREATED,
        Disposition.JOINED_CASE,
    }
)
#: Contacts that brought a new matter (first-contact resolution's base); a contact
#: joining an open case or incident is about a matter already on file.
NEW_MATTER_DISPOSITIONS = frozenset(
    {Disposition.ANSWERED, Disposition.TRANSFERRED, Disposition.CASE_CREATED}
)
#: Follow-up outcomes that count as satisfied (满意、基本满意).
SATISFIED_OUTCOMES = frozenset({FollowUpOutcome.SATISFIED, FollowUpOutcome.BASICALLY_SATISFIED})


class Grouping(StrEnum):
    """How a figure's rows are grouped."""

    DAY = "day"  # 按日
    WEEK = "week"  # 按周
    MONTH = "month"  # 按月
    OPERATOR = "operator"  # 按话务员
    DEPARTMENT = "department"  # 按部门

    @property
    def by_time(self) -> bool:
        return self in (Grouping.DAY, Grouping.WEEK, Grouping.MONTH)


class Figure(StrEnum):
    """The published figures, one table each (also the download's file name)."""

    ANSWERED = "answered"  # 接通率
    THREE_RINGS = "three_rings"  # 三声内接听率
    ON_TIME = "on_time"  # 按时办结率
    FOLLOW_UP = "follow_up"  # 回访率
    SATISFACTION = "satisfaction"  # 满意率
    FIRST_CONTACT = "first_contact"  # 一次解决率
    REPEAT_72H = "repeat_72h"  # 72 小时重复来电率


@dataclass(frozen=True)
class Group:
    """Who a row belongs to (an operator or a department); ``key`` is stable, ``label`` shown."""

    key: str
    label: str


#: The group of rows that have nobody (an unanswered call, a case with no handler).
NOBODY = Group("", "")


@dataclass(frozen=True)
class Ratio:
    """A numerator over a denominator; the rate is ``None`` when nothing was counted."""

    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        """The rate in percent, rounded to one decimal (as the tables show it)."""
        rate = self.rate
        return None if rate is None else round(rate * 100, 1)

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)


@dataclass(frozen=True)
class FigureRow:
    """One row of a figure's table: its group, an optional detail (a stage), its ratio."""

    key: str
    label: str
    ratio: Ratio
    detail: str = ""


@dataclass(frozen=True)
class FigureTable:
    """One figure over a period: the rows by group, and the whole period's total."""

    figure: Figure
    rows: list[FigureRow]
    total: Ratio
    #: Rows that break a group down (on-time by stage); the chart shows ``rows`` only.
    details: list[FigureRow] = field(default_factory=list)


# -- the period ----------------------------------------------------------------------


class PeriodError(Rejected):
    """A period that cannot be used; ``field`` names the parameter at fault."""

    def __init__(self, message: str, field: str, **params: object) -> None:
        super().__init__(message, **params)
        self.message = str(self)
        self.field = field


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(text: str | None, name: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    if not _DAY.match(text):
        raise PeriodError(
            "'%(name)s' must be a day written YYYY-MM-DD, not %(text)s",
            name,
            name=name,
            text=repr(text[:20]),
        )
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PeriodError(
            "'%(name)s' is not a day of the calendar: %(text)s", name, name=name, text=repr(text)
        ) from None
    if not 2000 <= day.year <= 2099:
        raise PeriodError("'%(name)s' must fall in the years 2000 to 2099", name, name=name)
    return day


def parse_period(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The local days ``from`` .. ``to`` (both included) of a request.

    Defaults: ``to`` today, ``from`` 29 days before ``to``. Raises
    :class:`PeriodError` naming ``from`` or ``to`` when a day is malformed,
    ``to`` is before ``from``, or the period covers more than a year.
    """
    end_day = _day(end, "to") or today
    start_given = _day(start, "from")
    start_day = start_given or end_day - timedelta(days=29)
    if end_day < start_day:
        raise PeriodError("'to' must not be before 'from'", "to")
    if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodError("a period covers at most %(days)d days", "to", days=MAX_PERIOD_DAYS)
    return start_day, end_day


def parse_grouping(text: str | None) -> Grouping:
    """The grouping asked for (default: by day); raises :class:`PeriodError` naming ``by``."""
    try:
        return Grouping((text or "day").strip() or "day")
    except ValueError:
        choices = ", ".join(g.value for g in Grouping)
        raise PeriodError("'by' must be one of %(choices)s", "by", choices=choices) from None


# -- buckets ---------------------------------------------------------------------------


def bucket_of(moment: datetime, grouping: Grouping, tz: ZoneInfo) -> str:
    """The period bucket of ``moment``: ``2026-11-26``, ``2026-11-23`` (the week's Monday)
    or ``2026-11`` (the month)."""
    day = moment.astimezone(tz).date()
    if grouping == Grouping.WEEK:
        return (day - timedelta(days=day.weekday())).isoformat()
    if grouping == Grouping.MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def buckets(start: date, end: date, grouping: Grouping) -> list[str]:
    """Every bucket of the days ``start`` .. ``end`` in order."""
    keys: list[str] = []
    day = start
    while day <= end:
        if grouping == Grouping.WEEK:
            key = (day - timedelta(days=day.weekday())).isoformat()
        elif grouping == Grouping.MONTH:
            key = f"{day.year:04d}-{day.month:02d}"
        else:
            key = day.isoformat()
        if not keys or keys[-1] != key:
            keys.append(key)
        day += timedelta(days=1)
    return keys


@dataclass(frozen=True)
class Frame:
    """What every figure needs to group its rows: the period's days, grouping and zone."""

    start: date
    end: date
    grouping: Grouping
    tz: ZoneInfo


def _group(frame: Frame, at: datetime, operator: Group | None, department: Group | None) -> Group:
    if frame.grouping.by_time:
        key = bucket_of(at, frame.grouping, frame.tz)
        return Group(key, key)
    who = operator if frame.grouping == Grouping.OPERATOR else department
    return who or NOBODY


def _table(
    figure: Figure,
    frame: Frame,
    counted: Iterable[tuple[Group, int, int]],
) -> FigureTable:
    """Sum ``(group, numerator, denominator)`` counts into a table ordered for the frame."""
    sums: dict[str, Ratio] = {}
    labels: dict[str, str] = {}
    for group, num, den in counted:
        sums[group.key] = sums.get(group.key, Ratio(0, 0)) + Ratio(num, den)
        labels[group.key] = group.label
    if frame.grouping.by_time:
        keys = buckets(frame.start, frame.end, frame.grouping)
        rows = [FigureRow(k, k, sums.get(k, Ratio(0, 0))) for k in keys]
    else:
        order = sorted(sums, key=lambda k: (k == "", labels[k], k))
        rows = [FigureRow(k, labels[k], sums[k]) for k in order]
    total = sum((r.ratio for r in rows), Ratio(0, 0))
    return FigureTable(figure, rows, total)


# -- rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    """One inbound phone call that has stopped ringing."""

    ringing_at: datetime
    answered_at: datetime | None
    ring_to_answer_seconds: float | None = None
    operator: Group | None = None
    department: Group | None = None

    @property
    def ring_seconds(self) -> float | None:
        """Seconds from the first ring to the answer (measured, else from the two times)."""
        if self.answered_at is None:
            return None
        if self.ring_to_answer_seconds is not None:
            return self.ring_to_answer_seconds
        return (self.answered_at - self.ringing_at).total_seconds()


@dataclass(frozen=True)
class StageRow:
    """One stage clock falling due in the period: ``met`` True/False, ``None`` not yet judged."""

    due_at: datetime
    stage: str
    met: bool | None
    operator: Group | None = None
    department: Group | None = None


@dataclass(frozen=True)
class FollowUpRow:
    """A case that reached follow-up, and the outcome of its first follow-up that reached
    the customer (``None`` while nobody has reached them)."""

    reached_at: datetime
    first_outcome: FollowUpOutcome | None
    operator: Group | None = None
    department: Group | None = None


@dataclass(frozen=True)
class ContactRow:
    """One contact (a call or a counter visit as the operator recorded it)."""

    id: int
    started_at: datetime
    disposition: Disposition | None
    caller_number: str | None = None
    case_id: int | None = None
    #: The case a new case named as the one it repeats (立案时注明的重复工单).
    repeats_case_id: int | None = None
    case_closed: bool = False
    operator: Group | None = None
    department: Group | None = None


# -- the figures ---------------------------------------------------------------------


def answer_rate(frame: Frame, calls: Iterable[CallRow]) -> FigureTable:
    """接通率: inbound phone calls answered / inbound phone calls offered (P1).

    A call counts in the bucket of its first ring. By operator or department,
    unanswered calls form the group with nobody.
    """
    return _table(
        Figure.ANSWERED,
        frame,
        (
            (
                _group(frame, c.ringing_at, c.operator, c.department),
                1 if c.answered_at else 0,
                1,
            )
            for c in calls
        ),
    )


def three_ring_rate(frame: Frame, calls: Iterable[CallRow], limit_seconds: float) -> FigureTable:
    """三声内接听率: calls answered within ``limit_seconds`` of the first ring / calls answered."""
    return _table(
        Figure.THREE_RINGS,
        frame,
        (
            (
                _group(frame, c.ringing_at, c.operator, c.department),
                1 if (c.ring_seconds or 0) <= limit_seconds else 0,
                1,
            )
            for c in calls
            if c.answered_at is not None
        ),
    )


def on_time_rate(frame: Frame, stages: Iterable[StageRow]) -> FigureTable:
    """按时办结率: stages that ended by their due time / stages judged.

    A stage is judged once it ended, or once its due time passed with it
    still open (missed); it counts in the bucket of its due time. The table's
    ``details`` break each group down by stage, in the taxonomy's order.
    """
    judged = [s for s in stages if s.met is not None]
    grouped = [(_group(frame, s.due_at, s.operator, s.department), s) for s in judged]
    table = _table(Figure.ON_TIME, frame, ((g, 1 if s.met else 0, 1) for g, s in grouped))
    per_stage: dict[tuple[str, str], Ratio] = {}
    for group, s in grouped:
        key = (group.key, s.stage)
        per_stage[key] = per_stage.get(key, Ratio(0, 0)) + Ratio(1 if s.met else 0, 1)
    stage_order = {s.value: i for i, s in enumerate(Stage)}
    details = [
        FigureRow(row.key, row.label, ratio, detail=stage)
        for row in table.rows
        for (key, stage), ratio in sorted(
            per_stage.items(), key=lambda kv: stage_order.get(kv[0][1], 99)
        )
        if key == row.key
    ]
    return FigureTable(table.figure, table.rows, table.total, details)


def follow_up_rate(frame: Frame, cases: Iterable[FollowUpRow]) -> FigureTable:
    """回访率: cases whose customer a follow-up reached / cases that reached follow-up (P7).

    A case counts in the bucket of the moment it first reached follow-up
    (answered on the call, transferred, or work done and confirmed); an
    attempt that found nobody does not count as followed up.
    """
    return _table(
        Figure.FOLLOW_UP,
        frame,
        (
            (
                _group(frame, c.reached_at, c.operator, c.department),
                1 if c.first_outcome is not None else 0,
                1,
            )
            for c in cases
        ),
    )


def satisfaction_rate(frame: Frame, cases: Iterable[FollowUpRow]) -> FigureTable:
    """满意率: followed-up cases whose first answer was satisfied or basically satisfied
    / followed-up cases (the numerator of :func:`follow_up_rate`)."""
    return _table(
        Figure.SATISFACTION,
        frame,
        (
            (
                _group(frame, c.reached_at, c.operator, c.department),
                1 if c.first_outcome in SATISFIED_OUTCOMES else 0,
                1,
            )
            for c in cases
            if c.first_outcome is not None
        ),
    )


def repeated_contacts(
    contacts: Sequence[ContactRow], window: timedelta = REPEAT_WINDOW
) -> set[int]:
    """Ids of the answered contacts followed, within ``window``, by another answered
    contact from the same caller number or about the same case.

    "About the same case": the later contact joined the case, or opened a
    case naming it as the case it repeats.
    """
    answered = sorted(
        (c for c in contacts if c.disposition in ANSWERED_DISPOSITIONS),
        key=lambda c: (c.started_at, c.id),
    )
    repeated: set[int] = set()
    for i, first in enumerate(answered):
        for later in answered[i + 1 :]:
            if later.started_at - first.started_at > window:
                break
            same_number = first.caller_number and later.caller_number == first.caller_number
            same_case = first.case_id is not None and first.case_id in (
                later.case_id,
                later.repeats_case_id,
            )
            if same_number or same_case:
                repeated.add(first.id)
                break
    return repeated


def _in_period(frame: Frame, at: datetime) -> bool:
    return frame.start <= at.astimezone(frame.tz).date() <= frame.end


def repeat_rate(frame: Frame, contacts: Sequence[ContactRow]) -> FigureTable:
    """72 小时重复来电率: answered contacts in the period followed within 72 h by another
    from the same number or about the same case / answered contacts in the period.

    ``contacts`` may reach 72 h past the period: the later contacts are looked
    at, but only those in the period are counted.
    """
    repeated = repeated_contacts(contacts)
    return _table(
        Figure.REPEAT_72H,
        frame,
        (
            (
                _group(frame, c.started_at, c.operator, c.department),
                1 if c.id in repeated else 0,
                1,
            )
            for c in contacts
            if c.disposition in ANSWERED_DISPOSITIONS and _in_period(frame, c.started_at)
        ),
    )


def resolved_first_time(contact: ContactRow, repeated: set[int]) -> bool:
    """A new matter settled at its first contact: answered on the call, or its case
    closed; and no repeat within 72 h."""
    settled = contact.disposition == Disposition.ANSWERED or contact.case_closed
    return settled and contact.id not in repeated


def first_contact_rate(frame: Frame, contacts: Sequence[ContactRow]) -> FigureTable:
    """一次解决率: new matters resolved at the first contact / new matters.

    New matters are the contacts in the period answered on the call,
    transferred or opening a case; resolved means :func:`resolved_first_time`.
    """
    repeated = repeated_contacts(contacts)
    return _table(
        Figure.FIRST_CONTACT,
        frame,
        (
            (
                _group(frame, c.started_at, c.operator, c.department),
                1 if resolved_first_time(c, repeated) else 0,
                1,
            )
            for c in contacts
            if c.disposition in NEW_MATTER_DISPOSITIONS and _in_period(frame, c.started_at)
        ),
    )


@dataclass(frozen=True)
class Rows:
    """Everything the figures are computed from, for one period."""

    calls: Sequence[CallRow] = ()
    stages: Sequence[StageRow] = ()
    follow_ups: Sequence[FollowUpRow] = ()
    contacts: Sequence[ContactRow] = ()


def all_figures(frame: Frame, rows: Rows, ring_limit_seconds: float) -> dict[Figure, FigureTable]:
    """Every figure's table, in :class:`Figure`'s order."""
    makers: dict[Figure, Callable[[], FigureTable]] = {
        Figure.ANSWERED: lambda: answer_rate(frame, rows.calls),
        Figure.THREE_RINGS: lambda: three_ring_rate(frame, rows.calls, ring_limit_seconds),
        Figure.ON_TIME: lambda: on_time_rate(frame, rows.stages),
        Figure.FOLLOW_UP: lambda: follow_up_rate(frame, rows.follow_ups),
        Figure.SATISFACTION: lambda: satisfaction_rate(frame, rows.follow_ups),
        Figure.FIRST_CONTACT: lambda: first_contact_rate(frame, rows.contacts),
        Figure.REPEAT_72H: lambda: repeat_rate(frame, rows.contacts),
    }
    return {figure: make() for figure, make in makers.items()}
