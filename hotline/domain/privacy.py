"""Customers' personal data (W7): who sees it whole, and how it looks masked.

Pure Python (no Flask, no database). A caller's or customer's phone numbers,
address, account number and name are shown whole only to the roles that
must call or visit the customer (:data:`WHOLE_SIGHT`, written out in
``docs/privacy.md``) and only where one record is opened; lists show them
masked to everyone, so a whole record on screen is always one that was
opened, and logged (``hotline.services.access_log``).

The masks keep what a reader needs to tell records apart and no more:

* phone: a mobile keeps its first 3 and last 4 digits (``138****1234``), a
  fixed line its area code and last 4 (``0534***2110``);
* address: the street or community, without house, building, unit or room
  numbers (``市中街道汉槐街**``);
* account number: its first and last quarter (``10****78``);
* name: the surname (``孙**``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from hotline.domain import phones
from hotline.domain.taxonomy import Role


class Sight(StrEnum):
    """How a person sees a customer's personal data."""

    WHOLE = "whole"  # 完整显示
    MASKED = "masked"  # 脱敏显示


@dataclass(frozen=True)
class RoleSight:
    """One row of the policy: what a role sees, and why."""

    role: Role
    sight: Sight
    #: Only on the cases the role may work on (a crew's own department's work).
    own_cases_only: bool
    why: str


#: The policy (W7), one row per role. Whole sight only for the roles that
#: call or visit the customer; everyone else sees masked data.
POLICY: tuple[RoleSight, ...] = (
    RoleSight(Role.OPERATOR, Sight.WHOLE, False, "takes the call, calls back, reads back (P4)"),
    RoleSight(Role.DISPATCHER, Sight.WHOLE, False, "tells the crew where to go and whom to call"),
    RoleSight(Role.CREW, Sight.WHOLE, True, "visits and calls the customer of its own work (F1)"),
    RoleSight(Role.SUPERVISOR, Sight.WHOLE, False, "makes the follow-up calls (P7)"),
    RoleSight(Role.ADMIN, Sight.MASKED, False, "manages accounts; never calls a customer"),
    # The billing system's API account: the customers' data is its own (it sends it);
    # it may see no case.
    RoleSight(Role.BILLING, Sight.WHOLE, True, "the billing system: the customers are its own"),
)
WHOLE_SIGHT: frozenset[Role] = frozenset(r.role for r in POLICY if r.sight is Sight.WHOLE)


def sight(role: Role | str | None, *, own_case: bool = True) -> Sight:
    """How ``role`` sees a record's personal data; ``own_case``: the record is one of the
    cases the person may work on (crews see only those whole). Unknown roles: masked."""
    try:
        who = Role(role) if role else None
    except ValueError:
        return Sight.MASKED
    for row in POLICY:
        if row.role == who:
            if row.sight is Sight.WHOLE and (own_case or not row.own_cases_only):
                return Sight.WHOLE
            return Sight.MASKED
    return Sight.MASKED


def _stars(count: int) -> str:
    return "*" * max(count, 0)


def mask_phone(number: str | None, *, region: str = "CN") -> str:
    """``number`` (E.164 or as typed) with its middle hidden.

    A mobile keeps its first 3 and last 4 digits; a fixed line keeps its area
    code (with the leading 0) and last 4; anything else its first 3 and last 4
    digits. Numbers of 7 digits or fewer keep only their last 4 (or nothing).
    """
    text = (number or "").strip()
    if not text:
        return ""
    digits = "".join(ch for ch in text if ch.isdigit())
    try:
        parsed = phonenumbers.parse(text, region)
        national = str(parsed.national_number)
        is_fixed = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE
        area = phonenumbers.length_of_geographical_area_code(parsed)
    except phonenumbers.NumberParseException:
        national, is_fixed, area = digits, False, 0
    if len(national) <= 4:
        return _stars(len(national))
    if len(national) <= 7:
        return _stars(len(national) - 4) + national[-4:]
    if is_fixed and 0 < area < len(national) - 4:
        prefix = "0" if parsed.country_code == 86 else ""
        return prefix + national[:area] + _stars(len(national) - area - 4) + national[-4:]
    return national[:3] + _stars(len(national) - 7) + national[-4:]


#: Where the house number begins: the first digit, or a Chinese numeral (or 甲乙丙)
#: followed by a unit of building, number, floor or room.
_HOUSE_NUMBER = re.compile(
    r"[0-9０-９]|[一二三四五六七八九十百零〇甲乙丙丁]+\s*(?:号|栋|幢|座|单元|楼|层|室|户|排|组)"
)


def mask_address(address: str | None) -> str:
    """The address up to its street or community, without house, building or room numbers.

    ``禹城市市中街道汉槐街88号3单元201`` becomes ``禹城市市中街道汉槐街**``. An
    address without any number is cut after its first half, so a full
    description never shows.
    """
    text = (address or "").strip()
    if not text:
        return ""
    found = _HOUSE_NUMBER.search(text)
    keep = found.start() if found is not None else len(text) // 2 + len(text) % 2
    if found is None and len(text) <= 4:
        keep = len(text)  # a street or village name alone says no more than itself
    kept = text[:keep].rstrip(" ,，、-—")
    return kept + "**" if keep < len(text) else kept


def mask_account(account: str | None) -> str:
    """The account number with its middle hidden: its first and last quarter stay."""
    text = (account or "").strip()
    if len(text) <= 2:
        return _stars(len(text))
    keep = max(1, len(text) // 4)
    return text[:keep] + _stars(len(text) - 2 * keep) + text[-keep:]


#: Two-character surnames (复姓) kept whole.
_COMPOUND = "欧阳司马上官诸葛东方皇甫尉迟公孙慕容长孙宇文司徒夏侯轩辕令狐端木独孤南宫西门百里"
_COMPOUND_SURNAMES = frozenset(_COMPOUND[i : i + 2] for i in range(0, len(_COMPOUND), 2))


def mask_name(name: str | None) -> str:
    """The surname and ``**`` (``孙丽`` → ``孙**``); a Latin name keeps its first letter."""
    text = (name or "").strip()
    if not text:
        return ""
    surname = text[:2] if text[:2] in _COMPOUND_SURNAMES else text[:1]
    return surname + "**"


@dataclass(frozen=True)
class Personal:
    """A record's personal data as one person may see it."""

    name: str
    #: The phone number as shown: written as people write it, or masked.
    phone: str
    address: str
    account: str
    masked: bool
    #: The number to dial (E.164), only when shown whole.
    dial: str = ""


def personal(
    sight_: Sight,
    *,
    name: str | None = "",
    phone: str | None = "",
    address: str | None = "",
    account: str | None = "",
    region: str = "CN",
) -> Personal:
    """The personal data as ``sight_`` allows: whole, or every part masked.

    A whole phone number is written as people in ``region`` write it, and kept
    as stored in ``dial``.
    """
    if sight_ is Sight.WHOLE:
        shown = phones.display(phone, region=region) if phone else ""
        return Personal(
            name or "", shown, address or "", account or "", masked=False, dial=phone or ""
        )
    return Personal(
        mask_name(name),
        mask_phone(phone, region=region),
        mask_address(address),
        mask_account(account),
        masked=True,
    )


__all__ = [
    "POLICY",
    "WHOLE_SIGHT",
    "Personal",
    "RoleSight",
    "Sight",
    "mask_account",
    "mask_address",
    "mask_name",
    "mask_phone",
    "personal",
    "sight",
]
