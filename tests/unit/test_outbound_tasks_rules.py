"""The outbound queue's rules: task keys, urgency, the follow-up's decision (P7),
anomaly lists (W14) and the arrears period (W15). Pure: no app, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from callflows.domain.outbound_tasks import (
    SCRIPT_OF,
    AnomalyError,
    AttemptOutcome,
    FollowUpIncomplete,
    TaskKind,
    arrears_period,
    follow_up_decision,
    parse_anomalies,
    subject_key,
    urgency,
)
from hotline.domain.lifecycle import Action

T0 = datetime(2026, 11, 26, 9, 0)

_ANSWERED = {"dial": "answered", "greeting": "confirmed"}
_RATED = {
    "attitude": "satisfied",
    "quality": "basically_satisfied",
    "timeliness": "satisfied",
    "result": "dissatisfied",
}


def test_keys_name_one_thing_per_kind() -> None:
    assert subject_key(TaskKind.CALL_BACK, "call", 7) == "call_back:call:7"
    assert subject_key(TaskKind.FOLLOW_UP, "case", 7, 1) != subject_key(
        TaskKind.FOLLOW_UP, "case", 7, 2
    )
    with pytest.raises(ValueError):
        subject_key(TaskKind.DUNNING)


def test_nearest_deadline_first_and_none_last() -> None:
    tasks = [
        (None, T0 - timedelta(days=2), 1),
        (T0 + timedelta(hours=3), T0, 2),
        (T0 + timedelta(hours=1), T0 + timedelta(minutes=5), 3),
    ]
    assert [t[2] for t in sorted(tasks, key=lambda t: urgency(*t))] == [3, 2, 1]


def test_follow_up_and_dunning_run_their_scripts() -> None:
    """P7 and W15: the follow-up and the dunning call each run the shipped script."""
    assert SCRIPT_OF[TaskKind.FOLLOW_UP] == "follow_up_call"
    assert SCRIPT_OF[TaskKind.DUNNING] == "dunning_call"


def test_satisfied_closes_with_the_four_ratings() -> None:
    """P7: closing carries attitude, quality, timeliness and result, rated once."""
    decision = follow_up_decision({**_RATED, "follow_up_outcome": "satisfied"}, _ANSWERED)
    assert decision.action == Action.CLOSE
    assert decision.data["outcome"] == "satisfied"
    assert [decision.data[k] for k in ("attitude", "quality", "timeliness", "result")] == [
        5,
        3,
        5,
        1,
    ]
    assert decision.attempt == AttemptOutcome.REACHED


def test_dissatisfied_reopens_with_the_customers_words() -> None:
    """P7: dissatisfied reopens the case, carrying what the customer said."""
    fields = {**_RATED, "follow_up_outcome": "dissatisfied", "follow_up_comment": "还在漏"}
    decision = follow_up_decision(fields, _ANSWERED)
    assert decision.action == Action.REOPEN and decision.data["note"] == "还在漏"
    with pytest.raises(FollowUpIncomplete) as missing:
        follow_up_decision({**_RATED, "follow_up_outcome": "dissatisfied"}, _ANSWERED)
    assert missing.value.field == "follow_up_comment"


def test_no_decision_before_every_aspect_is_rated() -> None:
    """P7: a missing rating or overall outcome leaves the case where it is."""
    for aspect in _RATED:
        fields = {k: v for k, v in _RATED.items() if k != aspect}
        with pytest.raises(FollowUpIncomplete) as missing:
            follow_up_decision({**fields, "follow_up_outcome": "satisfied"}, _ANSWERED)
        assert missing.value.field == aspect
    with pytest.raises(FollowUpIncomplete):
        follow_up_decision(_RATED, _ANSWERED)
    with pytest.raises(FollowUpIncomplete):
        follow_up_decision({}, {})


def test_not_reached_counts_an_unreachable_attempt() -> None:
    """P7: no answer or a wrong person is one unreachable attempt; not a good time is not."""
    assert (
        follow_up_decision({"follow_up_outcome": "unreachable"}, {"dial": "no_answer"}).action
        == Action.FOLLOW_UP_UNREACHABLE
    )
    wrong = follow_up_decision({}, {"dial": "answered", "greeting": "wrong_person"})
    assert wrong.action == Action.FOLLOW_UP_UNREACHABLE
    assert wrong.attempt == AttemptOutcome.WRONG_PERSON
    later = follow_up_decision(
        {"callback_time": "明天上午"}, {"dial": "answered", "greeting": "not_convenient"}
    )
    assert later.action is None and later.attempt == AttemptOutcome.CALL_LATER


def test_an_anomaly_list_is_read_or_refused_naming_the_line() -> None:
    """W14: one row per anomaly; a bad row refuses the list, naming its line and field."""
    rows = parse_anomalies("\ufeffaccount,reading,expected\nA1,95.5,12\n\nA2,0,3\n")
    assert [(r.account_number, r.reading) for r in rows] == [
        ("A1", Decimal("95.50")),
        ("A2", Decimal("0.00")),
    ]
    with pytest.raises(AnomalyError) as bad:
        parse_anomalies("account,reading,expected\nA1,1,2\nA2,lots,2\n")
    assert bad.value.line == 3 and bad.value.field == "reading"
    for text in (
        "account,reading\nA1,1\n",
        "account,reading,expected\n",
        "account,reading,expected\nA1,-1,2\n",
    ):
        with pytest.raises(AnomalyError):
            parse_anomalies(text)


def test_the_arrears_period_in_words() -> None:
    """W15: the dunning script states how long the customer has been in arrears."""
    assert arrears_period(date(2026, 8, 20), date(2026, 11, 26)) == "3个月"
    assert arrears_period(date(2026, 11, 20), date(2026, 11, 26)) == "6天"
    assert arrears_period(None, date(2026, 11, 26)) == "一段"
