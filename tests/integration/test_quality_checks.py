"""Quality checks (质检) over HTTP and in the service, on SQLite and PostgreSQL:
the seeded sample, the check form and its refusals, the saved check that is
never changed (only superseded, with a reason), G2 on the comment, an
operator's history and the compliance score per operator over time.

Rules checked here: G1, P3, P4 (the form's items, each with its weight and
rule id), P1 (the ring item taken from the data), G2 (banned phrases in the
comment are flagged).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callflows.models import ComplianceFlag, QualityCheck
from callflows.services import quality as quality_service
from hotline.domain.taxonomy import Disposition
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.integration.test_call_log_review import CLEAN, DAY, add_call

REC = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{}.mp3"
#: Points for the four form items: G1 18/20, P3 25/25, P4 20/25, P4 read-back 10/15.
POINTS = {
    "points.manners": "18",
    "points.greeting_closing": "25",
    "points.registration": "20",
    "points.read_back": "10",
}


@pytest.fixture
def supervisor(app, app_org):
    return logged_in(app.test_client(), "supervisor")


def _count(app, model, *where) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _checks(app, call_id: int) -> list[QualityCheck]:
    with app.extensions["hotline"].sessions() as session:
        return list(
            session.scalars(
                select(QualityCheck)
                .where(QualityCheck.call_id == call_id)
                .order_by(QualityCheck.id)
            )
        )


def _post(client, call_id: int, data: dict[str, str]):
    token = csrf_from(text_of(client.get(f"/calls/{call_id}/quality")))
    return client.post(f"/calls/{call_id}/quality", data={**data, "csrf_token": token})


def _call(app, app_org, ring: float = 6.0, **kw) -> int:
    return add_call(
        app,
        at=DAY,
        operator_id=app_org["operator"].id,
        ring=ring,
        compliance=CLEAN,
        recording=REC.format(1),
        disposition=Disposition.CASE_CREATED,
        **kw,
    )


# -- the sample ----------------------------------------------------------------------


@pytest.fixture
def pool(app, app_org):
    """op1: five recorded calls, one unrecorded, one already checked; op2: two recorded."""
    op1, op2 = app_org["operator"].id, app_org["operator2"].id
    recorded1 = [
        add_call(
            app,
            at=DAY + timedelta(hours=n),
            operator_id=op1,
            compliance=CLEAN,
            recording=REC.format(n),
        )
        for n in range(5)
    ]
    unrecorded = add_call(app, at=DAY + timedelta(hours=6), operator_id=op1, compliance=CLEAN)
    checked = add_call(
        app, at=DAY + timedelta(hours=7), operator_id=op1, compliance=CLEAN, recording=REC.format(7)
    )
    recorded2 = [
        add_call(
            app,
            at=DAY + timedelta(hours=n),
            operator_id=op2,
            compliance=CLEAN,
            recording=REC.format(20 + n),
        )
        for n in range(2)
    ]
    outside = add_call(
        app, at=DAY + timedelta(days=3), operator_id=op2, compliance=CLEAN, recording=REC.format(99)
    )
    quality_service.record_check(
        app.extensions["hotline"],
        app_org["supervisor"],
        checked,
        points={"manners": 20, "greeting_closing": 25, "registration": 25, "read_back": 15},
        ring_limit=15.0,
        standard_used=quality_service.standard("润禹水务"),
    )
    return {
        "op1": recorded1,
        "op2": recorded2,
        "unrecorded": unrecorded,
        "checked": checked,
        "outside": outside,
    }


def _drawn(page: str) -> set[int]:
    table = page[page.index('id="sample"') :].split("</table>")[0]
    return {int(m) for m in re.findall(r'href="/calls/(\d+)/quality"', table)}


def test_the_sample_draws_n_recorded_unchecked_calls_per_operator_the_same_for_a_seed(
    supervisor, pool
):
    query = "/quality?from=2026-11-24&to=2026-11-24&per_operator=3&seed=42&recorded_only=1"

    first = _drawn(text_of(supervisor.get(query)))
    again = _drawn(text_of(supervisor.get(query)))
    seeds = [
        _drawn(text_of(supervisor.get(query.replace("seed=42", f"seed={s}")))) for s in range(1, 8)
    ]

    assert first == again
    assert len(first & set(pool["op1"])) == 3  # three of op1's five recorded calls
    assert set(pool["op2"]) <= first  # op2 has only two
    assert len(first) == 5
    assert not first & {pool["unrecorded"], pool["checked"], pool["outside"]}
    assert any(s != first for s in seeds)


def test_the_sample_may_take_calls_without_a_recording(supervisor, pool):
    page = text_of(supervisor.get("/quality?from=2026-11-24&to=2026-11-24&per_operator=10&seed=1"))

    assert _drawn(page) == {*pool["op1"], *pool["op2"], pool["unrecorded"]}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("per_operator=0", "per_operator"),
        ("per_operator=21", "per_operator"),  # more than the file's max_per_operator
        ("per_operator=three", "per_operator"),
        ("seed=-1", "seed"),
        ("from=2026-11-25&to=2026-11-24", "to"),
        ("from=2026-02-30", "from"),
        ("from=2024-01-01&to=2026-11-24", "to"),  # more than 366 days
        ("operator=0", "operator"),
    ],
)
def test_a_bad_sample_request_answers_400_naming_it(supervisor, app_org, query, named):
    base = {"from": "2026-11-24", "to": "2026-11-24", "per_operator": "3", "seed": "1"}
    for part in query.split("&"):
        key, value = part.split("=")
        base[key] = value
    response = supervisor.get("/quality?" + "&".join(f"{k}={v}" for k, v in base.items()))

    assert response.status_code == 400
    assert f"&#39;{named}&#39;" in text_of(response)


# -- the form ------------------------------------------------------------------------


def test_the_form_lists_each_item_with_its_weight_and_rule(supervisor, app, app_org):
    """G1, P3, P4 on the form with their weights; P1 shown as measured, not typed."""
    page = text_of(supervisor.get(f"/calls/{_call(app, app_org)}/quality"))

    for rule, weight, name in (
        ("G1", 20, "points.manners"),
        ("P3", 25, "points.greeting_closing"),
        ("P4", 25, "points.registration"),
        ("P4", 15, "points.read_back"),
    ):
        row = page[page.index(f'name="{name}"') - 600 : page.index(f'name="{name}"')]
        assert f"<td>{rule}</td>" in row and f'<td class="num">{weight}</td>' in row
    assert 'name="points.three_rings"' not in page
    assert '<span id="measured-three_rings">15</span>' in page
    assert "「感谢您的来电,再见」" in page


def test_p1_a_saved_check_totals_the_points_and_takes_the_ring_item_from_the_data(
    supervisor, app, app_org
):
    """P1: answered after 20 s (limit 15 s): the ring item gives 0, whatever is typed."""
    slow = _call(app, app_org, ring=20.0)

    response = _post(supervisor, slow, {**POINTS, "comment": "态度很好,复述不完整"})

    assert response.status_code == 302, text_of(response)
    (check,) = _checks(app, slow)
    assert check.total == 18 + 25 + 20 + 10 + 0 == 73
    assert check.max_total == 100
    assert {i["id"]: (i["rule"], i["weight"], i["points"]) for i in check.items} == {
        "manners": ("G1", 20, 18),
        "greeting_closing": ("P3", 25, 25),
        "registration": ("P4", 25, 20),
        "read_back": ("P4", 15, 10),
        "three_rings": ("P1", 15, 0),
    }
    assert check.operator_id == app_org["operator"].id
    assert check.checked_by_id == app_org["supervisor"].id
    assert "73 / 100" in text_of(supervisor.get(f"/calls/{slow}"))


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"points.manners": "21"}, 422, "manners"),  # over the item's weight
        ({"points.manners": "-1"}, 422, "manners"),
        ({"points.manners": "abc"}, 422, "manners"),
        ({"points.manners": ""}, 422, "manners"),  # missing
        ({"points.three_rings": "15"}, 422, "three_rings"),  # measured, not typed
        ({"points.Bad-Id": "1"}, 422, "points"),
        ({"comment": "长" * 2001}, 422, "comment"),
        ({"reason": "无"}, 422, "reason"),  # a reason without superseding
        ({"supersedes_id": "0"}, 422, "supersedes_id"),
    ],
)
def test_a_bad_check_is_refused_naming_the_field_and_nothing_is_written(
    supervisor, app, app_org, change, status, named
):
    call_id = _call(app, app_org)

    response = _post(supervisor, call_id, {**POINTS, **change})

    assert response.status_code == status, text_of(response)
    assert named in text_of(response)
    assert _count(app, QualityCheck) == 0


def test_an_operator_is_refused_before_the_body_is_read(app, app_org):
    call_id = _call(app, app_org)
    operator = logged_in(app.test_client(), "operator")
    token = csrf_from(text_of(operator.get("/console")))

    response = operator.post(
        f"/calls/{call_id}/quality", data={"points.manners": "999", "csrf_token": token}
    )

    assert response.status_code == 403
    assert operator.get(f"/calls/{call_id}/quality").status_code == 403
    assert _count(app, QualityCheck) == 0


def test_a_call_not_answered_cannot_be_checked(supervisor, app, app_org):
    missed = add_call(app, at=DAY, operator_id=None, ring=None)

    response = _post(supervisor, missed, POINTS)

    assert response.status_code == 409
    assert _count(app, QualityCheck) == 0


# -- saved for good, superseded with a reason ------------------------------------------


def test_a_check_is_never_changed_only_superseded_with_a_reason(supervisor, app, app_org):
    call_id = _call(app, app_org)
    assert _post(supervisor, call_id, POINTS).status_code == 302
    (first,) = _checks(app, call_id)

    again = _post(supervisor, call_id, POINTS)
    no_reason = _post(supervisor, call_id, {**POINTS, "supersedes_id": str(first.id)})
    fixed = _post(
        supervisor,
        call_id,
        {
            **POINTS,
            "points.manners": "10",
            "supersedes_id": str(first.id),
            "reason": "复听后发现语气生硬",
        },
    )
    stale = _post(
        supervisor, call_id, {**POINTS, "supersedes_id": str(first.id), "reason": "再改一次"}
    )

    assert again.status_code == 409 and "supersede" in text_of(again)
    assert no_reason.status_code == 422 and "reason" in text_of(no_reason)
    assert fixed.status_code == 302
    assert stale.status_code == 409  # only the current check may be superseded
    old, new = _checks(app, call_id)
    assert (old.id, old.total) == (first.id, 88)  # the first check, as it was
    assert (new.supersedes_id, new.reason, new.total) == (first.id, "复听后发现语气生硬", 80)
    page = text_of(supervisor.get(f"/calls/{call_id}/quality"))
    assert "已被更正" in page and "复听后发现语气生硬" in page


def test_a_saved_check_cannot_be_updated_in_the_database(app, app_org, supervisor):
    call_id = _call(app, app_org)
    _post(supervisor, call_id, POINTS)

    with app.extensions["hotline"].sessions() as session:
        check = session.scalar(select(QualityCheck))
        check.total = 100
        with pytest.raises(ValueError, match="saved for good"):
            session.commit()
    (kept,) = _checks(app, call_id)
    assert kept.total == 88


def test_g2_a_banned_phrase_in_the_comment_is_flagged(supervisor, app, app_org):
    """G2: the comment is staff text; a banned phrase in it becomes a flag of the call."""
    call_id = _call(app, app_org)

    response = _post(supervisor, call_id, {**POINTS, "comment": "接线员说了「不归我管」"})

    assert response.status_code == 302
    assert _count(app, ComplianceFlag, ComplianceFlag.source == "quality_comment") == 1
    assert "不归我管" in text_of(supervisor.get(f"/calls/{call_id}"))


# -- the operator's history and the trend ----------------------------------------------


def test_an_operators_history_lists_checks_and_the_weekly_mean_of_current_ones(
    supervisor, app, app_org, clock
):
    first, second = _call(app, app_org), _call(app, app_org, ring=30.0)
    _post(supervisor, first, POINTS)  # 88
    _post(supervisor, second, POINTS)  # 73 (slow: no ring points)
    (old,) = _checks(app, second)
    _post(
        supervisor,
        second,
        {**POINTS, "points.manners": "20", "supersedes_id": str(old.id), "reason": "复核"},
    )  # 75 supersedes 73

    page = text_of(supervisor.get(f"/quality/operators/{app_org['operator'].id}"))

    weeks = page[page.index('id="history-weeks"') :].split("</table>")[0]
    assert "<td>11-23</td>" in weeks  # the week of Thursday 26 November starts Monday 23
    assert '<td class="num">2</td><td class="num">81.5</td>' in weeks  # (88 + 75) / 2
    checks = page[page.index('id="history-checks"') :].split("</table>")[0]
    assert checks.count("<tr>") == 4  # header + three checks, the superseded one kept
    assert "73 / 100" in checks and "已被更正" in checks
    assert supervisor.get("/quality/operators/99999").status_code == 404


def test_the_score_trend_per_operator_by_day_and_week(supervisor, app, app_org):
    """P1, P3, G2: mean compliance score per operator and period, as in the table."""
    op1, op2 = app_org["operator"].id, app_org["operator2"].id
    add_call(app, at=DAY, operator_id=op1, compliance=CLEAN)  # 100
    add_call(app, at=DAY, operator_id=op1, ring=20.0, compliance=CLEAN)  # 80
    add_call(
        app,
        at=DAY + timedelta(days=1),
        operator_id=op1,
        banned=1,
        compliance={**CLEAN, "missed_closing": True},
    )  # 60
    add_call(app, at=DAY, operator_id=op2, compliance={**CLEAN, "missed_greeting": True})  # 80

    by_day = text_of(
        supervisor.get(f"/quality/scores?from=2026-11-23&to=2026-11-29&period=day&operator={op1}")
    )
    by_week = text_of(supervisor.get("/quality/scores?from=2026-11-23&to=2026-11-29&period=week"))

    table = by_day[by_day.index('id="score-table"') :]
    assert '<td>11-24</td><td class="num">2</td><td class="num">90.0</td>' in table
    assert '<td>11-25</td><td class="num">1</td><td class="num">60.0</td>' in table
    assert by_day.count('<rect class="bar"') == 2
    week = by_week[by_week.index('id="score-table"') :]
    assert '<td>11-23</td><td class="num">3</td><td class="num">80.0</td>' in week  # op1
    assert '<td>11-23</td><td class="num">1</td><td class="num">80.0</td>' in week  # op2
    assert supervisor.get("/quality/scores?period=month").status_code == 400
    assert supervisor.get("/quality/scores?from=2026-11-30&to=2026-11-01").status_code == 400


def test_the_quality_pages_are_linked_for_supervisors(supervisor, app, app_org):
    home = text_of(supervisor.get("/calls"))

    assert 'href="/quality"' in home and 'href="/quality/scores"' in home
    assert supervisor.get("/quality").status_code == 200


# -- the API: the same command, the same schema -----------------------------------------

API_POINTS = {"manners": 18, "greeting_closing": 25, "registration": 20, "read_back": 10}


def _api(client, org, username: str, method: str, path: str, body=None):
    headers = {"Authorization": f"Bearer {org.tokens[username]}"}
    return client.open(path, method=method, json=body, headers=headers)


def test_the_api_saves_a_check_and_lists_the_calls_checks(app, app_org, client):
    """P1: the ring item is measured (answered in 6 s: 15 points)."""
    call_id = _call(app, app_org)
    path = f"/api/calls/{call_id}/quality-checks"

    created = _api(client, app_org, "supervisor", "POST", path, {"points": API_POINTS})
    listed = _api(client, app_org, "supervisor", "GET", path)

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["total"], body["max_total"], body["current"]) == (88, 100, True)
    assert [c["id"] for c in listed.get_json()] == [body["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": {**API_POINTS, "manners": "18"}}, "manners"),  # text, not a number
        ({"points": {**API_POINTS, "manners": 21}}, "manners"),
        ({"points": {**API_POINTS, "manners": True}}, "manners"),
        ({"points": API_POINTS, "colour": "red"}, "colour"),
        ({"points": API_POINTS, "supersedes_id": 1}, "reason"),
        ({}, "points"),
    ],
)
def test_the_api_refuses_a_bad_check_with_422_naming_the_field(app, app_org, client, body, field):
    call_id = _call(app, app_org)

    response = _api(
        client, app_org, "supervisor", "POST", f"/api/calls/{call_id}/quality-checks", body
    )

    assert response.status_code == 422, response.get_json()
    assert field in str(response.get_json())
    assert _count(app, QualityCheck) == 0


def test_the_api_refuses_an_operator_before_reading_the_body(app, app_org, client):
    call_id = _call(app, app_org)
    path = f"/api/calls/{call_id}/quality-checks"

    refused = _api(client, app_org, "operator", "POST", path, {"points": "nonsense"})

    assert refused.status_code == 403
    assert _api(client, app_org, "operator", "GET", path).status_code == 403
    assert (
        _api(client, app_org, "supervisor", "GET", "/api/calls/99999/quality-checks").status_code
        == 404
    )
