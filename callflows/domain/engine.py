"""The script engine for one live call: pure, driven by an injected clock.

A :class:`CallSession` walks a call through a :class:`~callflows.domain.scripts.Script`:
the current step, answers at branching steps, captured fields, skips (only of
optional steps), the not-heard repeat, the look-up timer that asks for the
reassurance line every 30 seconds (P3), the read-back gate (P4) and the
closing. :meth:`CallSession.compliance_record` reports what was done and when,
and what the standard asked for that was not.

The session never reads the system clock; it calls the ``clock`` it was given,
which must return timezone-aware datetimes. It is meant for one operator's
console and is not thread-safe.

This module owns the walk itself (:class:`CallSession`). The engine's
refusals are in :mod:`callflows.domain.refusals`, the records it keeps and
the measuring of a call against its script in
:mod:`callflows.domain.call_record`; every name is also importable from here.
(About 570 lines on purpose: :class:`CallSession` is one state machine, and
its steps, timers and gates are read best in one place.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callflows.domain.call_record import (
    ComplianceRecord,
    FieldChange,
    Jump,
    LookupRecord,
    PromptRecord,
    ReassuranceGap,
    StepRecord,
    StepStatus,
    applicable_steps,
    missed_kind,
    reassurance_gaps,
)
from callflows.domain.refusals import (
    AnswerRequired,
    CallEnded,
    CallFlowError,
    ClockError,
    InvalidFieldValue,
    LookupStateError,
    MissingCapture,
    PromptMissing,
    ReadBackRequired,
    ScriptFinished,
    StepRequired,
    UnknownAnswer,
    UnknownField,
    UnknownStep,
)
from callflows.domain.scripts import FIELDS, Prompt, Script, Step, StepKind
from hotline.domain.errors import Rejected, words

__all__ = [
    "READ_BACK_FIELDS",
    "REASSURANCE_INTERVAL",
    "AnswerRequired",
    "CallEnded",
    "CallFlowError",
    "CallSession",
    "Clock",
    "ClockError",
    "ComplianceRecord",
    "FieldChange",
    "InvalidFieldValue",
    "Jump",
    "LookupRecord",
    "LookupStateError",
    "MissingCapture",
    "PromptMissing",
    "PromptRecord",
    "ReadBackRequired",
    "ReassuranceGap",
    "ScriptFinished",
    "StepRecord",
    "StepRequired",
    "StepStatus",
    "UnknownAnswer",
    "UnknownField",
    "UnknownStep",
]

Clock = Callable[[], datetime]

#: P4: what must be captured and read back before a case can be submitted.
READ_BACK_FIELDS: tuple[str, ...] = ("problem", "need", "address", "contact_phone")

#: P3: 查询过程中每隔半分钟与客户打招呼.
REASSURANCE_INTERVAL = timedelta(seconds=30)


@dataclass
class _Lookup:
    started_at: datetime
    prompts: list[datetime] = field(default_factory=list)
    ended_at: datetime | None = None


# --- the session -----------------------------------------------------------------


class CallSession:
    """One call walked through one script.

    ``clock`` returns the current time as an aware datetime. ``known`` pre-fills
    fields already known when the call starts (the account on screen for a
    dunning call, the case for a follow-up); they are validated like captures
    and raise :class:`UnknownField` or :class:`InvalidFieldValue`.
    ``reassurance_interval`` is P3's half minute unless configured otherwise.
    """

    def __init__(
        self,
        script: Script,
        clock: Clock,
        *,
        known: Mapping[str, str] | None = None,
        reassurance_interval: timedelta = REASSURANCE_INTERVAL,
    ) -> None:
        if reassurance_interval <= timedelta(0):
            raise ValueError("reassurance_interval must be positive")
        self._script = script
        self._clock = clock
        self._interval = reassurance_interval
        self._started_at = self._now()
        self._ended_at: datetime | None = None
        self._hung_up_by: str | None = None
        self._current: str | None = script.start
        self._fields: dict[str, str] = {}
        self._answers: dict[str, str] = {}
        self._history: list[StepRecord] = []
        self._jumps: list[Jump] = []
        self._not_heard: list[PromptRecord] = []
        self._lookups: list[_Lookup] = []
        self._read_back_at: datetime | None = None
        self._read_back_values: dict[str, str] = {}
        self._revocations: list[FieldChange] = []
        for name, value in (known or {}).items():
            self.capture(name, value)

    # -- time

    def _now(self) -> datetime:
        return self._aware(
            self._clock(), words("the clock must give a timezone-aware datetime, got %(value)s")
        )

    @staticmethod
    def _aware(value: datetime, refusal: str) -> datetime:
        """``value`` if aware; else :class:`ClockError` in the words of ``refusal``."""
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ClockError(refusal, value=repr(value))
        return value

    # -- state

    @property
    def script(self) -> Script:
        """The script this call follows."""
        return self._script

    @property
    def started_at(self) -> datetime:
        """When the session was created (the call was answered or placed)."""
        return self._started_at

    @property
    def ended_at(self) -> datetime | None:
        """When the call ended, or ``None`` while it is live."""
        return self._ended_at

    @property
    def is_live(self) -> bool:
        """True until :meth:`end` is called."""
        return self._ended_at is None

    @property
    def current_step(self) -> Step | None:
        """The step the operator is on, or ``None`` once the script has ended."""
        return self._script.step(self._current) if self._current is not None else None

    @property
    def fields(self) -> dict[str, str]:
        """A copy of the captured fields."""
        return dict(self._fields)

    @property
    def answers(self) -> dict[str, str]:
        """A copy of the latest answer chosen at each branching step, by step id."""
        return dict(self._answers)

    @property
    def history(self) -> tuple[StepRecord, ...]:
        """Every step done or skipped, in order."""
        return tuple(self._history)

    @property
    def done_steps(self) -> tuple[str, ...]:
        """Ids of the steps done (not skipped), in the order first done."""
        return tuple(dict.fromkeys(r.step_id for r in self._history if r.status is StepStatus.DONE))

    def text(self, step: Step | None = None, *, lang: str = "zh") -> str:
        """The wording of ``step`` (default: the current step) with fields filled.

        Unknown values show as ``××``. Raises :class:`ScriptFinished` when no step
        is given and the script has ended.
        """
        target = step if step is not None else self._require_current()
        return target.render(self._fields, lang=lang)

    # -- guards

    def _require_live(self, refusal: str) -> None:
        """Raise :class:`CallEnded` in the words of ``refusal`` once the call has ended."""
        if self._ended_at is not None:
            raise CallEnded(refusal, ended_at=self._ended_at.isoformat())

    def _require_current(self) -> Step:
        step = self.current_step
        if step is None:
            raise ScriptFinished(
                "script '%(script)s' has ended; there is no current step", script=self._script.id
            )
        return step

    def _check_can_leave(self, step: Step) -> None:
        if step.kind is StepKind.READ_BACK and self._read_back_at is None:
            missing = self.missing_read_back_fields()
            if missing:
                raise ReadBackRequired(
                    missing,
                    False,
                    "step '%(step)s' cannot be completed: %(names)s not captured yet",
                    step=step.id,
                    names=", ".join(missing),
                )
            raise ReadBackRequired(
                missing,
                False,
                "step '%(step)s' cannot be completed: "
                "the read-back has not been confirmed by the caller",
                step=step.id,
            )
        needed = tuple(
            name
            for name in (*step.captures, *sorted(step.placeholders))
            if name not in self._fields
        )
        needed = tuple(dict.fromkeys(needed))
        if needed:
            raise MissingCapture(
                step.id,
                needed,
                "step '%(step)s' cannot be completed: %(names)s not captured yet",
                step=step.id,
                names=", ".join(needed),
            )

    def _move(self, target: str | None) -> Step | None:
        self._current = target
        return self.current_step

    # -- fields

    def capture(self, name: str, value: str) -> None:
        """Store a field's value; allowed at any time, even after the call ends.

        Raises :class:`UnknownField` for a field the script does not use and
        :class:`InvalidFieldValue` for an empty value or one outside the field's
        allowed values. Changing problem, need, address or contact_phone after
        the read-back was confirmed revokes the confirmation (P4).
        """
        if name not in self._script.fields:
            raise UnknownField(
                "script '%(script)s' does not capture '%(name)s'; it captures %(known)s",
                script=self._script.id,
                name=name,
                known=", ".join(sorted(self._script.fields)),
            )
        if not isinstance(value, str) or not value.strip():
            raise InvalidFieldValue(
                "'%(name)s' needs a non-empty text value, got %(value)s",
                name=name,
                value=repr(value),
            )
        text = value.strip()
        choices = FIELDS[name].choices
        if choices and text not in choices:
            raise InvalidFieldValue(
                "'%(value)s' is not a value of '%(name)s'; expected one of %(choices)s",
                value=text,
                name=name,
                choices=", ".join(choices),
            )
        self._fields[name] = text
        if (
            self._read_back_at is not None
            and name in READ_BACK_FIELDS
            and self._read_back_values.get(name) != text
        ):
            self._read_back_at = None
            self._revocations.append(FieldChange(name, self._now()))

    # -- moving through the script

    def answer(self, choice: str) -> Step | None:
        """Choose an answer at the current (branching) step, completing it.

        Stores the answer in the step's answer field and applies the branch's
        ``sets``, then moves to the branch's next step and returns it (``None``
        when the script ends). Raises :class:`CallEnded`,
        :class:`ScriptFinished`, :class:`UnknownAnswer`, and
        :class:`MissingCapture` or :class:`ReadBackRequired` when the step's
        needs are not met.
        """
        self._require_live(words("cannot answer: the call ended at %(ended_at)s"))
        step = self._require_current()
        if not step.branches:
            raise UnknownAnswer(
                "step '%(step)s' takes no answers; complete it instead", step=step.id
            )
        choice = str(choice)
        if choice not in step.answers:
            raise UnknownAnswer(
                "step '%(step)s' has no answer '%(answer)s'; expected one of %(answers)s",
                step=step.id,
                answer=choice,
                answers=", ".join(step.answers),
            )
        self._check_can_leave(step)
        branch = step.branch(choice)
        if step.answer_field is not None:
            self.capture(step.answer_field, choice)
        for name, value in branch.sets:
            self.capture(name, value)
        self._answers[step.id] = choice
        self._history.append(StepRecord(step.id, StepStatus.DONE, self._now(), choice))
        return self._move(step.target(choice))

    def complete_step(self) -> Step | None:
        """Mark the current step done and move to the next; return the new step.

        Raises :class:`CallEnded`, :class:`ScriptFinished`,
        :class:`AnswerRequired` at a branching step, :class:`MissingCapture`
        when a field the step captures or shows is not captured, and
        :class:`ReadBackRequired` at the read-back step until confirmed.
        """
        self._require_live(words("cannot complete a step: the call ended at %(ended_at)s"))
        step = self._require_current()
        if step.branches:
            raise AnswerRequired(
                "step '%(step)s' is completed by choosing an answer: %(answers)s",
                step=step.id,
                answers=", ".join(step.answers),
            )
        self._check_can_leave(step)
        self._history.append(StepRecord(step.id, StepStatus.DONE, self._now()))
        return self._move(step.next)

    advance = complete_step

    def skip(self) -> Step | None:
        """Skip the current optional step; return the step that follows it.

        Raises :class:`StepRequired` for a required step, :class:`CallEnded`
        and :class:`ScriptFinished`.
        """
        self._require_live(words("cannot skip a step: the call ended at %(ended_at)s"))
        step = self._require_current()
        if step.required:
            raise StepRequired("step '%(step)s' is required and cannot be skipped", step=step.id)
        self._history.append(StepRecord(step.id, StepStatus.SKIPPED, self._now()))
        return self._move(step.next)

    def go_to(self, step_id: str) -> Step:
        """Move to any step out of order (the caller ran ahead, or back).

        The jump is recorded; required steps jumped over show as missed unless
        done later. Raises :class:`UnknownStep` and :class:`CallEnded`.
        """
        self._require_live(words("cannot move to another step: the call ended at %(ended_at)s"))
        if step_id not in self._script.step_ids:
            raise UnknownStep(
                "script '%(script)s' has no step '%(step)s'", script=self._script.id, step=step_id
            )
        self._jumps.append(Jump(self._current, step_id, self._now()))
        self._current = step_id
        return self._script.step(step_id)

    # -- prompts at any step

    def _prompt(self, prompt_id: str) -> Prompt:
        prompt = self._script.prompt(prompt_id)
        if prompt is None:
            raise PromptMissing(
                "script '%(script)s' has no '%(prompt)s' prompt",
                script=self._script.id,
                prompt=prompt_id,
            )
        return prompt

    def repeat_not_heard(self) -> Prompt:
        """Record and return the not-heard line (P3), at whatever step.

        Raises :class:`PromptMissing` and :class:`CallEnded`.
        """
        self._require_live(words("cannot ask the caller to repeat: the call ended at %(ended_at)s"))
        prompt = self._prompt("not_heard")
        self._not_heard.append(PromptRecord("not_heard", self._now(), self._current))
        return prompt

    # -- the look-up timer (P3)

    def _active_lookup(self) -> _Lookup | None:
        if self._lookups and self._lookups[-1].ended_at is None:
            return self._lookups[-1]
        return None

    @property
    def lookup_active(self) -> bool:
        """True while the operator is looking something up."""
        return self._active_lookup() is not None

    def start_lookup(self) -> Prompt:
        """Start a look-up: record and return the look-up line, said at once.

        Raises :class:`LookupStateError` if one is already running,
        :class:`PromptMissing` and :class:`CallEnded`.
        """
        self._require_live(words("cannot start a look-up: the call ended at %(ended_at)s"))
        prompt = self._prompt("lookup")
        if self._active_lookup() is not None:
            raise LookupStateError("a look-up is already running; end it first")
        now = self._now()
        self._lookups.append(_Lookup(started_at=now, prompts=[now]))
        return prompt

    def reassure(self) -> Prompt:
        """Record the look-up line said again to the waiting caller; return it.

        Raises :class:`LookupStateError` when no look-up runs and
        :class:`CallEnded`.
        """
        self._require_live(words("cannot reassure the caller: the call ended at %(ended_at)s"))
        lookup = self._active_lookup()
        if lookup is None:
            raise LookupStateError("no look-up is running; start one first")
        lookup.prompts.append(self._now())
        return self._prompt("lookup")

    def end_lookup(self) -> None:
        """End the running look-up. Raises :class:`LookupStateError` if none runs."""
        lookup = self._active_lookup()
        if lookup is None:
            raise LookupStateError("no look-up is running")
        lookup.ended_at = self._now()

    @property
    def next_reassurance_at(self) -> datetime | None:
        """When the caller must next hear the look-up line; ``None`` if no look-up runs."""
        lookup = self._active_lookup()
        if lookup is None:
            return None
        return lookup.prompts[-1] + self._interval

    def due_reassurances(self, now: datetime | None = None) -> list[datetime]:
        """The reassurance times that have come by ``now`` and were not said.

        Empty while the caller is spoken to on time; one entry per interval
        missed since the last prompt. ``now`` defaults to the clock. Raises
        :class:`ClockError` for a naive ``now``.
        """
        moment = (
            self._now()
            if now is None
            else self._aware(now, words("now must give a timezone-aware datetime, got %(value)s"))
        )
        due: list[datetime] = []
        next_at = self.next_reassurance_at
        while next_at is not None and next_at <= moment:
            due.append(next_at)
            next_at += self._interval
        return due

    # -- the read-back gate (P4)

    def missing_read_back_fields(self) -> tuple[str, ...]:
        """Which of problem, need, address and contact_phone are not captured."""
        return tuple(name for name in READ_BACK_FIELDS if name not in self._fields)

    def read_back_items(self) -> dict[str, str | None]:
        """The four P4 fields to read aloud (``None`` where not captured yet)."""
        return {name: self._fields.get(name) for name in READ_BACK_FIELDS}

    @property
    def read_back_confirmed_at(self) -> datetime | None:
        """When the caller confirmed the read-back, or ``None`` if not (or revoked)."""
        return self._read_back_at

    def confirm_read_back(self) -> datetime:
        """Record that the caller confirmed the read-back; return the time.

        Raises :class:`ReadBackRequired` (with ``missing``) unless problem,
        need, address and contact_phone are all captured, and :class:`CallEnded`
        (the caller must be on the line to confirm).
        """
        self._require_live(words("cannot confirm the read-back: the call ended at %(ended_at)s"))
        missing = self.missing_read_back_fields()
        if missing:
            raise ReadBackRequired(
                missing,
                False,
                "the read-back cannot be confirmed: %(names)s not captured yet",
                names=", ".join(missing),
            )
        self._read_back_at = self._now()
        self._read_back_values = {name: self._fields[name] for name in READ_BACK_FIELDS}
        return self._read_back_at

    def require_ready_to_submit(self) -> None:
        """Raise :class:`ReadBackRequired` unless the intake may become a case.

        P4: problem, need, address and contact_phone captured, and the
        read-back confirmed since they last changed.
        """
        missing = self.missing_read_back_fields()
        if missing:
            raise ReadBackRequired(
                missing,
                self._read_back_at is not None,
                "the case cannot be submitted: %(names)s not captured yet",
                names=", ".join(missing),
            )
        if self._read_back_at is None and self._revocations:
            raise ReadBackRequired(
                (),
                False,
                "the case cannot be submitted: the read-back has not been confirmed"
                " by the caller (%(changed)s changed since)",
                changed=self._revocations[-1].field,
            )
        if self._read_back_at is None:
            raise ReadBackRequired(
                (),
                False,
                "the case cannot be submitted: the read-back has not been confirmed by the caller",
            )

    # -- the end of the call

    def end(self, *, hung_up_by: str = "caller") -> datetime:
        """End the call; return the time. Ends a running look-up too.

        ``hung_up_by`` is ``"caller"`` or ``"operator"`` (P3: let the caller hang
        up first; the record shows who did). Raises :class:`CallEnded` if the
        call already ended and ``ValueError`` for another ``hung_up_by``.
        """
        if hung_up_by not in ("caller", "operator"):
            raise Rejected(
                "hung_up_by must be 'caller' or 'operator', got %(value)s", value=repr(hung_up_by)
            )
        self._require_live(words("cannot end the call: the call ended at %(ended_at)s"))
        now = self._now()
        lookup = self._active_lookup()
        if lookup is not None:
            lookup.ended_at = now
        self._ended_at = now
        self._hung_up_by = hung_up_by
        return now

    # -- compliance

    def compliance_record(self) -> ComplianceRecord:
        """What was done on this call and what the standard asked for that was not.

        Taken as of now: on a live call, required steps still ahead count as
        missed and a running look-up's silence counts up to now; take it after
        :meth:`end` for the call's final record.
        """
        as_of = self._ended_at or self._now()
        done = set(self.done_steps)
        applicable = applicable_steps(self._script, self._answers)
        missed = tuple(
            step.id
            for step in self._script.steps
            if step.required and step.id in applicable and step.id not in done
        )
        lookups = tuple(
            LookupRecord(lk.started_at, lk.ended_at, tuple(lk.prompts)) for lk in self._lookups
        )

        return ComplianceRecord(
            script_id=self._script.id,
            as_of=as_of,
            started_at=self._started_at,
            ended_at=self._ended_at,
            hung_up_by=self._hung_up_by,
            steps=tuple(self._history),
            done_steps=self.done_steps,
            missed_required=missed,
            missed_greeting=missed_kind(self._script, self._answers, StepKind.GREETING, done),
            missed_closing=missed_kind(self._script, self._answers, StepKind.CLOSING, done),
            jumps=tuple(self._jumps),
            not_heard_repeats=tuple(self._not_heard),
            lookups=lookups,
            reassurance_gaps=tuple(
                gap for lk in lookups for gap in reassurance_gaps(lk, as_of, self._interval)
            ),
            read_back_confirmed_at=self._read_back_at,
            read_back_revocations=tuple(self._revocations),
            captured_fields=tuple(sorted(self._fields)),
        )
