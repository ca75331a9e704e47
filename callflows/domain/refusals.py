"""Every refusal the call-script engine makes, one exception class each.

All derive from :class:`CallFlowError`, so a caller can catch the engine's
refusals as one. Pure Python.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnswerRequired",
    "CallEnded",
    "CallFlowError",
    "ClockError",
    "InvalidFieldValue",
    "LookupStateError",
    "MissingCapture",
    "PromptMissing",
    "ReadBackRequired",
    "ScriptFinished",
    "StepRequired",
    "UnknownAnswer",
    "UnknownField",
    "UnknownStep",
]


class CallFlowError(Exception):
    """Base class of every refusal the engine makes.

    The words are a template and its values (``template``, ``params``), so the
    place that shows them can say them in the reader's language; ``str()`` is
    the English text.
    """

    def __init__(self, message: str = "", /, **params: Any) -> None:
        self.template, self.params = message, params
        super().__init__(message % params if params else message)


class ClockError(CallFlowError):
    """The injected clock (or a ``now`` passed in) gave a naive datetime."""


class CallEnded(CallFlowError):
    """The call has ended; the action needs the caller on the line."""


class ScriptFinished(CallFlowError):
    """The script has no current step (it ran to its end)."""


class UnknownStep(CallFlowError):
    """The script has no step with that id."""


class UnknownField(CallFlowError):
    """The field is not one the script captures."""


class InvalidFieldValue(CallFlowError):
    """The value is empty, or not one of the field's allowed values."""


class StepRequired(CallFlowError):
    """A required step cannot be skipped."""


class MissingCapture(CallFlowError):
    """A step cannot be completed before the fields it needs are captured."""

    def __init__(self, step_id: str, fields: tuple[str, ...], message: str, **params: Any) -> None:
        self.step_id = step_id
        self.fields = fields
        super().__init__(message, **params)


class AnswerRequired(CallFlowError):
    """A branching step is completed by choosing one of its answers."""


class UnknownAnswer(CallFlowError):
    """The answer is not one the current step offers (or it offers none)."""


class PromptMissing(CallFlowError):
    """The script does not define the prompt asked for."""


class LookupStateError(CallFlowError):
    """A look-up was started twice, or reassured or ended while none runs."""


class ReadBackRequired(CallFlowError):
    """P4: the case needs problem, need, address and contact, read back.

    ``missing`` lists the fields not yet captured; ``confirmed`` says whether
    the read-back has been confirmed (it cannot be while anything is missing).
    """

    def __init__(
        self, missing: tuple[str, ...], confirmed: bool, message: str, **params: Any
    ) -> None:
        self.missing = missing
        self.confirmed = confirmed
        super().__init__(message, **params)
