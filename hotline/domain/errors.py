"""Refusals: the errors every rule and service raises, each with its HTTP status.

A :class:`ServiceError` names the field at fault and the rule of the service
standard that refused; the web layer turns it into the JSON error body or a
form message. Raising one means nothing was written.

A refusal's words are a template and its values, never text already filled
in: ``Invalid("case %(number)s is closed", "number", number=number)``. The
template (English) is the message id of the ``refusals`` catalogue, so the
place that shows a refusal says it in the reader's language (see
``hotline.web.refusals`` and docs/i18n.md); :attr:`ServiceError.message` is
the English text for machines and logs.
"""

from __future__ import annotations

from typing import Any, Self


def words(template: str) -> str:
    """Mark a refusal's template kept apart from its raise (in a table, say) for the catalogue."""
    return template


def wording(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """The template and values of ``exc``'s words (its text, with none, if it keeps none)."""
    template = getattr(exc, "template", None)
    if isinstance(template, str):
        return template, dict(getattr(exc, "params", None) or {})
    return str(exc), {}


def fill(template: str, params: dict[str, Any]) -> str:
    """``template`` with its ``%(name)s`` values filled in (as written when it has none)."""
    return template % params if params else template


class Rejected(ValueError):
    """A value a rule of the domain does not accept, its words kept as a refusal's are.

    Raised by pure code (parsers, rules) whose refusal a service passes on with
    :meth:`ServiceError.from_error`, so the words can still be translated.
    """

    def __init__(self, message: str, /, **params: Any) -> None:
        self.template, self.params = message, params
        super().__init__(fill(message, params))


class ServiceError(Exception):
    """A refusal shown to the user; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(
        self, message: str, /, field: str | None = None, rule: str | None = None, **params: Any
    ) -> None:
        self.template, self.params = message, params
        text = fill(message, params)
        super().__init__(text)
        self.message, self.field, self.rule = text, field, rule

    @classmethod
    def from_error(
        cls, exc: BaseException, field: str | None = None, rule: str | None = None
    ) -> Self:
        """``exc``'s words as this refusal, keeping their template so they can be translated."""
        template, params = wording(exc)
        return cls(template, field, rule, **params)

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body (``hotline.web.api.ErrorSchema``): code, error, message, field, rule."""
        body: dict[str, Any] = {
            "code": self.status,
            "error": type(self).__name__,
            "message": self.message,
        }
        if self.field:
            body["field"] = self.field
        if self.rule:
            body["rule"] = self.rule
        return body


class Invalid(ServiceError):
    """The input breaks a rule or lacks a field."""

    status = 422


class NotFound(ServiceError):
    """No such case, department, person or customer (or not visible to you)."""

    status = 404


class Forbidden(ServiceError):
    """Your role may not do this."""

    status = 403


class Conflict(ServiceError):
    """Someone else changed the case first; reload and try again."""

    status = 409
