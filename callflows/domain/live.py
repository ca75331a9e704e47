"""A live call's script session, kept as data between requests.

The console drives :class:`~callflows.domain.engine.CallSession` one small request at
a time, so the session is stored on the call row and rebuilt for each request.
What is stored is the log of operations applied, each with the time it was
applied; rebuilding replays the log against a clock that gives those times.
The rebuilt session is therefore the very session the operator built, with
every rule of the engine (P4's read-back gate, P3's reassurance timer) applied
by the engine itself, and its compliance record carries the original times.

Pure Python: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callflows.domain.engine import CallSession, Clock
from callflows.domain.scripts import Script
from hotline.domain.errors import Rejected

__all__ = [
    "OPERATIONS",
    "LiveScript",
    "StateError",
    "restore",
    "start",
]

#: Operation name -> the arguments it takes (all text).
OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "capture": ("field", "value"),
    "answer": ("answer",),
    "complete": (),
    "skip": (),
    "go_to": ("step",),
    "not_heard": (),
    "start_lookup": (),
    "reassure": (),
    "end_lookup": (),
    "confirm_read_back": (),
    "end": ("hung_up_by",),
}


class StateError(Rejected):
    """Stored script state that cannot be rebuilt (unknown script, broken log)."""


class _ReplayClock:
    """Gives the time pinned for the operation under way, else the live clock."""

    def __init__(self, live: Clock) -> None:
        self.live = live
        self.pinned: datetime | None = None

    def __call__(self) -> datetime:
        return self.pinned if self.pinned is not None else self.live()


def _apply(session: CallSession, op: str, args: Mapping[str, str]) -> None:
    """Apply one operation; raises the engine's :class:`CallFlowError`."""
    actions: dict[str, Callable[[], object]] = {
        "capture": lambda: session.capture(args["field"], args["value"]),
        "answer": lambda: session.answer(args["answer"]),
        "complete": session.complete_step,
        "skip": session.skip,
        "go_to": lambda: session.go_to(args["step"]),
        "not_heard": session.repeat_not_heard,
        "start_lookup": session.start_lookup,
        "reassure": session.reassure,
        "end_lookup": session.end_lookup,
        "confirm_read_back": session.confirm_read_back,
        "end": lambda: session.end(hung_up_by=args["hung_up_by"]),
    }
    actions[op]()


@dataclass
class LiveScript:
    """A rebuilt session and the log it was rebuilt from."""

    session: CallSession
    ops: list[dict[str, Any]]
    _clock: _ReplayClock

    def apply(self, op: str, args: Mapping[str, Any] | None = None) -> None:
        """Apply ``op`` now and log it if the engine accepts it.

        Raises ``ValueError`` for an unknown operation or a missing argument,
        and the engine's :class:`~callflows.domain.engine.CallFlowError` when the
        engine refuses; a refused operation is not logged.
        """
        if op not in OPERATIONS:
            raise Rejected(
                "unknown operation '%(op)s'; expected one of %(known)s",
                op=op,
                known=", ".join(OPERATIONS),
            )
        given = dict(args or {})
        clean: dict[str, str] = {}
        for name in OPERATIONS[op]:
            value = given.get(name)
            if not isinstance(value, str) or not value.strip():
                raise Rejected("operation '%(op)s' needs '%(name)s'", op=op, name=name)
            clean[name] = value
        # One time for the whole operation, so the replay sees the same times.
        self._clock.pinned = self._clock.live()
        try:
            _apply(self.session, op, clean)
            self.ops.append({"op": op, "at": self._clock.pinned.isoformat(), **clean})
        finally:
            self._clock.pinned = None

    def to_state(self) -> dict[str, Any]:
        """What is stored on the call row: the log and a readable snapshot."""
        session = self.session
        current = session.current_step
        return {
            "script_id": session.script.id,
            "ops": [dict(entry) for entry in self.ops],
            "fields": session.fields,
            "done_steps": list(session.done_steps),
            "current_step": current.id if current is not None else None,
            "read_back_confirmed_at": (
                session.read_back_confirmed_at.isoformat()
                if session.read_back_confirmed_at
                else None
            ),
            "ended": not session.is_live,
        }


def start(script: Script, clock: Clock, *, known: Mapping[str, str] | None = None) -> LiveScript:
    """Start a session on ``script`` now, with ``known`` fields pre-filled.

    Raises the engine's errors for a known field the script does not use or a
    value it refuses.
    """
    replay = _ReplayClock(clock)
    replay.pinned = clock()
    try:
        session = CallSession(script, replay, known=known)
    finally:
        replay.pinned = None
    first = {"op": "start", "at": session.started_at.isoformat(), "known": dict(known or {})}
    return LiveScript(session, [first], replay)


def restore(scripts: Mapping[str, Script], state: Mapping[str, Any], clock: Clock) -> LiveScript:
    """Rebuild the session stored as ``state``; new operations use ``clock``.

    Raises :class:`StateError` when the script is no longer loaded or the log
    cannot be replayed (a script changed under a live call).
    """
    script_id = state.get("script_id")
    if not isinstance(script_id, str) or script_id not in scripts:
        raise StateError("the call's script '%(script)s' is not loaded", script=script_id)
    ops = state.get("ops")
    if not isinstance(ops, list) or not ops or ops[0].get("op") != "start":
        raise StateError("the call's script log is empty or does not begin with 'start'")
    replay = _ReplayClock(clock)
    try:
        replay.pinned = datetime.fromisoformat(ops[0]["at"])
        session = CallSession(scripts[script_id], replay, known=ops[0].get("known") or {})
        for entry in ops[1:]:
            replay.pinned = datetime.fromisoformat(entry["at"])
            args = {name: entry[name] for name in OPERATIONS[entry["op"]]}
            _apply(session, entry["op"], args)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(
            "the call's script log cannot be replayed: %(detail)s", detail=str(exc)
        ) from exc
    except Exception as exc:  # an engine refusal: the script changed under the call
        raise StateError(
            "the call's script log no longer replays: %(detail)s", detail=str(exc)
        ) from exc
    finally:
        replay.pinned = None
    return LiveScript(session, [dict(entry) for entry in ops], replay)
