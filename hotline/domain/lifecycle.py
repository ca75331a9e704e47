"""The case lifecycle: every legal move of a case, in one table.

Pure Python (no Flask, no database), so every rule of the service standard that
the lifecycle enforces is testable in milliseconds. The service layer
(``hotline.services``) loads a case, turns it into :class:`CaseFacts`, calls
:func:`apply` and writes the :class:`Outcome` back in one transaction.

Reading guide: :data:`TRANSITIONS` is the table ``(state, action) -> (target,
guards)``; :data:`ALLOWED_ROLES` says who may take each action. Anything not in
the table is refused with :class:`IllegalTransition`; a guard that fails raises
:class:`GuardRefused` naming the rule and the field.

(One module of about 700 lines on purpose: the table, its guards and the
roles are read together, and ``docs/architecture.md`` is generated from them.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hotline.domain.errors import words
from hotline.domain.taxonomy import Category, FollowUpOutcome, Role, Stage


class State(StrEnum):
    """Where a case stands (工单状态)."""

    REGISTERED = "registered"  # 已登记
    ANSWERED_ON_CALL = "answered_on_call"  # 当场解答
    TRANSFERRED = "transferred"  # 已转办/引导
    WITH_DISPATCH = "with_dispatch"  # 待调度(调度中心)
    ASSIGNED = "assigned"  # 已派单到站点(待站点签收)
    ACCEPTED = "accepted"  # 站点已签收(待派工)
    WORKER_ASSIGNED = "worker_assigned"  # 已派工(待接单)
    ACKNOWLEDGED = "acknowledged"  # 已接单
    RETURNED = "returned"  # 已退单
    EXTENSION_REQUESTED = "extension_requested"  # 延期申请中
    EXTENSION_APPROVED = "extension_approved"  # 已批准延期
    IN_PROGRESS = "in_progress"  # 处理中(在途)
    ON_SITE = "on_site"  # 已到场
    DONE = "done"  # 已办结(待审核)
    AWAITING_FOLLOW_UP = "awaiting_follow_up"  # 待回访
    CLOSED = "closed"  # 已归档
    REOPENED = "reopened"  # 已重启(回访不满意)
    MERGED = "merged"  # 已并入事件


class Action(StrEnum):
    """What staff (or the system) can do to a case."""

    DISPATCH = "dispatch"  # 专报调度中心
    ANSWER_ON_CALL = "answer_on_call"  # 当场解答
    TRANSFER = "transfer"  # 转办/引导至相关科室 (G5)
    ASSIGN = "assign"  # 派单到站点(部门)
    ASSIGN_DIRECT = "assign_direct"  # 直派调度中心自有班组人员
    ACCEPT = "accept"  # 站点签收
    ASSIGN_WORKER = "assign_worker"  # 派工(站点指派人员)
    ACKNOWLEDGE = "acknowledge"  # 接单(人员)
    RETURN_WORK = "return_work"  # 退单 (G7)
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"  # 批准延期
    REJECT_EXTENSION = "reject_extension"  # 驳回延期
    START_WORK = "start_work"  # 出发/开始处理
    ARRIVE = "arrive"  # 到场
    COMPLETE = "complete"  # 办结 (F6)
    CONFIRM_DONE = "confirm_done"  # 审核办结,转回访
    REJECT_COMPLETION = "reject_completion"  # 销单不合格,退回班组
    FOLLOW_UP_UNREACHABLE = "follow_up_unreachable"  # 回访未联系上
    CLOSE = "close"  # 回访满意,归档 (P7)
    REOPEN = "reopen"  # 回访不满意,重启
    CLOSE_UNREACHABLE = "close_unreachable"  # 多次联系不上,主管归档
    MERGE = "merge"  # 并入事件(主工单)
    INCIDENT_RESOLVED = "incident_resolved"  # 主工单办结,转回访
    JOIN_INCIDENT = "join_incident"  # 来电人立案即并入事件(首问受理)
    REASSIGN_FIRST_RESPONDER = "reassign_first_responder"  # 变更首问负责人 (G4)
    ADD_NOTE = "add_note"  # 备注


OPEN_STATES: frozenset[State] = frozenset(State) - {State.CLOSED}
#: The states in which a case waits for its follow-up call (P7).
FOLLOW_UP_STATES: frozenset[State] = frozenset(
    {State.AWAITING_FOLLOW_UP, State.ANSWERED_ON_CALL, State.TRANSFERRED}
)
#: States in which the dispatch center holds the case and must assign it.
DISPATCH_QUEUE: frozenset[State] = frozenset({State.WITH_DISPATCH, State.RETURNED, State.REOPENED})
#: States in which a department or crew is working the case (the department has
#: signed for it; a worker may still have to be named or take it).
WORKING: frozenset[State] = frozenset(
    {
        State.ACCEPTED,
        State.WORKER_ASSIGNED,
        State.ACKNOWLEDGED,
        State.IN_PROGRESS,
        State.ON_SITE,
        State.EXTENSION_APPROVED,
    }
)


class LifecycleError(Exception):
    """Base of the errors :func:`apply` raises; ``str()`` is the English text.

    Like a service refusal, the words are a template and its values
    (``template``, ``params``) so they can be shown in the reader's language.
    """

    def __init__(self, message: str = "", /, **params: Any) -> None:
        self.template, self.params = message, params
        super().__init__(message % params if params else message)


class IllegalTransition(LifecycleError):
    """The action is not in the table for the case's state."""

    def __init__(self, state: State, action: Action) -> None:
        self.state, self.action = state, action
        super().__init__(
            words("action '%(action)s' is not allowed when the case is '%(state)s'"),
            action=action,
            state=state,
        )


class NotPermitted(LifecycleError):
    """The actor's role (or department) may not take this action."""


class GuardRefused(LifecycleError):
    """A rule of the standard refuses the action; ``field`` names what is missing."""

    def __init__(self, rule: str, message: str, field: str | None = None, **params: Any) -> None:
        self.rule, self.field = rule, field
        super().__init__(message, **params)

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.rule})" if self.rule else text


@dataclass(frozen=True)
class Settings:
    """The configurable numbers the guards read."""

    follow_up_unreachable_attempts: int = 3
    extension_max_working_days: int = 10
    #: P7: the least time between two "unreachable" follow-up attempts.
    follow_up_attempt_gap: timedelta = timedelta(hours=2)


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about a case, taken from the database."""

    state: State
    category: Category
    first_responder_id: int
    handler_department_id: int | None = None
    handler_staff_id: int | None = None
    passed_dispatch: bool = False
    extension_requests: int = 0
    due_at: datetime | None = None
    follow_up_attempts: int = 0
    case_id: int | None = None
    #: When the last "unreachable" follow-up attempt was recorded (P7).
    last_follow_up_attempt_at: datetime | None = None
    #: The dispatch center's own department: the one crew it may send directly.
    dispatch_center_id: int | None = None


@dataclass(frozen=True)
class Request:
    """One action asked of a case, by whom, when, with what it carries."""

    action: Action
    actor_id: int
    actor_role: Role
    now: datetime
    actor_department_id: int | None = None
    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """The result of a legal action: the new state and the fields that change."""

    source: State
    target: State
    changes: Mapping[str, Any]


Guard = Callable[[CaseFacts, Request, Settings], None]


# -- guards ------------------------------------------------------------------


def _text(request: Request, name: str) -> str:
    value = request.data.get(name)
    return value.strip() if isinstance(value, str) else ""


#: The rule that asks for a reason, by action: each refusal names its own rule.
_REASON_RULES: dict[str, str] = {
    "return_work": "G7",  # a hand-back says why
    "reassign_first_responder": "G4",  # ownership moves only with a reason
    "reject_extension": "F11",  # a refused extension says why
    "close_unreachable": "P7",  # the supervisor says why it closes unreached
    "reject_completion": "F6",  # a completion sent back says what is not done
}


def needs_reason(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """The action must say why (G7 hand-backs, G4 ownership, F11 refusals, P7 closures)."""
    if not request.reason.strip():
        rule = _REASON_RULES.get(str(request.action), "P6")
        raise GuardRefused(rule, "'%(action)s' needs a reason", "reason", action=request.action)


def needs_result_note(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """F6: done needs the result and what the customer must do."""
    if not _text(request, "result_note"):
        raise GuardRefused("F6", "completing the work needs a result note", "result_note")


def needs_rating_or_reason(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """F6: the customer rates the service on the spot (《回访单》), or the crew says why not."""
    rating = request.data.get("customer_rating")
    if rating is None:
        if not _text(request, "no_rating_reason"):
            raise GuardRefused(
                "F6",
                "record the customer's rating (1-5) or why there is none",
                "customer_rating",
            )
        return
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise GuardRefused(
            "F6", "customer_rating must be a whole number from 1 to 5", "customer_rating"
        )


def needs_transfer_details(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """G5: a transfer names the target department and what the caller was told."""
    if not request.data.get("target_department_id"):
        raise GuardRefused("G5", "a transfer needs the target department", "target_department_id")
    if not _text(request, "told_caller"):
        raise GuardRefused("G5", "a transfer needs what the caller was told", "told_caller")


def needs_answer_note(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """An answer given on the call is recorded (P4, P6)."""
    if not _text(request, "answer"):
        raise GuardRefused("P4", "record the answer given to the caller", "answer")


def not_a_complaint(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """G6: complaints go to the dispatch center; the first responder cannot end them."""
    if facts.category == Category.COMPLAINT:
        raise GuardRefused(
            "G6",
            "a complaint cannot be handled by '%(action)s'; hand it to the dispatch center",
            action=request.action,
        )


def complaint_passed_dispatch(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """G6: a complaint never closes unless it went through dispatch."""
    if facts.category == Category.COMPLAINT and not facts.passed_dispatch:
        raise GuardRefused("G6", "a complaint cannot close without passing through dispatch")


def needs_assignee(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """Dispatch sends the case to a department (派单到站点); the department names
    the worker itself (派工) once it has signed, so ``assign`` names no person."""
    if not request.data.get("department_id"):
        raise GuardRefused("G7", "assigning needs a department", "department_id")
    if request.action == Action.ASSIGN and request.data.get("staff_id"):
        raise GuardRefused(
            "G7",
            "the department assigns its own worker after signing for the case; "
            "only the dispatch center's own crew is sent directly (assign_direct)",
            "staff_id",
        )


def needs_worker(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """派工 and a direct assignment name the worker who takes the case."""
    if not request.data.get("staff_id"):
        raise GuardRefused("G7", "name the worker who takes the case", "staff_id")


def own_crew_only(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """Only the dispatch center's own crew is sent a case without a department's signature."""
    department = request.data.get("department_id")
    if facts.dispatch_center_id is None or department != facts.dispatch_center_id:
        raise GuardRefused(
            "G7",
            "a case goes straight to a worker only in the dispatch center's own crew; "
            "send it to the department (assign), which signs for it and assigns the worker",
            "department_id",
        )


def actor_in_handling_department(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """Signing for a case (签收) and assigning its worker (派工) are the department's own."""
    if facts.handler_department_id is None or (
        facts.handler_department_id != request.actor_department_id
    ):
        raise NotPermitted("this case is not sent to your department")


def actor_is_worker(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """The worker the department named takes the work (接单), nobody in their place."""
    if facts.handler_staff_id != request.actor_id:
        raise NotPermitted(
            "this work is assigned to another worker; your department can re-assign it"
        )


def actor_handles_case(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """Crews act only on work assigned to their own department (or to them)."""
    if request.actor_role != Role.CREW:
        return
    if facts.handler_staff_id == request.actor_id:
        return
    if (
        facts.handler_department_id is None
        or facts.handler_department_id != request.actor_department_id
    ):
        raise NotPermitted("this case is not assigned to your department")


def before_deadline_once(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """An extension is asked before the deadline, once, for a bounded time."""
    if facts.extension_requests:
        raise GuardRefused("F11", "an extension may be asked only once per case")
    if facts.due_at is not None and request.now >= facts.due_at:
        raise GuardRefused("F11", "an extension must be asked before the deadline")
    days = request.data.get("extra_working_days")
    limit = settings.extension_max_working_days
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= limit:
        raise GuardRefused(
            "F11",
            "extra_working_days must be a whole number from 1 to %(limit)s",
            "extra_working_days",
            limit=limit,
        )


def _follow_up_outcome(request: Request) -> FollowUpOutcome | None:
    try:
        return FollowUpOutcome(request.data.get("outcome"))
    except ValueError:
        return None


def satisfied_follow_up(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """P7: closing needs a satisfied or basically satisfied follow-up outcome."""
    if _follow_up_outcome(request) not in (
        FollowUpOutcome.SATISFIED,
        FollowUpOutcome.BASICALLY_SATISFIED,
    ):
        raise GuardRefused(
            "P7",
            "closing needs a follow-up outcome of satisfied or basically satisfied",
            "outcome",
        )


#: What a follow-up call asks the caller to rate (P7), each 1-5.
FOLLOW_UP_ASPECTS = ("attitude", "quality", "timeliness", "result")


def rated_or_reason(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """P7: a case closes rated on every aspect of the follow-up, or saying why it is not."""
    missing = [name for name in FOLLOW_UP_ASPECTS if request.data.get(name) is None]
    if missing and not _text(request, "no_rating_reason"):
        raise GuardRefused(
            "P7",
            "record the caller's ratings (%(missing)s) or why there are none",
            missing[0],
            missing=", ".join(missing),
        )


def dissatisfied_follow_up(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """P7: reopening records the dissatisfied follow-up that caused it."""
    if _follow_up_outcome(request) != FollowUpOutcome.DISSATISFIED:
        raise GuardRefused("P7", "reopening needs a follow-up outcome of dissatisfied", "outcome")


def enough_attempts(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """P7: 'unreachable' only after the configured number of attempts."""
    needed = settings.follow_up_unreachable_attempts
    if facts.follow_up_attempts < needed:
        raise GuardRefused(
            "P7",
            "closing as unreachable needs %(needed)s follow-up attempts; %(recorded)s recorded",
            needed=needed,
            recorded=facts.follow_up_attempts,
        )


def attempts_spaced(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """P7: follow-up attempts are spread out; three calls within minutes are one try."""
    last = facts.last_follow_up_attempt_at
    gap = settings.follow_up_attempt_gap
    if last is not None and request.now - last < gap:
        minutes = int(gap / timedelta(minutes=1))
        raise GuardRefused(
            "P7",
            "the last unreachable attempt was at %(last)s; "
            "try again at least %(minutes)s minutes after it",
            "outcome",
            last=last.isoformat(timespec="minutes"),
            minutes=minutes,
        )


def needs_parent(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """A merge names the incident (parent case) the caller joins."""
    parent = request.data.get("parent_case_id")
    if not parent:
        raise GuardRefused("P6", "merging needs the incident case", "parent_case_id")
    if facts.case_id is not None and parent == facts.case_id:
        raise GuardRefused("P6", "a case cannot be merged into itself", "parent_case_id")


def needs_new_first_responder(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """G4: ownership moves to a named person, never to nobody or the same person."""
    new = request.data.get("staff_id")
    if not new:
        raise GuardRefused("G4", "name the new first responder", "staff_id")
    if new == facts.first_responder_id:
        raise GuardRefused("G4", "that person is already the first responder", "staff_id")


def needs_note(facts: CaseFacts, request: Request, settings: Settings) -> None:
    """A note says something."""
    if not _text(request, "note"):
        raise GuardRefused("P6", "the note is empty", "note")


# -- the table ---------------------------------------------------------------

S, A = State, Action

# Guards shared by several rows of the table.
_COMPLETING: tuple[Guard, ...] = (actor_handles_case, needs_result_note, needs_rating_or_reason)
_CLOSING: tuple[Guard, ...] = (satisfied_follow_up, rated_or_reason, complaint_passed_dispatch)
_ASKING_EXTENSION: tuple[Guard, ...] = (actor_handles_case, needs_reason, before_deadline_once)

#: Every legal move: ``(state, action) -> (target, guards)``.
TRANSITIONS: dict[tuple[State, Action], tuple[State, tuple[Guard, ...]]] = {
    # intake: the first responder decides what happens to the contact
    (S.REGISTERED, A.DISPATCH): (S.WITH_DISPATCH, ()),
    (S.REGISTERED, A.ANSWER_ON_CALL): (S.ANSWERED_ON_CALL, (not_a_complaint, needs_answer_note)),
    (S.REGISTERED, A.TRANSFER): (S.TRANSFERRED, (not_a_complaint, needs_transfer_details)),
    # the dispatch center sends the case to a department or station (派单到站点);
    # sending it elsewhere is allowed until the worker takes it (接单)
    (S.WITH_DISPATCH, A.ASSIGN): (S.ASSIGNED, (needs_assignee,)),
    (S.RETURNED, A.ASSIGN): (S.ASSIGNED, (needs_assignee,)),
    (S.REOPENED, A.ASSIGN): (S.ASSIGNED, (needs_assignee,)),
    (S.ASSIGNED, A.ASSIGN): (S.ASSIGNED, (needs_assignee,)),
    (S.ACCEPTED, A.ASSIGN): (S.ASSIGNED, (needs_assignee,)),
    (S.WORKER_ASSIGNED, A.ASSIGN): (S.ASSIGNED, (needs_assignee,)),
    # ... or straight to a worker of its own crew (直派): no other department signs
    **{
        (state, A.ASSIGN_DIRECT): (S.WORKER_ASSIGNED, (needs_assignee, own_crew_only, needs_worker))
        for state in (
            S.WITH_DISPATCH,
            S.RETURNED,
            S.REOPENED,
            S.ASSIGNED,
            S.ACCEPTED,
            S.WORKER_ASSIGNED,
        )
    },
    # the department signs for it (签收) and names the worker (派工), or names another
    (S.ASSIGNED, A.ACCEPT): (S.ACCEPTED, (actor_in_handling_department,)),
    (S.ACCEPTED, A.ASSIGN_WORKER): (
        S.WORKER_ASSIGNED,
        (actor_in_handling_department, needs_worker),
    ),
    (S.WORKER_ASSIGNED, A.ASSIGN_WORKER): (
        S.WORKER_ASSIGNED,
        (actor_in_handling_department, needs_worker),
    ),
    # the worker takes it (接单) and works it
    (S.WORKER_ASSIGNED, A.ACKNOWLEDGE): (S.ACKNOWLEDGED, (actor_is_worker,)),
    # G7: the crew hands work back to dispatch with a reason, at any point of
    # the work: before going, on the way, on site, or while an extension waits
    **{
        (state, A.RETURN_WORK): (S.RETURNED, (actor_handles_case, needs_reason))
        for state in (
            S.ASSIGNED,
            S.ACCEPTED,
            S.WORKER_ASSIGNED,
            S.ACKNOWLEDGED,
            S.IN_PROGRESS,
            S.ON_SITE,
            S.EXTENSION_REQUESTED,
            S.EXTENSION_APPROVED,
        )
    },
    (S.ACKNOWLEDGED, A.START_WORK): (S.IN_PROGRESS, (actor_handles_case,)),
    (S.ACKNOWLEDGED, A.ARRIVE): (S.ON_SITE, (actor_handles_case,)),
    (S.IN_PROGRESS, A.ARRIVE): (S.ON_SITE, (actor_handles_case,)),
    (S.EXTENSION_APPROVED, A.ARRIVE): (S.ON_SITE, (actor_handles_case,)),
    (S.ACKNOWLEDGED, A.COMPLETE): (S.DONE, _COMPLETING),
    (S.IN_PROGRESS, A.COMPLETE): (S.DONE, _COMPLETING),
    (S.ON_SITE, A.COMPLETE): (S.DONE, _COMPLETING),
    (S.EXTENSION_APPROVED, A.COMPLETE): (S.DONE, _COMPLETING),
    # extensions: asked before the deadline, once, approved by dispatch
    (S.ACKNOWLEDGED, A.REQUEST_EXTENSION): (S.EXTENSION_REQUESTED, _ASKING_EXTENSION),
    (S.IN_PROGRESS, A.REQUEST_EXTENSION): (S.EXTENSION_REQUESTED, _ASKING_EXTENSION),
    (S.ON_SITE, A.REQUEST_EXTENSION): (S.EXTENSION_REQUESTED, _ASKING_EXTENSION),
    (S.EXTENSION_REQUESTED, A.APPROVE_EXTENSION): (S.EXTENSION_APPROVED, ()),
    (S.EXTENSION_REQUESTED, A.REJECT_EXTENSION): (S.IN_PROGRESS, (needs_reason,)),
    # dispatch checks the result, then the case waits for its follow-up call;
    # a result that does not pass (销单不合格) goes back to the crew, whose clock
    # runs on from where the completion stopped it
    (S.DONE, A.CONFIRM_DONE): (S.AWAITING_FOLLOW_UP, ()),
    (S.DONE, A.REJECT_COMPLETION): (S.IN_PROGRESS, (needs_reason,)),
    # follow-up (P7): nothing closes without an outcome
    (S.ANSWERED_ON_CALL, A.CLOSE): (S.CLOSED, _CLOSING),
    (S.TRANSFERRED, A.CLOSE): (S.CLOSED, _CLOSING),
    (S.AWAITING_FOLLOW_UP, A.CLOSE): (S.CLOSED, _CLOSING),
    (S.ANSWERED_ON_CALL, A.REOPEN): (S.REOPENED, (dissatisfied_follow_up,)),
    (S.TRANSFERRED, A.REOPEN): (S.REOPENED, (dissatisfied_follow_up,)),
    (S.AWAITING_FOLLOW_UP, A.REOPEN): (S.REOPENED, (dissatisfied_follow_up,)),
    (S.ANSWERED_ON_CALL, A.FOLLOW_UP_UNREACHABLE): (S.AWAITING_FOLLOW_UP, (attempts_spaced,)),
    (S.TRANSFERRED, A.FOLLOW_UP_UNREACHABLE): (S.AWAITING_FOLLOW_UP, (attempts_spaced,)),
    (S.AWAITING_FOLLOW_UP, A.FOLLOW_UP_UNREACHABLE): (S.AWAITING_FOLLOW_UP, (attempts_spaced,)),
    (S.AWAITING_FOLLOW_UP, A.CLOSE_UNREACHABLE): (
        S.CLOSED,
        (enough_attempts, needs_reason, complaint_passed_dispatch),
    ),
    # incidents: many callers, one main break
    **{
        (state, A.MERGE): (S.MERGED, (needs_parent,))
        for state in (
            S.REGISTERED,
            S.WITH_DISPATCH,
            S.ASSIGNED,
            S.ACCEPTED,
            S.WORKER_ASSIGNED,
            S.ACKNOWLEDGED,
            S.RETURNED,
            S.REOPENED,
        )
    },
    (S.MERGED, A.INCIDENT_RESOLVED): (S.AWAITING_FOLLOW_UP, ()),
    # a caller about a main break: their own case, joined to the incident at intake
    (S.REGISTERED, A.JOIN_INCIDENT): (S.MERGED, (not_a_complaint, needs_parent)),
    # in every open state: notes, and a supervisor's change of owner (G4)
    **{(state, A.ADD_NOTE): (state, (needs_note,)) for state in OPEN_STATES},
    **{
        (state, A.REASSIGN_FIRST_RESPONDER): (
            state,
            (needs_reason, needs_new_first_responder),
        )
        for state in OPEN_STATES
    },
}

_STAFF_AT_INTAKE = frozenset({Role.OPERATOR, Role.CREW, Role.DISPATCHER, Role.SUPERVISOR})
_DISPATCH = frozenset({Role.DISPATCHER, Role.SUPERVISOR})
_FOLLOW_UP = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR})

#: Who may take each action. G4: whoever receives a contact owns it, whatever
#: their department, so every working role may act at intake.
ALLOWED_ROLES: dict[Action, frozenset[Role]] = {
    A.DISPATCH: _STAFF_AT_INTAKE,
    A.ANSWER_ON_CALL: _STAFF_AT_INTAKE,
    A.TRANSFER: _STAFF_AT_INTAKE,
    A.ASSIGN: _DISPATCH,
    A.ASSIGN_DIRECT: _DISPATCH,
    # The department's staff who act on cases (crew) sign and name the worker;
    # who did is on record in the history.
    A.ACCEPT: frozenset({Role.CREW}),
    A.ASSIGN_WORKER: frozenset({Role.CREW}),
    A.ACKNOWLEDGE: frozenset({Role.CREW}),
    A.RETURN_WORK: frozenset({Role.CREW}),
    A.REQUEST_EXTENSION: frozenset({Role.CREW}),
    A.START_WORK: frozenset({Role.CREW}),
    A.ARRIVE: frozenset({Role.CREW}),
    A.COMPLETE: frozenset({Role.CREW}),
    A.APPROVE_EXTENSION: _DISPATCH,
    A.REJECT_EXTENSION: _DISPATCH,
    A.CONFIRM_DONE: _DISPATCH,
    A.REJECT_COMPLETION: _DISPATCH,
    A.MERGE: _DISPATCH,
    # A consequence of the incident settling, by whoever settled it: dispatch
    # confirming it done, or the follow-up call that closed it.
    A.INCIDENT_RESOLVED: _DISPATCH | _FOLLOW_UP,
    # Whoever takes the call (G4) joins the caller's own case to an open incident.
    A.JOIN_INCIDENT: _STAFF_AT_INTAKE,
    A.FOLLOW_UP_UNREACHABLE: _FOLLOW_UP,
    A.CLOSE: _FOLLOW_UP,
    A.REOPEN: _FOLLOW_UP,
    A.CLOSE_UNREACHABLE: frozenset({Role.SUPERVISOR}),
    A.REASSIGN_FIRST_RESPONDER: frozenset({Role.SUPERVISOR}),
    A.ADD_NOTE: _STAFF_AT_INTAKE,
}


def may_take(role: Role, action: Action) -> bool:
    """Whether ``role`` may take ``action`` at all (before state and guards)."""
    return role in ALLOWED_ROLES[action]


def actions_from(state: State) -> list[Action]:
    """The actions the table allows in ``state``, in declaration order."""
    return [action for (source, action) in TRANSITIONS if source == state]


def _changes(facts: CaseFacts, request: Request, target: State) -> dict[str, Any]:
    """The fields an action sets besides the state."""
    action, data = request.action, request.data
    changes: dict[str, Any] = {}
    if action == A.DISPATCH or facts.state in DISPATCH_QUEUE or target in DISPATCH_QUEUE:
        changes["passed_dispatch"] = True
    if action == A.ASSIGN:
        changes["handler_department_id"] = data["department_id"]
        changes["handler_staff_id"] = None
    elif action == A.ASSIGN_DIRECT:
        changes["handler_department_id"] = data["department_id"]
        changes["handler_staff_id"] = data.get("staff_id")
    elif action == A.ASSIGN_WORKER:
        changes["handler_staff_id"] = data.get("staff_id")
    elif action == A.REJECT_COMPLETION:
        # the result did not pass: the next completion records its own
        changes["result_note"] = ""
        changes["customer_rating"] = None
        changes["no_rating_reason"] = ""
    elif action == A.RETURN_WORK:
        changes["handler_staff_id"] = None
    elif action == A.REQUEST_EXTENSION:
        changes["extension_requests"] = facts.extension_requests + 1
        changes["extra_working_days"] = data["extra_working_days"]
    elif action == A.COMPLETE:
        changes["result_note"] = _text(request, "result_note")
        changes["customer_rating"] = data.get("customer_rating")
        changes["no_rating_reason"] = _text(request, "no_rating_reason")
    elif action == A.FOLLOW_UP_UNREACHABLE:
        changes["follow_up_attempts"] = facts.follow_up_attempts + 1
    elif action == A.TRANSFER:
        changes["transfer_department_id"] = data["target_department_id"]
        changes["told_caller"] = _text(request, "told_caller")
    elif action == A.ANSWER_ON_CALL:
        changes["answer"] = _text(request, "answer")
    elif action in (A.MERGE, A.JOIN_INCIDENT):
        changes["parent_case_id"] = data["parent_case_id"]
    elif action == A.REASSIGN_FIRST_RESPONDER:
        changes["first_responder_id"] = data["staff_id"]
    return changes


def apply(facts: CaseFacts, request: Request, settings: Settings | None = None) -> Outcome:
    """Decide the result of ``request`` on a case described by ``facts``.

    Returns the :class:`Outcome`. Raises :class:`NotPermitted` when the role may
    not take the action, :class:`IllegalTransition` when the table has no such
    move from the current state, and :class:`GuardRefused` when a rule refuses.
    Nothing is changed; the caller writes the outcome.
    """
    settings = settings or Settings()
    if not may_take(request.actor_role, request.action):
        raise NotPermitted(
            "role '%(role)s' may not take action '%(action)s'",
            role=request.actor_role,
            action=request.action,
        )
    try:
        target, guards = TRANSITIONS[(facts.state, request.action)]
    except KeyError:
        raise IllegalTransition(facts.state, request.action) from None
    for guard in guards:
        guard(facts, request, settings)
    return Outcome(facts.state, target, _changes(facts, request, target))


def advance(facts: CaseFacts, outcome: Outcome) -> CaseFacts:
    """The facts after ``outcome`` is written (used by tests and simulations)."""
    known = {name: value for name, value in outcome.changes.items() if hasattr(facts, name)}
    return replace(facts, state=outcome.target, **known)


def stage_for(state: State, *, arrived: bool = False) -> tuple[Stage, ...]:
    """The time-limit stages that may govern a case in ``state``, most specific first.

    The service takes the first one the time-limit policy defines for the case's
    category. ``arrived`` tells whether the crew already reached the site.
    """
    if state in DISPATCH_QUEUE:
        return (Stage.DISPATCH,)
    if state == State.ASSIGNED:
        return (Stage.ACKNOWLEDGE,)
    if state in (State.ACCEPTED, State.WORKER_ASSIGNED, State.ACKNOWLEDGED, State.IN_PROGRESS):
        return (Stage.RESOLVE,) if arrived else (Stage.ON_SITE, Stage.RESOLVE)
    if state == State.ON_SITE:
        return (Stage.SHUT_OFF, Stage.RESOLVE)
    if state in (
        State.DONE,
        State.AWAITING_FOLLOW_UP,
        State.ANSWERED_ON_CALL,
        State.TRANSFERRED,
    ):
        return (Stage.FOLLOW_UP,)
    return ()


def markdown_table() -> str:
    """The transition table as Markdown, as ``docs/architecture.md`` shows it.

    Self-loops that every open state allows (notes, owner changes) are folded
    into one row each so the table stays one screen long.
    """
    everywhere = {Action.ADD_NOTE, Action.REASSIGN_FIRST_RESPONDER}
    lines = [
        "| from | action | to | guards | roles |",
        "|------|--------|----|--------|-------|",
    ]
    for (source, action), (target, guards) in TRANSITIONS.items():
        if action in everywhere:
            continue
        lines.append(_row(str(source), action, str(target), guards))
    for action in (Action.ADD_NOTE, Action.REASSIGN_FIRST_RESPONDER):
        _, guards = TRANSITIONS[(State.REGISTERED, action)]
        lines.append(_row("any open state", action, "(same)", guards))
    return "\n".join(lines)


def _row(source: str, action: Action, target: str, guards: tuple[Guard, ...]) -> str:
    names = ", ".join(guard.__name__ for guard in guards) or "-"
    roles = ", ".join(sorted(role.value for role in ALLOWED_ROLES[action]))
    return f"| {source} | {action} | {target} | {names} | {roles} |"
