"""The tamper-evident history's arithmetic: chain hashes, row digests and their checks.

Each event's hash covers its content and the previous event's hash
(:func:`event_hash`); each event records a digest of the case row as its
transaction wrote it (:func:`row_digest` over :data:`ROW_FIELDS`); case
numbers run per day without gaps (:func:`check_numbers`). The checks name
every sign of tampering as a :class:`Problem`. No database: reading and
writing the rows is ``hotline.services.audit``; the anchors' seals are
``hotline.domain.anchors``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


class EventRecord(Protocol):
    """What the checks read of an event (a ``case_events`` row)."""

    id: int
    case_id: int
    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor_id: int | None
    at: datetime
    reason: str
    data: Any
    prev_hash: str
    hash: str
    row_digest: str | None


class CaseRecord(Protocol):
    """What the checks read of a case (a ``cases`` row); the row digest reads every
    column of :data:`ROW_FIELDS` too."""

    number: str
    state: str
    last_event_seq: int
    last_event_hash: str | None


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


def canonical(body: Any) -> bytes:
    """The bytes that are hashed and sealed: JSON with sorted keys, no spaces."""
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
    body = canonical(
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


def hash_of(event: EventRecord) -> str:
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
#: v2 adds the case's service area (片区), which routes it.
ROW_FIELDS["v2"] = (*ROW_FIELDS["v1"], "area")
#: v3 adds the severity grade and the area's zone, which set the on-site limit.
ROW_FIELDS["v3"] = (*ROW_FIELDS["v2"], "grade", "zone")
ROW_DIGEST_VERSION = "v3"

#: Columns left out, and why: the number is drawn after the row's last write
#: at intake (it is covered by the gapless numbering and the anchors);
#: ``updated_at`` is bookkeeping; the chain head is checked by the chain itself.
NOT_IN_ROW_DIGEST = ("number", "updated_at", "last_event_seq", "last_event_hash")


def _row_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


def row_digest(values: Mapping[str, Any], version: str = ROW_DIGEST_VERSION) -> str:
    """``version:sha256`` of a case row's :data:`ROW_FIELDS` (``values`` by column name)."""
    body = canonical({name: _row_value(values[name]) for name in ROW_FIELDS[version]})
    return f"{version}:{hashlib.sha256(body).hexdigest()}"


def digest_of_row(case: Any, version: str = ROW_DIGEST_VERSION) -> str:
    """The row digest of ``case`` as its attributes are now (a row read from the database)."""
    return row_digest({name: getattr(case, name) for name in ROW_FIELDS[version]}, version)


def _version_of(digest: str) -> str | None:
    version = digest.split(":", 1)[0]
    return version if version in ROW_FIELDS else None


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


def check_chain(case: CaseRecord, events: Iterable[EventRecord]) -> list[Problem]:
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


def check_row(
    case: CaseRecord, last: EventRecord | None, *, digests_since: int | None
) -> list[Problem]:
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
    return row_problems(case, last.seq, last.to_state, last.row_digest)


def row_problems(case: CaseRecord, seq: int, to_state: str, digest: str) -> list[Problem]:
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


# -- the numbers ------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?P<prefix>.+)-(?P<day>\d{8})-(?P<serial>\d{4,})")


def split_number(number: str) -> tuple[str, str, int] | None:
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
        parts = split_number(number)
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
