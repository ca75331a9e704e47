"""The 24-hour rule: an outage over a day needs temporary water supply points."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.domain.outages import lacks_supply_points, needs_supply_points

START = datetime(2026, 11, 26, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("length", "needed"),
    [
        (timedelta(hours=6), False),
        (timedelta(hours=24), False),
        (timedelta(hours=24, minutes=1), True),
        (timedelta(days=3), True),
    ],
)
def test_only_an_outage_over_24_hours_needs_supply_points(length, needed):
    assert needs_supply_points(START, START + length) is needed


@pytest.mark.parametrize(
    ("points", "lacking"),
    [(None, True), ("", True), ("   ", True), ("南关小区东门水车", False)],
)
def test_a_long_outage_lacks_supply_points_until_some_are_named(points, lacking):
    assert lacks_supply_points(START, START + timedelta(hours=30), points) is lacking


def test_a_short_outage_never_lacks_supply_points():
    assert lacks_supply_points(START, START + timedelta(hours=8), "") is False
