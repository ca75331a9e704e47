"""Customer import from a billing export: rows per second on SQLite and PostgreSQL.

Generates an export of N customers (default 100,000; ``--smoke`` 2,000) with
Chinese headers, one or two phones each, meter numbers, arrears and addresses
that fall in the shipped areas, then, on a fresh database with the product's
schema, times through the real service (``hotline.services.customers``):

* **dry run**: the whole file checked and counted against the empty database;
* **first import**: every row inserted;
* **repeat**: the same file again, every row unchanged (nothing written);
* **changed**: a file in which every tenth row differs (arrears, or phones).

SQLite always (a file in a temporary folder); PostgreSQL when ``--url`` /
``--postgres`` or ``HOTLINE_TEST_POSTGRES_URL`` names a server: a database of
its own with a unique name, dropped afterwards. Exits 1 when a count is not
what the file must give.

    .venv/bin/python bench/customer_import_bench.py
    .venv/bin/python bench/customer_import_bench.py --rows 100000 --format xlsx
    .venv/bin/python bench/customer_import_bench.py --smoke
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

import servers  # noqa: E402

HEADERS = ["户号", "户名", "地址", "电话", "水表号", "欠费金额", "欠费起始日期", "片区"]
STREETS = ["汉槐街", "行政街", "开发区迎宾路", "文化路", "伦镇驻地", "市中街道南关小区", "房寺镇"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
PREFIXES = ("138", "139", "150", "186", "135", "158", "187", "152")
GIVEN = "建国玉兰海涛秀英志刚丽华伟明静敏磊洋勇军杰娟"


def _row(i: int, changed: bool) -> list[Any]:
    account = f"{1_000_000 + i}"
    name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i * 3) % len(GIVEN)]
    address = f"禹城市{STREETS[i % len(STREETS)]} {i % 300 + 1} 号 {i % 6 + 1} 单元 {i % 30 + 101}"
    mobile = f"{PREFIXES[i % len(PREFIXES)]}{(i * 7919) % 100_000_000:08d}"
    phones = mobile if i % 3 else f"{mobile};0534{2_100_000 + i % 800_000}"
    if changed and i % 20 == 0:
        phones = f"{PREFIXES[(i + 1) % len(PREFIXES)]}{(i * 104729) % 100_000_000:08d}"
    arrears = (i % 5) * 37.5 + (i % 100) / 100 if i % 4 == 0 else 0
    if changed and i % 20 == 10:
        arrears += 12
    since = (date(2026, 1, 1) + timedelta(days=i % 300)).isoformat() if arrears else ""
    return [account, name, address, phones, f"M{i:08d}", f"{arrears:.2f}", since, ""]


def write_export(path: Path, rows: int, *, changed: bool = False) -> Path:
    """An export of ``rows`` customers (every tenth one different when ``changed``)."""
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(HEADERS)
        for i in range(rows):
            sheet.append(_row(i, changed))
        book.save(path)
        return path
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        for i in range(rows):
            out.writerow(_row(i, changed))
    return path


def _services(url: str) -> tuple[Any, Any]:
    from hotline.db import Base, make_engine, make_sessionmaker
    from hotline.domain.timelimits import TimeLimitPolicy
    from hotline.services import Services

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    policy = TimeLimitPolicy.load()
    from datetime import UTC, datetime

    svc = Services(
        sessions=make_sessionmaker(engine),
        clock=lambda: datetime.now(UTC),
        policy=policy,
        calendar=policy.calendar,
        area_code="0534",
    )
    return svc, engine


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def run_on(label: str, url: str, export: Path, changed: Path, rows: int) -> list[str]:
    """The four runs on the database at ``url``; returns the problems found."""
    from hotline.services.customers import import_file

    svc, engine = _services(url)
    problems: list[str] = []
    expected = {
        "dry run": (rows, 0, 0),
        "first import": (rows, 0, 0),
        "repeat": (0, 0, rows),
        "changed": (0, rows // 10, rows - rows // 10),
    }
    try:
        for name, path, dry in (
            ("dry run", export, True),
            ("first import", export, False),
            ("repeat", export, False),
            ("changed", changed, False),
        ):
            report, seconds = _timed(lambda p=path, d=dry: import_file(svc, p, dry_run=d))
            counts = (report.inserted, report.updated, report.unchanged)
            print(
                f"{label:10} {name:13} {report.rows:>8,} rows {seconds:8.2f} s "
                f"{report.rows / seconds:>10,.0f} rows/s   inserted {counts[0]:,}, "
                f"updated {counts[1]:,}, unchanged {counts[2]:,}, refused {len(report.refused)}",
                flush=True,
            )
            if counts != expected[name] or report.refused:
                problems.append(f"{label} {name}: counts {counts}, expected {expected[name]}")
                problems += [f"  {r.line()}" for r in report.refused[:5]]
    finally:
        engine.dispose()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the file")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="the export's")
    parser.add_argument(
        "--url",
        "--postgres",
        dest="url",
        default=os.environ.get("HOTLINE_TEST_POSTGRES_URL", ""),
        help="a PostgreSQL server (its URL; a database of the bench's own is made there)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, for CI")
    args = parser.parse_args()
    rows = 2_000 if args.smoke else args.rows
    if rows < 10:
        parser.error("--rows: at least 10")

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hotline-bench-customers-") as folder:
        export = write_export(Path(folder) / f"customers.{args.format}", rows)
        changed = write_export(Path(folder) / f"changed.{args.format}", rows, changed=True)
        print(f"{rows:,} customers, {args.format}, load average {servers.load_average()}")
        problems += run_on("SQLite", f"sqlite:///{folder}/bench.db", export, changed, rows)
        if args.url and not args.no_postgres:
            from sqlalchemy.engine import make_url

            server = make_url(args.url)
            name = f"hotline_bench_customers_{uuid.uuid4().hex[:12]}"
            url = servers.create_database(server, name)
            try:
                print(f"PostgreSQL {servers.server_version(server)}, database {name}")
                problems += run_on("PostgreSQL", url, export, changed, rows)
            finally:
                servers.drop_database(server, name)
        print(f"load average {servers.load_average()}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
