"""Test helpers: a small organisation, and the shortest path to any case state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import (
    Category,
    Channel,
    FollowUpOutcome,
    Priority,
    Role,
    TriageOutcome,
)
from hotline.models import Department
from hotline.services import Actor, IntakeCommand, IntakeOutcome, Services
from hotline.web.auth import create_staff, issue_token

PASSWORD = "correct-horse"


@dataclass
class Org:
    """The seeded organisation: people by username, their tokens, departments by code."""

    actors: dict[str, Actor] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    departments: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, username: str) -> Actor:
        return self.actors[username]


STAFF = [
    ("operator", Role.OPERATOR, "HOTLINE"),
    ("operator2", Role.OPERATOR, "HOTLINE"),
    ("dispatcher", Role.DISPATCHER, "DISPATCH"),
    ("crew", Role.CREW, "REPAIR"),
    ("crew_meter", Role.CREW, "METER"),
    ("crew_center", Role.CREW, "DISPATCH"),  # the dispatch center's own crew (直派)
    ("supervisor", Role.SUPERVISOR, "HOTLINE"),
    ("admin", Role.ADMIN, None),
    ("billing", Role.BILLING, None),  # the billing system's API account
]


def seed_org(svc: Services) -> Org:
    """Departments (the dispatch center among them) and staff of every role, with tokens."""
    org = Org()
    with svc.sessions() as session:
        for code, center in (
            ("DISPATCH", True),
            ("HOTLINE", False),
            ("REPAIR", False),
            ("METER", False),
            ("BUSINESS", False),
        ):
            dept = Department(code=code, name_zh=code, name_en=code, is_dispatch_center=center)
            session.add(dept)
            session.flush()
            org.departments[code] = dept.id
        for username, role, dept_code in STAFF:
            staff = create_staff(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                department_id=org.departments[dept_code] if dept_code else None,
                now=svc.now(),
            )
            session.flush()
            org.actors[username] = Actor.of(staff)
            org.tokens[username] = issue_token(session, staff, "tests", now=svc.now())
        session.commit()
    return org


def intake_command(
    outcome: IntakeOutcome = IntakeOutcome.DISPATCH, **overrides: Any
) -> IntakeCommand:
    """A complete phone intake (P4 fields read back) that tests change as needed."""
    fields: dict[str, Any] = {
        "channel": Channel.PHONE,
        "outcome": outcome,
        "caller_number": "13805341234",
        "category": Category.LEAK,
        "priority": Priority.NORMAL,
        "problem": "路边冒水",
        "need": "派人维修",
        "address": "禹城市汉槐街 18 号",
        "contact_name": "孙先生",
        "contact_phone": "13805341234",
        "triage": TriageOutcome.UTILITY,
        "read_back_confirmed": True,
    }
    if outcome == IntakeOutcome.ANSWER_ON_CALL:
        fields.update(category=Category.BILLING, triage=TriageOutcome.NOT_A_REPAIR, answer="已告知")
    if outcome == IntakeOutcome.TRANSFER:
        fields.update(
            category=Category.CONSULTATION,
            triage=TriageOutcome.NOT_A_REPAIR,
            told_caller="请到营业大厅 3 号窗口办理",
        )
    fields.update(overrides)
    return IntakeCommand(**fields)


def act(svc: Services, actor: Actor, number: str, action: Action, reason: str = "", **data: Any):
    """Take ``action`` on the case at its current version."""
    with svc.sessions() as session:
        version = services.get_case(session, actor, number).version
    return services.perform(
        svc, actor, number, action, expected_version=version, reason=reason, data=data
    )


#: A follow-up's ratings (P7): every aspect, 1-5.
RATED = {"attitude": 5, "quality": 5, "timeliness": 4, "result": 5}


def bring_case_to(svc: Services, org: Org, state: State, **intake_overrides: Any) -> str:
    """Open a case and move it to ``state`` by the usual path; returns its number."""
    if state == State.ANSWERED_ON_CALL:
        cmd = intake_command(IntakeOutcome.ANSWER_ON_CALL, **intake_overrides)
        return services.intake(svc, org["operator"], cmd).case_number or ""
    if state == State.TRANSFERRED:
        cmd = intake_command(
            IntakeOutcome.TRANSFER,
            target_department_id=org.departments["BUSINESS"],
            **intake_overrides,
        )
        return services.intake(svc, org["operator"], cmd).case_number or ""
    number = services.intake(svc, org["operator"], intake_command(**intake_overrides)).case_number
    assert number
    repair = org.departments["REPAIR"]
    paths: dict[State, list[tuple[str, Action, str, dict[str, Any]]]] = {
        State.WITH_DISPATCH: [],
        State.ASSIGNED: [("dispatcher", Action.ASSIGN, "", {"department_id": repair})],
        State.RETURNED: [
            ("dispatcher", Action.ASSIGN, "", {"department_id": repair}),
            ("crew", Action.RETURN_WORK, "不属于本科室", {}),
        ],
        State.ACCEPTED: [
            ("dispatcher", Action.ASSIGN, "", {"department_id": repair}),
            ("crew", Action.ACCEPT, "", {}),
        ],
    }
    paths[State.WORKER_ASSIGNED] = [
        *paths[State.ACCEPTED],
        ("crew", Action.ASSIGN_WORKER, "", {"staff_id": org["crew"].id}),
    ]
    paths[State.ACKNOWLEDGED] = [
        *paths[State.WORKER_ASSIGNED],
        ("crew", Action.ACKNOWLEDGE, "", {}),
    ]
    ack = paths[State.ACKNOWLEDGED]
    paths[State.IN_PROGRESS] = [*ack, ("crew", Action.START_WORK, "", {})]
    paths[State.ON_SITE] = [*paths[State.IN_PROGRESS], ("crew", Action.ARRIVE, "", {})]
    paths[State.EXTENSION_REQUESTED] = [
        *ack,
        ("crew", Action.REQUEST_EXTENSION, "需要调配大口径管材", {"extra_working_days": 2}),
    ]
    paths[State.EXTENSION_APPROVED] = [
        *paths[State.EXTENSION_REQUESTED],
        ("dispatcher", Action.APPROVE_EXTENSION, "", {}),
    ]
    paths[State.DONE] = [
        *paths[State.ON_SITE],
        ("crew", Action.COMPLETE, "", {"result_note": "已更换管段,恢复供水", "customer_rating": 5}),
    ]
    paths[State.AWAITING_FOLLOW_UP] = [
        *paths[State.DONE],
        ("dispatcher", Action.CONFIRM_DONE, "", {}),
    ]
    paths[State.REOPENED] = [
        *paths[State.AWAITING_FOLLOW_UP],
        ("operator", Action.REOPEN, "", {"outcome": FollowUpOutcome.DISSATISFIED.value}),
    ]
    paths[State.CLOSED] = [
        *paths[State.AWAITING_FOLLOW_UP],
        ("operator", Action.CLOSE, "", {"outcome": FollowUpOutcome.SATISFIED.value, **RATED}),
    ]
    if state == State.MERGED:
        parent = services.intake(
            svc, org["operator"], intake_command(**intake_overrides)
        ).case_number
        paths[State.MERGED] = [("dispatcher", Action.MERGE, "", {"parent_case_number": parent})]
    for username, action, reason, data in paths[state]:
        act(svc, org[username], number, action, reason, **data)
    return number


#: A complete phone report of a leak, read back to the caller (P4), for dispatch.
LEAK_REPORT: dict[str, Any] = {
    "channel": "phone",
    "outcome": "dispatch",
    "caller_number": "13805341234",
    "category": "leak",
    "priority": "normal",
    "problem": "汉槐街路边冒水",
    "need": "派人维修",
    "address": "禹城市汉槐街 18 号",
    "contact_name": "孙先生",
    "contact_phone": "13805341234",
    "triage": "utility",
    "read_back_confirmed": True,
}
