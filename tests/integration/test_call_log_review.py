"""The supervisors' call-log review over HTTP, on SQLite and PostgreSQL: each
call's duration, outcome and compliance score on the log, the filters (days,
operator, flag, outcome) and their refusals (a 400 page naming the value,
never a 500), the call's steps in words, its checks and its recording player.

Rules checked here: P1 (slow answers are flagged and filtered), P3 (missing
greeting or closing), P4 (read-back), G2 (banned phrases), as the score's
checks and the log's filters.

``add_call`` (calls written straight into the database with a chosen record)
is shared with the quality-check tests.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callflows.models import Call, CallStatus, ComplianceFlag, Direction, Provider
from hotline.domain.taxonomy import Channel, Disposition
from hotline.models import Contact

#: A compliance record where every check passes.
CLEAN = {
    "script_id": "inbound_hotline",
    "steps": [
        {"step_id": "greeting", "status": "done", "at": "2026-11-26T01:00:05+00:00"},
        {
            "step_id": "purpose",
            "status": "done",
            "at": "2026-11-26T01:00:20+00:00",
            "answer": "help",
        },
    ],
    "done_steps": ["greeting", "purpose"],
    "missed_required": [],
    "missed_greeting": False,
    "missed_closing": False,
    "reassurance_gaps": [],
    "read_back_confirmed_at": "2026-11-26T01:02:00+00:00",
}

_serial = iter(range(1, 1_000_000))


def add_call(
    app: Any,
    *,
    at: datetime,
    operator_id: int | None,
    ring: float | None = 6.0,
    talk: float = 150.0,
    compliance: dict[str, Any] | None = None,
    recording: str | None = None,
    disposition: Disposition | None = None,
    banned: int = 0,
    status: CallStatus = CallStatus.COMPLETED,
    provider: Provider = Provider.TWILIO,
) -> int:
    """One ended call written directly, with its contact and G2 flags; returns its id."""
    answered = at + timedelta(seconds=ring) if ring is not None and operator_id else None
    ended = (answered or at) + timedelta(seconds=talk)
    with app.extensions["hotline"].sessions() as session, session.begin():
        contact_id = None
        if disposition is not None:
            contact = Contact(
                channel=Channel.PHONE,
                started_at=at,
                answered_at=answered,
                ended_at=ended,
                handled_by_id=operator_id,
                disposition=disposition,
                summary="",
            )
            session.add(contact)
            session.flush()
            contact_id = contact.id
        call = Call(
            provider=provider,
            provider_call_sid=f"CA-quality-{next(_serial)}",
            channel=Channel.PHONE,
            direction=Direction.INBOUND,
            from_number="+8613805341234",
            from_raw="13805341234",
            status=status,
            ringing_at=at,
            answered_at=answered,
            ended_at=ended,
            ring_to_answer_seconds=ring if answered else None,
            answered_by_id=operator_id if answered else None,
            recording_url=recording,
            script_id="inbound_hotline" if compliance else None,
            compliance=compliance,
            contact_id=contact_id,
            created_at=at,
            updated_at=ended,
        )
        session.add(call)
        session.flush()
        for n in range(banned):
            session.add(
                ComplianceFlag(
                    call_id=call.id,
                    rule="G2",
                    source="transcript",
                    phrase="不知道",
                    start=0,
                    end=3,
                    excerpt="不知道",
                    staff_id=operator_id,
                    at=ended + timedelta(seconds=n),
                )
            )
        return call.id


# -- the tests ---------------------------------------------------------------------------

import pytest  # noqa: E402

from tests.integration.pagehelp import logged_in, text_of  # noqa: E402

DAY = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def supervisor(app, app_org):
    return logged_in(app.test_client(), "supervisor")


@pytest.fixture
def log(app, app_org):
    """Five calls over three days by two operators, each with a known record."""
    op1, op2 = app_org["operator"].id, app_org["operator2"].id
    return {
        "clean": add_call(
            app,
            at=DAY,
            operator_id=op1,
            compliance=CLEAN,
            disposition=Disposition.CASE_CREATED,
            recording="https://api.twilio.com/rec/RE1.mp3",
        ),
        "slow": add_call(
            app,
            at=DAY + timedelta(hours=1),
            operator_id=op1,
            ring=21.0,
            compliance={**CLEAN, "missed_closing": True},
            disposition=Disposition.ANSWERED,
        ),
        "banned": add_call(
            app,
            at=DAY + timedelta(days=1),
            operator_id=op2,
            banned=1,
            compliance={**CLEAN, "missed_greeting": True},
            disposition=Disposition.TRANSFERRED,
        ),
        "no_read_back": add_call(
            app,
            at=DAY + timedelta(days=2),
            operator_id=op2,
            compliance={**CLEAN, "read_back_confirmed_at": None, "missed_required": ["read_back"]},
            disposition=Disposition.CASE_CREATED,
        ),
        "abandoned": add_call(
            app,
            at=DAY + timedelta(days=2, hours=1),
            operator_id=None,
            ring=None,
            status=CallStatus.ABANDONED,
        ),
    }


def _listed(page: str) -> set[int]:
    return {int(m) for m in re.findall(r'href="/calls/(\d+)"', page)}


def _row(page: str, call_id: int) -> str:
    start = page.index(f'href="/calls/{call_id}"')
    return page[start : page.index("</tr>", start)]


def test_each_row_shows_duration_outcome_and_compliance_score(supervisor, log):
    """P1, P3, G2: the score column follows the formula: 5/5, 4/5, 3/5, 4/5."""
    page = text_of(supervisor.get("/calls?from=2026-11-24&to=2026-11-26"))

    assert _listed(page) == set(log.values())
    clean = _row(page, log["clean"])
    assert "2:30" in clean and "已立案" in clean and '<td class="score">100</td>' in clean
    assert '<td class="score">60</td>' in _row(page, log["slow"])  # slow + no closing: 3/5
    assert '<td class="score">60</td>' in _row(page, log["banned"])  # banned + no greeting
    assert '<td class="score">80</td>' in _row(page, log["no_read_back"])  # P4 missed: 4/5
    assert '<td class="score">—</td>' in _row(page, log["abandoned"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from=2026-11-25&to=2026-11-25", {"banned"}),
        ("from=2026-11-25", {"banned", "no_read_back", "abandoned"}),
        ("to=2026-11-24", {"clean", "slow"}),
        ("day=2026-11-26", {"no_read_back", "abandoned"}),
        ("flag=banned", {"banned"}),
        ("flag=slow", {"slow"}),
        ("flag=missed_greeting", {"banned"}),
        ("flag=missed_closing", {"slow"}),
        ("flag=missed_required", {"no_read_back"}),
        ("outcome=case_created", {"clean", "no_read_back"}),
        ("outcome=abandoned", {"abandoned"}),
        ("outcome=transferred&flag=banned", {"banned"}),
        ("outcome=answered&flag=banned", set()),
        ("flagged=1", {"banned"}),
        ("slow=1", {"slow"}),
        ("from=&to=&flag=&outcome=", {"clean", "slow", "banned", "no_read_back", "abandoned"}),
    ],
)
def test_the_log_filters_by_days_flag_and_outcome(supervisor, log, query, expected):
    """P1 (slow), P3 (missed greeting, closing), P4 (missed steps), G2 (banned) as filters."""
    page = text_of(supervisor.get(f"/calls?{query}"))

    assert _listed(page) == {log[name] for name in expected}


def test_the_log_filters_by_operator(supervisor, log, app_org):
    page = text_of(supervisor.get(f"/calls?operator={app_org['operator2'].id}"))

    assert _listed(page) == {log["banned"], log["no_read_back"]}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-11-26&to=2026-11-24", "to"),
        ("day=2026-11-24&from=2026-11-24", "day"),
        ("from=1999-12-31", "from"),
        ("flag=rude", "flag"),
        ("outcome=lost", "outcome"),
        ("flagged=yes", "flagged"),
    ],
)
def test_a_bad_filter_answers_400_naming_it(supervisor, log, query, named):
    response = supervisor.get(f"/calls?{query}")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert f"&#39;{named}&#39;" in text_of(response) or f"'{named}'" in text_of(response)


def test_the_pager_keeps_the_filters(app, supervisor, app_org):
    for n in range(51):
        add_call(
            app, at=DAY + timedelta(minutes=n), operator_id=app_org["operator"].id, compliance=CLEAN
        )

    page = text_of(supervisor.get("/calls?from=2026-11-24&to=2026-11-24&flag=missed_closing"))
    first = text_of(supervisor.get("/calls?from=2026-11-24&to=2026-11-24"))

    assert _listed(page) == set()
    assert "1 / 2" in first
    link = re.search(r'href="(/calls\?[^"]*page=2[^"]*)"', first)
    assert link is not None
    assert "from=2026-11-24" in link.group(1) and "to=2026-11-24" in link.group(1)


def test_the_review_shows_steps_in_words_checks_and_the_recording(supervisor, log):
    """P3, P4: the steps done read as the script's words, not ids; the checks listed."""
    page = text_of(supervisor.get(f"/calls/{log['clean']}"))

    steps = page[page.index('id="compliance-steps"') :].split("</ol>")[0]
    assert "您好,这里是" in steps  # the greeting's own words
    assert "供水求助/报修" in steps  # the branch taken, in words
    assert ">greeting<" not in steps and " greeting " not in steps
    assert '<span id="compliance-score">100</span>' in page
    assert '<audio controls preload="none" src="https://api.twilio.com/rec/RE1.mp3"' in page
    assert 'id="quality-check-link"' in page


def test_a_call_without_a_recording_says_so(app, supervisor, app_org):
    simulated = add_call(
        app,
        at=DAY,
        operator_id=app_org["operator"].id,
        compliance=CLEAN,
        provider=Provider.SIMULATOR,
    )
    twilio = add_call(app, at=DAY, operator_id=app_org["operator"].id, compliance=CLEAN)

    assert "模拟来电没有录音" in text_of(supervisor.get(f"/calls/{simulated}"))
    page = text_of(supervisor.get(f"/calls/{twilio}"))
    assert "本次通话没有录音" in page and "<audio" not in page


def test_the_review_lists_the_failed_checks(supervisor, log):
    """P1, P3: a slow answer and a missing closing are named as not done."""
    page = text_of(supervisor.get(f"/calls/{log['slow']}"))
    checks = page[page.index('id="compliance-checks"') :].split("</ul>")[0]

    assert checks.count("未做到") == 2
    assert 'P1 三声内接听: <span class="log-flag">未做到' in checks
    assert '<span id="compliance-score">60</span>' in page


def test_operators_do_not_see_the_log(app, app_org, log):
    operator = logged_in(app.test_client(), "operator")

    assert operator.get("/calls?flag=banned").status_code == 403
