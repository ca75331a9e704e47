"""The billing export's header mapping, one row's normalisation and each refusal,
and the service areas' file (``hotline.domain.customer_rows``, ``address_areas``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from hotline.domain.address_areas import AreaFileError, AreaMap, UnknownArea
from hotline.domain.customer_rows import (
    CustomerRow,
    HeaderError,
    Refusal,
    RowChecker,
    RowRefused,
    field_of_header,
    map_headers,
    normalise_row,
    parse_cents,
    parse_day,
    parse_phones,
)

ROOT = Path(__file__).resolve().parents[2]

AREAS = AreaMap.from_toml(
    {
        "areas": [
            {"code": "DEV", "name_zh": "开发区", "name_en": "Development Zone",
             "keywords": ["开发区", "迎宾路"]},
            {"code": "CENTRE", "name_zh": "市中", "name_en": "City Centre",
             "keywords": ["汉槐街", "行政街"]},
        ]
    }
)  # fmt: skip

ROW = {
    "account_number": "100231",
    "name": "孙建国",
    "address": "禹城市汉槐街 18 号",
    "phones": "13805341234",
    "meter_number": "M0001",
    "arrears": "186.50",
    "arrears_since": "2026-10-01",
    "area": "",
}


def _row(**changes: object) -> CustomerRow:
    return normalise_row({**ROW, **changes}, areas=AREAS, default_area_code="0534")


def _refused(**changes: object) -> RowRefused:
    with pytest.raises(RowRefused) as caught:
        _row(**changes)
    return caught.value


# -- headers ----------------------------------------------------------------------------


def test_chinese_headers_map_to_the_fields() -> None:
    headers = map_headers(
        ["户号", "户名", "地址", "电话", "水表号", "欠费金额", "欠费起始日期", "片区"]
    )
    assert headers.columns == {
        "account_number": 0, "name": 1, "address": 2, "phones": 3, "meter_number": 4,
        "arrears": 5, "arrears_since": 6, "area": 7,
    }  # fmt: skip
    assert headers.labels["arrears"] == "欠费金额"


def test_english_headers_in_any_case_and_spacing_map_too() -> None:
    headers = map_headers(
        ["Account Number", "NAME", "address", "Phones", "meter_number", "Arrears", "arrears since"]
    )
    assert "area" not in headers.columns  # optional
    assert headers.columns["arrears_since"] == 6


def test_a_unit_in_brackets_and_a_byte_order_mark_are_ignored() -> None:
    assert field_of_header("\ufeff户号") == "account_number"
    assert field_of_header("欠费金额(元)") == "arrears"
    assert field_of_header("欠费金额（元）") == "arrears"
    assert field_of_header("备注") is None


def test_other_columns_are_ignored_and_listed() -> None:
    headers = map_headers(
        ["户号", "户名", "备注", "地址", "电话", "水表号", "欠费金额", "欠费起始日期"]
    )
    assert headers.ignored == ("备注",)
    assert headers.values(["1", "n", "x", "a"]) == {
        "account_number": "1", "name": "n", "address": "a", "phones": None,
        "meter_number": None, "arrears": None, "arrears_since": None,
    }  # fmt: skip


def test_a_missing_column_is_refused_naming_it() -> None:
    with pytest.raises(HeaderError, match=r"missing columns: 水表号 \(meter number\), 欠费金额"):
        map_headers(["户号", "户名", "地址", "电话", "欠费起始日期"])


def test_two_columns_for_one_field_are_refused() -> None:
    with pytest.raises(HeaderError, match="columns 1 \\('户号'\\) and 2 \\('account'\\)"):
        map_headers(
            ["户号", "account", "户名", "地址", "电话", "水表号", "欠费金额", "欠费起始日期"]
        )


# -- one row ------------------------------------------------------------------------------


def test_a_good_row_is_normalised() -> None:
    row = _row(phones="138 0534 1234; 0534-2123456 / 2188888")
    assert row == CustomerRow(
        account_number="100231",
        name="孙建国",
        address="禹城市汉槐街 18 号",
        phones=("+8613805341234", "+865342123456", "+865342188888"),
        meter_number="M0001",
        arrears_cents=18650,
        arrears_since=date(2026, 10, 1),
        area="CENTRE",  # from the address
    )


def test_spreadsheet_values_are_read_as_text_numbers_and_dates() -> None:
    row = _row(
        account_number=100231.0,
        phones=13805341234,
        meter_number=7001,
        arrears=12.5,
        arrears_since=datetime(2026, 3, 1),
    )
    assert (row.account_number, row.phones, row.meter_number) == (
        "100231",
        ("+8613805341234",),
        "7001",
    )
    assert (row.arrears_cents, row.arrears_since) == (1250, date(2026, 3, 1))


@pytest.mark.parametrize(
    "separated",
    ["13805341234;13953412345", "13805341234,13953412345", "13805341234/13953412345",
     "13805341234 13953412345", "13805341234，13953412345", "13805341234、13953412345"],
)  # fmt: skip
def test_phones_may_be_separated_by_semicolons_commas_slashes_or_spaces(separated: str) -> None:
    assert parse_phones(separated) == ("+8613805341234", "+8613953412345")


def test_repeated_phones_are_kept_once_and_no_phone_is_allowed() -> None:
    assert parse_phones("13805341234; +86 138 0534 1234") == ("+8613805341234",)
    assert _row(phones="").phones == ()
    assert _row(phones=None).phones == ()


def test_the_area_column_wins_by_code_or_either_name() -> None:
    assert _row(area="dev").area == "DEV"
    assert _row(area="开发区").area == "DEV"
    assert _row(area="development zone").area == "DEV"
    assert _row(area="", address="禹城市开发区迎宾路 9 号").area == "DEV"
    assert _row(area="", address="禹城市伦镇驻地 88 号").area == ""


@pytest.mark.parametrize(
    ("text", "cents"),
    [("186.5", 18650), ("1,234.56", 123456), ("¥12", 1200), ("8元", 800), ("", 0),
     (None, 0), (0, 0), (Decimal("3.10"), 310), ("0.07", 7)],
)  # fmt: skip
def test_amounts_of_yuan_become_cents(text: object, cents: int) -> None:
    assert parse_cents(text) == cents


@pytest.mark.parametrize(
    ("text", "day"),
    [("2026-10-01", date(2026, 10, 1)), ("2026/10/1", date(2026, 10, 1)),
     ("2026.10.01", date(2026, 10, 1)), ("20261001", date(2026, 10, 1)),
     ("2026年10月1日", date(2026, 10, 1)), ("2026-10-01 00:00:00", date(2026, 10, 1)),
     ("", None), (None, None)],
)  # fmt: skip
def test_dates_in_the_usual_ways(text: object, day: date | None) -> None:
    assert parse_day(text) == day


# -- each refusal names its field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"account_number": ""}, "account_number", "missing"),
        ({"account_number": "  "}, "account_number", "missing"),
        ({"account_number": None}, "account_number", "missing"),
        ({"account_number": "x" * 33}, "account_number", "longer than 32"),
        ({"account_number": "10 02"}, "account_number", "spaces or '/'"),
        ({"account_number": "10/02"}, "account_number", "spaces or '/'"),
        ({"name": ""}, "name", "missing"),
        ({"name": "名" * 101}, "name", "longer than 100"),
        ({"address": "址" * 301}, "address", "longer than 300"),
        ({"meter_number": "9" * 33}, "meter_number", "longer than 32"),
        ({"name": "孙\x00"}, "name", "control character"),
        ({"phones": "13805341234; 12345"}, "phones", "'12345' is not a valid phone number"),
        ({"phones": "abc"}, "phones", "'abc' is not a valid phone number"),
        ({"arrears": "abc"}, "arrears", "not an amount of yuan: 'abc'"),
        ({"arrears": "12,34"}, "arrears", "not an amount of yuan"),
        ({"arrears": "-5"}, "arrears", "must not be negative"),
        ({"arrears": "1.005"}, "arrears", "more than 2 decimal places"),
        ({"arrears": 0.1 + 0.2}, "arrears", "more than 2 decimal places"),
        ({"arrears": "99999999"}, "arrears", "too large"),
        ({"arrears": True}, "arrears", "not an amount"),
        ({"arrears_since": "01/10/2026"}, "arrears_since", "not a date like 2026-10-01"),
        ({"arrears_since": "2026-02-30"}, "arrears_since", "no such date"),
        ({"arrears_since": "1900-01-01"}, "arrears_since", "between 1970 and 2099"),
        ({"area": "火星"}, "area", "unknown area '火星'; known: DEV, CENTRE"),
    ],
)
def test_a_bad_value_refuses_the_row_naming_the_field(
    changes: dict[str, object], field: str, problem: str
) -> None:
    refused = _refused(**changes)
    assert refused.field == field
    assert problem in refused.problem


def test_the_checker_names_the_files_column_and_refuses_a_duplicate_account() -> None:
    checker = RowChecker(areas=AREAS, labels={"arrears": "欠费金额", "account_number": "户号"})
    assert isinstance(checker.check(2, ROW), CustomerRow)
    bad = checker.check(3, {**ROW, "account_number": "100232", "arrears": "x"})
    assert bad == Refusal(3, "欠费金额", "arrears", "not an amount of yuan: 'x'", "100232")
    assert bad.line() == "row 3, 欠费金额: not an amount of yuan: 'x'"
    again = checker.check(4, {**ROW, "name": "别人"})
    assert isinstance(again, Refusal)
    assert (again.column, again.field) == ("户号", "account_number")
    assert again.problem == "duplicate account 100231: already on row 2"
    # The refused row 3 did not claim its account: a later good row with it is taken.
    assert isinstance(checker.check(5, {**ROW, "account_number": "100232"}), CustomerRow)


# -- the areas' file ----------------------------------------------------------------------


def test_the_shipped_areas_file_loads_and_places_the_demo_addresses() -> None:
    areas = AreaMap.load(ROOT / "config" / "areas.toml")
    assert areas.code_of("", "禹城市开发区迎宾路 9 号") == "DEV"
    assert areas.code_of("", "禹城市伦镇驻地 88 号") == "TOWNS"
    assert areas.code_of("", "禹城市汉槐街 18 号 3 单元 501") == "CENTRE"
    assert areas.code_of("", "北京市") == ""


def test_the_first_area_in_the_files_order_wins() -> None:
    areas = AreaMap.from_toml(
        {
            "areas": [
                {"code": "A", "name_zh": "甲", "name_en": "A", "keywords": ["迎宾路"]},
                {"code": "B", "name_zh": "乙", "name_en": "B", "keywords": ["开发区"]},
            ]
        }
    )
    assert areas.code_of("", "开发区迎宾路") == "A"
    with pytest.raises(UnknownArea):
        areas.named("C")


@pytest.mark.parametrize(
    ("areas", "message"),
    [
        ([{"code": "A", "name_zh": "甲", "name_en": "A", "keywords": ["x"], "colour": "red"}],
         "areas[0].colour: unknown key"),
        ([{"code": "A", "name_zh": "甲", "keywords": ["x"]}], "areas[0].name_en: missing"),
        ([{"code": "A", "name_zh": "甲", "name_en": "A", "keywords": []}],
         "areas[0].keywords: list at least one keyword"),
        ([{"code": "A B", "name_zh": "甲", "name_en": "A", "keywords": ["x"]}],
         "areas[0].code: expected 1-32 letters"),
        ([{"code": "A", "name_zh": "甲", "name_en": "A", "keywords": ["x"]},
          {"code": "a", "name_zh": "乙", "name_en": "B", "keywords": ["y"]}],
         "areas[1]: 'a' already names areas[0]"),
    ],
)  # fmt: skip
def test_a_bad_areas_file_is_refused_naming_the_place(areas: list, message: str) -> None:
    with pytest.raises(AreaFileError) as caught:
        AreaMap.from_toml({"areas": areas})
    assert message in str(caught.value)
