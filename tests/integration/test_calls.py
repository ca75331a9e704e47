"""The call service on SQLite and PostgreSQL: a call from ring to case number.

Rules checked here: P1 (ring-to-answer measured), P4 (no case without the
read-back, enforced on the server by the script engine), G2 (banned phrases
in staff text stored as flags with the call or case, in the same
transaction), G5 (a transfer from the console names department and what the
caller was told), W1 (counter visits on the same console), P6 (an
unanswered call is a contact on record), and the outbound rules: the attempt
is written before the request and never repeated blindly.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from callflows import services as calls
from callflows.models import (
    AttemptStatus,
    Call,
    CallStatus,
    ComplianceFlag,
    OutboundAttempt,
)
from callflows.services import ReadBackMissing, SubmitForm, TelephonyFailed, flags, submission
from callflows.telephony import TelephonyRefused, TelephonyUncertain
from hotline import services
from hotline.domain.lifecycle import Action, State
from hotline.domain.taxonomy import Channel, Disposition
from hotline.models import Case, Contact, Customer, CustomerPhone
from hotline.services import Conflict, Forbidden, IntakeOutcome, Invalid
from tests.integration.callhelp import (
    CALLER_E164,
    FakeTelephony,
    Published,
    answered_call,
    confirm_and_triage,
    make_flows,
    op,
    ring,
    walk_to_read_back,
)
from tests.support import act, bring_case_to


def _count(svc, model, *where) -> int:
    with svc.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _call(svc, call_id: int) -> Call:
    with svc.sessions() as session:
        return session.get(Call, call_id)


def _dispatch(**overrides) -> SubmitForm:
    return SubmitForm(outcome=IntakeOutcome.DISPATCH, **overrides)


# -- a call arrives and is answered (P1) ----------------------------------------------


def test_a_retried_incoming_webhook_records_the_call_once_and_pops_up_once(svc, org):
    published = Published()
    flows = make_flows(published=published)

    first = calls.ring(svc, flows, provider="simulator", sid="SIM-A", from_raw="13805341234")
    again = calls.ring(svc, flows, provider="simulator", sid="SIM-A", from_raw="13805341234")

    assert first == (first[0], True)
    assert again == (first[0], False)
    assert _count(svc, Call) == 1
    assert [p["call_id"] for p in published.named("incoming_call")] == [first[0]]


def test_w13_the_incoming_number_is_normalised_and_matched_to_the_customer(svc, org):
    with svc.sessions() as session:
        customer = Customer(account_number="100231", name="孙建国", address="禹城市汉槐街 18 号")
        customer.phones.append(CustomerPhone(number=CALLER_E164))
        session.add(customer)
        session.commit()
    flows = make_flows()

    call_id = ring(svc, flows, number="+86 138-0534-1234")

    call = _call(svc, call_id)
    assert call.from_number == CALLER_E164
    assert call.customer_id == customer.id


def test_ring_to_answer_seconds_are_measured_for_p1(svc, org, clock):
    flows = make_flows()
    call_id = ring(svc, flows)
    clock.advance(seconds=9)

    calls.answer(svc, flows, org["operator"], call_id)

    call = _call(svc, call_id)
    assert call.ring_to_answer_seconds == pytest.approx(9.0)
    assert call.answered_by_id == org["operator"].id
    assert call.status == CallStatus.IN_PROGRESS


def test_the_first_operator_to_answer_takes_the_call_and_the_second_is_told(svc, org):
    flows = make_flows()
    call_id = ring(svc, flows)

    calls.answer(svc, flows, org["operator"], call_id)
    with pytest.raises(Conflict, match="another operator"):
        calls.answer(svc, flows, org["operator2"], call_id)

    assert _call(svc, call_id).answered_by_id == org["operator"].id


def test_a_call_whose_caller_hung_up_cannot_be_answered(svc, org):
    flows = make_flows()
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")

    with pytest.raises(Conflict, match="hung up"):
        calls.answer(svc, flows, org["operator"], call_id)


def test_a_caller_who_cannot_be_connected_rings_on_for_the_other_operators(svc, org):
    telephony = FakeTelephony(fail_with=TelephonyUncertain("timeout"))
    flows = make_flows(telephony)
    call_id = ring(svc, flows)

    with pytest.raises(TelephonyFailed):
        calls.answer(svc, flows, org["operator"], call_id)

    call = _call(svc, call_id)
    assert call.answered_by_id is None
    assert call.status == CallStatus.RINGING
    telephony.fail_with = None
    calls.answer(svc, flows, org["operator2"], call_id)
    assert _call(svc, call_id).answered_by_id == org["operator2"].id


@pytest.mark.parametrize("username", ["dispatcher", "crew", "admin"])
def test_only_operators_and_supervisors_take_calls(svc, org, username):
    flows = make_flows()
    call_id = ring(svc, flows)

    with pytest.raises(Forbidden):
        calls.answer(svc, flows, org[username], call_id)


def test_only_the_operator_who_answered_works_the_script(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])

    with pytest.raises(Forbidden):
        op(svc, flows, org["operator2"], call_id, "complete")


# -- the script on the server (P3, P4) ------------------------------------------------------


def test_a_required_step_cannot_be_left_before_its_field_is_captured(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])
    op(svc, flows, org["operator"], call_id, "complete")
    op(svc, flows, org["operator"], call_id, "answer", answer="help")
    op(svc, flows, org["operator"], call_id, "complete")
    op(svc, flows, org["operator"], call_id, "complete")  # contact phone known from caller ID

    with pytest.raises(Invalid) as refused:
        op(svc, flows, org["operator"], call_id, "complete")

    assert refused.value.field == "problem"


def test_the_script_session_survives_between_requests_with_its_times(svc, org, clock):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])
    clock.advance(seconds=4)
    op(svc, flows, org["operator"], call_id, "complete")

    state = _call(svc, call_id).script_state
    assert state["done_steps"] == ["greeting"]
    assert state["current_step"] == "purpose"
    assert state["fields"]["contact_phone"] == "138 0534 1234"
    script = calls.load_script(flows, _call(svc, call_id), svc.now)
    assert script.session.history[0].at == clock.now


def test_p4_a_case_cannot_be_submitted_before_the_read_back_is_confirmed(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])
    walk_to_read_back(svc, flows, org["operator"], call_id)

    with pytest.raises(ReadBackMissing) as refused:
        calls.submit(svc, flows, org["operator"], call_id, _dispatch(triage="utility"))

    assert refused.value.rule == "P4"
    assert refused.value.field == "read_back"
    assert refused.value.confirmed is False
    assert _count(svc, Case) == 0
    assert _count(svc, Contact) == 0
    assert _call(svc, call_id).submit_claimed_at is None


def test_p4_submission_lists_the_items_not_yet_captured(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])

    with pytest.raises(ReadBackMissing) as refused:
        calls.submit(svc, flows, org["operator"], call_id, _dispatch())

    assert refused.value.missing == ("problem", "need", "address")
    assert _count(svc, Case) == 0


def test_p4_changing_an_item_after_the_read_back_needs_a_new_read_back(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id)
    confirm_and_triage(svc, flows, actor, call_id)

    op(svc, flows, actor, call_id, "capture", field="address", value="禹城市汉槐街 20 号")

    with pytest.raises(ReadBackMissing, match="address changed"):
        calls.submit(svc, flows, actor, call_id, _dispatch())
    assert _count(svc, Case) == 0


def test_after_the_read_back_the_call_becomes_one_case_with_what_was_read_back(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id)
    confirm_and_triage(svc, flows, actor, call_id)

    result = calls.submit(svc, flows, actor, call_id, _dispatch())

    assert result.case_number and result.case_number.startswith("RY-")
    assert result.promised_at is not None
    assert result.promised_text.endswith(
        result.promised_at.astimezone(svc.timezone).strftime("%H:%M")
    )
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == result.case_number))
        call = session.get(Call, call_id)
        assert case.problem == "汉槐街路边冒水"
        assert case.address == "禹城市汉槐街 18 号"
        assert case.contact_phone == CALLER_E164
        assert case.state == State.WITH_DISPATCH
        assert case.first_responder_id == actor.id  # G4
        assert call.case_id == case.id
        assert call.contact_id == result.contact_id
        contact = session.get(Contact, result.contact_id)
        assert contact.channel == Channel.PHONE
        assert contact.answered_at == call.answered_at
        # the promised-time step now has the number to read out (F11)
        assert call.script_state["fields"]["case_number"] == result.case_number


def test_a_second_submission_of_the_same_call_opens_no_second_case(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id)
    confirm_and_triage(svc, flows, actor, call_id)
    first = calls.submit(svc, flows, actor, call_id, _dispatch())

    with pytest.raises(Conflict, match=first.case_number):
        calls.submit(svc, flows, actor, call_id, _dispatch())

    assert _count(svc, Case) == 1


def test_a_refusal_from_intake_writes_nothing_and_frees_the_call_for_a_retry(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id)
    op(svc, flows, actor, call_id, "confirm_read_back")

    with pytest.raises(Invalid) as refused:  # P5: no triage yet
        calls.submit(svc, flows, actor, call_id, _dispatch())

    assert refused.value.field == "triage"
    assert _count(svc, Case) == 0
    assert _call(svc, call_id).submit_claimed_at is None
    result = calls.submit(svc, flows, actor, call_id, _dispatch(triage="utility"))
    assert result.case_number


def _answer_on_call(answer: str = "不知道,你等着吧") -> SubmitForm:
    return SubmitForm(outcome=IntakeOutcome.ANSWER_ON_CALL, answer=answer)


def _ready_to_answer_on_call(svc, flows, actor) -> int:
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id, category="billing")
    confirm_and_triage(svc, flows, actor, call_id, triage="not_a_repair")
    return call_id


def test_a_failure_while_linking_the_case_to_the_call_leaves_nothing_behind(svc, org, monkeypatch):
    """Submitting is one transaction: case, contact, flags, link and mark, or none of them."""
    flags.install(svc)
    pushed: list[tuple[str, int]] = []
    svc.publish = lambda payload: pushed.append(
        (payload["case"], _count(svc, Case, Case.number == payload["case"]))
    )
    flows = make_flows()
    actor = org["operator"]
    call_id = _ready_to_answer_on_call(svc, flows, actor)
    before = _call(svc, call_id).script_state
    real_link = submission._link

    def link_then_fail(*args, **kwargs):
        real_link(*args, **kwargs)  # everything linked and flushed, then the step fails
        raise RuntimeError("the call could not be linked")

    monkeypatch.setattr(submission, "_link", link_then_fail)

    with pytest.raises(RuntimeError, match="could not be linked"):
        calls.submit(svc, flows, actor, call_id, _answer_on_call())

    assert _count(svc, Case) == 0
    assert _count(svc, Contact) == 0
    assert _count(svc, ComplianceFlag) == 0
    call = _call(svc, call_id)
    assert (call.contact_id, call.case_id, call.submit_claimed_at) == (None, None, None)
    assert call.script_state == before
    assert pushed == []  # the case's live update waits for a commit that never came

    monkeypatch.setattr(submission, "_link", real_link)
    result = calls.submit(svc, flows, actor, call_id, _answer_on_call())

    assert _count(svc, Case) == 1
    assert _call(svc, call_id).case_id is not None
    assert _call(svc, call_id).submit_claimed_at is not None
    assert pushed == [(result.case_number, 1)]  # pushed once, after the commit


def test_two_submits_of_the_same_call_at_once_open_one_case(svc, org, monkeypatch):
    """The second submit waits on the call's row lock, then finds the call recorded."""
    flows = make_flows()
    actor = org["operator"]
    call_id = _ready_to_answer_on_call(svc, flows, actor)
    inside = threading.Event()
    real_intake = services.intake

    def slow_intake(*args, **kwargs):
        inside.set()
        time.sleep(0.3)  # the first submit holds the call while the second arrives
        return real_intake(*args, **kwargs)

    monkeypatch.setattr(services, "intake", slow_intake)
    outcomes: dict[str, object] = {}

    def submit(name: str) -> None:
        try:
            outcomes[name] = calls.submit(svc, flows, actor, call_id, _answer_on_call("稍后回复"))
        except Exception as exc:
            outcomes[name] = exc

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=submit, args=("second",))
    second.start()
    first.join(30)
    second.join(30)

    result = outcomes["first"]
    assert isinstance(result, calls.SubmitResult) and result.case_number
    refused = outcomes["second"]
    assert isinstance(refused, Conflict), refused
    assert result.case_number in str(refused)
    assert _count(svc, Case) == 1
    assert _count(svc, Contact) == 1
    assert _call(svc, call_id).case_id is not None


def test_g5_a_transfer_from_the_console_needs_what_the_caller_was_told(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id, category="consultation")
    confirm_and_triage(svc, flows, actor, call_id, triage="not_a_repair")
    transfer = SubmitForm(
        outcome=IntakeOutcome.TRANSFER, target_department_id=org.departments["BUSINESS"]
    )

    with pytest.raises(Invalid) as refused:
        calls.submit(svc, flows, actor, call_id, transfer)

    assert refused.value.field == "told_caller"
    assert _count(svc, Case) == 0
    transfer.told_caller = "请到营业大厅 3 号窗口办理,电话 0534-2122112"
    result = calls.submit(svc, flows, actor, call_id, transfer)
    assert result.state == State.TRANSFERRED


def test_a_caller_about_an_open_case_joins_it_instead_of_opening_a_duplicate(svc, org):
    number = bring_case_to(svc, org, State.WITH_DISPATCH)
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)

    result = calls.submit(
        svc, flows, actor, call_id, SubmitForm(outcome=IntakeOutcome.JOIN, join_case_number=number)
    )

    assert result.case_number == number
    assert _count(svc, Case) == 1
    assert _call(svc, call_id).case_id is not None


def test_w1_a_counter_visit_uses_the_same_console_script_and_gate(svc, org):
    flows = make_flows(FakeTelephony())
    actor = org["operator"]

    call_id = calls.start_counter_visit(svc, flows, actor, caller_number="13805341234")
    with pytest.raises(ReadBackMissing):
        calls.submit(svc, flows, actor, call_id, _dispatch())
    walk_to_read_back(svc, flows, actor, call_id)
    confirm_and_triage(svc, flows, actor, call_id)
    result = calls.submit(svc, flows, actor, call_id, _dispatch())

    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == result.case_number))
        assert case.channel == Channel.COUNTER
        assert session.get(Contact, result.contact_id).channel == Channel.COUNTER
        call = session.get(Call, call_id)
        assert call.ring_to_answer_seconds is None  # P1 is about the phone
        # The visit is over once its case is recorded: nobody has to end it by hand.
        assert call.ended_at is not None
        assert call.status == CallStatus.COMPLETED
        assert call.hung_up_by == "operator"
    assert flows.telephony.connected == []


# -- the end of a call, missed calls and call-backs --------------------------------------


def test_the_compliance_record_is_stored_when_the_call_ends(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    op(svc, flows, actor, call_id, "complete")

    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")

    call = _call(svc, call_id)
    assert call.status == CallStatus.COMPLETED
    assert call.hung_up_by == "caller"
    assert call.compliance["done_steps"] == ["greeting"]
    assert call.compliance["missed_closing"] is True
    assert call.compliance["hung_up_by"] == "caller"


@pytest.mark.parametrize(
    ("provider_status", "status", "disposition"),
    [
        (None, CallStatus.ABANDONED, Disposition.ABANDONED),
        ("no-answer", CallStatus.MISSED, Disposition.MISSED),
        ("busy", CallStatus.MISSED, Disposition.MISSED),
    ],
)
def test_an_unanswered_call_is_a_contact_on_record_and_listed_for_a_call_back(
    svc, org, provider_status, status, disposition
):
    published = Published()
    flows = make_flows(published=published)
    call_id = ring(svc, flows)

    calls.end_call(
        svc, flows, call_id=call_id, hung_up_by="caller", provider_status=provider_status
    )

    call = _call(svc, call_id)
    assert call.status == status
    with svc.sessions() as session:
        assert [c.id for c in calls.missed_calls(session)] == [call_id]
        contact = session.get(Contact, call.contact_id)
        assert contact.disposition == disposition
        assert contact.caller_number == CALLER_E164
    assert published.named("call_ended") == [{"call_id": call_id, "status": str(status)}]


def test_ending_a_call_twice_changes_nothing(svc, org):
    flows = make_flows()
    call_id = ring(svc, flows)

    assert calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller") is True
    assert calls.end_call(svc, flows, call_id=call_id, hung_up_by="operator") is False
    assert _count(svc, Contact) == 1
    assert _call(svc, call_id).hung_up_by == "caller"


def test_the_call_back_attempt_is_written_before_the_request(svc, org):
    seen: list[tuple[str, str]] = []

    def inspect_database(request) -> None:
        with svc.sessions() as session:
            attempt = session.get(OutboundAttempt, request.attempt_id)
            seen.append((attempt.status, attempt.to_number))

    telephony = FakeTelephony(on_request=inspect_database)
    flows = make_flows(telephony)
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")

    attempt = calls.call_back(svc, flows, org["operator"], call_id)

    assert seen == [(AttemptStatus.PENDING, CALLER_E164)]
    assert attempt.status == AttemptStatus.REQUESTED
    assert attempt.provider_sid == f"FAKE-CALL-{attempt.id}"
    with svc.sessions() as session:
        # Placed is not reached: the caller stays listed until someone knows.
        assert [c.id for c in calls.missed_calls(session)] == [call_id]
        assert session.get(Call, call_id).called_back_at is None


def test_a_call_back_reaching_the_caller_takes_the_call_off_the_list(svc, org):
    flows = make_flows()
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")
    calls.call_back(svc, flows, org["operator"], call_id)

    view = calls.record_call_back_outcome(svc, flows, org["operator"], call_id, reached=True)

    assert view.status == AttemptStatus.COMPLETED
    with svc.sessions() as session:
        assert calls.missed_calls(session) == []
        call = session.get(Call, call_id)
        assert call.called_back_by_id == org["operator"].id
        assert session.get(Contact, call.contact_id).disposition == Disposition.CALLED_BACK
    with pytest.raises(Conflict):
        calls.record_call_back_outcome(svc, flows, org["operator"], call_id, reached=False)
    with pytest.raises(Conflict):
        calls.call_back(svc, flows, org["operator"], call_id)


def test_a_call_back_not_reaching_the_caller_keeps_the_call_listed(svc, org):
    telephony = FakeTelephony()
    flows = make_flows(telephony)
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")
    calls.call_back(svc, flows, org["operator"], call_id)
    # No second call-back before the first one's outcome is known.
    with pytest.raises(Conflict) as refused:
        calls.call_back(svc, flows, org["operator"], call_id)
    assert refused.value.field == "reached"
    assert len(telephony.calls) == 1

    view = calls.record_call_back_outcome(svc, flows, org["operator"], call_id, reached=False)

    assert view.status == AttemptStatus.NOT_REACHED
    with svc.sessions() as session:
        assert [c.id for c in calls.missed_calls(session)] == [call_id]
        assert session.get(Call, call_id).called_back_at is None
    # Called again, and this time reached.
    calls.call_back(svc, flows, org["operator"], call_id)
    assert len(telephony.calls) == 2
    calls.record_call_back_outcome(svc, flows, org["operator"], call_id, reached=True)
    with svc.sessions() as session:
        assert calls.missed_calls(session) == []


def test_no_outcome_is_recorded_without_a_call_back(svc, org):
    flows = make_flows()
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")
    with pytest.raises(Conflict):
        calls.record_call_back_outcome(svc, flows, org["operator"], call_id, reached=True)
    with pytest.raises(Forbidden):
        calls.record_call_back_outcome(svc, flows, org["dispatcher"], call_id, reached=True)


def test_a_refused_call_back_is_recorded_and_the_caller_stays_listed(svc, org):
    telephony = FakeTelephony(fail_with=TelephonyRefused("Twilio answered 400"))
    flows = make_flows(telephony)
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")

    with pytest.raises(TelephonyFailed) as failed:
        calls.call_back(svc, flows, org["operator"], call_id)

    assert failed.value.uncertain is False
    with svc.sessions() as session:
        attempt = session.scalar(select(OutboundAttempt))
        assert attempt.status == AttemptStatus.REFUSED
        assert "400" in attempt.error
        assert [c.id for c in calls.missed_calls(session)] == [call_id]
    telephony.fail_with = None
    assert calls.call_back(svc, flows, org["operator"], call_id).status == AttemptStatus.REQUESTED


def test_an_uncertain_call_back_is_never_repeated_without_someone_confirming(svc, org):
    telephony = FakeTelephony(fail_with=TelephonyUncertain("no answer from Twilio"))
    flows = make_flows(telephony)
    call_id = ring(svc, flows)
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")
    with pytest.raises(TelephonyFailed):
        calls.call_back(svc, flows, org["operator"], call_id)
    telephony.fail_with = None

    with pytest.raises(Conflict) as refused:
        calls.call_back(svc, flows, org["operator"], call_id)

    assert refused.value.field == "confirm_uncertain"
    assert _count(svc, OutboundAttempt) == 1
    assert telephony.calls == []
    calls.call_back(svc, flows, org["operator"], call_id, confirm_uncertain=True)
    assert len(telephony.calls) == 1


def test_an_answered_call_is_not_called_back(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])
    calls.end_call(svc, flows, call_id=call_id, hung_up_by="caller")

    with pytest.raises(Conflict):
        calls.call_back(svc, flows, org["operator"], call_id)
    assert _count(svc, OutboundAttempt) == 0


def test_the_case_number_sms_is_written_before_it_is_sent(svc, org):
    seen: list[str] = []
    telephony = FakeTelephony(
        on_request=lambda message: seen.append(_status_of(svc, message.attempt_id))
    )
    flows = make_flows(telephony)
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id)
    confirm_and_triage(svc, flows, actor, call_id)
    result = calls.submit(svc, flows, actor, call_id, _dispatch())

    attempt = calls.send_case_sms(svc, flows, actor, call_id)

    assert seen == [AttemptStatus.PENDING]
    assert attempt.status == AttemptStatus.REQUESTED
    (message,) = telephony.messages
    assert message.to == CALLER_E164
    assert result.case_number in message.body
    assert result.promised_text in message.body


def _status_of(svc, attempt_id: int) -> str:
    with svc.sessions() as session:
        return session.get(OutboundAttempt, attempt_id).status


# -- G2: banned phrases in what staff write, kept for supervisors ---------------------------


def _flags(svc) -> list[ComplianceFlag]:
    with svc.sessions() as session:
        return list(session.scalars(select(ComplianceFlag).order_by(ComplianceFlag.id)))


def test_g2_a_banned_phrase_in_a_case_note_is_flagged_with_the_case(svc, org):
    from callflows.services import flags

    flags.install(svc)
    number = bring_case_to(svc, org, State.WITH_DISPATCH)

    act(svc, org["operator"], number, Action.ADD_NOTE, note="用户又打来,这事不归我管")

    (flag,) = _flags(svc)
    assert (flag.rule, flag.phrase, flag.source) == ("G2", "不归我管", "note")
    assert flag.staff_id == org["operator"].id
    assert "不归我管" in flag.excerpt
    with svc.sessions() as session:
        assert flag.case_id == session.scalar(select(Case.id).where(Case.number == number))


@pytest.mark.parametrize(
    ("state", "action", "data", "source"),
    [
        (
            State.ON_SITE,
            Action.COMPLETE,
            {"result_note": "修好了,别的我不知道", "no_rating_reason": "用户不在场"},
            "result_note",
        ),
        (State.REGISTERED, None, {}, "answer"),
    ],
)
def test_g2_result_notes_and_answers_saved_through_the_product_are_flagged(
    svc, org, state, action, data, source
):
    from callflows.services import flags
    from tests.support import intake_command

    flags.install(svc)
    if action is None:
        services.intake(
            svc,
            org["operator"],
            intake_command(IntakeOutcome.ANSWER_ON_CALL, answer="这是你自己的问题"),
        )
    else:
        number = bring_case_to(svc, org, state)
        act(svc, org["crew"], number, action, **data)

    assert [(f.source, f.rule) for f in _flags(svc)] == [(source, "G2")]


def test_g2_text_refused_with_its_action_leaves_no_flag(svc, org):
    from callflows.services import flags
    from tests.support import intake_command

    flags.install(svc)
    with pytest.raises(services.ServiceError):
        services.intake(
            svc,
            org["operator"],
            intake_command(
                IntakeOutcome.TRANSFER,
                told_caller="办不了",
                target_department_id=999_999,
            ),
        )

    assert _flags(svc) == []


def test_g2_flags_from_a_console_submission_belong_to_the_call_and_the_case(svc, org):
    from callflows.services import flags

    flags.install(svc)
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)
    walk_to_read_back(svc, flows, actor, call_id, category="billing")
    confirm_and_triage(svc, flows, actor, call_id, triage="not_a_repair")

    result = calls.submit(
        svc,
        flows,
        actor,
        call_id,
        SubmitForm(outcome=IntakeOutcome.ANSWER_ON_CALL, answer="不知道,你等着吧"),
    )

    (flag,) = _flags(svc)
    assert flag.call_id == call_id
    assert flag.case_id is not None
    assert result.flags == ({"source": "answer", "phrase": "不知道", "excerpt": flag.excerpt},)


def test_g2_a_summary_without_a_case_is_flagged_on_the_call(svc, org):
    flows = make_flows()
    actor = org["operator"]
    call_id = answered_call(svc, flows, actor)

    calls.submit(
        svc,
        flows,
        actor,
        call_id,
        SubmitForm(outcome=IntakeOutcome.NO_CASE, summary="打错了,不归我管"),
    )

    (flag,) = _flags(svc)
    assert (flag.call_id, flag.case_id, flag.source) == (call_id, None, "summary")


def test_g2_only_the_staff_turns_of_a_transcript_are_flagged(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])
    turns = [
        {"speaker": "caller", "text": "我不知道水表在哪"},
        {"speaker": "staff", "text": "这是你自己的问题"},
    ]

    assert calls.attach_transcript(svc, call_id=call_id, turns=turns) == 1
    assert calls.attach_transcript(svc, call_id=call_id, turns=turns) == 1  # replaced, not added

    (flag,) = _flags(svc)
    assert (flag.source, flag.phrase, flag.staff_id) == (
        "transcript",
        "这是你自己的问题",
        org["operator"].id,
    )
    assert _call(svc, call_id).transcript == turns


def test_a_transcript_turn_without_a_speaker_is_refused(svc, org):
    flows = make_flows()
    call_id = answered_call(svc, flows, org["operator"])

    with pytest.raises(Invalid) as refused:
        calls.attach_transcript(svc, call_id=call_id, turns=[{"text": "您好"}])

    assert refused.value.field == "turns"
    assert _call(svc, call_id).transcript is None
