"""Random action sequences through the real service layer and database (SQLite).

After every step: a change appended exactly one event and moved the version by
one; a refusal wrote nothing; the hash chain verifies; and the rules hold
(G4 owner, G6 complaints, P7 closing).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hotline import services
from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, TriageOutcome
from hotline.models import Case
from hotline.services import ServiceError, audit
from tests.support import intake_command

USERS = ["operator", "dispatcher", "crew", "crew_meter", "supervisor"]


def _payloads(org) -> list[dict[str, Any]]:
    return [
        {},
        {"department_id": org.departments["REPAIR"]},
        {"department_id": org.departments["METER"]},
        {"result_note": "已修复", "customer_rating": 4},
        {"extra_working_days": 2},
        {"outcome": "satisfied"},
        {"outcome": "dissatisfied"},
        {"staff_id": org["operator2"].id},
        {"note": "补充说明"},
    ]


def _snapshot(svc, number: str) -> Case:
    with svc.sessions() as session:
        return session.scalar(select(Case).where(Case.number == number))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    category=st.sampled_from([Category.LEAK, Category.COMPLAINT, Category.METER_FAULT]),
)
def test_invariants_hold_after_every_step_on_the_database(svc, org, clock, data, category):
    triage = TriageOutcome.NOT_A_REPAIR if category == Category.COMPLAINT else TriageOutcome.UTILITY
    number = services.intake(
        svc, org["operator"], intake_command(category=category, triage=triage)
    ).case_number
    payloads = _payloads(org)
    passed_dispatch = True  # intake with outcome dispatch
    for _ in range(data.draw(st.integers(1, 15), label="steps")):
        before = _snapshot(svc, number)
        legal = lifecycle.actions_from(State(before.state)) or list(Action)
        action = data.draw(
            st.one_of(st.sampled_from(legal), st.sampled_from(list(Action))), label="action"
        )
        username = data.draw(st.sampled_from(USERS), label="who")
        reason = data.draw(st.sampled_from(["", "原因"]), label="reason")
        payload = data.draw(st.sampled_from(payloads), label="payload")
        clock.advance(minutes=data.draw(st.integers(0, 120), label="minutes"))
        try:
            services.perform(
                svc,
                org[username],
                number,
                action,
                expected_version=before.version,
                reason=reason,
                data=payload,
            )
        except ServiceError:
            after = _snapshot(svc, number)
            assert (after.version, after.last_event_seq, after.state) == (
                before.version,
                before.last_event_seq,
                before.state,
            ), "a refused action wrote something"
            continue
        after = _snapshot(svc, number)
        assert after.version == before.version + 1
        assert after.last_event_seq == before.last_event_seq + 1  # exactly one event
        with svc.sessions() as session:
            assert audit.verify(session, case_number=number) == (1, [])
        passed_dispatch = passed_dispatch or after.state in lifecycle.DISPATCH_QUEUE
        if after.first_responder_id != before.first_responder_id:
            assert action == Action.REASSIGN_FIRST_RESPONDER and username == "supervisor" and reason
        if after.state == State.CLOSED:
            assert after.follow_up_outcome is not None  # P7
            if category == Category.COMPLAINT:
                assert after.passed_dispatch and passed_dispatch  # G6
        if after.state not in (State.CLOSED, State.MERGED):
            assert after.due_at is not None or after.state == State.EXTENSION_REQUESTED  # F11
