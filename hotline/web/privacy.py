"""Personal data on pages and in the API (W7): masked or whole, and logged when whole.

The view models of every area ask here how a record's personal data is shown
to the person of this request (:func:`case_personal`, :func:`shown`,
:func:`masked`) and, before they show it whole or hand out an export, write
the access log (:func:`log_view`, :func:`log_if_whole`). The rules are
:mod:`hotline.domain.privacy`; the log is :mod:`hotline.services.access_log`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import has_request_context, request
from flask_login import current_user

from hotline.domain import privacy
from hotline.domain.privacy import Personal, Sight
from hotline.services import access_log
from hotline.services.access import Actor, can_view
from hotline.web.session import wiring

if TYPE_CHECKING:
    from hotline.models import Case


def _region() -> str:
    return wiring().phone_region


def shown(
    role: str | None,
    *,
    own_case: bool = True,
    name: str | None = "",
    phone: str | None = "",
    address: str | None = "",
    account: str | None = "",
) -> Personal:
    """The personal data as someone in ``role`` sees it on one opened record."""
    return privacy.personal(
        privacy.sight(role, own_case=own_case),
        name=name,
        phone=phone,
        address=address,
        account=account,
        region=_region(),
    )


def masked(
    *, name: str | None = "", phone: str | None = "", address: str | None = "", account: str = ""
) -> Personal:
    """The personal data as every list shows it: masked, whoever looks."""
    return privacy.personal(
        Sight.MASKED, name=name, phone=phone, address=address, account=account, region=_region()
    )


def case_personal(actor: Actor, case: Case) -> Personal:
    """The caller's name, phone and address of ``case`` as ``actor`` sees them opened."""
    return shown(
        actor.role,
        own_case=can_view(actor, case),
        name=case.contact_name,
        phone=case.contact_phone,
        address=case.address,
        account=case.customer.account_number if case.customer is not None else "",
    )


def log_view(staff_id: int, kind: str, ref: str) -> None:
    """Log that ``staff_id`` is shown whole personal data (or an export) now.

    Raises :class:`~hotline.services.access_log.AccessLogUnavailable` (503, W7) when
    the row cannot be written: the caller must not show the data then. The
    refusal passes on as the log raised it; the place that shows it says it
    in the reader's language (``hotline.web.refusals``).
    """
    path = request.full_path.rstrip("?") if has_request_context() else ""
    client = (request.remote_addr or "") if has_request_context() else ""
    access_log.record(wiring(), staff_id=staff_id, kind=kind, ref=ref, path=path, client=client)


def log_if_whole(staff_id: int, personal: Personal, kind: str, ref: str) -> None:
    """:func:`log_view` when ``personal`` is shown whole (masked data is not logged)."""
    if not personal.masked:
        log_view(staff_id, kind, ref)


def current_role() -> str | None:
    """The role of the person logged in (None: nobody)."""
    if current_user and current_user.is_authenticated:
        return str(current_user.role)
    return None


class CaseShown:
    """A case as one person is shown it: its name, phone and address replaced by
    what they may see; everything else read from the case itself."""

    def __init__(self, case: Case, personal: Personal) -> None:
        self.__dict__["_case"] = case
        self.__dict__["contact_name"] = personal.name
        # The API gives a whole number as stored (E.164), a masked one as masked.
        self.__dict__["contact_phone"] = personal.dial if not personal.masked else personal.phone
        self.__dict__["address"] = personal.address

    def __getattr__(self, name: str) -> object:
        return getattr(self.__dict__["_case"], name)


def case_for_api(actor: Actor, case: Case, *, opened: bool) -> CaseShown:
    """``case`` for an API answer: ``opened`` (one case asked for) shows it as the
    actor's role may and logs a whole view first; in a list it is always masked."""
    if not opened:
        return CaseShown(
            case, masked(name=case.contact_name, phone=case.contact_phone, address=case.address)
        )
    personal = case_personal(actor, case)
    log_if_whole(actor.id, personal, "case", case.number)
    return CaseShown(case, personal)


__all__ = [
    "CaseShown",
    "case_for_api",
    "case_personal",
    "current_role",
    "log_if_whole",
    "log_view",
    "masked",
    "shown",
]
