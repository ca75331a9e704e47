"""F12: severity grades (事件分级) and the zones of the service areas set a leak's
on-site (到场) limit: the table the policy file ships, and the file's refusals."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime, timedelta

import pytest

from hotline.domain.address_areas import AreaFileError, AreaMap
from hotline.domain.deadlines import limit_of
from hotline.domain.errors import Invalid
from hotline.domain.intake import check_intake
from hotline.domain.taxonomy import Category, Grade, Priority, Stage, Zone
from hotline.domain.timelimits import SHIPPED_POLICY_PATH, PolicyError, TimeLimitPolicy
from hotline.domain.workcalendar import SHANGHAI, ClockKind
from tests.support import intake_command

POLICY = TimeLimitPolicy.load(SHIPPED_POLICY_PATH)
SHIPPED = tomllib.loads(SHIPPED_POLICY_PATH.read_text(encoding="utf-8"))
MIN = timedelta(minutes=1)


def _on_site(grade, zone, priority=Priority.NORMAL):
    return POLICY.limit_for(Category.LEAK, priority, Stage.ON_SITE, grade=grade, zone=zone)


@pytest.mark.parametrize(
    ("grade", "zone", "minutes"),
    [
        (1, Zone.TOWN, 30),
        (1, Zone.OUTSKIRTS, 60),
        (1, Zone.VILLAGES, 60),
        (2, Zone.TOWN, 60),
        (2, Zone.OUTSKIRTS, 120),
        (2, Zone.VILLAGES, 120),
        (3, Zone.TOWN, 120),
        (3, Zone.OUTSKIRTS, 240),
        (3, Zone.VILLAGES, 240),
    ],
)
def test_the_shipped_table_gives_each_grade_its_limit_in_each_zone(grade, zone, minutes):
    limit = _on_site(grade, zone)
    assert limit.duration == minutes * MIN
    assert limit.clock is ClockKind.AROUND_THE_CLOCK
    assert limit.source  # every figure names where it comes from


def test_grade_1_is_the_seed_table_commitment_30_min_in_town_60_outside():
    # SEED-RULES "leak / burst: crew on site, urban 30 min, outskirts 60 min" (F12).
    assert _on_site(Grade.ONE, Zone.TOWN).duration == 30 * MIN
    assert _on_site(Grade.ONE, Zone.OUTSKIRTS).duration == 60 * MIN
    assert "SEED-RULES table" in _on_site(Grade.ONE, Zone.TOWN).source
    assert "F12" in _on_site(Grade.ONE, Zone.TOWN).source


def test_unknown_zone_is_held_to_the_town_and_unknown_grade_to_the_category():
    assert _on_site(Grade.ONE, None).duration == 30 * MIN
    assert _on_site(Grade.THREE, None).duration == 120 * MIN
    ungraded = POLICY.limit_for(Category.LEAK, Priority.NORMAL, Stage.ON_SITE)
    assert ungraded.duration == 30 * MIN  # never more than the strictest grade


def test_the_grade_holds_at_every_priority_and_only_for_on_site():
    for priority in Priority:
        assert _on_site(1, Zone.OUTSKIRTS, priority).duration == 60 * MIN
    shut_off = POLICY.limit_for(
        Category.LEAK, Priority.NORMAL, Stage.SHUT_OFF, grade=3, zone=Zone.VILLAGES
    )
    assert shut_off.duration == timedelta(hours=4)


def test_a_category_the_policy_does_not_grade_keeps_its_own_on_site_limit():
    assert POLICY.grades.categories == frozenset({Category.LEAK})
    own = POLICY.limit_for(Category.NO_WATER, Priority.NORMAL, Stage.ON_SITE)
    graded = POLICY.limit_for(
        Category.NO_WATER, Priority.NORMAL, Stage.ON_SITE, grade=1, zone=Zone.OUTSKIRTS
    )
    assert graded == own


class _Case:
    category = Category.LEAK
    priority = Priority.NORMAL
    pipe_size_dn = None
    state = "accepted"
    due_at = None
    promised_at = None

    def __init__(self, grade, zone):
        self.grade, self.zone = grade, zone


def test_limit_of_reads_the_case_grade_and_zone():
    start = datetime(2026, 11, 28, 23, 50, tzinfo=SHANGHAI)  # a Saturday night
    town = limit_of(POLICY, _Case(1, "town"), Stage.ON_SITE)
    outside = limit_of(POLICY, _Case(1, "villages"), Stage.ON_SITE)
    assert POLICY.calendar is not None
    assert town.duration == 30 * MIN and outside.duration == 60 * MIN
    assert limit_of(POLICY, _Case(1, ""), Stage.ON_SITE).duration == 30 * MIN
    assert POLICY.due_at(start, "leak", "normal", "on_site", grade=1, zone="outskirts") == (
        start + 60 * MIN
    )


# -- the policy file's refusals ----------------------------------------------------------


def _refusal(change) -> str:
    data = copy.deepcopy(SHIPPED)
    change(data)
    with pytest.raises(PolicyError) as caught:
        TimeLimitPolicy.from_dict(data)
    return str(caught.value)


def test_a_grade_missing_its_zone_is_refused_naming_the_key():
    message = _refusal(lambda d: d["grades"]["on_site"]["1"].pop("outskirts"))
    assert "grades.on_site.1.outskirts" in message


def test_a_missing_grade_is_refused_naming_it():
    message = _refusal(lambda d: d["grades"]["on_site"].pop("2"))
    assert "grades.on_site.2" in message and "missing" in message


def test_an_unknown_grade_or_zone_or_key_is_refused():
    assert "grades.on_site.4" in _refusal(
        lambda d: d["grades"]["on_site"].__setitem__("4", d["grades"]["on_site"]["3"])
    )
    assert "grades.on_site.1.suburbs" in _refusal(
        lambda d: d["grades"]["on_site"]["1"].__setitem__("suburbs", "45min")
    )
    assert "grades.colour" in _refusal(lambda d: d["grades"].__setitem__("colour", "red"))


def test_a_bad_duration_or_a_missing_source_is_refused_naming_the_key():
    message = _refusal(lambda d: d["grades"]["on_site"]["1"].__setitem__("town", "soon"))
    assert "grades.on_site.1.town" in message and "soon" in message
    message = _refusal(lambda d: d["grades"]["on_site"]["3"].pop("source"))
    assert "grades.on_site.3.source" in message


def test_a_more_severe_grade_may_not_get_more_time():
    message = _refusal(lambda d: d["grades"]["on_site"]["1"].__setitem__("town", "90min"))
    assert "grades.on_site.1.town" in message and "more severe" in message


def test_a_graded_category_needs_an_on_site_stage():
    message = _refusal(lambda d: d["grades"].__setitem__("categories", ["leak", "billing"]))
    assert "grades.categories[1]" in message and "billing" in message
    message = _refusal(lambda d: d["grades"].__setitem__("categories", ["lake"]))
    assert "grades.categories[0]" in message and "lake" in message


def test_a_file_without_grades_loads_and_grades_nothing():
    data = copy.deepcopy(SHIPPED)
    del data["grades"]
    policy = TimeLimitPolicy.from_dict(data)
    limit = policy.limit_for("leak", "normal", "on_site", grade=1, zone="outskirts")
    assert limit.duration == 30 * MIN


# -- areas and intake ------------------------------------------------------------------


def test_every_shipped_area_has_a_zone():
    from hotline.services.customers import shipped_areas

    areas = shipped_areas()
    assert {a.code: a.zone for a in areas.areas} == {
        "DEV": Zone.OUTSKIRTS,
        "TOWNS": Zone.VILLAGES,
        "CENTRE": Zone.TOWN,
    }
    assert areas.zone_of("CENTRE") is Zone.TOWN and areas.zone_of("NOWHERE") is None


def test_an_unknown_zone_in_the_areas_file_is_refused_naming_the_place():
    data = {
        "areas": [
            {"code": "X", "name_zh": "某", "name_en": "X", "keywords": ["某"], "zone": "suburbs"}
        ]
    }
    with pytest.raises(AreaFileError, match=r"areas\[0\]\.zone"):
        AreaMap.from_toml(data)


@pytest.mark.parametrize("grade", [0, 4, True])
def test_intake_refuses_a_grade_outside_1_to_3_naming_the_field(grade):
    with pytest.raises(Invalid) as caught:
        check_intake(intake_command(grade=grade))
    assert caught.value.field == "grade" and caught.value.rule == "F12"


def test_the_shipped_routing_rules_name_areas_by_their_code():
    from hotline.services.customers import shipped_areas
    from hotline.services.routing import shipped_rules

    codes = {area.code for area in shipped_areas().areas}
    assert {rule.area for rule in shipped_rules().rules if rule.area} <= codes
