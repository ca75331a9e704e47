"""What a person may do with a case from where they stand: the case page's offer.

Pure rules over the case's state, the person's role and the case's open stage
clocks (no Flask, no database): which actions to offer, what each action's
form asks for, what a form implies without asking, and whether visits may be
booked or the water's shut-off reported. The service layer still checks every
command; these rules decide only what is offered, so nobody is shown a button
the rules would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hotline.domain import lifecycle
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import FollowUpOutcome, Role, Stage

#: What each action's form asks for: only what its rule needs (the command's field names).
ACTION_INPUTS: Mapping[Action, tuple[str, ...]] = {
    Action.DISPATCH: (),
    Action.ANSWER_ON_CALL: ("answer",),
    Action.TRANSFER: ("target_department_id", "told_caller"),
    Action.ASSIGN: ("department_id",),
    Action.ASSIGN_DIRECT: ("department_id", "staff_id"),
    Action.ACCEPT: (),
    Action.ASSIGN_WORKER: ("staff_id",),
    Action.ACKNOWLEDGE: (),
    Action.RETURN_WORK: ("reason",),
    Action.REQUEST_EXTENSION: ("extra_working_days", "reason"),
    Action.APPROVE_EXTENSION: (),
    Action.REJECT_EXTENSION: ("reason",),
    Action.START_WORK: (),
    Action.ARRIVE: (),
    Action.COMPLETE: ("result_note", "customer_rating", "no_rating_reason"),
    Action.CONFIRM_DONE: (),
    Action.REJECT_COMPLETION: ("reason",),
    Action.FOLLOW_UP_UNREACHABLE: ("note",),
    Action.CLOSE: (
        "outcome",
        "attitude",
        "quality",
        "timeliness",
        "result",
        "no_rating_reason",
        "note",
    ),
    Action.REOPEN: ("attitude", "quality", "timeliness", "result", "note"),
    Action.CLOSE_UNREACHABLE: ("reason",),
    Action.MERGE: ("parent_case_number",),
    Action.INCIDENT_RESOLVED: (),
    Action.JOIN_INCIDENT: ("parent_case_number",),  # at intake: the incident the caller joins
    Action.REASSIGN_FIRST_RESPONDER: ("staff_id", "reason"),
    Action.ADD_NOTE: ("note",),
}

#: The free-text inputs (typed by the person, as opposed to chosen).
TEXT_INPUTS = frozenset({"answer", "told_caller", "result_note", "note"})

#: What a form implies without asking: a reopening is a dissatisfied follow-up (P7).
IMPLIED: Mapping[Action, Mapping[str, Any]] = {
    Action.REOPEN: {"outcome": FollowUpOutcome.DISSATISFIED.value},
}

#: Actions nobody takes by hand: they follow from another case's move.
_CONSEQUENCES = frozenset({Action.INCIDENT_RESOLVED})
#: States in which a case takes no more visits.
_SETTLED = frozenset({State.CLOSED, State.MERGED})
#: Who reports the water shut off on site (F12).
_SHUT_OFF_ROLES = frozenset({Role.CREW, Role.DISPATCHER, Role.SUPERVISOR})


def available_actions(role: Role, state: State) -> list[Action]:
    """The actions ``role`` may take on a case in ``state``, in the table's order."""
    return [
        action
        for action in lifecycle.actions_from(state)
        if lifecycle.may_take(role, action) and action not in _CONSEQUENCES
    ]


def inputs_of(action: Action) -> tuple[str, ...]:
    """The fields ``action``'s form asks for."""
    return ACTION_INPUTS.get(action, ())


def required_text(action: Action) -> frozenset[str]:
    """The free-text fields ``action``'s form must have filled in (a note only for a note)."""
    return frozenset(
        name
        for name in inputs_of(action)
        if name in TEXT_INPUTS and (name != "note" or action == Action.ADD_NOTE)
    )


def with_implied(action: Action, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` of ``action``'s form with what the form implies (it wins over ``data``)."""
    return {**data, **IMPLIED.get(action, {})}


def may_book(role: Role, state: State) -> bool:
    """Whether ``role`` may book a visit on a case in ``state`` (F1)."""
    return role != Role.ADMIN and state not in _SETTLED


def may_change_visit(role: Role, state: State, visit_status: str) -> bool:
    """Whether ``role`` may cancel a visit, or record the customer absent (F1)."""
    return may_book(role, state) and visit_status == "booked"


def may_shut_off(role: Role, open_stages: Iterable[str]) -> bool:
    """Whether ``role`` may report the water shut off: a shut-off clock runs (F12)."""
    return role in _SHUT_OFF_ROLES and any(stage == Stage.SHUT_OFF for stage in open_stages)
