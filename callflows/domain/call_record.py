"""What a call leaves on record, and how it is measured against its script.

The records a :class:`~callflows.domain.engine.CallSession` keeps as the call
goes (steps done or skipped, jumps, prompts said, look-ups, read-back
revocations), the :class:`ComplianceRecord` it reports, and the measuring
itself: which steps applied to the call as it went (the branches actually
taken), whether a greeting or closing was owed, and the look-up silences
longer than P3's interval. Pure Python.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from callflows.domain.scripts import Script, StepKind

__all__ = [
    "ComplianceRecord",
    "FieldChange",
    "Jump",
    "LookupRecord",
    "PromptRecord",
    "ReassuranceGap",
    "StepRecord",
    "StepStatus",
    "applicable_steps",
    "missed_kind",
    "reaches_end",
    "reassurance_gaps",
]


class StepStatus(StrEnum):
    """How a step left the call."""

    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepRecord:
    """A step done or skipped, when, and the answer chosen at a branching step."""

    step_id: str
    status: StepStatus
    at: datetime
    answer: str | None = None


@dataclass(frozen=True)
class Jump:
    """The operator moved the script to a step out of order."""

    from_step: str | None
    to_step: str
    at: datetime


@dataclass(frozen=True)
class PromptRecord:
    """A prompt said (not-heard repeat, look-up line) and at which step."""

    prompt_id: str
    at: datetime
    step_id: str | None


@dataclass(frozen=True)
class ReassuranceGap:
    """A stretch of a look-up longer than the interval with no word to the caller."""

    started_at: datetime
    ended_at: datetime

    @property
    def seconds(self) -> float:
        """Length of the silence in seconds."""
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class LookupRecord:
    """One look-up: when it ran and every time the caller was reassured."""

    started_at: datetime
    ended_at: datetime | None
    prompts: tuple[datetime, ...]


@dataclass(frozen=True)
class FieldChange:
    """A read-back field changed after confirmation, which revoked it (P4)."""

    field: str
    at: datetime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class ComplianceRecord:
    """What happened on a call, measured against its script.

    ``missed_required`` lists the required steps that applied to the call as it
    went (the branches actually taken) and were not done, in script order.
    ``missed_greeting`` and ``missed_closing`` say that no greeting or closing
    was said although every way the call could end needed one. Only field names are kept, never their values, so the
    record can be shown to anyone who reviews calls.
    """

    script_id: str
    as_of: datetime
    started_at: datetime
    ended_at: datetime | None
    hung_up_by: str | None
    steps: tuple[StepRecord, ...]
    done_steps: tuple[str, ...]
    missed_required: tuple[str, ...]
    missed_greeting: bool
    missed_closing: bool
    jumps: tuple[Jump, ...]
    not_heard_repeats: tuple[PromptRecord, ...]
    lookups: tuple[LookupRecord, ...]
    reassurance_gaps: tuple[ReassuranceGap, ...]
    read_back_confirmed_at: datetime | None
    read_back_revocations: tuple[FieldChange, ...]
    captured_fields: tuple[str, ...]

    @property
    def reassurances(self) -> tuple[datetime, ...]:
        """Every time the look-up line was said, across all look-ups."""
        return tuple(at for lookup in self.lookups for at in lookup.prompts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: datetimes as ISO 8601 strings, seconds as floats."""
        return {
            "script_id": self.script_id,
            "as_of": _iso(self.as_of),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "hung_up_by": self.hung_up_by,
            "steps": [
                {
                    "step_id": r.step_id,
                    "status": r.status.value,
                    "at": _iso(r.at),
                    "answer": r.answer,
                }
                for r in self.steps
            ],
            "done_steps": list(self.done_steps),
            "missed_required": list(self.missed_required),
            "missed_greeting": self.missed_greeting,
            "missed_closing": self.missed_closing,
            "jumps": [
                {"from_step": j.from_step, "to_step": j.to_step, "at": _iso(j.at)}
                for j in self.jumps
            ],
            "not_heard_repeats": [
                {"at": _iso(p.at), "step_id": p.step_id} for p in self.not_heard_repeats
            ],
            "lookups": [
                {
                    "started_at": _iso(lk.started_at),
                    "ended_at": _iso(lk.ended_at),
                    "prompts": [_iso(at) for at in lk.prompts],
                }
                for lk in self.lookups
            ],
            "reassurance_gaps": [
                {
                    "started_at": _iso(g.started_at),
                    "ended_at": _iso(g.ended_at),
                    "seconds": g.seconds,
                }
                for g in self.reassurance_gaps
            ],
            "read_back_confirmed_at": _iso(self.read_back_confirmed_at),
            "read_back_revocations": [
                {"field": c.field, "at": _iso(c.at)} for c in self.read_back_revocations
            ],
            "captured_fields": list(self.captured_fields),
        }


# --- measuring a call against its script -------------------------------------------


def reaches_end(script: Script, answers: Mapping[str, str], avoiding: frozenset[str]) -> bool:
    """Whether a call with these ``answers`` so far can end without the ``avoiding`` steps.

    A branching step already answered keeps only the branch taken; the
    others keep all of theirs (and their skip, if optional).
    """
    if script.start in avoiding:
        return False
    seen: set[str] = {script.start}
    stack = [script.start]
    while stack:
        step_id = stack.pop()
        if step_id in answers:
            targets: tuple[str | None, ...] = (script.step(step_id).target(answers[step_id]),)
        else:
            targets = script.successors(step_id)
        for target in targets:
            if target is None:
                return True
            if target not in avoiding and target not in seen:
                seen.add(target)
                stack.append(target)
    return False


def applicable_steps(script: Script, answers: Mapping[str, str]) -> set[str]:
    """Steps every path of a call with these ``answers`` so far has to pass.

    A step applies when the call cannot end without it, so a step on one
    branch applies only once that branch is chosen.
    """
    return {
        step.id for step in script.steps if not reaches_end(script, answers, frozenset({step.id}))
    }


def missed_kind(
    script: Script, answers: Mapping[str, str], kind: StepKind, done: Collection[str]
) -> bool:
    """No step of ``kind`` was done although the call cannot end without one.

    Scripts may have several closings (one per way the call ends); this asks
    whether some closing was needed, not which.
    """
    of_kind = frozenset(step.id for step in script.steps if step.kind is kind)
    return (
        bool(of_kind)
        and not (of_kind & frozenset(done))
        and not reaches_end(script, answers, of_kind)
    )


def reassurance_gaps(
    lookup: LookupRecord, as_of: datetime, interval: timedelta
) -> list[ReassuranceGap]:
    """The stretches of ``lookup`` (up to its end, or ``as_of``) longer than ``interval``
    with no word to the caller."""
    marks = [*lookup.prompts, lookup.ended_at or as_of]
    return [
        ReassuranceGap(earlier, later)
        for earlier, later in pairwise(marks)
        if later - earlier > interval
    ]
