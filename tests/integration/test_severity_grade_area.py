"""F12: a leak's severity grade and the zone of its area set its on-site (到场)
clock; a case's area is an area code of config/areas.toml; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command as alembic_command
from sqlalchemy import select

from hotline import services
from hotline.cli import alembic_config, upgrade_database
from hotline.db import Base
from hotline.domain.audit import ROW_DIGEST_VERSION, ROW_FIELDS
from hotline.domain.lifecycle import Action
from hotline.domain.taxonomy import Category, Stage
from hotline.models import Case, CaseDeadline, CaseEvent
from hotline.services import Invalid
from tests.integration.migrationhelp import BOTH_DATABASES, database_at
from tests.integration.migrationhelp import columns as _columns
from tests.support import LEAK_REPORT, act, intake_command

CENTRE = "禹城市汉槐街 18 号"  # town (城区)
VILLAGE = "禹城市伦镇前街 3 号"  # villages (乡镇)


def _case(svc, number) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


def _open_on_site(svc, number) -> CaseDeadline:
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        return session.scalars(
            select(CaseDeadline).where(
                CaseDeadline.case_id == case.id,
                CaseDeadline.stage == Stage.ON_SITE,
                CaseDeadline.ended_at.is_(None),
            )
        ).one()


def _dispatched(svc, org, clock, **intake) -> tuple[str, object]:
    """A leak registered, sent to pipe repair and signed for; returns its number and
    the moment of the signature (the on-site clock starts there)."""
    number = services.intake(svc, org["operator"], intake_command(**intake)).case_number
    clock.advance(minutes=3)
    act(svc, org["dispatcher"], number, Action.ASSIGN, department_id=org.departments["REPAIR"])
    clock.advance(minutes=4)
    signed = clock()
    act(svc, org["crew"], number, Action.ACCEPT)
    return number, signed


def test_a_grade_1_leak_in_town_must_be_reached_30_min_after_dispatch(svc, org, clock):
    number, signed = _dispatched(svc, org, clock, address=CENTRE, grade=1)
    case = _case(svc, number)
    assert (case.area, case.zone, case.grade) == ("CENTRE", "town", 1)
    row = _open_on_site(svc, number)
    assert row.started_at == signed
    assert row.due_at - row.started_at == timedelta(minutes=30)
    assert row.limit_text == "30min"


def test_a_grade_1_leak_outside_town_gets_60_min(svc, org, clock):
    number, signed = _dispatched(svc, org, clock, address=VILLAGE, grade=1)
    case = _case(svc, number)
    assert (case.area, case.zone) == ("TOWNS", "villages")
    row = _open_on_site(svc, number)
    assert row.started_at == signed and row.due_at == signed + timedelta(minutes=60)
    outskirts, signed = _dispatched(svc, org, clock, address="禹城市某路", area="DEV", grade=1)
    assert _open_on_site(svc, outskirts).due_at == signed + timedelta(minutes=60)


def test_a_lesser_grade_outside_gets_its_own_limit_and_no_grade_the_strictest(svc, org, clock):
    number, signed = _dispatched(svc, org, clock, address=VILLAGE, grade=3)
    assert _open_on_site(svc, number).due_at == signed + timedelta(hours=4)
    ungraded, signed = _dispatched(svc, org, clock, address=VILLAGE)
    assert _case(svc, ungraded).grade is None
    assert _open_on_site(svc, ungraded).due_at == signed + timedelta(minutes=30)


def test_the_grade_and_zone_are_on_record_and_covered_by_the_row_digest(svc, org, clock):
    number, _ = _dispatched(svc, org, clock, address=VILLAGE, grade=2)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        register = session.scalar(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "register")
        )
    assert register.data["grade"] == 2 and register.data["area"] == "TOWNS"
    assert register.data["zone"] == "villages"
    assert {"grade", "zone", "area"} <= set(ROW_FIELDS[ROW_DIGEST_VERSION])
    assert set(ROW_FIELDS["v2"]) == set(ROW_FIELDS["v1"]) | {"area"}  # old lists unchanged


def test_the_area_is_a_code_named_at_intake_or_found_from_the_address(svc, org):
    named = services.intake(
        svc, org["operator"], intake_command(address="某街", area="开发区")
    ).case_number
    assert _case(svc, named).area == "DEV"  # a name is kept as the code
    found = services.intake(svc, org["operator"], intake_command(address=VILLAGE)).case_number
    assert _case(svc, found).area == "TOWNS"
    nowhere = services.intake(svc, org["operator"], intake_command(address="无名路 1 号"))
    assert (_case(svc, nowhere.case_number).area, _case(svc, nowhere.case_number).zone) == ("", "")


def test_an_unknown_area_is_refused_naming_area(svc, org):
    with pytest.raises(Invalid) as caught:
        services.intake(svc, org["operator"], intake_command(area="月球"))
    assert caught.value.field == "area" and "DEV" in caught.value.message


def test_a_grade_for_a_category_the_policy_does_not_grade_is_refused(svc, org):
    with pytest.raises(Invalid) as caught:
        services.intake(
            svc, org["operator"], intake_command(category=Category.WATER_QUALITY, grade=1)
        )
    assert (caught.value.field, caught.value.rule) == ("grade", "F12")


def test_the_routing_rule_for_an_area_code_proposes_its_station(svc, org):
    from hotline.domain.routing import RoutingRules

    rules = RoutingRules.from_toml(
        {"rules": [{"category": "leak", "area": "TOWNS", "department": "METER"}]}
    )
    number = services.intake(svc, org["operator"], intake_command(address=VILLAGE)).case_number
    proposal = rules.propose(Category.LEAK, _case(svc, number).area)
    assert proposal is not None and proposal.department == "METER"


# -- the API ----------------------------------------------------------------------------


def _post(client, org, **changes):
    token = {"Authorization": f"Bearer {org.tokens['operator']}"}
    return client.post("/api/contacts", json={**LEAK_REPORT, **changes}, headers=token)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"area": "MOON"}, "area"),
        ({"grade": 4}, "grade"),
        ({"grade": "1"}, "grade"),
        ({"grade": 1, "category": "billing", "triage": "not_a_repair"}, "grade"),
    ],
)
def test_the_api_refuses_a_bad_area_or_grade_with_422_naming_it(app, app_org, changes, field):
    response = _post(app.test_client(), app_org, **changes)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["field"] == field


def test_the_api_takes_and_shows_the_grade_and_area(app, app_org):
    client = app.test_client()
    created = _post(client, app_org, grade=1, area="TOWNS")
    assert created.status_code == 201, created.get_data(as_text=True)
    token = {"Authorization": f"Bearer {app_org.tokens['operator']}"}
    shown = client.get(f"/api/cases/{created.json['case_number']}", headers=token).json
    assert (shown["grade"], shown["area"], shown["zone"]) == (1, "TOWNS", "villages")


# -- the migration -----------------------------------------------------------------------


@pytest.fixture(params=BOTH_DATABASES)
def url_at_0013(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_at(request, tmp_path, "0013")


def test_migration_0014_adds_grade_and_zone_and_takes_them_away_again(url_at_0013):
    url = url_at_0013
    assert not {"grade", "zone"} & set(_columns(url))
    upgrade_database(url, "0014")
    columns = _columns(url)
    assert set(columns) == set(Base.metadata.tables["cases"].columns.keys())
    assert columns["grade"]["nullable"]
    assert not columns["zone"]["nullable"] and columns["zone"]["default"] is None
    alembic_command.downgrade(alembic_config(url), "0013")
    assert not {"grade", "zone"} & set(_columns(url))
    upgrade_database(url, "0014")
    assert {"grade", "zone"} <= set(_columns(url))
