"""Time-limit figures (时限达标率): per case, whether each stage met its limit;
per category, the share of stages that met theirs.

Pure functions over stage clocks and counts (:func:`verdict`,
:func:`promise_verdict`, :func:`tally`) and the two queries that feed them
(:func:`case_verdicts`, :func:`time_limit_figures`). The supervisor reports
build on these.

How a stage is judged: **met** when it ended by its due time (``due_at``,
which counts approved extensions and the time the customer was waited for);
**missed** when it ended later, or is still open (and not paused) past its
due time. A stage still open before its due time is not judged yet. Category
figures take the stages whose due time falls in the period, so a stage that
is overdue and still open counts as missed in the period it fell due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from hotline.domain.taxonomy import Category, Stage
from hotline.models import Case, CaseDeadline


@dataclass(frozen=True)
class StageVerdict:
    """One stage of one case, judged against its limit (环节时限是否达标)."""

    stage: str
    clock: str
    limit: str
    started_at: datetime
    due_at: datetime
    limit_due_at: datetime
    ended_at: datetime | None
    ended_by: str
    met: bool | None
    overdue: bool
    warned_at: datetime | None
    escalation_level: int
    escalated_at: datetime | None
    paused_seconds: int
    paused_until: datetime | None


@dataclass(frozen=True)
class PromiseVerdict:
    """F11: the time the caller was promised and whether it was kept.

    ``resolved_at`` is when the work was done (the follow-up stage began);
    ``kept`` is ``None`` while the promise can still be kept.
    """

    promised_at: datetime | None
    resolved_at: datetime | None
    kept: bool | None


def verdict(row: CaseDeadline, now: datetime) -> StageVerdict:
    """Judge one stage clock at ``now``."""
    ended = row.ended_at
    paused = row.paused_since is not None
    return StageVerdict(
        stage=row.stage,
        clock=row.clock,
        limit=row.limit_text,
        started_at=row.started_at,
        due_at=row.due_at,
        limit_due_at=row.limit_due_at,
        ended_at=ended,
        ended_by=row.ended_by,
        met=None if ended is None else ended <= row.due_at,
        overdue=ended is None and not paused and row.due_at <= now,
        warned_at=row.warned_at,
        escalation_level=row.escalation_level,
        escalated_at=row.escalated_at,
        paused_seconds=row.paused_seconds,
        paused_until=row.paused_until if paused else None,
    )


def promise_verdict(
    promised_at: datetime | None, verdicts: Sequence[StageVerdict], now: datetime
) -> PromiseVerdict:
    """F11: whether the work was done by the promised time (open promises: ``None``
    until the time has passed)."""
    done = [v.started_at for v in verdicts if v.stage == Stage.FOLLOW_UP]
    resolved_at = min(done) if done else None
    if promised_at is None:
        kept = None
    elif resolved_at is not None:
        kept = resolved_at <= promised_at
    else:
        kept = False if now > promised_at else None
    return PromiseVerdict(promised_at, resolved_at, kept)


@dataclass
class Tally:
    """How many judged stages met their limit and how many missed it."""

    met: int = 0
    missed: int = 0

    @property
    def judged(self) -> int:
        return self.met + self.missed

    @property
    def share_met(self) -> float | None:
        """The share met (0 to 1), ``None`` when nothing was judged."""
        return self.met / self.judged if self.judged else None

    def add(self, met: int, missed: int) -> None:
        self.met += met
        self.missed += missed


@dataclass
class CategoryFigures:
    """One category's figures: all its stages together, and stage by stage."""

    category: str
    total: Tally = field(default_factory=Tally)
    stages: dict[str, Tally] = field(default_factory=dict)


def tally(counts: Iterable[tuple[str, str, int, int]]) -> list[CategoryFigures]:
    """Category figures from ``(category, stage, met, missed)`` counts.

    Categories and stages come out in the taxonomy's order; a category with
    nothing judged is left out.
    """
    by_category: dict[str, CategoryFigures] = {}
    for category, stage, met_count, missed_count in counts:
        if not met_count and not missed_count:
            continue
        figures = by_category.setdefault(category, CategoryFigures(category))
        figures.total.add(met_count, missed_count)
        figures.stages.setdefault(stage, Tally()).add(met_count, missed_count)
    stage_order = {s.value: i for i, s in enumerate(Stage)}
    result = []
    for member in Category:
        figures = by_category.pop(member.value, None)
        if figures is not None:
            figures.stages = dict(
                sorted(figures.stages.items(), key=lambda kv: stage_order.get(kv[0], 99))
            )
            result.append(figures)
    return result + list(by_category.values())


# -- queries ---------------------------------------------------------------------------


def case_verdicts(session: Session, case: Case, now: datetime) -> list[StageVerdict]:
    """Every stage clock of ``case``, oldest first, judged at ``now``."""
    rows = session.scalars(
        select(CaseDeadline)
        .where(CaseDeadline.case_id == case.id)
        .order_by(CaseDeadline.started_at, CaseDeadline.id)
    )
    return [verdict(row, now) for row in rows]


def time_limit_figures(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    category: Category | None = None,
) -> list[CategoryFigures]:
    """Per category (and stage), the stages falling due in ``[start, end)`` that met
    or missed their limit by ``now``; optionally for one ``category`` only."""
    d = CaseDeadline
    met_expr = case((and_(d.ended_at.is_not(None), d.ended_at <= d.due_at), 1), else_=0)
    missed_expr = case(
        (
            or_(
                d.ended_at > d.due_at,
                and_(d.ended_at.is_(None), d.paused_since.is_(None), d.due_at <= now),
            ),
            1,
        ),
        else_=0,
    )
    query = (
        select(Case.category, d.stage, func.sum(met_expr), func.sum(missed_expr))
        .join(Case, Case.id == d.case_id)
        .where(d.due_at >= start, d.due_at < end)
        .group_by(Case.category, d.stage)
    )
    if category is not None:
        query = query.where(Case.category == category)
    counts = [
        (str(cat), str(stage), int(met or 0), int(missed or 0))
        for cat, stage, met, missed in session.execute(query)
    ]
    return tally(counts)
