"""The dispatch board's columns cover the lifecycle: each open state the dispatch
center works shows in exactly one column, and a state added to the lifecycle
must be placed on the board (or left off it on purpose) before this passes."""

from __future__ import annotations

from collections import Counter

import pytest

from dispatch.domain import board
from hotline.domain.lifecycle import (
    ALLOWED_ROLES,
    DISPATCH_QUEUE,
    OPEN_STATES,
    TRANSITIONS,
    WORKING,
    Action,
    State,
)
from hotline.domain.taxonomy import Role

#: Actions every open state allows, which say nothing about who works a case.
_EVERYWHERE = {Action.ADD_NOTE, Action.REASSIGN_FIRST_RESPONDER}
_DISPATCH_ROLES = {Role.DISPATCHER, Role.SUPERVISOR}


def _dispatch_works(state: State) -> bool:
    """The dispatch center acts on a case in ``state`` (assign, approve, check, escalate)."""
    return any(
        source == state and action not in _EVERYWHERE and ALLOWED_ROLES[action] & _DISPATCH_ROLES
        for (source, action) in TRANSITIONS
    )


def _worked_states() -> set[State]:
    """Open states the dispatch center holds, watches or acts on."""
    return {
        state
        for state in OPEN_STATES
        if state in DISPATCH_QUEUE or state in WORKING or _dispatch_works(state)
    } - board.OFF_BOARD


def test_every_state_is_on_the_board_or_left_off_it_on_purpose() -> None:
    placed = {state for column in board.COLUMNS for state in column.states}
    unplaced = set(State) - placed - board.OFF_BOARD
    assert not unplaced, f"place these states in a column of dispatch/domain/board.py: {unplaced}"
    assert not placed & board.OFF_BOARD


def test_every_open_state_the_dispatch_center_works_is_in_exactly_one_column() -> None:
    seen = Counter(state for column in board.COLUMNS for state in column.states)
    for state in _worked_states():
        assert seen[state] == 1, f"{state} is in {seen[state]} columns"
        assert board.column_of(state) is not None
    assert all(count == 1 for count in seen.values())


def test_the_columns_are_in_the_order_a_case_moves() -> None:
    assert board.COLUMN_KEYS == ("queue", "assigned", "moving", "on_site", "review", "follow_up")
    assert len(set(board.COLUMN_KEYS)) == len(board.COLUMN_KEYS)


@pytest.mark.parametrize(
    ("state", "key"),
    [
        (State.WITH_DISPATCH, "queue"),
        (State.RETURNED, "queue"),
        (State.REOPENED, "queue"),
        (State.ASSIGNED, "assigned"),
        (State.ACKNOWLEDGED, "moving"),
        (State.IN_PROGRESS, "moving"),
        (State.EXTENSION_REQUESTED, "moving"),
        (State.EXTENSION_APPROVED, "moving"),
        (State.ON_SITE, "on_site"),
        (State.DONE, "review"),
        (State.AWAITING_FOLLOW_UP, "follow_up"),
        (State.REGISTERED, None),
        (State.CLOSED, None),
        (State.MERGED, None),
    ],
)
def test_each_stage_has_its_column(state: State, key: str | None) -> None:
    assert board.column_of(state) == key
    assert board.column_of(str(state)) == key


def test_the_dispatch_queue_is_the_first_column() -> None:
    assert set(DISPATCH_QUEUE) <= board.states_of("queue")
    assert board.states_of("nowhere") == frozenset()
    assert set(board.board_states()) == {s for c in board.COLUMNS for s in c.states}


def test_a_crew_members_state_is_the_furthest_work_in_hand() -> None:
    assert board.crew_state([]) == board.CREW_FREE
    assert board.crew_state([State.DONE, State.AWAITING_FOLLOW_UP]) == board.CREW_FREE
    assert board.crew_state([State.ASSIGNED]) == "assigned"
    assert board.crew_state([State.ASSIGNED, State.IN_PROGRESS]) == "moving"
    assert board.crew_state(["assigned", "on_site", "in_progress"]) == "on_site"
