"""Customers as the billing system exports them: the header mapping and one row's checks.

Pure Python. A file (CSV or Excel) or an API request gives rows of account
number (户号), name (户名), address (地址), phones (电话), meter number (水表号),
arrears in yuan (欠费金额), the date the arrears began (欠费起始日期) and,
optionally, the area (片区). :func:`map_headers` finds each field's column
from its Chinese or English header; :class:`RowChecker` turns one row into a
:class:`CustomerRow` (phones in E.164, arrears in cents, the area's code) or
a :class:`Refusal` naming the row, the column and the problem. Refused, in the
order checked:

* account: missing, too long, holding spaces or "/", or already given on an
  earlier row of the same file (duplicate);
* name: missing or too long; address and meter number: too long;
* phones: any piece that is not a valid number (no phone at all is allowed);
* arrears: not an amount of yuan, negative, more than 2 decimals, too large;
* arrears since: not a date (2026-10-01, 2026/10/1, 20261001, 2026年10月1日);
* area: naming an area :mod:`hotline.domain.address_areas` does not list.

Any text with a control character is refused in the column that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hotline.domain.address_areas import AreaMap, UnknownArea
from hotline.domain.phones import InvalidPhoneNumber, normalise

#: The fields of a row, in the order of an export.
FIELDS = (
    "account_number",
    "name",
    "address",
    "phones",
    "meter_number",
    "arrears",
    "arrears_since",
    "area",
)
#: Columns a file may leave out.
OPTIONAL_COLUMNS = frozenset({"area"})

#: The headers that name each field (compared without case, spaces, "_" or "-",
#: and without a unit in brackets: "欠费金额(元)" is "欠费金额"). The first is
#: the Chinese header the documentation shows, the second the English one.
HEADERS: dict[str, tuple[str, ...]] = {
    "account_number": (
        "户号",
        "account number",
        "用户号",
        "用户编号",
        "账号",
        "account",
        "account no",
    ),
    "name": ("户名", "name", "用户名", "用户名称", "customer name"),
    "address": ("地址", "address", "用水地址", "用户地址"),
    "phones": ("电话", "phones", "联系电话", "手机", "phone", "telephone"),
    "meter_number": ("水表号", "meter number", "表号", "水表编号", "meter", "meter no"),
    "arrears": ("欠费金额", "arrears", "欠费", "amount owed"),
    "arrears_since": ("欠费起始日期", "arrears since", "欠费日期", "欠费起始日", "arrears date"),
    "area": ("片区", "area", "所属片区", "区域"),
}

MAX_ACCOUNT = 32
MAX_NAME = 100
MAX_ADDRESS = 300
MAX_METER = 32
MAX_PHONES = 10
#: The largest amount the arrears column holds: 21,474,836.47 yuan.
MAX_CENTS = 2**31 - 1
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2099, 12, 31)

_PHONE_SEPARATORS = re.compile(r"[;,/；，、／|]+")
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_AMOUNT = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CURRENCY = re.compile(r"^(?:¥|￥|RMB|CNY)|(?:元|RMB|CNY)$", re.IGNORECASE)


class HeaderError(ValueError):
    """The file's header row cannot be read as customers; the message names the column."""


class RowRefused(ValueError):
    """One row cannot be taken: ``field`` is at fault, ``problem`` says how."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class CustomerRow:
    """One customer as the billing system has them, normalised."""

    account_number: str
    name: str
    address: str
    phones: tuple[str, ...]  # E.164, in the file's order, no repeats
    meter_number: str
    arrears_cents: int
    arrears_since: date | None
    area: str  # the area's code, "" when none


@dataclass(frozen=True)
class Refusal:
    """A row not taken: its number (the file's line, or the list's position), the
    column (as the file's header names it, or the API's field), the problem."""

    row: int
    column: str
    field: str
    problem: str
    account_number: str = ""

    def line(self) -> str:
        """One line for a person: ``row 7, 欠费金额: not an amount of yuan: 'abc'``."""
        return f"row {self.row}, {self.column}: {self.problem}"


@dataclass(frozen=True)
class HeaderMap:
    """Where each field is in a file's rows, and what the file calls it."""

    columns: dict[str, int]
    labels: dict[str, str]
    ignored: tuple[str, ...] = ()

    def values(self, cells: Sequence[Any]) -> dict[str, Any]:
        """One row's cells by field (a short row's missing cells are empty)."""
        return {
            field: cells[index] if index < len(cells) else None
            for field, index in self.columns.items()
        }


def _folded_header(text: Any) -> str:
    folded = str(text if text is not None else "").replace("\ufeff", "").strip().casefold()
    folded = re.sub(r"[(（\[【].*?[)）\]】]\s*$", "", folded)  # a unit: 欠费金额(元)
    return re.sub(r"[\s_\-]+", " ", folded).strip()


_FIELD_OF_HEADER = {
    _folded_header(header): field for field, headers in HEADERS.items() for header in headers
}


def field_of_header(header: Any) -> str | None:
    """The field a header names (``"欠费金额(元)"`` → ``"arrears"``); None: not one of ours."""
    return _FIELD_OF_HEADER.get(_folded_header(header))


def map_headers(headers: Sequence[Any]) -> HeaderMap:
    """Each field's column in a file whose header row is ``headers``.

    Columns of no field are ignored (listed in :attr:`HeaderMap.ignored`).
    Raises :class:`HeaderError` for a missing column (every field but the
    area) or two columns naming the same field.
    """
    columns: dict[str, int] = {}
    labels: dict[str, str] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        label = str(header if header is not None else "").replace("\ufeff", "").strip()
        field = field_of_header(label)
        if field is None:
            if label:
                ignored.append(label)
            continue
        if field in columns:
            raise HeaderError(
                f"columns {columns[field] + 1} ('{labels[field]}') and {index + 1} ('{label}') "
                f"both give {field}"
            )
        columns[field] = index
        labels[field] = label
    missing = [f for f in FIELDS if f not in columns and f not in OPTIONAL_COLUMNS]
    if missing:
        named = ", ".join(f"{HEADERS[f][0]} ({HEADERS[f][1]})" for f in missing)
        raise HeaderError(f"missing column{'s' if len(missing) > 1 else ''}: {named}")
    return HeaderMap(columns, labels, tuple(ignored))


# -- one value ------------------------------------------------------------------------


def _text(value: Any, field: str) -> str:
    """A cell as text: numbers from a spreadsheet without a trailing ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise RowRefused(field, f"expected text, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value).strip()
    if _CONTROL.search(text):
        raise RowRefused(field, "contains a control character")
    return text


def _limited(text: str, field: str, limit: int) -> str:
    if len(text) > limit:
        raise RowRefused(field, f"longer than {limit} characters")
    return text


def account_problem(account: str) -> str | None:
    """Why ``account`` (stripped) cannot be an account number; None: it can."""
    if not account:
        return "missing"
    if len(account) > MAX_ACCOUNT:
        return f"longer than {MAX_ACCOUNT} characters"
    if any(ch.isspace() or ch == "/" for ch in account):
        return "must not contain spaces or '/'"
    return None


def parse_phones(
    value: Any, *, region: str = "CN", default_area_code: str = "", field: str = "phones"
) -> tuple[str, ...]:
    """The numbers in one cell, in E.164 and in order, without repeats.

    Pieces are separated by ``;``, ``,``, ``/`` (and their full-width forms) or
    spaces; a piece with spaces inside that is one valid number as a whole
    (``0534 212 2110``) is taken as one. Empty: no phone. Any piece that is not
    a valid number refuses the row.
    """
    if isinstance(value, list | tuple):
        pieces = [_text(v, field) for v in value]
    else:
        pieces = _PHONE_SEPARATORS.split(_text(value, field))
    numbers: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        for raw in _numbers_in(piece, region, default_area_code):
            try:
                number = normalise(raw, region=region, default_area_code=default_area_code)
            except InvalidPhoneNumber:
                raise RowRefused(field, f"'{raw}' is not a valid phone number") from None
            if number not in numbers:
                numbers.append(number)
    if len(numbers) > MAX_PHONES:
        raise RowRefused(field, f"more than {MAX_PHONES} phone numbers")
    return tuple(numbers)


def _numbers_in(piece: str, region: str, default_area_code: str) -> list[str]:
    words = piece.split()
    if len(words) == 1:
        return words
    try:  # "0534 212 2110", "138 1234 5678": one number written with spaces
        normalise(piece, region=region, default_area_code=default_area_code)
    except InvalidPhoneNumber:
        return words
    return [piece]


def parse_cents(value: Any, *, field: str = "arrears") -> int:
    """An amount of yuan with at most 2 decimals (``1,234.50``, ``¥12``, ``8元``) in cents.

    Empty is 0. Refused: not an amount, negative, more decimals, over 21,474,836.47.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool):
        raise RowRefused(field, f"not an amount of yuan: {value!r}")
    if isinstance(value, int | float | Decimal):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = _CURRENCY.sub("", _text(value, field)).strip()
        if not _AMOUNT.fullmatch(text):
            raise RowRefused(field, f"not an amount of yuan: '{_text(value, field)}'")
        text = text.replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise RowRefused(field, f"not an amount of yuan: '{value}'") from None
    if not amount.is_finite():
        raise RowRefused(field, f"not an amount of yuan: '{value}'")
    if amount < 0:
        raise RowRefused(field, f"must not be negative: {value}")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise RowRefused(field, f"more than 2 decimal places: {value}")
    if cents > MAX_CENTS:
        raise RowRefused(field, f"too large: {value} (at most 21474836.47)")
    return int(cents)


def parse_day(value: Any, *, field: str = "arrears_since") -> date | None:
    """A date from a cell: a spreadsheet date, ``2026-10-01``, ``2026/10/1``,
    ``2026.10.01``, ``20261001`` or ``2026年10月1日`` (a midnight time is allowed).
    Empty: None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        text = _text(value, field)
        if not text:
            return None
        match = _DATE.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
        if match is None:
            raise RowRefused(field, f"not a date like 2026-10-01: '{text}'")
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError:
            raise RowRefused(field, f"no such date: '{text}'") from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise RowRefused(field, f"must lie between 1970 and 2099: {day.isoformat()}")
    return day


# -- one row --------------------------------------------------------------------------


def normalise_row(
    values: Mapping[str, Any],
    *,
    areas: AreaMap,
    region: str = "CN",
    default_area_code: str = "",
) -> CustomerRow:
    """One row's values by field as a :class:`CustomerRow`; raises :class:`RowRefused`."""
    account = _text(values.get("account_number"), "account_number")
    problem = account_problem(account)
    if problem:
        raise RowRefused("account_number", problem)
    name = _limited(_text(values.get("name"), "name"), "name", MAX_NAME)
    if not name:
        raise RowRefused("name", "missing")
    address = _limited(_text(values.get("address"), "address"), "address", MAX_ADDRESS)
    phones = parse_phones(values.get("phones"), region=region, default_area_code=default_area_code)
    meter = _limited(_text(values.get("meter_number"), "meter_number"), "meter_number", MAX_METER)
    cents = parse_cents(values.get("arrears"))
    since = parse_day(values.get("arrears_since"))
    try:
        area = areas.code_of(_text(values.get("area"), "area"), address)
    except UnknownArea as exc:
        raise RowRefused("area", str(exc)) from None
    return CustomerRow(account, name, address, phones, meter, cents, since, area)


class RowChecker:
    """Checks the rows of one file (or one request) in order.

    Remembers each account taken, so a second row with the same account is
    refused as a duplicate naming the first row; the first one stands.
    """

    def __init__(
        self,
        *,
        areas: AreaMap,
        region: str = "CN",
        default_area_code: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.areas = areas
        self.region = region
        self.default_area_code = default_area_code
        self.labels = dict(labels or {})
        self.seen: dict[str, int] = {}

    def column(self, field: str) -> str:
        """What the file calls ``field`` (its header), or the field's own name."""
        return self.labels.get(field, field)

    def check(self, row: int, values: Mapping[str, Any]) -> CustomerRow | Refusal:
        """Row number ``row`` with ``values`` by field: the customer, or why not."""
        try:
            customer = normalise_row(
                values,
                areas=self.areas,
                region=self.region,
                default_area_code=self.default_area_code,
            )
        except RowRefused as refused:
            account = values.get("account_number")
            return Refusal(
                row,
                self.column(refused.field),
                refused.field,
                refused.problem,
                "" if account is None else str(account).strip()[:MAX_ACCOUNT],
            )
        first = self.seen.get(customer.account_number)
        if first is not None:
            return Refusal(
                row,
                self.column("account_number"),
                "account_number",
                f"duplicate account {customer.account_number}: already on row {first}",
                customer.account_number,
            )
        self.seen[customer.account_number] = row
        return customer

    def check_all(
        self, rows: Iterable[tuple[int, Mapping[str, Any]]]
    ) -> Iterable[CustomerRow | Refusal]:
        for row, values in rows:
            yield self.check(row, values)


__all__ = [
    "FIELDS",
    "HEADERS",
    "MAX_CENTS",
    "OPTIONAL_COLUMNS",
    "CustomerRow",
    "HeaderError",
    "HeaderMap",
    "Refusal",
    "RowChecker",
    "RowRefused",
    "account_problem",
    "field_of_header",
    "map_headers",
    "normalise_row",
    "parse_cents",
    "parse_day",
    "parse_phones",
]
