"""A refusal's words in the reader's language.

Services and rules refuse with a template and its values (see
``hotline.domain.errors``); the template, in English, is the message id of
the ``refusals`` catalogue (``translations/zh/LC_MESSAGES/refusals.po``).
Here, where a refusal is shown, the template is looked up in the page's
language and filled in; values that are words of the vocabulary (a state, an
action, a category…) are filled in by their display name. The English text
stays in :attr:`ServiceError.message` for machines and logs.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Any

from flask_babel import Domain

from hotline.domain.appointments import AppointmentStatus
from hotline.domain.errors import fill, wording
from hotline.domain.gov12345 import OrderStatus, ReportKind
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    FollowUpOutcome,
    Priority,
    Role,
    Stage,
    TriageOutcome,
)
from hotline.web import labels
from hotline.web.i18n import local_time
from hotline.web.schemas import Problems

#: The catalogue of refusals, beside the interface's own (``messages``).
CATALOGUE = Domain(domain="refusals")

_VOCABULARY: dict[type[Enum], dict] = {
    State: labels.STATE,
    Action: labels.ACTION,
    AppointmentStatus: labels.VISIT,
    Category: labels.CATEGORY,
    Channel: labels.CHANNEL,
    FollowUpOutcome: labels.FOLLOW_UP,
    OrderStatus: labels.GOV12345_STATUS,
    ReportKind: labels.GOV12345_REPORT,
    Priority: labels.PRIORITY,
    Role: labels.ROLE,
    Stage: labels.STAGE,
    TriageOutcome: labels.TRIAGE,
}


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _shown(value: Any) -> Any:
    """A value as the page shows it: a word of the vocabulary by its name, a phrase
    marked with ``words()`` (what was being done, say) in the page language, a
    time as the utility's ``11-26 14:05``."""
    for kind, table in _VOCABULARY.items():
        if isinstance(value, kind):
            return labels.label(table, value)
    if isinstance(value, Problems):
        return value.said(CATALOGUE.gettext)
    if isinstance(value, datetime):
        return local_time(value) if value.tzinfo else value.strftime("%m-%d %H:%M")
    if isinstance(value, str) and _ISO_TIME.match(value):
        return local_time(value) or value
    if isinstance(value, str) and value:
        return CATALOGUE.gettext(value)
    return value


def refusal_text(exc: BaseException) -> str:
    """``exc``'s words in the page language, with the rule that refused, e.g. ``(P4)``."""
    template, params = wording(exc)
    translated = CATALOGUE.gettext(template) if template else template
    shown = {name: _shown(value) for name, value in params.items()}
    try:
        text = fill(translated, shown)
    except (KeyError, TypeError, ValueError):  # a translation that does not fit its values
        text = fill(template, params)
    rule = getattr(exc, "rule", None)
    if rule and f"({rule})" not in text:
        text = f"{text} ({rule})"
    return text


def _refusal_filter(error: Any) -> str:
    """``{{ error|refusal }}``: a refusal's words, or a prepared error's ``message``."""
    if isinstance(error, BaseException):
        return refusal_text(error)
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return str(getattr(error, "message", error))


def init_app(app: Any) -> None:
    """Offer ``refusal`` to templates: ``{{ error|refusal }}``."""
    app.jinja_env.filters["refusal"] = _refusal_filter


__all__ = ["CATALOGUE", "init_app", "refusal_text"]
