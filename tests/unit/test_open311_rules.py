"""Open311 GeoReport v2's pure rules: services, where, attributes, masking, XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.domain import open311 as rules
from hotline.domain.errors import Invalid
from hotline.domain.intake import TRIAGE_MUST_DISPATCH
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category, TriageOutcome

LEAK = rules.service("leak")
QUALITY = rules.service("water_quality")
METER = rules.service("meter_fault")


def test_every_category_is_a_service_and_codes_are_category_values():
    assert [s.code for s in rules.SERVICES] == [str(c) for c in Category]
    assert rules.service("nothing") is None
    assert LEAK is not None and LEAK.metadata
    assert not rules.service("billing").metadata


def test_a_repair_from_an_app_is_not_judged_and_so_goes_to_dispatch():
    """P5: a repair report nobody judged yet goes to the dispatch center."""
    for svc in rules.SERVICES:
        if svc.group == "repair":
            assert svc.triage in TRIAGE_MUST_DISPATCH
        else:
            assert svc.triage == TriageOutcome.NOT_A_REPAIR
        assert svc.need.strip()


@pytest.mark.parametrize(
    ("lat", "long", "address", "address_id", "field"),
    [
        (None, None, "", "", "address_string"),
        (None, None, "  ", "A-1", "address_id"),
        (36.9, None, "", "", "long"),
        (None, 116.6, "汉槐街", "", "lat"),
    ],
)
def test_a_request_needs_an_address_or_both_coordinates(lat, long, address, address_id, field):
    """P4: the case records where the problem is."""
    with pytest.raises(Invalid) as refused:
        rules.check_location(lat, long, address, address_id)
    assert refused.value.field == field


def test_an_address_or_both_coordinates_are_enough():
    rules.check_location(None, None, "汉槐街 18 号", "")
    rules.check_location(36.9, 116.6, "", "")
    rules.check_location(0.0, 0.0, "", "")


def test_attributes_are_checked_against_the_service():
    assert rules.check_attributes(LEAK, {"place": ["road"]}) == {"place": "road"}
    assert rules.check_attributes(QUALITY, {"symptom": ["smell", "colour", "smell"]}) == {
        "symptom": ["colour", "smell"]
    }
    assert rules.check_attributes(METER, {}) == {}
    assert rules.check_attributes(METER, {"meter_number": " 0012345 "}) == {
        "meter_number": "0012345"
    }
    for given, field in [
        ({}, "attribute[place]"),
        ({"place": ["  "]}, "attribute[place]"),
        ({"place": ["roof"]}, "attribute[place]"),
        ({"place": ["road", "indoor"]}, "attribute[place]"),
        ({"place": ["road"], "colour": ["red"]}, "attribute[colour]"),
        ({"place": [3]}, "attribute[place]"),
    ]:
        with pytest.raises(Invalid) as refused:
            rules.check_attributes(LEAK, given)
        assert refused.value.field == field, given
    with pytest.raises(Invalid):
        rules.check_attributes(METER, {"meter_number": "1" * (rules.ATTRIBUTE_TEXT_MAX + 1)})


def test_the_problem_text_keeps_the_words_and_the_answers():
    text = rules.problem_text(LEAK, " 路边冒水 ", {"place": "road"})
    assert text == "路边冒水\n漏水位置:路面或人行道"
    text = rules.problem_text(QUALITY, "水黄", {"symptom": ["colour", "smell"]})
    assert text.endswith("水的情况:发黄或浑浊、有异味")


def test_the_place_is_the_address_else_the_coordinates():
    assert rules.place_text(" 汉槐街 ", None, None) == "汉槐街"
    assert rules.place_text("", 36.9341, 116.6382) == "经纬度 36.934100, 116.638200"


def test_names_are_written_family_name_first():
    assert rules.contact_name("明", "孙") == "孙明"
    assert rules.contact_name("Ming", "Sun") == "Ming Sun"
    assert rules.contact_name("", "孙") == "孙"
    assert rules.contact_name("", "") == ""


def test_only_a_closed_case_is_a_closed_request():
    assert rules.request_status(State.CLOSED) == rules.CLOSED
    for state in State:
        if state != State.CLOSED:
            assert rules.request_status(state) == rules.OPEN


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("打 13805341234 找我", "打 *******1234 找我"),
        ("电话 138 0534 1234", "电话 *******1234"),
        ("座机 0534-7212110", "座机 *******2110"),
        ("邮箱 sun.ming+x@example.com.cn 谢谢", "邮箱 ***@*** 谢谢"),
        ("DN300 管道,18 号楼 2 单元", "DN300 管道,18 号楼 2 单元"),
    ],
)
def test_phone_numbers_and_email_addresses_are_masked(text, shown):
    assert rules.mask_personal(text) == shown


def test_the_xml_documents_follow_the_specification():
    rows = [{"service_code": "leak", "metadata": True, "description": None}]
    root = ET.fromstring(rules.xml_document("services", rows))
    assert root.tag == "services"
    service = root.find("service")
    assert service.findtext("service_code") == "leak"
    assert service.findtext("metadata") == "true" and service.findtext("description") == ""
    definition = {
        "service_code": "leak",
        "attributes": [{"code": "place", "values": [{"key": "road", "name": "路面"}]}],
    }
    root = ET.fromstring(rules.xml_document("service_definition", definition))
    assert root.find("attributes/attribute/values/value/name").text == "路面"
    root = ET.fromstring(rules.xml_document("errors", rules.error_rows(403, ["bad key <&>"])))
    assert root.findtext("error/code") == "403"
    assert root.findtext("error/description") == "bad key <&>"


def test_times_are_written_with_their_offset():
    moment = datetime(2026, 11, 26, 6, 5, tzinfo=UTC)
    assert rules.w3c_time(moment, ZoneInfo("Asia/Shanghai")) == "2026-11-26T14:05:00+08:00"
    assert rules.w3c_time(None, ZoneInfo("Asia/Shanghai")) is None


def test_the_fingerprint_changes_with_the_submission():
    a = rules.fingerprint({"description": "漏水", "lat": 1.0})
    assert a == rules.fingerprint({"lat": 1.0, "description": "漏水"})
    assert a != rules.fingerprint({"description": "漏水了", "lat": 1.0})
