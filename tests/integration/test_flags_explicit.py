"""G2 flags are raised by the service that stores the text, never from the side.

On SQLite and PostgreSQL: a banned phrase in a note, a result note or a call
summary becomes exactly one flag naming the text, the field and who wrote
it, in the transaction that stores the text (a refused action leaves none);
a case event appended straight through the ORM raises nothing, and no
callflows function listens to the insertion of case events or to flushes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

import callflows
from callflows import services as calls
from callflows.models import ComplianceFlag
from callflows.services import SubmitForm, flags, provider_events
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.models import Case, CaseEvent
from hotline.services import Conflict, IntakeOutcome, Invalid
from hotline.services.audit import append_event
from tests.integration.callhelp import answered_call, make_flows
from tests.support import act, bring_case_to, intake_command

NOTE = "用户又打来,这事不归我管"


def _flags(svc) -> list[ComplianceFlag]:
    with svc.sessions() as session:
        return list(session.scalars(select(ComplianceFlag).order_by(ComplianceFlag.id)))


def _case_id(svc, number: str) -> int:
    with svc.sessions() as session:
        return session.scalar(select(Case.id).where(Case.number == number))


class _Spy:
    """The real checker, noting the session and transaction it was called in."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, session, case, event_, texts, actor_id):
        self.calls.append(
            {
                "in_transaction": session.in_transaction(),
                "event_pending": event_ in session.new,
                "texts": list(texts),
                "actor_id": actor_id,
            }
        )
        return flags.check_staff_text(session, case, event_, texts, actor_id)


# -- (a) a note added through the service --------------------------------------------


def test_a_banned_note_raises_one_flag_naming_text_field_and_writer(svc, org):
    spy = _Spy()
    svc.text_checker = spy
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    spy.calls.clear()

    act(svc, org["operator"], number, Action.ADD_NOTE, note=NOTE)

    (flag,) = _flags(svc)
    assert (flag.rule, flag.phrase, flag.source) == ("G2", "不归我管", "note")
    assert flag.staff_id == org["operator"].id
    assert flag.case_id == _case_id(svc, number)
    assert flag.call_id is None
    assert "不归我管" in flag.excerpt and NOTE[flag.start : flag.end] == "不归我管"
    (called,) = spy.calls
    assert called == {
        "in_transaction": True,
        "event_pending": True,  # the event is not written yet: one unit of work
        "texts": [("note", NOTE)],
        "actor_id": org["operator"].id,
    }


def test_install_wires_the_flag_raising_function(svc):
    assert svc.text_checker is None
    flags.install(svc)
    assert svc.text_checker is flags.check_staff_text


def test_without_a_checker_the_service_flags_nothing(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)

    act(svc, org["operator"], number, Action.ADD_NOTE, note=NOTE)

    assert _flags(svc) == []


def test_a_refused_action_raises_no_flag(svc, org):
    flags.install(svc)
    number = bring_case_to(svc, org, State.ON_SITE)
    with svc.sessions() as session:
        version = services.get_case(session, org["crew"], number).version

    with pytest.raises(Conflict):
        services.perform(
            svc,
            org["operator"],
            number,
            Action.ADD_NOTE,
            expected_version=version - 1,
            data={"note": NOTE},
        )
    with pytest.raises(Invalid):  # a completion needs a rating or why there is none
        act(svc, org["crew"], number, Action.COMPLETE, result_note="修好了,别的我不知道")
    with pytest.raises(services.ServiceError):
        services.intake(
            svc,
            org["operator"],
            intake_command(
                IntakeOutcome.TRANSFER, told_caller="办不了", target_department_id=999_999
            ),
        )

    assert _flags(svc) == []


def test_the_flag_is_rolled_back_with_the_text(svc, org):
    def checker_then_failure(session, case, event_, texts, actor_id):
        assert flags.check_staff_text(session, case, event_, texts, actor_id)
        raise Invalid("something later in the transaction refused", "note")

    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    svc.text_checker = checker_then_failure

    with pytest.raises(Invalid):
        act(svc, org["operator"], number, Action.ADD_NOTE, note=NOTE)

    assert _flags(svc) == []
    with svc.sessions() as session:
        notes = session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "add_note")
        )
    assert notes == 0


# -- (b) no hidden listener ------------------------------------------------------------


def _callflows_functions() -> list:
    found = []
    for info in pkgutil.walk_packages(callflows.__path__, "callflows."):
        module = importlib.import_module(info.name)
        for _name, value in inspect.getmembers(module):
            if inspect.isfunction(value) and value.__module__.startswith("callflows"):
                found.append(value)
            elif inspect.isclass(value) and value.__module__.startswith("callflows"):
                found.extend(
                    member
                    for _n, member in inspect.getmembers(value, inspect.isfunction)
                    if member.__module__.startswith("callflows")
                )
    return found


def test_appending_a_case_event_through_the_orm_raises_no_flag(app, app_org):
    svc = app.extensions["hotline"]  # wired by the app: its services do flag
    assert svc.text_checker is flags.check_staff_text
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)

    with svc.sessions() as session, session.begin():
        case = session.scalar(select(Case).where(Case.number == number))
        written = append_event(
            session,
            case,
            action="add_note",
            from_state=case.state,
            to_state=case.state,
            actor_id=app_org["operator"].id,
            at=svc.now(),
            reason="不知道",
            data={"note": NOTE, "result_note": "办不了", "summary": "不归我管"},
        )
        session.add(
            CaseEvent(
                case_id=case.id,
                seq=written.seq + 1,
                action="add_note",
                from_state=case.state,
                to_state=case.state,
                actor_id=app_org["operator"].id,
                at=svc.now(),
                reason="",
                data={"note": NOTE},
                prev_hash=written.hash,
                hash="0" * 64,
            )
        )
        session.flush()
        assert session.scalar(select(func.count()).select_from(ComplianceFlag)) == 0
        session.rollback()  # the hand-made event breaks the chain; only its insert mattered

    with svc.sessions() as session, session.begin():
        case = session.scalar(select(Case).where(Case.number == number))
        append_event(
            session,
            case,
            action="add_note",
            from_state=case.state,
            to_state=case.state,
            actor_id=app_org["operator"].id,
            at=svc.now(),
            data={"note": NOTE},
        )

    assert _flags(svc) == []


def test_no_callflows_function_listens_to_case_events_or_flushes(app):
    functions = _callflows_functions()
    assert flags.check_staff_text in functions  # the walk does reach the flag code
    hooked = [
        f"{fn.__module__}.{fn.__qualname__} on {target.__name__}.{name}"
        for fn in functions
        for target, names in (
            (CaseEvent, ("before_insert", "after_insert")),
            (Session, ("before_flush", "after_flush", "after_flush_postexec")),
        )
        for name in names
        if event.contains(target, name, fn)
    ]
    assert hooked == []


# -- (c) result notes and call summaries ----------------------------------------------------


def test_the_result_note_of_a_completion_is_checked(svc, org):
    flags.install(svc)
    number = bring_case_to(svc, org, State.ON_SITE)

    act(
        svc,
        org["crew"],
        number,
        Action.COMPLETE,
        result_note="修好了,别的我不知道",
        no_rating_reason="用户不在场",
    )

    (flag,) = _flags(svc)
    assert (flag.source, flag.phrase, flag.staff_id) == ("result_note", "不知道", org["crew"].id)
    assert flag.case_id == _case_id(svc, number)


def test_a_call_summary_without_a_case_is_checked_on_the_call(svc, org):
    flags.install(svc)
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)

    result = calls.submit(
        svc,
        flows,
        actor,
        call_id,
        SubmitForm(outcome=IntakeOutcome.NO_CASE, summary="打错了,不归我管"),
    )

    (flag,) = _flags(svc)
    assert (flag.call_id, flag.case_id, flag.source, flag.staff_id) == (
        call_id,
        None,
        "summary",
        actor.id,
    )
    assert result.flags == ({"source": "summary", "phrase": "不归我管", "excerpt": flag.excerpt},)


def test_a_summary_joined_to_a_case_is_checked_with_the_case(svc, org):
    flags.install(svc)
    number = bring_case_to(svc, org, State.WITH_DISPATCH)

    services.intake(
        svc,
        org["operator"],
        intake_command(IntakeOutcome.JOIN, join_case_number=number, summary="又来催,等着吧,不知道"),
    )

    (flag,) = _flags(svc)
    assert (flag.source, flag.phrase, flag.case_id) == ("summary", "不知道", _case_id(svc, number))


def test_a_transcript_goes_through_the_same_checker(svc, org, monkeypatch):
    seen = []

    def spy(session, case, event_, texts, actor_id, **where):
        seen.append((case, event_, list(texts), actor_id, where["call_id"]))
        return flags.check_staff_text(session, case, event_, texts, actor_id, **where)

    monkeypatch.setattr(provider_events, "check_staff_text", spy)
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])
    turns = [
        {"speaker": "caller", "text": "我不知道水表在哪"},
        {"speaker": "staff", "text": "这是你自己的问题"},
    ]

    assert calls.attach_transcript(svc, call_id=call_id, turns=turns) == 1

    assert seen == [(None, None, [("transcript", "这是你自己的问题")], org["operator"].id, call_id)]
    (flag,) = _flags(svc)
    assert (flag.source, flag.call_id) == ("transcript", call_id)
