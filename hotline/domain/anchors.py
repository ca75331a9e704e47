"""Audit anchors: the seals over every case's chain head and every day's number counter.

``hotline audit anchor`` seals with an HMAC whose key is kept outside the
database (:func:`seal_of`); anyone can recompute a chain, but without the key
nobody can make a rewritten one match its seal. :func:`replay_anchors` reads
the anchors in order and says what they seal; :func:`check_case` checks one
case against its chain, its row and its sealed head. No database: the
anchors are read and written by ``hotline.services.audit``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from hotline.domain.audit import (
    CaseRecord,
    EventRecord,
    Problem,
    canonical,
    check_chain,
    check_row,
)


class AnchorRecord(Protocol):
    """What the checks read of an anchor (an ``audit_anchors`` row)."""

    seq: int
    at: datetime
    case_count: int
    heads: Any
    key_id: str
    prev_seal: str
    seal: str


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
    body = canonical(
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
    last: AnchorRecord | None = None
    problems: list[Problem] = field(default_factory=list)


def replay_anchors(anchors: Iterable[AnchorRecord], key: str | None) -> Anchored:
    """Replay ``anchors`` in order of sequence, checking their sequence, links and (with
    ``key``) seals."""
    anchored = Anchored()
    prev_seal, expected = "", 1
    for anchor in anchors:
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
    case: CaseRecord, events: Sequence[EventRecord], sealed: SealedHead | None
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


def check_case(
    case: CaseRecord,
    events: list[EventRecord],
    sealed: SealedHead | None,
    digests_since: int | None,
) -> list[Problem]:
    """Every problem of one case: its chain, its row against its last event, its sealed head."""
    return [
        *check_chain(case, events),
        *check_row(case, events[-1] if events else None, digests_since=digests_since),
        *check_sealed(case, events, sealed),
    ]


def sealed_but_gone(
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
