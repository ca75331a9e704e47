"""Reading HTML form values: each refusal is an ``Invalid`` naming the field.

Shared by every server-rendered page (``hotline.pages``, ``dispatch.pages``)
so a bad number or time reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline.services import Invalid


def form_enum(enum_cls: type, raw: str | None, name: str, *, optional: bool = False) -> Any:
    """``raw`` as a member of ``enum_cls``; ``None`` when empty and ``optional``."""
    if not raw:
        if optional:
            return None
        raise Invalid(f"'{name}' is required", name)
    try:
        return enum_cls(raw)
    except ValueError:
        raise Invalid(f"'{raw}' is not a valid {name}", name) from None


def form_int(raw: str | None, name: str) -> int | None:
    """``raw`` as a whole number, ``None`` when empty."""
    if raw is None or not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"'{name}' must be a whole number", name) from None


def required_int(raw: str | None, name: str) -> int:
    """``raw`` as a whole number that must be given."""
    value = form_int(raw, name)
    if value is None:
        raise Invalid(f"'{name}' is required", name)
    return value


def form_local_datetime(raw: str | None, name: str, zone: ZoneInfo) -> datetime:
    """A ``datetime-local`` value, read in ``zone`` unless it names its own."""
    try:
        moment = datetime.fromisoformat((raw or "").strip())
    except ValueError:
        raise Invalid(f"'{name}' must be a date and time", name) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
