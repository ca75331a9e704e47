"""Phone numbers: one normal form (E.164) so a caller ID matches a customer.

Uses Google's numbering plan data (the ``phonenumbers`` library): mobile
numbers, fixed lines with or without the area code, +86 and 0086 prefixes all
normalise to the same text.
"""

from __future__ import annotations

import phonenumbers

from hotline.domain.errors import Rejected


class InvalidPhoneNumber(Rejected):
    """The text is not a phone number that can be dialled in the region."""


def normalise(raw: str, *, region: str = "CN", default_area_code: str = "") -> str:
    """Return ``raw`` as E.164 (``+8613812345678``).

    A fixed-line number given without its area code (seven or eight digits)
    gets ``default_area_code`` (e.g. ``0534``) when one is configured.
    Raises :class:`InvalidPhoneNumber` naming the text when it cannot be a number.
    """
    text = (raw or "").strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if default_area_code and len(digits) in (7, 8) and not text.startswith("+"):
        text = default_area_code + digits
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("'%(number)s' is not a phone number", number=raw) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("'%(number)s' is not a valid phone number", number=raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str, *, region: str = "CN") -> str:
    """The number as people in ``region`` write it (``138 1234 5678``, ``0534 212 2110``)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask(e164: str) -> str:
    """The number with its middle hidden (``138****5678``) for roles that need no more (W7)."""
    try:
        parsed = phonenumbers.parse(e164, None)
        national = str(parsed.national_number)
    except phonenumbers.NumberParseException:
        national = "".join(ch for ch in e164 if ch.isdigit())
    if len(national) <= 4:
        return "*" * len(national)
    keep = 3 if len(national) >= 11 else 2
    return national[:keep] + "*" * (len(national) - keep - 4) + national[-4:]
