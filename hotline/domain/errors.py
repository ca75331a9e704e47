"""Refusals: the errors every rule and service raises, each with its HTTP status.

A :class:`ServiceError` names the field at fault and the rule of the service
standard that refused; the web layer turns it into the JSON error body or a
form message. Raising one means nothing was written.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal shown to the user; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message, self.field, self.rule = message, field, rule

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
