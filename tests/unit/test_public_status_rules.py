"""The resident's words for every lifecycle state, and the look-up's input rules."""

from __future__ import annotations

import pytest

from hotline.domain.lifecycle import State
from hotline.domain.public_status import (
    RESIDENT_STATUS,
    LookupProblem,
    NextStep,
    ResidentStage,
    lookup_problem,
    phone_matches,
    resident_status,
)


def test_every_lifecycle_state_has_a_resident_stage():
    assert set(RESIDENT_STATUS) == set(State)


@pytest.mark.parametrize(
    ("state", "stage", "step"),
    [
        (State.REGISTERED, ResidentStage.RECEIVED, NextStep.BEING_ARRANGED),
        (State.ANSWERED_ON_CALL, ResidentStage.AWAITING_FOLLOW_UP, NextStep.FOLLOW_UP_CALL),
        (State.TRANSFERRED, ResidentStage.TRANSFERRED, NextStep.SEE_DEPARTMENT),
        (State.WITH_DISPATCH, ResidentStage.RECEIVED, NextStep.BEING_ARRANGED),
        (State.RETURNED, ResidentStage.RECEIVED, NextStep.BEING_ARRANGED),
        (State.REOPENED, ResidentStage.RECEIVED, NextStep.BEING_ARRANGED),
        (State.ASSIGNED, ResidentStage.DISPATCHED, NextStep.CREW_TO_BE_SENT),
        (State.ACCEPTED, ResidentStage.DISPATCHED, NextStep.CREW_TO_BE_SENT),
        (State.WORKER_ASSIGNED, ResidentStage.DISPATCHED, NextStep.CREW_TO_BE_SENT),
        (State.ACKNOWLEDGED, ResidentStage.DISPATCHED, NextStep.CREW_TO_BE_SENT),
        (State.EXTENSION_REQUESTED, ResidentStage.DISPATCHED, NextStep.CREW_TO_BE_SENT),
        (State.EXTENSION_APPROVED, ResidentStage.DISPATCHED, NextStep.TIME_EXTENDED),
        (State.IN_PROGRESS, ResidentStage.ON_THE_WAY, NextStep.CREW_COMING),
        (State.ON_SITE, ResidentStage.ON_SITE, NextStep.WORKING_ON_SITE),
        (State.DONE, ResidentStage.AWAITING_FOLLOW_UP, NextStep.FOLLOW_UP_CALL),
        (State.AWAITING_FOLLOW_UP, ResidentStage.AWAITING_FOLLOW_UP, NextStep.FOLLOW_UP_CALL),
        (State.MERGED, ResidentStage.RECEIVED, NextStep.HANDLED_WITH_OTHERS),
        (State.CLOSED, ResidentStage.CLOSED, NextStep.NOTHING),
    ],
)
def test_state_to_resident_stage_and_next_step(state, stage, step):
    status = resident_status(state)
    assert (status.stage, status.next_step) == (stage, step)


def test_the_promised_time_shows_only_while_work_is_open():
    assert resident_status(State.ON_SITE).shows_promise
    for state in (State.CLOSED, State.DONE, State.AWAITING_FOLLOW_UP, State.TRANSFERRED):
        assert not resident_status(state).shows_promise


@pytest.mark.parametrize(
    ("number", "last4", "problem"),
    [
        ("RY-20261126-0001", "1234", None),
        ("", "1234", LookupProblem.NUMBER),
        ("RY 2026", "1234", LookupProblem.NUMBER),
        ("R" * 33, "1234", LookupProblem.NUMBER),
        ("RY\x00", "1234", LookupProblem.NUMBER),
        ("RY-1", "12a4", LookupProblem.LAST4),
        ("RY-1", "12345", LookupProblem.LAST4),
        ("RY-1", "１２３４", LookupProblem.LAST4),
        ("RY-1", "12\x004", LookupProblem.LAST4),
    ],
)
def test_malformed_queries_are_named(number, last4, problem):
    assert lookup_problem(number, last4) == problem


def test_phone_digits_match_only_the_stored_phone():
    assert phone_matches("+8613805341234", "1234")
    assert not phone_matches("+8613805341234", "1235")
    assert not phone_matches(None, "1234")
    assert not phone_matches("", "\x00\x00\x00\x00")
