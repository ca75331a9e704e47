"""The dispatch board's columns (调度大屏): which lifecycle states each stage shows.

Pure: the board's page, its one-card route and the side panel's crew states
all read the mapping here, and a unit test checks that every open state the
dispatch center works lands in exactly one column, so a state added to the
lifecycle later is placed on purpose, never dropped from the board by
accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hotline.domain.lifecycle import State


@dataclass(frozen=True)
class Column:
    """One column of the board: its key (for pages and scripts) and the states it holds."""

    key: str
    states: frozenset[State]


#: The board's columns, in the order a case moves through them.
COLUMNS: tuple[Column, ...] = (
    # 待派单: the dispatch center holds the case and must assign it
    Column("queue", frozenset({State.WITH_DISPATCH, State.RETURNED, State.REOPENED})),
    # 待签收: sent out, not yet taken by the worker who goes: the department
    # (站点) has to sign for it, name its worker (派工), or the worker to take it
    Column("assigned", frozenset({State.ASSIGNED, State.ACCEPTED, State.WORKER_ASSIGNED})),
    # 在途: acknowledged and being worked, an extension asked or granted
    Column(
        "moving",
        frozenset(
            {
                State.ACKNOWLEDGED,
                State.IN_PROGRESS,
                State.EXTENSION_REQUESTED,
                State.EXTENSION_APPROVED,
            }
        ),
    ),
    # 到场: the crew is on site
    Column("on_site", frozenset({State.ON_SITE})),
    # 待审核: reported done, the dispatch center checks the result
    Column("review", frozenset({State.DONE})),
    # 待回访: waiting for the follow-up call (P7)
    Column("follow_up", frozenset({State.AWAITING_FOLLOW_UP})),
)

COLUMN_KEYS: tuple[str, ...] = tuple(column.key for column in COLUMNS)

#: States the board leaves to others, on purpose: the first responder's intake
#: (registered, answered on the call, transferred, G4/G5), cases merged into an
#: incident (their main case is on the board) and archived cases.
OFF_BOARD: frozenset[State] = frozenset(
    {State.REGISTERED, State.ANSWERED_ON_CALL, State.TRANSFERRED, State.MERGED, State.CLOSED}
)

#: Case events that put a card in front of the dispatch center again: a new
#: case, one handed back or reopened, one escalated by the deadline sweep. The
#: card is marked until someone of the dispatch center opens the case.
MARKED_ACTIONS: frozenset[str] = frozenset(
    {"register", "dispatch", "return_work", "reopen", "deadline_escalated"}
)

#: A crew member's state on the side panel: the furthest column of the work in
#: their hands (on site beats on the way beats waiting to acknowledge), else free.
CREW_FREE = "free"
_CREW_ORDER: tuple[str, ...] = ("on_site", "moving", "assigned")


def column_of(state: str | State) -> str | None:
    """The key of the column showing a case in ``state``; None for a state not on the board."""
    for column in COLUMNS:
        if state in column.states:
            return column.key
    return None


def board_states() -> list[State]:
    """Every state the board shows, in a stable order."""
    return sorted(state for column in COLUMNS for state in column.states)


def states_of(key: str) -> frozenset[State]:
    """The states of the column ``key`` (empty for an unknown key)."""
    return next((column.states for column in COLUMNS if column.key == key), frozenset())


def crew_state(states: Iterable[str | State]) -> str:
    """What a crew member is doing, from the states of the open cases they handle."""
    keys = {column_of(state) for state in states}
    return next((key for key in _CREW_ORDER if key in keys), CREW_FREE)
