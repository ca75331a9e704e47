"""Open311 GeoReport v2: the public apps' way in, as pure rules (docs/open311.md).

The service list maps the product's case categories to Open311 service codes
(the code is the category's value); each service says what the resident is
asked (its attributes), what the case records as the resident's need, and
how the report is judged at intake (P5: a repair from an app is not judged
yet, so it goes to the dispatch center). Here too: the rules a submission
must meet beyond its single fields (where: an address or both coordinates;
the service's attributes), the case's problem text built from it, what a
request's status is, the masking of personal data in what anyone may read,
and the XML writer of the specification's documents.

Pure Python: no Flask, no database.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.domain.errors import Invalid
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category, TriageOutcome

#: The specification's request statuses.
OPEN = "open"
CLOSED = "closed"
STATUSES = (OPEN, CLOSED)

#: Longest description the specification allows.
DESCRIPTION_MAX = 4000
#: Longest attribute value kept (a ``string`` or ``text`` attribute).
ATTRIBUTE_TEXT_MAX = 500
#: Most requests one query returns, newest first (the specification: "typically 1000").
QUERY_LIMIT = 1000
#: Days a query covers when it names no dates, and the longest span it may name.
DEFAULT_QUERY_DAYS = 90


@dataclass(frozen=True)
class AttributeValue:
    key: str
    #: The value in the product's source language; the web layer translates it.
    name: str


@dataclass(frozen=True)
class Attribute:
    """One question a service asks (the specification's ``attribute``)."""

    code: str
    datatype: str  # string, number, datetime, text, singlevaluelist, multivaluelist
    required: bool
    order: int
    #: The question in the product's source language.
    description: str
    values: tuple[AttributeValue, ...] = ()

    def value_name(self, key: str) -> str:
        return next((value.name for value in self.values if value.key == key), key)


@dataclass(frozen=True)
class Service:
    """One Open311 service: a case category as residents report it."""

    category: Category
    group: str  # "repair" or "service"
    #: P4: what the case records as the resident's need.
    need: str
    #: P5: how the report is judged at intake.
    triage: TriageOutcome
    keywords: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()

    @property
    def code(self) -> str:
        return str(self.category)

    @property
    def metadata(self) -> bool:
        """The specification's ``metadata``: whether the service asks anything more."""
        return bool(self.attributes)

    def attribute(self, code: str) -> Attribute | None:
        return next((a for a in self.attributes if a.code == code), None)


_V = AttributeValue
_REPAIR = TriageOutcome.UNDETERMINED  # P5: not judged yet, so it goes to dispatch
_NOT_REPAIR = TriageOutcome.NOT_A_REPAIR

#: Every service, in the order the service list shows them.
SERVICES: tuple[Service, ...] = (
    Service(
        Category.LEAK,
        "repair",
        "请派人维修",
        _REPAIR,
        ("漏水", "爆管", "冒水", "leak", "burst"),
        (
            Attribute(
                "place",
                "singlevaluelist",
                True,
                1,
                "漏水位置",
                (
                    _V("road", "路面或人行道"),
                    _V("meter_well", "水表井"),
                    _V("indoor", "户内"),
                    _V("other", "其他"),
                ),
            ),
        ),
    ),
    Service(
        Category.NO_WATER,
        "repair",
        "请尽快恢复供水",
        _REPAIR,
        ("停水", "水压低", "no water", "low pressure"),
        (
            Attribute(
                "scope",
                "singlevaluelist",
                True,
                1,
                "影响范围",
                (
                    _V("home", "仅我家"),
                    _V("building", "整栋楼"),
                    _V("area", "附近一片"),
                ),
            ),
        ),
    ),
    Service(
        Category.WATER_QUALITY,
        "repair",
        "请检测水质并处理",
        _REPAIR,
        ("水质", "浑浊", "异味", "water quality"),
        (
            Attribute(
                "symptom",
                "multivaluelist",
                True,
                1,
                "水的情况",
                (
                    _V("colour", "发黄或浑浊"),
                    _V("smell", "有异味"),
                    _V("particles", "有杂质"),
                    _V("other", "其他"),
                ),
            ),
        ),
    ),
    Service(
        Category.METER_FAULT,
        "repair",
        "请检修水表",
        _REPAIR,
        ("水表", "meter"),
        (Attribute("meter_number", "string", False, 1, "水表号(表盘上的编号)"),),
    ),
    Service(
        Category.METER_WELL,
        "repair",
        "请修复水表井",
        _REPAIR,
        ("水表井", "井盖", "表箱", "meter well", "cover"),
        (Attribute("meter_number", "string", False, 1, "水表号(表盘上的编号)"),),
    ),
    Service(Category.BILLING, "service", "请核查水费并答复", _NOT_REPAIR, ("水费", "缴费", "bill")),
    Service(Category.CONSULTATION, "service", "请答复", _NOT_REPAIR, ("咨询", "question")),
    Service(Category.COMPLAINT, "service", "请调查处理并答复", _NOT_REPAIR, ("投诉", "complaint")),
    Service(Category.SUGGESTION, "service", "请研究并答复", _NOT_REPAIR, ("建议", "suggestion")),
    Service(
        Category.OUTAGE_ENQUIRY,
        "service",
        "请告知停水原因和恢复时间",
        _NOT_REPAIR,
        ("停水查询", "outage"),
    ),
)

_BY_CODE = {service.code: service for service in SERVICES}


def service(code: str) -> Service | None:
    """The service with ``code``, or None."""
    return _BY_CODE.get(code)


def request_status(state: State | str) -> str:
    """The specification's status of a case: ``closed`` once it is closed, else ``open``."""
    return CLOSED if State(state) == State.CLOSED else OPEN


# -- a submission's rules ---------------------------------------------------------------


def check_location(
    lat: float | None, long: float | None, address_string: str, address_id: str
) -> None:
    """Where the problem is: an address, or both coordinates (the specification).

    ``address_id`` names an address in a register this server does not keep,
    so alone it places nothing. Raises :class:`Invalid` naming the field.
    """
    if (lat is None) != (long is None):
        missing = "long" if long is None else "lat"
        other = "lat" if missing == "long" else "long"
        raise Invalid(
            "'%(missing)s' is required with '%(other)s'", missing, missing=missing, other=other
        )
    if lat is None and not address_string.strip():
        if address_id.strip():
            raise Invalid(
                "'address_id' is not known here: send 'address_string' or 'lat' and 'long'",
                "address_id",
            )
        raise Invalid("send 'address_string' or both 'lat' and 'long'", "address_string", "P4")


def check_attributes(svc: Service, given: Mapping[str, Any]) -> dict[str, Any]:
    """The service's attributes as submitted, checked; returns them cleaned.

    A value is text (a list of texts for a ``multivaluelist``); an unknown
    attribute, a missing required one, a key not among a list's values and
    text over :data:`ATTRIBUTE_TEXT_MAX` characters are refused naming
    ``attribute[code]``.
    """
    cleaned: dict[str, Any] = {}
    for code in given:
        if svc.attribute(str(code)) is None:
            where = f"attribute[{code}]"
            raise Invalid(
                "service '%(service)s' has no attribute '%(code)s'",
                where,
                service=svc.code,
                code=code,
            )
    for attribute in svc.attributes:
        name = f"attribute[{attribute.code}]"
        raw = given.get(attribute.code)
        items = raw if isinstance(raw, list | tuple) else ([] if raw is None else [raw])
        if any(not isinstance(item, str) for item in items):
            raise Invalid("'%(name)s' must be text", name, name=name)
        values = [item.strip() for item in items if item.strip()]
        if not values:
            if attribute.required:
                raise Invalid("'%(name)s' is required", name, name=name)
            continue
        if attribute.datatype != "multivaluelist" and len(values) > 1:
            raise Invalid("'%(name)s' takes one value", name, name=name)
        if attribute.values:
            keys = {value.key for value in attribute.values}
            for value in values:
                if value not in keys:
                    allowed = ", ".join(sorted(keys))
                    raise Invalid(
                        "'%(name)s' must be one of: %(allowed)s", name, name=name, allowed=allowed
                    )
        for value in values:
            if len(value) > ATTRIBUTE_TEXT_MAX:
                raise Invalid(
                    "'%(name)s' is longer than %(most)s characters",
                    name,
                    name=name,
                    most=ATTRIBUTE_TEXT_MAX,
                )
        if attribute.datatype == "multivaluelist":
            cleaned[attribute.code] = sorted(set(values))
        else:
            cleaned[attribute.code] = values[0]
    return cleaned


def problem_text(svc: Service, description: str, attributes: Mapping[str, Any]) -> str:
    """P4: the problem as the case records it: the resident's words, then the answers."""
    lines = [description.strip()]
    for attribute in svc.attributes:
        value = attributes.get(attribute.code)
        if not value:
            continue
        keys = value if isinstance(value, list) else [value]
        words = "、".join(attribute.value_name(key) for key in keys)
        lines.append(f"{attribute.description}:{words}")
    return "\n".join(lines)


def place_text(address_string: str, lat: float | None, long: float | None) -> str:
    """P4: the address the case records: the one given, else the coordinates."""
    if address_string.strip():
        return address_string.strip()
    return f"经纬度 {lat:.6f}, {long:.6f}"


def contact_name(first_name: str, last_name: str) -> str:
    """The name as written in Chinese: family name first, no space between Chinese names."""
    last, first = last_name.strip(), first_name.strip()
    if not last or not first:
        return last or first
    if last.isascii() and first.isascii():
        return f"{first} {last}"
    return last + first


def fingerprint(values: Mapping[str, Any]) -> str:
    """SHA-256 of a submission, so a repeated ``Idempotency-Key`` can be compared."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- what anyone may read ---------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: Seven or more digits, with the spaces and dashes people type between them.
_PHONE = re.compile(r"(?<![\d])\+?\d(?:[\d \-]{5,}\d)(?![\d])")


def _mask_digits(match: re.Match[str]) -> str:
    text = match.group()
    digits = [ch for ch in text if ch.isdigit()]
    if len(digits) < 7:
        return text
    return "*" * (len(digits) - 4) + "".join(digits[-4:])


def mask_personal(text: str) -> str:
    """``text`` with e-mail addresses hidden and phone numbers cut to their last four digits."""
    return _PHONE.sub(_mask_digits, _EMAIL.sub("***@***", text))


# -- the documents ----------------------------------------------------------------------

#: Element names of list items, by the name of the list.
XML_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
}


def w3c_time(moment: datetime | None, zone: Any) -> str | None:
    """A time as the specification writes it (W3C, with its offset), in ``zone``."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    elif isinstance(value, list | tuple):
        tag = XML_ITEMS.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, tag), item)
    else:
        element.text = _text(value)


def xml_document(root: str, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """The specification's XML: ``<root>`` holding one element per row (or one mapping)."""
    element = ET.Element(root)
    _fill(element, rows)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def error_rows(code: int, messages: Iterable[str]) -> list[dict[str, Any]]:
    """The specification's error list: one ``{code, description}`` per message."""
    return [{"code": code, "description": message} for message in messages]
