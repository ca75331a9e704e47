"""F10: a meter well's repair gets its on-site check (现场核实) within two days.

Completing the repair of a meter well opens a check, due two days after the
repair, for the meter readers' department (by its code) or else the
department that made the repair. Pure: the service that completes the case
asks :func:`needs_site_check` and writes the check in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import Category

SITE_CHECK_LIMIT = timedelta(days=2)
"""How long after the repair the on-site check may come (F10)."""

METER_READERS = "METER"
"""The code of the department whose meter readers make the check, when it exists."""


def needs_site_check(category: Category | str, action: str) -> bool:
    """Whether ``action`` on a case of ``category`` opens an on-site check (F10)."""
    return str(category) == Category.METER_WELL and str(action) == Action.COMPLETE


def site_check_due(repaired_at: datetime) -> datetime:
    """When the on-site check of a meter well repaired at ``repaired_at`` is due (F10)."""
    return repaired_at + SITE_CHECK_LIMIT


def site_check_met(due_at: datetime, checked_at: datetime) -> bool:
    """Whether a check made at ``checked_at`` kept its limit (F10)."""
    return checked_at <= due_at
