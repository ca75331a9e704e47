"""Customers from the billing system: read an export, check it, upsert it by account.

A CSV or Excel (.xlsx) export (:func:`open_export`), or rows an API request
sends, go through :class:`hotline.domain.customer_rows.RowChecker` row by
row; the rows taken are written in chunks of :data:`CHUNK_ROWS`
(:func:`import_customers`):

* one ``SELECT`` reads the chunk's existing customers by account number and
  one their phones; each row is then new (inserted), different (updated) or
  the same (unchanged: nothing written, ``updated_at`` kept);
* one multi-row ``INSERT ... RETURNING`` adds the new customers, one
  executemany ``UPDATE`` changes the others, and their phones are replaced by
  the row's list (one ``DELETE`` and one ``INSERT`` for the customers whose
  numbers changed);
* **one transaction per chunk.** A refused row is refused before anything of
  its chunk is written, so it never half-writes; a chunk is all or nothing.
  A file that fails half-way (the database gone) leaves its first chunks
  saved: importing it again finishes the work, since the upsert by account is
  idempotent. Inside a web request the request's one unit of work joins them
  all, so an API import commits once, with its stored ``Idempotency-Key``
  answer. Short transactions keep SQLite's write lock free for the hotline
  between chunks.

A dry run (``dry_run=True``) reads the same way and writes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.domain.address_areas import AreaMap
from hotline.domain.customer_rows import (
    CustomerRow,
    HeaderError,
    HeaderMap,
    Refusal,
    RowChecker,
    map_headers,
)
from hotline.domain.errors import Conflict, Invalid
from hotline.domain.taxonomy import Role
from hotline.models import Customer, CustomerPhone
from hotline.services.context import Services
from hotline.settings import CONFIG_DIR

#: Who may push customers through the API: the billing system's accounts and administrators.
IMPORT_ROLES = frozenset({Role.BILLING, Role.ADMIN})
#: Rows per transaction (and per pair of look-up queries).
CHUNK_ROWS = 2000
#: The service areas' file the product ships.
DEFAULT_AREAS_FILE = CONFIG_DIR / "areas.toml"

_customers = Customer.__table__
_phones = CustomerPhone.__table__

#: The columns an import writes, beside the account number.
_COLUMNS = ("name", "address", "meter_number", "arrears_cents", "arrears_since", "area")


class ImportFileError(ValueError):
    """The file cannot be read as a billing export; the message says why."""


@lru_cache(maxsize=1)
def shipped_areas() -> AreaMap:
    """The areas of ``config/areas.toml`` (read once)."""
    return AreaMap.load(DEFAULT_AREAS_FILE)


@dataclass
class ImportReport:
    """What an import did, or would do (``dry_run``)."""

    dry_run: bool
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()
    #: account number -> "inserted", "updated" or "unchanged" (kept when asked for).
    outcomes: dict[str, str] | None = None


# -- reading a file -------------------------------------------------------------------


@dataclass
class ExportFile:
    """An export opened for reading: its header mapping, a row count, its rows."""

    headers: HeaderMap
    total: int
    rows: Iterable[tuple[int, dict[str, Any]]]


def open_export(path: Path) -> ExportFile:
    """Open a CSV or .xlsx export; raises :class:`ImportFileError` naming what is wrong.

    CSV: UTF-8 (with or without a byte-order mark) or GB 18030 (what Excel
    writes on a Chinese system), separated by commas, tabs or semicolons (as
    the header row shows). Excel: the first worksheet. The first row is the
    header; rows are numbered as a spreadsheet shows them (the header is row 1)
    and empty rows are skipped.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportFileError(f"no file {path}")
    if suffix == ".csv" or suffix == ".txt":
        return _open_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path)
    if suffix == ".xls":
        raise ImportFileError(f"{path.name}: the old .xls format; save it as .xlsx or .csv")
    raise ImportFileError(f"{path.name}: expected a .csv or .xlsx file")


def _decoded(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(f"{name}: neither UTF-8 nor GB 18030 text")


def _open_csv(path: Path) -> ExportFile:
    text = _decoded(path.read_bytes(), path.name)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"{path.name}: the file is empty") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    headers = _mapped(header, path.name)
    total = max(text.count("\n") - 1, 0)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        number = 1
        try:
            for cells in reader:
                number += 1
                if any(cell.strip() for cell in cells):
                    yield number, headers.values(cells)
        except csv.Error as exc:
            raise ImportFileError(f"{path.name}, row {number + 1}: {exc}") from None

    return ExportFile(headers, total, rows())


def _open_xlsx(path: Path) -> ExportFile:
    from openpyxl import load_workbook  # only when an Excel file is read

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a damaged file
        raise ImportFileError(f"{path.name}: not a readable .xlsx file ({exc})") from None
    sheet = book.worksheets[0]
    cells = sheet.iter_rows(values_only=True)
    try:
        header = next(cells)
    except StopIteration:
        book.close()
        raise ImportFileError(f"{path.name}: the first worksheet is empty") from None
    headers = _mapped(list(header), path.name)
    total = max((sheet.max_row or 1) - 1, 0)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for number, values in enumerate(cells, start=2):
                if any(v is not None and str(v).strip() for v in values):
                    yield number, headers.values(values)
        finally:
            book.close()

    return ExportFile(headers, total, rows())


def _mapped(header: Sequence[Any], name: str) -> HeaderMap:
    try:
        return map_headers(header)
    except HeaderError as exc:
        raise ImportFileError(f"{name}: {exc}") from None


def write_refusals(path: Path, refusals: Iterable[Refusal]) -> None:
    """Every refused row as CSV (UTF-8 with a byte-order mark, so Excel reads it)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["row", "column", "account_number", "problem"])
        for refusal in refusals:
            out.writerow([refusal.row, refusal.column, refusal.account_number, refusal.problem])


# -- the upsert -----------------------------------------------------------------------


def import_customers(
    svc: Services,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    dry_run: bool = False,
    labels: Mapping[str, str] | None = None,
    areas: AreaMap | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], Any] | None = None,
    keep_outcomes: bool = False,
) -> ImportReport:
    """Check ``rows`` (row number, values by field) and upsert them by account number.

    ``labels`` names the fields as the file's headers do (for the refusals);
    ``progress`` is called with the number of rows read after each chunk.
    Returns the counts and every refused row. Raises :class:`Conflict` when
    another writer inserts the same account at the same moment inside a web
    request (outside one, the chunk is tried again once).
    """
    checker = RowChecker(
        areas=areas if areas is not None else shipped_areas(),
        region=svc.phone_region,
        default_area_code=svc.area_code,
        labels=labels,
    )
    report = ImportReport(dry_run=dry_run, outcomes={} if keep_outcomes else None)
    chunk: list[CustomerRow] = []
    read = 0
    for number, values in rows:
        read += 1
        checked = checker.check(number, values)
        if isinstance(checked, Refusal):
            report.refused.append(checked)
        else:
            chunk.append(checked)
        if read % chunk_rows == 0:
            _flush(svc, chunk, report)
            chunk = []
            if progress is not None:
                progress(read)
    _flush(svc, chunk, report)
    if progress is not None and read % chunk_rows:
        progress(read)
    report.rows = read
    return report


def import_file(
    svc: Services,
    path: Path,
    *,
    dry_run: bool = False,
    areas: AreaMap | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], Any] | None = None,
) -> ImportReport:
    """Import the export at ``path`` (see :func:`open_export`, :func:`import_customers`)."""
    export = open_export(path)
    report = import_customers(
        svc,
        export.rows,
        dry_run=dry_run,
        labels=export.headers.labels,
        areas=areas,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    report.ignored_columns = export.headers.ignored
    return report


def upsert_customer(
    svc: Services,
    account_number: str,
    values: Mapping[str, Any],
    *,
    areas: AreaMap | None = None,
) -> tuple[str, CustomerRow]:
    """One customer by account: ``"inserted"``, ``"updated"`` or ``"unchanged"``, and
    the row as stored. Raises :class:`Invalid` naming the field of a refused row."""
    row = {**values, "account_number": account_number}
    checker = RowChecker(
        areas=areas if areas is not None else shipped_areas(),
        region=svc.phone_region,
        default_area_code=svc.area_code,
    )
    checked = checker.check(1, row)
    if isinstance(checked, Refusal):
        raise Invalid(
            "%(name)s: %(problem)s", checked.field, name=checked.field, problem=checked.problem
        )
    report = ImportReport(dry_run=False, outcomes={})
    _flush(svc, [checked], report)
    assert report.outcomes is not None
    return report.outcomes[checked.account_number], checked


def _flush(svc: Services, chunk: list[CustomerRow], report: ImportReport) -> None:
    """Classify ``chunk`` against the database and, unless a dry run, write it."""
    if not chunk:
        return
    if report.dry_run:
        with svc.read_session() as session:
            plan = _plan(session, chunk)
        _count(report, plan)
        return
    for attempt in (1, 2):
        session = svc.sessions()
        try:
            with session, session.begin():
                plan = _plan(session, chunk)
                _write(session, plan, svc.now())
        except IntegrityError:
            # Another writer inserted one of these accounts meanwhile.
            if attempt == 2 or session.info.get("request_owned"):
                raise Conflict(
                    "another import changed these customers at the same moment; send again",
                    "account_number",
                ) from None
            continue
        _count(report, plan)
        return


@dataclass
class _Plan:
    inserts: list[CustomerRow] = field(default_factory=list)
    updates: list[tuple[int, CustomerRow]] = field(default_factory=list)
    new_phones: list[tuple[int, CustomerRow]] = field(default_factory=list)  # existing customers
    unchanged: list[CustomerRow] = field(default_factory=list)


def _plan(session: Session, chunk: list[CustomerRow]) -> _Plan:
    conn = session.connection()
    accounts = [row.account_number for row in chunk]
    found = {
        r.account_number: r
        for r in conn.execute(
            select(_customers.c.id, _customers.c.account_number, *_stored_columns()).where(
                _customers.c.account_number.in_(accounts)
            )
        )
    }
    phones: dict[int, set[str]] = {}
    if found:
        ids = [r.id for r in found.values()]
        for customer_id, number in conn.execute(
            select(_phones.c.customer_id, _phones.c.number).where(_phones.c.customer_id.in_(ids))
        ):
            phones.setdefault(customer_id, set()).add(number)
    plan = _Plan()
    for row in chunk:
        stored = found.get(row.account_number)
        if stored is None:
            plan.inserts.append(row)
            continue
        same_phones = phones.get(stored.id, set()) == set(row.phones)
        same_fields = tuple(getattr(stored, c) for c in _COLUMNS) == _values(row)
        if not same_fields or not same_phones:
            plan.updates.append((stored.id, row))
        else:
            plan.unchanged.append(row)
        if not same_phones:
            plan.new_phones.append((stored.id, row))
    return plan


def _stored_columns() -> list[Any]:
    return [_customers.c[name] for name in _COLUMNS]


def _values(row: CustomerRow) -> tuple[Any, ...]:
    return (
        row.name,
        row.address,
        row.meter_number,
        row.arrears_cents,
        row.arrears_since,
        row.area,
    )


def _write(session: Session, plan: _Plan, now: datetime) -> None:
    conn = session.connection()
    phone_rows: list[dict[str, Any]] = []
    if plan.inserts:
        inserted = conn.execute(
            insert(_customers).returning(_customers.c.id, _customers.c.account_number),
            [
                {
                    "account_number": row.account_number,
                    **dict(zip(_COLUMNS, _values(row), strict=True)),
                    "updated_at": now,
                }
                for row in plan.inserts
            ],
        )
        ids = {account: customer_id for customer_id, account in inserted}
        phone_rows += [
            {"customer_id": ids[row.account_number], "number": number}
            for row in plan.inserts
            for number in row.phones
        ]
    if plan.updates:
        conn.execute(
            update(_customers)
            .where(_customers.c.id == bindparam("_id"))
            .values(
                {name: bindparam(f"_{name}") for name in _COLUMNS}
                | {"updated_at": bindparam("_updated_at")}
            ),
            [
                {"_id": customer_id, "_updated_at": now}
                | {f"_{name}": value for name, value in zip(_COLUMNS, _values(row), strict=True)}
                for customer_id, row in plan.updates
            ],
        )
    if plan.new_phones:
        conn.execute(
            delete(_phones).where(_phones.c.customer_id.in_([cid for cid, _ in plan.new_phones]))
        )
        phone_rows += [
            {"customer_id": customer_id, "number": number}
            for customer_id, row in plan.new_phones
            for number in row.phones
        ]
    if phone_rows:
        conn.execute(insert(_phones), phone_rows)


def _count(report: ImportReport, plan: _Plan) -> None:
    report.inserted += len(plan.inserts)
    report.updated += len(plan.updates)
    report.unchanged += len(plan.unchanged)
    if report.outcomes is not None:
        for row in plan.inserts:
            report.outcomes[row.account_number] = "inserted"
        for _, row in plan.updates:
            report.outcomes[row.account_number] = "updated"
        for row in plan.unchanged:
            report.outcomes[row.account_number] = "unchanged"


__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_AREAS_FILE",
    "IMPORT_ROLES",
    "ExportFile",
    "ImportFileError",
    "ImportReport",
    "import_customers",
    "import_file",
    "open_export",
    "shipped_areas",
    "upsert_customer",
    "write_refusals",
]
