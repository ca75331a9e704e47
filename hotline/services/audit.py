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
checking what changed since the last one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from hotline.models import AuditAnchor, Case, CaseEvent, CaseNumberCounter

GENESIS = "0" * 64


def _plain(value: Any) -> Any:
    """JSON-ready form of event data (times as ISO text in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def plain_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Event data as stored: plain JSON types only."""
    return _plain(dict(data))


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(
    *,
    case_id: int,
    seq: int,
    action: str,
    from_state: str | None,
    to_state: str,
    actor_id: int | None,
    at: datetime,
    reason: str,
    data: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The SHA-256 of an event's content and its predecessor's hash."""
    body = _canonical(
        {
            "case_id": case_id,
            "seq": seq,
            "action": action,
            "from": from_state,
            "to": to_state,
            "actor": actor_id,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "reason": reason,
            "data": plain_data(data),
        }
    )
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


def hash_of(event: CaseEvent) -> str:
    """The hash ``event`` should carry, from its content and ``prev_hash``."""
    return event_hash(
        case_id=event.case_id,
        seq=event.seq,
        action=event.action,
        from_state=event.from_state,
        to_state=event.to_state,
        actor_id=event.actor_id,
        at=event.at,
        reason=event.reason,
        data=event.data,
        prev_hash=event.prev_hash,
    )


# -- the row digest ---------------------------------------------------------------------------

#: The columns of a case row each event's row digest covers, by digest version.
#: A version's list never changes (old digests must still check); a column that
#: comes to matter later goes into a new version. ``tests`` hold every column of
#: ``cases`` to be in the current list or in :data:`NOT_IN_ROW_DIGEST`.
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "v1": (
        "id",
        "category",
        "priority",
        "channel",
        "problem",
        "need",
        "address",
        "contact_name",
        "contact_phone",
        "triage",
        "pipe_size_dn",
        "customer_id",
        "first_responder_id",
        "handler_department_id",
        "handler_staff_id",
        "state",
        "due_at",
        "promised_at",
        "stage",
        "stage_started_at",
        "escalation_level",
        "passed_dispatch",
        "arrived",
        "extension_requests",
        "extra_working_days",
        "follow_up_attempts",
        "follow_up_outcome",
        "result_note",
        "customer_rating",
        "no_rating_reason",
        "answer",
        "transfer_department_id",
        "told_caller",
        "parent_case_id",
        "created_at",
        "closed_at",
        "version",
    ),
}
ROW_DIGEST_VERSION = "v1"

#: Columns left out, and why: the number is drawn after the row's last write
#: at intake (it is covered by the gapless numbering and the anchors);
#: ``updated_at`` is bookkeeping; the chain head is checked by the chain itself.
NOT_IN_ROW_DIGEST = ("number", "updated_at", "last_event_seq", "last_event_hash")

_cases = Case.__table__


def _row_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def row_digest(values: Mapping[str, Any], version: str = ROW_DIGEST_VERSION) -> str:
    """``version:sha256`` of a case row's :data:`ROW_FIELDS` (``values`` by column name)."""
    body = _canonical({name: _row_value(values[name]) for name in ROW_FIELDS[version]})
    return f"{version}:{hashlib.sha256(body).hexdigest()}"


def digest_of_row(case: Any, version: str = ROW_DIGEST_VERSION) -> str:
    """The row digest of ``case`` as its attributes are now (a row read from the database)."""
    return row_digest({name: getattr(case, name) for name in ROW_FIELDS[version]}, version)


def _version_of(digest: str) -> str | None:
    version = digest.split(":", 1)[0]
    return version if version in ROW_FIELDS else None


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


# -- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One sign of tampering.

    ``case_number`` names what is at fault: a case (also one that is gone), or
    ``anchor N`` or ``day YYYYMMDD``. ``where`` is the part of it ("row"), or
    empty; by default the event ``seq`` or, without one, the chain head.
    """

    case_number: str
    seq: int | None
    message: str
    where: str | None = None

    def __str__(self) -> str:
        if self.where is None:
            where = f" event {self.seq}" if self.seq is not None else " head"
        else:
            where = f" {self.where}" if self.where else ""
        return f"{self.case_number}{where}: {self.message}"


def check_chain(case: Case, events: Iterable[CaseEvent]) -> list[Problem]:
    """Every break in the chain of ``case`` given its events in sequence order."""
    problems: list[Problem] = []
    prev, expected_seq = GENESIS, 1
    for event in events:
        if event.seq != expected_seq:
            problems.append(
                Problem(
                    case.number, event.seq, f"expected event {expected_seq}: an event is missing"
                )
            )
        if event.prev_hash != prev:
            problems.append(Problem(case.number, event.seq, "does not link to the event before it"))
        if hash_of(event) != event.hash:
            problems.append(
                Problem(case.number, event.seq, "content was changed after it was written")
            )
        prev, expected_seq = event.hash, event.seq + 1
    if expected_seq == 1 and case.last_event_seq == 0:
        problems.append(
            Problem(
                case.number,
                None,
                "the case has no events, yet every case is registered with one: "
                "its history was removed outside the product",
            )
        )
    elif expected_seq - 1 != case.last_event_seq or prev != (case.last_event_hash or GENESIS):
        problems.append(
            Problem(
                case.number,
                None,
                f"the case records {case.last_event_seq} events but the chain ends at "
                f"{expected_seq - 1}: events were removed or added outside the product",
            )
        )
    return problems


def check_row(case: Case, last: CaseEvent | None, *, digests_since: int | None) -> list[Problem]:
    """Whether the case row is as its last event (``last``, the chain head) left it.

    ``digests_since``: the id of the first event written with a row digest;
    a later event without one lost it. Events written before digests were
    kept are not checked.
    """
    if last is None or last.seq != case.last_event_seq or last.hash != case.last_event_hash:
        return []  # the chain's own problems say what is wrong
    if not last.row_digest:
        if digests_since is not None and last.id > digests_since:
            return [
                Problem(
                    case.number,
                    last.seq,
                    "has no row digest, though every event written since digests began "
                    "gets one: it was removed outside the product",
                )
            ]
        return []
    return _row_problems(case, last.seq, last.to_state, last.row_digest)


def _row_problems(case: Case, seq: int, to_state: str, digest: str) -> list[Problem]:
    version = _version_of(digest)
    if version is not None and digest_of_row(case, version) == digest:
        return []
    hint = ""
    if str(_row_value(case.state)) != to_state:
        hint = f"; its state is '{_row_value(case.state)}', its last event left it '{to_state}'"
    return [
        Problem(
            case.number,
            seq,
            f"the case row differs from the row its last event ({seq}) recorded: "
            f"changed outside the product{hint}",
            where="row",
        )
    ]


# -- anchors ----------------------------------------------------------------------------------


def key_id(key: str) -> str:
    """A short name of ``key`` that gives nothing of it away (shown with each anchor)."""
    return hashlib.sha256(b"hotline audit key\x00" + key.encode()).hexdigest()[:16]


def seal_of(
    key: str,
    *,
    seq: int,
    at: datetime,
    case_count: int,
    heads: Mapping[str, Any],
    prev_seal: str,
) -> str:
    """HMAC-SHA256 with ``key`` over an anchor's content and the seal before it."""
    body = _canonical(
        {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "case_count": case_count,
            "heads": heads,
            "prev": prev_seal,
        }
    )
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SealedHead:
    """A case's head as an anchor sealed it."""

    number: str
    seq: int
    hash: str
    row_digest: str | None
    anchor: int


@dataclass
class Anchored:
    """What the anchors together seal: every case's latest sealed head, every day's counter."""

    cases: dict[int, SealedHead] = field(default_factory=dict)
    days: dict[str, tuple[int, int]] = field(default_factory=dict)  # day: (last, anchor)
    last: AuditAnchor | None = None
    problems: list[Problem] = field(default_factory=list)


def read_anchors(session: Session, key: str | None) -> Anchored:
    """Replay the anchors in order, checking their sequence, links and (with ``key``) seals."""
    anchored = Anchored()
    prev_seal, expected = "", 1
    for anchor in session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)):
        label = f"anchor {anchor.seq}"
        if anchor.seq != expected:
            anchored.problems.append(
                Problem(
                    label,
                    None,
                    f"anchor {expected} is missing: anchors were deleted outside the product",
                    where="",
                )
            )
        if anchor.prev_seal != prev_seal:
            anchored.problems.append(
                Problem(label, None, "does not follow the anchor before it", where="")
            )
        if key is not None:
            if anchor.key_id != key_id(key):
                anchored.problems.append(
                    Problem(
                        label,
                        None,
                        f"was sealed with another key (id {anchor.key_id}; this "
                        f"installation's key is {key_id(key)}): set the audit key of that time",
                        where="",
                    )
                )
            elif not hmac.compare_digest(
                anchor.seal,
                seal_of(
                    key,
                    seq=anchor.seq,
                    at=anchor.at,
                    case_count=anchor.case_count,
                    heads=anchor.heads,
                    prev_seal=anchor.prev_seal,
                ),
            ):
                anchored.problems.append(
                    Problem(
                        label,
                        None,
                        "its seal does not match: the anchor was forged or edited",
                        where="",
                    )
                )
        for case_id, (number, seq, hash_, digest) in (anchor.heads.get("cases") or {}).items():
            anchored.cases[int(case_id)] = SealedHead(number, seq, hash_, digest, anchor.seq)
        for day, last in (anchor.heads.get("days") or {}).items():
            anchored.days[day] = (int(last), anchor.seq)
        prev_seal, expected = anchor.seal, anchor.seq + 1
        anchored.last = anchor
    return anchored


def check_sealed(
    case: Case, events: Sequence[CaseEvent], sealed: SealedHead | None
) -> list[Problem]:
    """Whether the case still holds the head an anchor sealed."""
    if sealed is None:
        return []
    problems = []
    if case.number != sealed.number:
        problems.append(
            Problem(
                case.number,
                None,
                f"was numbered {sealed.number} when anchor {sealed.anchor} sealed it: "
                "renumbered outside the product",
                where="",
            )
        )
    sealed_event = next((e for e in events if e.seq == sealed.seq), None)
    if sealed_event is None:
        problems.append(
            Problem(
                case.number,
                sealed.seq,
                f"was sealed by anchor {sealed.anchor} and is gone: "
                "the history was cut outside the product",
            )
        )
    elif sealed_event.hash != sealed.hash:
        problems.append(
            Problem(
                case.number,
                sealed.seq,
                f"differs from the event anchor {sealed.anchor} sealed: "
                "the history was rewritten outside the product",
            )
        )
    elif sealed_event.row_digest != sealed.row_digest:
        problems.append(
            Problem(
                case.number,
                sealed.seq,
                f"its row digest differs from the one anchor {sealed.anchor} sealed: "
                "edited outside the product",
            )
        )
    return problems


# -- the numbers ------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?P<prefix>.+)-(?P<day>\d{8})-(?P<serial>\d{4,})")


def _split(number: str) -> tuple[str, str, int] | None:
    match = _NUMBER.fullmatch(number)
    if match is None:
        return None
    return match["prefix"], match["day"], int(match["serial"])


def check_numbers(
    numbers: Iterable[str],
    counters: Mapping[str, int],
    anchored_days: Mapping[str, tuple[int, int]],
    *,
    prefix: str = "",
    known_gone: Iterable[str] = (),
) -> list[Problem]:
    """Holes in each day's case numbers, and counters out of step with the numbers or seals.

    Numbers that do not read ``PREFIX-YYYYMMDD-NNNN`` are not counted.
    ``known_gone``: numbers already reported as deleted.
    """
    serials: dict[str, set[int]] = {}
    prefixes: dict[str, str] = {}
    for number in numbers:
        parts = _split(number)
        if parts is None:
            continue
        serials.setdefault(parts[1], set()).add(parts[2])
        prefixes.setdefault(parts[1], parts[0])
    gone = set(known_gone)
    problems: list[Problem] = []
    for day in sorted(set(serials) | set(counters) | set(anchored_days)):
        present = serials.get(day, set())
        last = counters.get(day)
        sealed = anchored_days.get(day)
        label = f"day {day}"
        if last is None:
            if present or sealed:
                problems.append(
                    Problem(
                        label,
                        None,
                        "its number counter is gone: removed outside the product",
                        where="",
                    )
                )
            continue
        if sealed is not None and last < sealed[0]:
            problems.append(
                Problem(
                    label,
                    None,
                    f"its counter says {last:04d}, anchor {sealed[1]} sealed {sealed[0]:04d}: "
                    "lowered outside the product",
                    where="",
                )
            )
        if present and max(present) > last:
            problems.append(
                Problem(
                    label,
                    None,
                    f"its counter says {last:04d} but numbers run to {max(present):04d}: "
                    "changed outside the product",
                    where="",
                )
            )
        head = prefixes.get(day, prefix)
        run_to = max(last, sealed[0] if sealed else 0)
        for serial in sorted(set(range(1, run_to + 1)) - present):
            number = f"{head}-{day}-{serial:04d}"
            if number in gone:
                continue
            problems.append(
                Problem(
                    number,
                    None,
                    f"is missing, yet the numbers of {day} run to {run_to:04d}: "
                    "the case was deleted outside the product",
                    where="",
                )
            )
    return problems


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


def _check_case(
    case: Case, events: list[CaseEvent], sealed: SealedHead | None, digests_since: int | None
) -> list[Problem]:
    return [
        *check_chain(case, events),
        *check_row(case, events[-1] if events else None, digests_since=digests_since),
        *check_sealed(case, events, sealed),
    ]


def _digests_since(session: Session) -> int | None:
    return session.scalar(select(func.min(CaseEvent.id)).where(CaseEvent.row_digest.is_not(None)))


def _gone(
    anchored: Anchored, present_ids: set[int], only_number: str | None = None
) -> list[Problem]:
    """Sealed cases that are no longer there."""
    return [
        Problem(
            sealed.number,
            None,
            f"was sealed by anchor {sealed.anchor} with {sealed.seq} event(s) and is gone: "
            "deleted outside the product",
            where="",
        )
        for case_id, sealed in sorted(anchored.cases.items())
        if case_id not in present_ids and (only_number is None or sealed.number == only_number)
    ]


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
            problems += _gone(anchored, set(), only_number=case_number)
            parts = _split(case_number)
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
        problems.extend(_check_case(case, events, anchored.cases.get(case.id), digests_since))
        numbers.append(case.number)
        checked += 1
    if not case_number:
        gone = _gone(anchored, set(case_ids))
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
        problems.extend(_check_case(case, events, anchored.cases.get(case.id), digests_since))
    unchanged = sorted(set(heads) - set(moved))
    for chunk in _chunks(unchanged):
        for case in session.scalars(select(Case).where(Case.id.in_(chunk)).order_by(Case.id)):
            _number, seq, _hash, digest = heads[case.id]
            if digest:
                problems.extend(_row_problems(case, seq, to_states[case.id] or "", digest))
    gone = _gone(anchored, set(heads))
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
