"""Intake rules: what the first responder does with a contact, and the fields a case needs.

:class:`IntakeCommand` is one contact item by item (P4); :func:`check_intake`
holds the field rules of a contact that becomes a case (P4, P5, G5, G6).
The service that writes it is ``hotline.services.contacts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hotline.domain.errors import Invalid
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Category, Channel, Grade, Priority, TriageOutcome


class IntakeOutcome(StrEnum):
    """What the first responder does with a contact."""

    DISPATCH = "dispatch"  # 立案并专报调度中心
    ANSWER_ON_CALL = "answer_on_call"  # 立案,当场解答
    TRANSFER = "transfer"  # 立案,转办/引导至相关科室
    JOIN = "join"  # 并入已有工单(来电人询问已有工单)
    JOIN_INCIDENT = "join_incident"  # 立案并入事件(主工单),来电人有自己的工单与回访
    NO_CASE = "no_case"  # 不立案(打错、无声、挂断)


#: The outcomes that open a case, and the lifecycle action each opens it with.
CASE_OUTCOMES = {
    IntakeOutcome.DISPATCH: Action.DISPATCH,
    IntakeOutcome.ANSWER_ON_CALL: Action.ANSWER_ON_CALL,
    IntakeOutcome.TRANSFER: Action.TRANSFER,
    IntakeOutcome.JOIN_INCIDENT: Action.JOIN_INCIDENT,
}

#: A caller joins only a case that is still being worked: what they say about a
#: closed, answered, transferred or merged case is a new report (P6: nothing
#: the caller said is dropped into a case nobody works any more).
NO_JOIN_STATES = frozenset({State.CLOSED, State.MERGED, State.ANSWERED_ON_CALL, State.TRANSFERRED})

#: P5: a repair judged to be the utility's, or not judged, goes to dispatch.
TRIAGE_MUST_DISPATCH = {TriageOutcome.UTILITY, TriageOutcome.UNDETERMINED}


@dataclass
class IntakeCommand:
    """One contact as the first responder records it (P4: item by item)."""

    channel: Channel
    outcome: IntakeOutcome
    caller_number: str = ""
    caller_name: str = ""
    customer_account: str = ""
    category: Category | None = None
    priority: Priority = Priority.NORMAL
    problem: str = ""
    need: str = ""
    address: str = ""
    #: The service area (片区) of the address: a code (or name) of
    #: ``config/areas.toml``; empty: found from the address. Routes the case.
    area: str = ""
    #: Severity grade (事件分级) 1, 2 or 3, for a graded category (a leak):
    #: with the area's zone it sets the on-site limit. None: not graded yet.
    grade: int | None = None
    contact_name: str = ""
    contact_phone: str = ""
    triage: TriageOutcome | None = None
    pipe_size_dn: int | None = None
    read_back_confirmed: bool = False
    answer: str = ""
    target_department_id: int | None = None
    told_caller: str = ""
    join_case_number: str = ""
    #: A new report about a case that is closed or answered: the case it repeats.
    repeats_case_number: str = ""
    summary: str = ""
    started_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class IntakeResult:
    """What the operator reads to the caller: the case number and promised time."""

    contact_id: int
    case_number: str | None
    state: State | None
    promised_at: datetime | None
    due_at: datetime | None


def required_text(value: str, name: str, rule: str) -> str:
    """``value`` stripped; raises :class:`Invalid` naming ``name`` and ``rule`` when empty."""
    value = (value or "").strip()
    if not value:
        raise Invalid("'%(name)s' is required", name, rule, name=name)
    return value


def check_intake(cmd: IntakeCommand) -> None:
    """Field rules of a contact that becomes a case (P4, P5, G5, G6)."""
    if cmd.category is None:
        raise Invalid("'category' is required", "category")
    for name in ("problem", "need", "address", "contact_phone"):
        required_text(getattr(cmd, name), name, "P4")
    if cmd.triage is None:
        raise Invalid("'triage' is required: judge the report first", "triage", "P5")
    if cmd.channel in (Channel.PHONE, Channel.COUNTER) and not cmd.read_back_confirmed:
        raise Invalid(
            "read the problem, need, address and contact back to the caller and "
            "confirm before submitting",
            "read_back_confirmed",
            "P4",
        )
    # A caller joining an incident goes where dispatch already runs the work.
    if cmd.triage in TRIAGE_MUST_DISPATCH and cmd.outcome not in (
        IntakeOutcome.DISPATCH,
        IntakeOutcome.JOIN_INCIDENT,
    ):
        raise Invalid(
            "a report judged '%(triage)s' must be handed to dispatch",
            "outcome",
            "P5",
            triage=cmd.triage,
        )
    if cmd.pipe_size_dn is not None and not 15 <= cmd.pipe_size_dn <= 3000:
        raise Invalid("'pipe_size_dn' must be between 15 and 3000", "pipe_size_dn")
    if cmd.grade is not None and (
        isinstance(cmd.grade, bool) or cmd.grade not in {g.value for g in Grade}
    ):
        raise Invalid("'grade' must be 1, 2 or 3", "grade", "F12")
