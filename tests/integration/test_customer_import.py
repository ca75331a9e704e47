"""Customers from the billing system, on SQLite and PostgreSQL: the service with CSV
and Excel files (dry run, idempotent upsert, phones replaced, areas, chunks), the
``hotline customers import`` command and the REST API."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook
from sqlalchemy import select

from hotline.cli import main
from hotline.models import Customer, CustomerPhone
from hotline.services import Services
from hotline.services.customers import ImportFileError, import_customers, import_file
from hotline.web.api_customers import MAX_ROWS
from tests.conftest import FakeClock

HEADER = ["户号", "户名", "地址", "电话", "水表号", "欠费金额", "欠费起始日期", "片区"]
ROWS = [
    ["100231", "孙建国", "禹城市汉槐街 18 号", "13805341234", "M1", "0", "", ""],
    ["100456", "周玉兰", "禹城市行政街 72 号", "13953412345;0534-2123456", "M2", "186.00",
     "2026-09-01", ""],
    ["100789", "吴海涛", "禹城市开发区迎宾路 9 号", "15065341111", "M3", "", "", ""],
    ["101580", "冯志刚", "禹城市伦镇驻地 88 号", "13562700002 18653400001", "M4", "412.5",
     "2026/5/1", "市中"],
]  # fmt: skip


def write_csv(path: Path, rows: list[list[Any]], header: list[str] = HEADER, **kw: Any) -> Path:
    encoding = kw.pop("encoding", "utf-8-sig")
    with path.open("w", encoding=encoding, newline="") as handle:
        out = csv.writer(handle, **kw)
        out.writerow(header)
        out.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def customers(svc: Services) -> dict[str, dict[str, Any]]:
    """Every customer by account: its columns and its phones (sorted)."""
    with svc.read_session() as session:
        found = {}
        for c in session.scalars(select(Customer)):
            found[c.account_number] = {
                "name": c.name,
                "address": c.address,
                "phones": sorted(p.number for p in c.phones),
                "meter_number": c.meter_number,
                "arrears_cents": c.arrears_cents,
                "arrears_since": c.arrears_since,
                "area": c.area,
                "updated_at": c.updated_at,
            }
        return found


# -- the service ----------------------------------------------------------------------------


def test_dry_run_counts_and_lists_refusals_and_writes_nothing(
    svc: Services, tmp_path: Path
) -> None:
    rows = [
        *ROWS,
        ["", "无户号", "某地", "", "", "", "", ""],
        ["100999", "坏金额", "某地", "", "", "12.345", "", ""],
        ["100998", "坏日期", "某地", "", "", "1", "2026-13-01", ""],
        ["100997", "坏电话", "某地", "12345", "", "", "", ""],
        ["100231", "重复", "某地", "", "", "", "", ""],
    ]
    report = import_file(svc, write_csv(tmp_path / "c.csv", rows), dry_run=True)
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (9, 4, 0, 0)
    assert [r.line() for r in report.refused] == [
        "row 6, 户号: missing",
        "row 7, 欠费金额: more than 2 decimal places: 12.345",
        "row 8, 欠费起始日期: no such date: '2026-13-01'",
        "row 9, 电话: '12345' is not a valid phone number",
        "row 10, 户号: duplicate account 100231: already on row 2",
    ]
    assert customers(svc) == {}


def test_the_same_file_twice_changes_nothing_the_second_time(
    svc: Services, tmp_path: Path, clock: FakeClock
) -> None:
    path = write_csv(tmp_path / "c.csv", ROWS)
    first = import_file(svc, path)
    assert (first.inserted, first.updated, first.unchanged, first.refused) == (4, 0, 0, [])
    stored = customers(svc)
    assert stored["100456"] == {
        "name": "周玉兰",
        "address": "禹城市行政街 72 号",
        "phones": ["+8613953412345", "+865342123456"],
        "meter_number": "M2",
        "arrears_cents": 18600,
        "arrears_since": date(2026, 9, 1),
        "area": "CENTRE",
        "updated_at": clock.now,
    }
    clock.advance(hours=1)
    second = import_file(svc, path)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 4)
    assert customers(svc) == stored  # updated_at too


def test_a_changed_row_is_updated_and_its_phones_replaced_by_the_files_list(
    svc: Services, tmp_path: Path, clock: FakeClock
) -> None:
    import_file(svc, write_csv(tmp_path / "a.csv", ROWS))
    changed = [list(r) for r in ROWS]
    changed[1][3] = "18653400001"  # 100456: two numbers become another one
    changed[2][5] = "20.5"  # 100789: arrears
    clock.advance(hours=1)
    report = import_file(svc, write_csv(tmp_path / "b.csv", changed))
    assert (report.inserted, report.updated, report.unchanged) == (0, 2, 2)
    stored = customers(svc)
    assert stored["100456"]["phones"] == ["+8618653400001"]
    assert stored["100789"]["arrears_cents"] == 2050
    assert stored["100789"]["updated_at"] == clock.now
    assert stored["100231"]["updated_at"] < clock.now
    with svc.read_session() as session:
        assert len(session.scalars(select(CustomerPhone)).all()) == 5


def test_a_customer_entered_before_the_import_is_updated_by_account(
    svc: Services, tmp_path: Path
) -> None:
    with svc.sessions() as session, session.begin():
        session.add(
            Customer(
                account_number="100231",
                name="旧名",
                address="旧址",
                arrears_cents=0,
                phones=[CustomerPhone(number="+8613000000000")],
            )
        )
    report = import_file(svc, write_csv(tmp_path / "c.csv", ROWS[:1]))
    assert (report.inserted, report.updated) == (0, 1)
    assert customers(svc)["100231"]["phones"] == ["+8613805341234"]
    assert customers(svc)["100231"]["name"] == "孙建国"


def test_the_area_comes_from_the_column_or_else_the_address(svc: Services, tmp_path: Path) -> None:
    rows = [*ROWS, ["100555", "外地", "北京市朝阳区", "", "", "", "", ""]]
    import_file(svc, write_csv(tmp_path / "c.csv", rows))
    areas = {account: c["area"] for account, c in customers(svc).items()}
    assert areas == {
        "100231": "CENTRE",  # 汉槐街
        "100456": "CENTRE",  # 行政街
        "100789": "DEV",  # 开发区
        "101580": "CENTRE",  # the column says 市中, though 伦镇 lies in the towns
        "100555": "",
    }


def test_an_unknown_area_in_the_column_is_refused(svc: Services, tmp_path: Path) -> None:
    rows = [["100231", "孙建国", "禹城市汉槐街", "", "", "", "", "火星"]]
    report = import_file(svc, write_csv(tmp_path / "c.csv", rows))
    assert report.refused[0].column == "片区"
    assert "unknown area '火星'" in report.refused[0].problem
    assert customers(svc) == {}


def test_an_excel_file_with_spreadsheet_numbers_and_dates(svc: Services, tmp_path: Path) -> None:
    rows = [
        [
            100231,
            "孙建国",
            "禹城市汉槐街 18 号",
            13805341234,
            7001,
            12.5,
            datetime(2026, 3, 1),
            None,
        ],
        [100456, "周玉兰", "禹城市行政街", "13953412345", "M2", "abc", None, None],
    ]
    path = write_xlsx(tmp_path / "c.xlsx", rows)
    report = import_file(svc, path)
    assert (report.inserted, [r.line() for r in report.refused]) == (
        1,
        ["row 3, 欠费金额: not an amount of yuan: 'abc'"],
    )
    stored = customers(svc)["100231"]
    assert (stored["phones"], stored["meter_number"], stored["arrears_cents"]) == (
        ["+8613805341234"],
        "7001",
        1250,
    )
    assert stored["arrears_since"] == date(2026, 3, 1)
    assert import_file(svc, path).unchanged == 1


def test_gb18030_tab_separated_with_english_headers(svc: Services, tmp_path: Path) -> None:
    header = ["Account", "Name", "Address", "Phones", "Meter", "Arrears", "Arrears since"]
    path = write_csv(
        tmp_path / "c.csv", [r[:7] for r in ROWS], header, encoding="gb18030", delimiter="\t"
    )
    assert import_file(svc, path).inserted == 4
    assert customers(svc)["100231"]["name"] == "孙建国"


def test_a_file_without_a_needed_column_or_of_another_kind_is_refused(tmp_path: Path) -> None:
    from hotline.services.customers import open_export

    with pytest.raises(ImportFileError, match=r"c.csv: missing column: 户号 \(account number\)"):
        open_export(write_csv(tmp_path / "c.csv", [], HEADER[1:]))
    (tmp_path / "c.xls").write_bytes(b"\xd0\xcf")
    with pytest.raises(ImportFileError, match=r"save it as \.xlsx"):
        open_export(tmp_path / "c.xls")
    (tmp_path / "c.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportFileError, match=r"not a readable \.xlsx"):
        open_export(tmp_path / "c.xlsx")


def test_chunks_count_across_and_a_refused_row_writes_nothing_of_itself(
    svc: Services,
) -> None:
    rows = [
        (n, {"account_number": f"A{n}", "name": f"n{n}", "phones": "13805341234"})
        for n in range(1, 11)
    ]
    rows[4] = (5, {"account_number": "A5", "name": "n5", "arrears": "bad"})
    rows[8] = (9, {"account_number": "A2", "name": "again"})  # a duplicate, another chunk
    done: list[int] = []
    report = import_customers(svc, rows, chunk_rows=3, progress=done.append)
    assert (report.rows, report.inserted, len(report.refused)) == (10, 8, 2)
    assert done == [3, 6, 9, 10]
    stored = customers(svc)
    assert "A5" not in stored and stored["A2"]["name"] == "n2"
    again = import_customers(svc, rows, chunk_rows=4)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 8)


# -- the command ------------------------------------------------------------------------------


@pytest.fixture
def command_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("HOTLINE_CONFIG", "HOTLINE_PORT", "HOTLINE_HOST", "HOTLINE_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOTLINE_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    return db_url


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="hotline")


def _stored_accounts(url: str) -> set[str]:
    from hotline.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(select(Customer.account_number)))
    finally:
        engine.dispose()


def test_the_command_dry_run_then_import_then_again(command_env: str, tmp_path: Path) -> None:
    rows = [*ROWS, ["100999", "坏金额", "某地", "", "", "x", "", ""]]
    path = write_csv(tmp_path / "export.csv", rows)
    dry = run("customers", "import", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was written" in dry.output
    assert "5 rows in" in dry.output
    assert "would be inserted 4, would be updated 0, unchanged 0, refused 1" in dry.output
    assert "  row 6, 欠费金额: not an amount of yuan: 'x'" in dry.output
    refused_file = tmp_path / "export.csv.refused.csv"
    assert f"every refused row: {refused_file}" in dry.output
    assert refused_file.read_text(encoding="utf-8-sig").splitlines() == [
        "row,column,account_number,problem",
        "6,欠费金额,100999,not an amount of yuan: 'x'",
    ]
    assert _stored_accounts(command_env) == set()

    done = run("customers", "import", str(path))
    assert done.exit_code == 0, done.output
    assert "inserted 4, updated 0, unchanged 0, refused 1" in done.output
    assert _stored_accounts(command_env) == {"100231", "100456", "100789", "101580"}
    again = run("customers", "import", str(path), "--refused", str(tmp_path / "out.csv"))
    assert "inserted 0, updated 0, unchanged 4, refused 1" in again.output
    assert (tmp_path / "out.csv").exists()


def test_the_command_shows_the_first_50_refusals_and_a_bar_on_long_files(
    command_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotline.services import customers as service

    monkeypatch.setattr(service, "CHUNK_ROWS", 10)
    rows = [[f"B{n}", "", "", "", "", "", "", ""] for n in range(60)]
    path = write_xlsx(tmp_path / "export.xlsx", rows)
    result = run("customers", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "importing" in result.output  # the progress bar's label
    assert "refused rows (first 50 of 60):" in result.output
    assert result.output.count("户名: missing") == 50
    lines = (tmp_path / "export.xlsx.refused.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 61


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("missing.csv", None, "no file"),
        ("bad.csv", "户号,户名\n1,x\n", "missing columns: 地址 (address)"),
        ("bad.txt.doc", "x", "expected a .csv or .xlsx file"),
    ],
)
def test_the_command_refuses_a_file_it_cannot_read_in_one_line(
    command_env: str, tmp_path: Path, name: str, content: str | None, fragment: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run("customers", "import", str(path))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], lines
    assert "Traceback" not in result.output


# -- the API -------------------------------------------------------------------------------


@pytest.fixture
def billing_token(app_org: Any) -> str:
    """The billing system's API token (the seeded organisation's billing account)."""
    return app_org.tokens["billing"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BODY = {
    "name": "孙建国",
    "address": "禹城市汉槐街 18 号",
    "phones": ["13805341234", "0534-2123456"],
    "meter_number": "M1",
    "arrears": "186.50",
    "arrears_since": "2026-09-01",
}


def test_the_api_checks_the_caller_before_the_body(client: Any, app_org: Any) -> None:
    stranger = client.put("/api/customers/100231", data="not json")
    assert stranger.status_code == 401
    for role in ("crew", "operator", "supervisor"):
        refused = client.put(
            "/api/customers/100231", data="not json", headers=_auth(app_org.tokens[role])
        )
        assert refused.status_code == 403, (role, refused.json)
        refused = client.post(
            "/api/customers/import", json={"rows": "x"}, headers=_auth(app_org.tokens[role])
        )
        assert refused.status_code == 403


def test_put_upserts_one_customer_and_again_changes_nothing(
    client: Any, billing_token: str, app: Any
) -> None:
    created = client.put("/api/customers/100231", json=BODY, headers=_auth(billing_token))
    assert created.status_code == 200, created.json
    assert created.json["outcome"] == "inserted"
    assert created.json["customer"] == {
        "account_number": "100231",
        "name": "孙建国",
        "address": "禹城市汉槐街 18 号",
        "phones": ["+8613805341234", "+865342123456"],
        "meter_number": "M1",
        "arrears_cents": 18650,
        "arrears_since": "2026-09-01",
        "area": "CENTRE",
    }
    again = client.put("/api/customers/100231", json=BODY, headers=_auth(billing_token))
    assert again.json["outcome"] == "unchanged"
    moved = client.put(
        "/api/customers/100231",
        json={**BODY, "phones": "18653400001", "area": "开发区"},
        headers=_auth(billing_token),
    )
    assert moved.json["outcome"] == "updated"
    stored = customers(app.extensions["hotline"])["100231"]
    assert (stored["phones"], stored["area"]) == (["+8618653400001"], "DEV")


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({**BODY, "arrears": "12.345"}, "arrears", "more than 2 decimal places"),
        ({**BODY, "arrears": True}, "arrears", "amount of yuan"),
        ({**BODY, "phones": ["12345"]}, "phones", "'12345' is not a valid phone number"),
        ({**BODY, "arrears_since": "yesterday"}, "arrears_since", "not a date"),
        ({**BODY, "area": "火星"}, "area", "unknown area"),
        ({**BODY, "account_number": "999"}, "account_number", "does not match"),
        ({**BODY, "colour": "red"}, "colour", "Unknown field"),
        ({k: v for k, v in BODY.items() if k != "name"}, "name", "required"),
        ({**BODY, "name": ""}, "name", "missing"),
    ],
)
def test_put_refuses_bad_input_naming_the_field(
    client: Any, billing_token: str, app: Any, body: dict, field: str, fragment: str
) -> None:
    refused = client.put("/api/customers/100231", json=body, headers=_auth(billing_token))
    assert refused.status_code == 422, refused.json
    assert refused.json["field"] == field
    assert fragment in refused.json["message"]
    assert customers(app.extensions["hotline"]) == {}


def test_import_dry_run_then_import_lists_refused_rows(client: Any, app_org: Any, app: Any) -> None:
    rows = [
        {**BODY, "account_number": "100231"},
        {**BODY, "account_number": "100456", "arrears": "-1"},
        {**BODY, "account_number": "100789", "phones": "15065341111"},
        {**BODY, "account_number": "100231"},
    ]
    admin = _auth(app_org.tokens["admin"])
    dry = client.post("/api/customers/import", json={"rows": rows, "dry_run": True}, headers=admin)
    assert dry.status_code == 200, dry.json
    assert dry.json == {
        "dry_run": True,
        "rows": 4,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "refused": [
            {"row": 2, "field": "arrears", "problem": "must not be negative: -1",
             "account_number": "100456"},
            {"row": 4, "field": "account_number",
             "problem": "duplicate account 100231: already on row 1", "account_number": "100231"},
        ],
    }  # fmt: skip
    svc = app.extensions["hotline"]
    assert customers(svc) == {}
    done = client.post(
        "/api/customers/import",
        json={"rows": rows},
        headers={**admin, "Idempotency-Key": "import-1"},
    )
    assert (done.json["inserted"], len(done.json["refused"])) == (2, 2)
    assert set(customers(svc)) == {"100231", "100789"}
    replay = client.post(
        "/api/customers/import",
        json={"rows": rows},
        headers={**admin, "Idempotency-Key": "import-1"},
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json == done.json
    again = client.post("/api/customers/import", json={"rows": rows}, headers=admin)
    assert (again.json["inserted"], again.json["unchanged"]) == (0, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": []}, "rows"),
        ({"rows": [{**BODY, "account_number": str(n)} for n in range(MAX_ROWS + 1)]}, "rows"),
        ({"rows": [BODY]}, "rows"),  # no account number
        ({"rows": [{**BODY, "account_number": 5}]}, "rows"),
        ({}, "rows"),
    ],
)
def test_import_refuses_a_bad_list_naming_the_field(
    client: Any, billing_token: str, body: dict, field: str
) -> None:
    refused = client.post("/api/customers/import", json=body, headers=_auth(billing_token))
    assert refused.status_code == 422, refused.json
    assert refused.json["field"].startswith(field)


def test_the_operations_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/api/openapi.json").json["paths"]
    assert "put" in paths["/api/customers/{account_number}"]
    assert "post" in paths["/api/customers/import"]
