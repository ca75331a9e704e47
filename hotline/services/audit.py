"""The case history made tamper-evident (P6: records archived and complete).

Four layers, each catching what the one before cannot (docs/audit.md):

* **The chain.** Each event's hash covers its content and the previous
  event's hash; the case row keeps the head (last sequence number and hash).
  Editing an event breaks its hash, deleting one breaks the sequence or the
  link, deleting the last one disagrees with the head.
* **The row digest.** Each event records a digest of the case row as its
  transaction wrote it (:data:`ROW_FIELDS`), so the row of the case cannot be
  changed outside the product without disagreeing with its last event.
* **The numbers.** Case numbers are handed out per day without gaps
  (``hotline.services.numbering``), and the day's counter says how far they run: a case
  deleted with its whole history leaves a hole or a counter running past it.
* **The anchors.** ``hotline audit anchor`` seals every case's head, the last
  event's row digest and every day's counter with an HMAC whose key is kept
  outside the database. Anyone can recompute a chain; without the key nobody
  can make a rewritten one match its seal.

:func:`verify` checks all four; :func:`anchor` writes the next seal after
checking what changed since the last one. The hashing, digests and checks
themselves are ``hotline.domain.audit`` and ``hotline.domain.anchors``; their
names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from hotline.domain.anchors import (
    Anchored,
    SealedHead,
    check_case,
    check_sealed,
    key_id,
    replay_anchors,
    seal_of,
    sealed_but_gone,
)
from hotline.domain.audit import (
    GENESIS,
    NOT_IN_ROW_DIGEST,
    ROW_DIGEST_VERSION,
    ROW_FIELDS,
    Problem,
    check_chain,
    check_numbers,
    check_row,
    digest_of_row,
    event_hash,
    hash_of,
    plain_data,
    row_digest,
    row_problems,
    split_number,
)
from hotline.models import AuditAnchor, Case, CaseEvent, CaseNumberCounter

__all__ = [
    "GENESIS",
    "NOT_IN_ROW_DIGEST",
    "ROW_DIGEST_VERSION",
    "ROW_FIELDS",
    "AnchorResult",
    "Anchored",
    "Problem",
    "SealedHead",
    "anchor",
    "append_event",
    "check_chain",
    "check_numbers",
    "check_row",
    "check_sealed",
    "digest_of_row",
    "event_hash",
    "hash_of",
    "key_id",
    "plain_data",
    "read_anchors",
    "row_digest",
    "seal_of",
    "verify",
]

_cases = Case.__table__

# -- writing the history ----------------------------------------------------------------------


def _values_to_be_written(session: Session, case: Case) -> dict[str, Any]:
    """The digest columns of ``case`` as the flush about to run will write them.

    A new row gets the columns' defaults and version 1; a changed row gets its
    version moved on by one (SQLAlchemy's ``version_id_col``), unless set by hand.
    """
    state = sa_inspect(case)
    values: dict[str, Any] = {}
    for name in ROW_FIELDS[ROW_DIGEST_VERSION]:
        value = getattr(case, name)
        default = _cases.c[name].default
        if value is None and state.key is None and default is not None and default.is_scalar:
            value = default.arg
        values[name] = value
    if state.key is None:
        values["version"] = 1
    else:
        history = state.attrs.version.history
        if not history.added and session.is_modified(case, include_collections=False):
            committed = (history.unchanged or history.deleted or [case.version])[0]
            values["version"] = committed + 1
    return values


_PENDING = "hotline.services.audit.pending"


def _give_new_events_their_row_digest(session: Session, flush_context: Any, instances: Any) -> None:
    """Before a flush: each new event gets the digest of its case row as this flush leaves it.

    A :class:`Case` of this session is read from its attributes; any other
    object the event was appended on (the deadline sweep works on plain
    copies of the columns and writes them back itself before it flushes) is
    read from the database, one statement for all of them.
    """
    pending: list[tuple[CaseEvent, Any]] = session.info.get(_PENDING) or []
    if not pending:
        return
    waiting = [
        (evt, case) for evt, case in pending if evt in session.new and evt.row_digest is None
    ]
    session.info[_PENDING] = []
    from_rows: dict[int, list[CaseEvent]] = {}
    for evt, case in waiting:
        if isinstance(case, Case) and sa_inspect(case).session is session:
            evt.row_digest = row_digest(_values_to_be_written(session, case))
        else:
            from_rows.setdefault(evt.case_id, []).append(evt)
    if from_rows:
        columns = [_cases.c[name] for name in ROW_FIELDS[ROW_DIGEST_VERSION]]
        rows = session.connection().execute(
            select(*columns).where(_cases.c.id.in_(sorted(from_rows)))
        )
        for row in rows.mappings():
            digest = row_digest(row)
            for evt in from_rows[row["id"]]:
                evt.row_digest = digest


def _forget_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


sa_event.listen(Session, "before_flush", _give_new_events_their_row_digest)
sa_event.listen(Session, "after_transaction_end", _forget_pending)


def append_event(
    session: Session,
    case: Case,
    *,
    action: str,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    at: datetime,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
) -> CaseEvent:
    """Add the next event of ``case`` to the session and move the case's chain head.

    The caller owns the transaction (and holds the case row, so sequence numbers
    cannot collide). The event's row digest is taken when it is flushed, from
    the case row as that flush writes it, so changes made to the case after
    this call in the same flush are covered too.
    """
    event = CaseEvent(
        case_id=case.id,
        seq=case.last_event_seq + 1,
        action=action,
        from_state=from_state,
        to_state=to_state,
        actor_id=actor_id,
        at=at.astimezone(UTC),
        reason=reason,
        data=plain_data(data or {}),
        prev_hash=case.last_event_hash or GENESIS,
    )
    event.hash = hash_of(event)
    session.add(event)
    session.info.setdefault(_PENDING, []).append((event, case))
    case.last_event_seq = event.seq
    case.last_event_hash = event.hash
    return event


def read_anchors(session: Session, key: str | None) -> Anchored:
    """Replay the anchors in order, checking their sequence, links and (with ``key``) seals."""
    return replay_anchors(session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)), key)


# -- verify -----------------------------------------------------------------------------------

_CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _cases_with_events(
    session: Session, case_ids: Sequence[int]
) -> Iterator[tuple[Case, list[CaseEvent]]]:
    """The cases of ``case_ids`` with their events in order, a chunk at a time."""
    for chunk in _chunks(case_ids):
        cases = session.scalars(select(Case).where(Case.id.in_(chunk)).order_by(Case.id)).all()
        events: dict[int, list[CaseEvent]] = {case.id: [] for case in cases}
        for event in session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id.in_(chunk))
            .order_by(CaseEvent.case_id, CaseEvent.seq)
        ):
            events[event.case_id].append(event)
        for case in cases:
            yield case, events[case.id]


def _digests_since(session: Session) -> int | None:
    return session.scalar(select(func.min(CaseEvent.id)).where(CaseEvent.row_digest.is_not(None)))


def verify(
    session: Session,
    *,
    case_number: str | None = None,
    key: str | None = None,
    prefix: str = "",
) -> tuple[int, list[Problem]]:
    """Check the chains, rows, numbers and anchors of all cases (or one).

    Returns (cases checked, problems). Without ``key`` the anchors' seals are
    not checked (what they seal still is); ``prefix`` names the numbers of a
    day none of whose cases is left.
    """
    anchored = read_anchors(session, key)
    problems = list(anchored.problems)
    digests_since = _digests_since(session)
    if case_number:
        case_ids = list(session.scalars(select(Case.id).where(Case.number == case_number)))
        if not case_ids:
            problems += sealed_but_gone(anchored, set(), only_number=case_number)
            parts = split_number(case_number)
            if not problems and parts is not None:
                last = session.scalar(
                    select(CaseNumberCounter.last).where(CaseNumberCounter.day == parts[1])
                )
                if last is not None and parts[2] <= last:
                    problems.append(
                        Problem(
                            case_number,
                            None,
                            f"is missing, yet the numbers of {parts[1]} run to {last:04d}: "
                            "the case was deleted outside the product",
                            where="",
                        )
                    )
            return 0, problems
    else:
        case_ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    numbers: list[str] = []
    checked = 0
    for case, events in _cases_with_events(session, case_ids):
        problems.extend(check_case(case, events, anchored.cases.get(case.id), digests_since))
        numbers.append(case.number)
        checked += 1
    if not case_number:
        gone = sealed_but_gone(anchored, set(case_ids))
        problems.extend(gone)
        counters = dict(
            session.execute(select(CaseNumberCounter.day, CaseNumberCounter.last)).all()
        )
        problems.extend(
            check_numbers(
                numbers,
                counters,
                anchored.days,
                prefix=prefix,
                known_gone=[p.case_number for p in gone],
            )
        )
    return checked, problems


# -- anchor -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorResult:
    """What :func:`anchor` did: the anchor written (or the last one), and why not."""

    seq: int | None
    sealed: int  # case heads new or moved since the anchor before
    case_count: int
    seal: str
    written: bool
    problems: list[Problem]


def _heads(
    session: Session,
) -> tuple[dict[int, tuple[str, int, str, str | None]], dict[int, str | None]]:
    """Every case's number, chain head and the row digest of its head event, and the
    state that event left, in one query."""
    rows = session.execute(
        select(
            Case.id,
            Case.number,
            Case.last_event_seq,
            Case.last_event_hash,
            CaseEvent.row_digest,
            CaseEvent.to_state,
        ).outerjoin(
            CaseEvent, and_(CaseEvent.case_id == Case.id, CaseEvent.seq == Case.last_event_seq)
        )
    ).all()
    return (
        {row[0]: (row[1], row[2], row[3], row[4]) for row in rows},
        {row[0]: row[5] for row in rows},
    )


def anchor(session: Session, key: str, *, now: datetime, prefix: str = "") -> AnchorResult:
    """Seal every case head and day counter that changed since the last anchor.

    First checks what it is about to seal: the anchors so far, the full
    chain of every case that is new or moved since the last anchor, every
    case row against its last event, that every sealed case is still there
    and that the numbers have no holes. On
    any problem nothing is written and the problems are returned. The caller
    commits (two anchors written at once collide on their sequence number).
    """
    anchored = read_anchors(session, key)
    problems = list(anchored.problems)
    heads, to_states = _heads(session)
    moved = sorted(
        case_id
        for case_id, head in heads.items()
        if (sealed := anchored.cases.get(case_id)) is None
        or (sealed.number, sealed.seq, sealed.hash, sealed.row_digest) != head
    )
    digests_since = _digests_since(session)
    for case, events in _cases_with_events(session, moved):
        problems.extend(check_case(case, events, anchored.cases.get(case.id), digests_since))
    unchanged = sorted(set(heads) - set(moved))
    for chunk in _chunks(unchanged):
        for case in session.scalars(select(Case).where(Case.id.in_(chunk)).order_by(Case.id)):
            _number, seq, _hash, digest = heads[case.id]
            if digest:
                problems.extend(row_problems(case, seq, to_states[case.id] or "", digest))
    gone = sealed_but_gone(anchored, set(heads))
    problems.extend(gone)
    counters = dict(session.execute(select(CaseNumberCounter.day, CaseNumberCounter.last)).all())
    problems.extend(
        check_numbers(
            (head[0] for head in heads.values()),
            counters,
            anchored.days,
            prefix=prefix,
            known_gone=[p.case_number for p in gone],
        )
    )
    last = anchored.last
    if problems:
        return AnchorResult(
            last.seq if last else None, 0, len(heads), last.seal if last else "", False, problems
        )
    days = {day: n for day, n in counters.items() if anchored.days.get(day, (None,))[0] != n}
    if not moved and not days and last is not None:
        return AnchorResult(last.seq, 0, len(heads), last.seal, False, [])
    content = {
        "cases": {str(case_id): list(heads[case_id]) for case_id in moved},
        "days": days,
    }
    seq = (last.seq if last else 0) + 1
    prev_seal = last.seal if last else ""
    at = now.astimezone(UTC)
    seal = seal_of(key, seq=seq, at=at, case_count=len(heads), heads=content, prev_seal=prev_seal)
    session.add(
        AuditAnchor(
            seq=seq,
            at=at,
            case_count=len(heads),
            heads=content,
            key_id=key_id(key),
            prev_seal=prev_seal,
            seal=seal,
        )
    )
    session.flush()
    return AnchorResult(seq, len(moved), len(heads), seal, True, [])
