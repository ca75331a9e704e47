"""Call quality for supervisors: compliance scores, their trend, the sample to
check and the quality checks (质检) themselves.

* :func:`call_scores` scores a page of calls (``callflows.domain.quality``'s
  formula) from their compliance records, ring times and G2 flags;
* :func:`score_trend` gives each operator's mean score per day or week;
* :func:`draw` draws the seeded sample of ended, answered calls of a period
  (by default those with a recording) that have no quality check yet;
* :func:`record_check` saves a check in one transaction: the points per item,
  the measured P1 item, the total, the comment (checked for banned phrases
  like every staff text, G2), or a new check superseding the current one with
  a reason. A saved check is never changed.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from callflows.domain import quality as rules
from callflows.domain.scripts import Script, StepKind
from callflows.models import Call, ComplianceFlag, QualityCheck
from callflows.services.flags import flag_text
from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound, words
from hotline.domain.taxonomy import Role
from hotline.models import Staff
from hotline.services import Actor, Services
from hotline.settings import shipped_path

__all__ = [
    "CheckView",
    "call_scores",
    "checks_of_call",
    "current_check_ids",
    "day_range",
    "draw",
    "operator_history",
    "operators",
    "record_check",
    "score_trend",
    "standard",
]

#: The file of the quality-check items, as shipped.
STANDARD_FILE = "config/quality_checks.toml"
#: Longest comment and reason.
MAX_COMMENT = 2000
MAX_REASON = 500
#: G2 flags of a check's comment are filed under this source.
COMMENT_SOURCE = "quality_comment"


@functools.cache
def standard(company: str = "") -> rules.QualityStandard:
    """The quality-check items (``config/quality_checks.toml``), read once."""
    return rules.QualityStandard.load(shipped_path(STANDARD_FILE), company=company)


# -- scores -------------------------------------------------------------------------


def _read_back_steps(scripts: Mapping[str, Script], script_id: str | None) -> frozenset[str]:
    script = scripts.get(script_id or "")
    if script is None:
        return frozenset()
    return frozenset(s.id for s in script.steps if s.kind is StepKind.READ_BACK)


def banned_counts(session: Session, call_ids: Iterable[int]) -> dict[int, int]:
    """The number of G2 flags of each call (calls with none are left out)."""
    ids = list(call_ids)
    if not ids:
        return {}
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(ComplianceFlag.call_id, func.count())
            .where(ComplianceFlag.call_id.in_(ids))
            .group_by(ComplianceFlag.call_id)
        ).all()
    )


def call_scores(
    calls: Sequence[Call],
    flags: Mapping[int, int],
    *,
    scripts: Mapping[str, Script],
    ring_limit: float,
) -> dict[int, rules.CallScore]:
    """Each call's compliance checks and score, by call id."""
    return {
        call.id: rules.call_score(
            rules.CallFacts(
                compliance=call.compliance,
                ring_seconds=call.ring_to_answer_seconds,
                ring_limit_seconds=ring_limit,
                banned_phrases=flags.get(call.id, 0),
                read_back_steps=_read_back_steps(scripts, call.script_id),
            )
        )
        for call in calls
    }


def score_trend(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    period: rules.Period,
    scripts: Mapping[str, Script],
    ring_limit: float,
    operator_id: int | None = None,
) -> list[rules.TrendRow]:
    """Each operator's mean compliance score per ``period`` for calls rung in [start, end)."""
    query = select(Call).where(
        Call.ringing_at >= start,
        Call.ringing_at < end,
        Call.answered_by_id.is_not(None),
        Call.compliance.is_not(None),
    )
    if operator_id is not None:
        query = query.where(Call.answered_by_id == operator_id)
    found = session.scalars(query).all()
    flags = banned_counts(session, [c.id for c in found])
    scores = call_scores(found, flags, scripts=scripts, ring_limit=ring_limit)
    return rules.trend(
        (
            (
                call.answered_by_id or 0,
                call.ringing_at.astimezone(zone).date(),
                scores[call.id].score,
            )
            for call in found
        ),
        period,
    )


def operators(session: Session) -> list[Staff]:
    """The people who answer calls (operators and supervisors), by name."""
    return list(
        session.scalars(
            select(Staff)
            .where(Staff.role.in_([str(Role.OPERATOR), str(Role.SUPERVISOR)]))
            .order_by(Staff.display_name)
        )
    )


# -- the sample ---------------------------------------------------------------------


def draw(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    per_operator: int,
    seed: int,
    recorded_only: bool = True,
    operator_id: int | None = None,
) -> dict[int, list[Call]]:
    """The sample to check: up to ``per_operator`` calls of each operator, rung in
    [start, end), answered and ended, not yet checked, with a recording when
    ``recorded_only``; drawn at random with ``seed`` (the same seed draws the same)."""
    query = select(Call.id, Call.answered_by_id).where(
        Call.ringing_at >= start,
        Call.ringing_at < end,
        Call.answered_by_id.is_not(None),
        Call.ended_at.is_not(None),
        Call.id.not_in(select(QualityCheck.call_id)),
    )
    if recorded_only:
        query = query.where(Call.recording_url.is_not(None), Call.recording_url != "")
    if operator_id is not None:
        query = query.where(Call.answered_by_id == operator_id)
    candidates: dict[int, list[int]] = defaultdict(list)
    for call_id, answered_by in session.execute(query):
        candidates[answered_by].append(call_id)
    picked = rules.draw_sample(candidates, per_operator, seed)
    wanted = [call_id for ids in picked.values() for call_id in ids]
    by_id = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(wanted)))}
    return {op: [by_id[i] for i in ids] for op, ids in picked.items()}


# -- checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckView:
    """A saved check as pages show it, with whether a later check superseded it."""

    check: QualityCheck
    superseded_by: int | None

    @property
    def current(self) -> bool:
        return self.superseded_by is None


def _views(session: Session, found: Sequence[QualityCheck]) -> list[CheckView]:
    ids = [c.id for c in found]
    later = dict(
        session.execute(
            select(QualityCheck.supersedes_id, QualityCheck.id).where(
                QualityCheck.supersedes_id.in_(ids)
            )
        ).all()
    )
    return [CheckView(c, later.get(c.id)) for c in found]


def checks_of_call(session: Session, call_id: int) -> list[CheckView]:
    """Every check of a call, newest first."""
    found = session.scalars(
        select(QualityCheck)
        .where(QualityCheck.call_id == call_id)
        .order_by(QualityCheck.checked_at.desc(), QualityCheck.id.desc())
    ).all()
    return _views(session, found)


def current_check_ids(session: Session, call_ids: Iterable[int]) -> dict[int, QualityCheck]:
    """The current (not superseded) check of each call that has one."""
    ids = list(call_ids)
    if not ids:
        return {}
    later = aliased(QualityCheck)
    rows = session.scalars(
        select(QualityCheck).where(
            QualityCheck.call_id.in_(ids),
            ~select(later.id).where(later.supersedes_id == QualityCheck.id).exists(),
        )
    ).all()
    return {row.call_id: row for row in rows}


@dataclass(frozen=True)
class History:
    """An operator's checks (newest first) and the mean total per week of current ones."""

    operator: Staff
    checks: list[CheckView]
    weeks: list[tuple[date, int, float]]


def operator_history(session: Session, operator_id: int, zone: ZoneInfo) -> History:
    """Every check of one operator's calls, and the weekly mean of the current ones."""
    operator = session.get(Staff, operator_id)
    if operator is None:
        raise NotFound(
            "no staff member with id %(operator_id)s", "operator", operator_id=operator_id
        )
    found = session.scalars(
        select(QualityCheck)
        .where(QualityCheck.operator_id == operator_id)
        .order_by(QualityCheck.checked_at.desc(), QualityCheck.id.desc())
    ).all()
    views = _views(session, found)
    weeks: dict[date, list[float]] = defaultdict(list)
    for view in views:
        if view.current:
            day = view.check.checked_at.astimezone(zone).date()
            share = 100 * view.check.total / view.check.max_total
            weeks[rules.period_start(day, rules.Period.WEEK)].append(share)
    rows = [
        (starts, len(values), round(sum(values) / len(values), 1))
        for starts, values in sorted(weeks.items(), reverse=True)
    ]
    return History(operator, views, rows)


#: An item's points refused by the scoring rules, as the form says it.
_ITEM_REFUSALS = {
    rules.NOT_ON_FORM: words("'%(item)s' not an item scored on the form"),
    rules.MISSING: words("'%(item)s' missing"),
    rules.NOT_WHOLE: words("'%(item)s' expected a whole number"),
    rules.OUT_OF_RANGE: words("'%(item)s' must be between 0 and %(weight)s"),
}


def record_check(
    svc: Services,
    actor: Actor,
    call_id: int,
    *,
    points: Mapping[str, int],
    comment: str = "",
    supersedes_id: int | None = None,
    reason: str = "",
    ring_limit: float,
    standard_used: rules.QualityStandard,
) -> int:
    """Save a quality check of ``call_id``; returns its id.

    Supervisors only (403). The call must be answered and ended (409). A
    call's first check names no earlier one; once it has a check, a new one
    must supersede the current check with a reason (409 otherwise, and for a
    check already superseded). Points outside 0 to an item's weight, a
    missing item or an overlong text are refused (422) and nothing is written.
    """
    if actor.role is not Role.SUPERVISOR:
        raise Forbidden("only supervisors make quality checks", "call")
    comment = comment.strip()
    reason = reason.strip()
    if len(comment) > MAX_COMMENT:
        raise Invalid("'comment' is longer than %(most)s characters", "comment", most=MAX_COMMENT)
    if len(reason) > MAX_REASON:
        raise Invalid("'reason' is longer than %(most)s characters", "reason", most=MAX_REASON)
    if supersedes_id is not None and not reason:
        raise Invalid("'reason': say why the earlier check is superseded", "reason")
    if supersedes_id is None and reason:
        raise Invalid("'reason' is given only when superseding a check", "reason")
    now = svc.now()
    with svc.sessions() as session, session.begin():
        call = session.scalar(select(Call).where(Call.id == call_id).with_for_update())
        if call is None:
            raise NotFound("no call %(call_id)s", "call", call_id=call_id)
        if call.answered_by_id is None or call.ended_at is None:
            raise Conflict("only an answered call that has ended can be checked", "call")
        try:
            items, total = rules.score_items(
                standard_used,
                points,
                ring_seconds=call.ring_to_answer_seconds,
                ring_limit=ring_limit,
            )
        except rules.ScoreRefused as exc:
            raise Invalid(_ITEM_REFUSALS[exc.template], exc.item, **exc.params) from None
        current = current_check_ids(session, [call_id]).get(call_id)
        if supersedes_id is None and current is not None:
            raise Conflict(
                "this call is already checked (check %(check_id)s); "
                "a new check must supersede it with a reason",
                "supersedes_id",
                check_id=current.id,
            )
        if supersedes_id is not None and (current is None or current.id != supersedes_id):
            raise Conflict(
                "check %(supersedes_id)s is not this call's current check",
                "supersedes_id",
                supersedes_id=supersedes_id,
            )
        check = QualityCheck(
            call_id=call_id,
            operator_id=call.answered_by_id,
            checked_by_id=actor.id,
            checked_at=now,
            items=[item.to_dict() for item in items],
            total=total,
            max_total=standard_used.total,
            comment=comment,
            supersedes_id=supersedes_id,
            reason=reason,
        )
        session.add(check)
        session.flush()
        # G2: banned phrases in the comment and the reason are flagged like any staff text.
        for text in (comment, reason):
            flag_text(
                session, text, source=COMMENT_SOURCE, at=now, staff_id=actor.id, call_id=call_id
            )
        return check.id


def day_range(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local midnight of ``first`` and of the day after ``last``."""
    start = datetime.combine(first, datetime.min.time(), zone)
    return start, datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
