"""Callers' phone numbers: reading a caller ID, telling a mobile, the customer it belongs to."""

from __future__ import annotations

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.domain.phones import InvalidPhoneNumber, display, normalise
from hotline.models import CustomerPhone
from hotline.services import Services

__all__ = ["is_mobile", "national", "read_number", "single_customer"]


def read_number(svc: Services, raw: str) -> str | None:
    """E.164 for a caller ID, or ``None`` when withheld or unreadable."""
    if not raw or not raw.strip():
        return None
    try:
        return normalise(raw, region=svc.phone_region, default_area_code=svc.area_code)
    except InvalidPhoneNumber:
        return None


def is_mobile(number: str) -> bool:
    """True when the E.164 ``number`` can receive an SMS (a mobile number)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def national(number: str | None) -> str:
    """``number`` as people write it at home; empty for none."""
    return display(number) if number else ""


def single_customer(session: Session, number: str | None) -> int | None:
    """The id of the one customer who has ``number``; ``None`` for none or several."""
    if not number:
        return None
    ids = set(
        session.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.number == number))
    )
    return ids.pop() if len(ids) == 1 else None
