"""The call engine: the read-back gate (P4), the 30-second reassurance timer (P3),
branching at triage (P5), and the compliance record of what was done."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import callflows
from callflows.domain.engine import (
    READ_BACK_FIELDS,
    AnswerRequired,
    CallEnded,
    CallSession,
    ClockError,
    InvalidFieldValue,
    LookupStateError,
    MissingCapture,
    PromptMissing,
    ReadBackRequired,
    ScriptFinished,
    StepRequired,
    StepStatus,
    UnknownAnswer,
    UnknownField,
    UnknownStep,
)
from callflows.domain.scripts import Script, load_all
from hotline.domain.taxonomy import Category, FollowUpOutcome, TriageOutcome

SCRIPTS_DIR = Path(callflows.__file__).parent / "scripts"
NAMES = {
    "company": "禹城市润禹水务有限公司",
    "company_short": "润禹水务有限公司",
    "official_account": "润禹水务公众号",
}
CST = timezone(timedelta(hours=8), "CST")
T0 = datetime(2025, 11, 26, 14, 5, tzinfo=CST)
INTAKE = {
    "problem": "家里没水",
    "need": "尽快恢复供水",
    "address": "阳光花园3号楼2单元301",
    "contact_phone": "13812345678",
}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)


SCRIPTS: dict[str, Script] = load_all(SCRIPTS_DIR, **NAMES)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def inbound(clock: FakeClock, **known: str) -> CallSession:
    return CallSession(SCRIPTS["inbound_hotline"], clock, known=known or None)


def walk_to_read_back(call: CallSession, clock: FakeClock) -> None:
    """Greeting to read-back on the help path, capturing the P4 fields."""
    call.complete_step()  # greeting
    clock.tick(5)
    call.answer("help")
    call.complete_step()  # apology
    call.capture("caller_name", "王")
    call.capture("contact_phone", INTAKE["contact_phone"])
    call.complete_step()  # ask_name
    call.capture("problem", INTAKE["problem"])
    call.complete_step()
    call.capture("need", INTAKE["need"])
    call.complete_step()
    call.capture("address", INTAKE["address"])
    call.complete_step()
    call.capture("category", Category.NO_WATER)
    call.complete_step()  # classify
    assert call.current_step is not None
    assert call.current_step.id == "read_back"


def walk_to_end(call: CallSession, clock: FakeClock) -> None:
    """From read-back to the end of the script, via dispatch and a promised time."""
    call.confirm_read_back()
    call.complete_step()  # read_back
    call.answer(TriageOutcome.UTILITY)
    call.complete_step()  # hand_to_dispatch
    call.capture("case_number", "RY-20251126-0001")
    call.capture("promised_time", "今天18:00")
    call.complete_step()  # promised_time
    call.skip()  # anything_else
    clock.tick(3)
    call.complete_step()  # closing
    assert call.current_step is None


# --- P4: the read-back gate ----------------------------------------------------------


@pytest.mark.parametrize("missing", READ_BACK_FIELDS)
def test_p4_read_back_cannot_be_confirmed_without_each_field(
    clock: FakeClock, missing: str
) -> None:
    call = inbound(clock)
    for name, value in INTAKE.items():
        if name != missing:
            call.capture(name, value)
    with pytest.raises(ReadBackRequired, match=missing) as caught:
        call.confirm_read_back()
    assert caught.value.missing == (missing,)
    assert call.read_back_confirmed_at is None


@pytest.mark.parametrize("missing", READ_BACK_FIELDS)
def test_p4_case_cannot_be_submitted_without_each_field(clock: FakeClock, missing: str) -> None:
    call = inbound(clock)
    for name, value in INTAKE.items():
        if name != missing:
            call.capture(name, value)
    with pytest.raises(ReadBackRequired) as caught:
        call.require_ready_to_submit()
    assert caught.value.missing == (missing,)
    assert missing in str(caught.value)


def test_p4_case_cannot_be_submitted_without_read_back(clock: FakeClock) -> None:
    call = inbound(clock, **INTAKE)
    with pytest.raises(ReadBackRequired, match="read-back has not been confirmed") as caught:
        call.require_ready_to_submit()
    assert caught.value.missing == ()
    assert caught.value.confirmed is False
    clock.tick(10)
    assert call.confirm_read_back() == clock.at(10)
    call.require_ready_to_submit()
    assert call.read_back_confirmed_at == clock.at(10)


@pytest.mark.parametrize("changed", READ_BACK_FIELDS)
def test_p4_changing_a_read_back_field_after_confirmation_revokes_it(
    clock: FakeClock, changed: str
) -> None:
    call = inbound(clock, **INTAKE)
    call.confirm_read_back()
    clock.tick(20)
    call.capture(changed, INTAKE[changed] + "(更正)")
    assert call.read_back_confirmed_at is None
    with pytest.raises(ReadBackRequired, match=changed):
        call.require_ready_to_submit()
    record = call.compliance_record()
    assert [(c.field, c.at) for c in record.read_back_revocations] == [(changed, clock.at(20))]
    call.confirm_read_back()
    call.require_ready_to_submit()


def test_p4_same_value_or_another_field_keeps_the_confirmation(clock: FakeClock) -> None:
    call = inbound(clock, **INTAKE)
    confirmed = call.confirm_read_back()
    call.capture("address", INTAKE["address"])
    call.capture("category", Category.LEAK)
    call.capture("caller_name", "李")
    assert call.read_back_confirmed_at == confirmed
    call.require_ready_to_submit()


def test_p4_read_back_step_cannot_be_completed_until_confirmed(clock: FakeClock) -> None:
    call = inbound(clock)
    walk_to_read_back(call, clock)
    with pytest.raises(ReadBackRequired, match="step 'read_back'"):
        call.complete_step()
    assert call.text() == (
        "我跟您核对一下:您反映的问题是家里没水,需求是尽快恢复供水,"
        "地址是阳光花园3号楼2单元301,联系电话是13812345678,请问对吗?"
    )
    call.confirm_read_back()
    assert call.complete_step().id == "triage"


def test_p4_read_back_items_show_what_to_read_aloud(clock: FakeClock) -> None:
    call = inbound(clock, problem="水压低")
    assert call.read_back_items() == {
        "problem": "水压低",
        "need": None,
        "address": None,
        "contact_phone": None,
    }


# --- P3: reassurance every 30 seconds during a look-up --------------------------------


def test_p3_lookup_says_the_line_at_once_and_asks_again_every_30_seconds(
    clock: FakeClock,
) -> None:
    call = inbound(clock)
    assert call.next_reassurance_at is None
    assert call.due_reassurances() == []
    prompt = call.start_lookup()
    assert prompt.zh == "请您稍等,我正在查询"
    assert call.next_reassurance_at == clock.at(30)
    assert call.due_reassurances(clock.at(29)) == []
    assert call.due_reassurances(clock.at(30)) == [clock.at(30)]
    clock.tick(30)
    call.reassure()
    assert call.next_reassurance_at == clock.at(60)
    assert call.due_reassurances(clock.at(95)) == [clock.at(60), clock.at(90)]
    clock.tick(25)
    call.end_lookup()
    assert call.next_reassurance_at is None
    record = call.compliance_record()
    assert record.reassurances == (clock.at(0), clock.at(30))
    assert record.reassurance_gaps == ()
    assert record.lookups[0].ended_at == clock.at(55)


def test_p3_silence_over_30_seconds_is_recorded_as_a_gap(clock: FakeClock) -> None:
    call = inbound(clock)
    call.start_lookup()
    clock.tick(45)
    call.reassure()
    clock.tick(20)
    call.reassure()
    clock.tick(40)
    call.end_lookup()
    gaps = call.compliance_record().reassurance_gaps
    assert [(g.started_at, g.ended_at, g.seconds) for g in gaps] == [
        (clock.at(0), clock.at(45), 45.0),
        (clock.at(65), clock.at(105), 40.0),
    ]


def test_p3_exactly_30_seconds_is_on_time(clock: FakeClock) -> None:
    call = inbound(clock)
    call.start_lookup()
    clock.tick(30)
    call.reassure()
    clock.tick(30)
    call.end_lookup()
    assert call.compliance_record().reassurance_gaps == ()


def test_p3_a_running_lookup_counts_its_silence_up_to_now(clock: FakeClock) -> None:
    call = inbound(clock)
    call.start_lookup()
    clock.tick(50)
    (gap,) = call.compliance_record().reassurance_gaps
    assert gap.seconds == 50.0
    call.end()
    assert call.compliance_record().lookups[0].ended_at == clock.at(50)


def test_p3_lookup_state_is_checked(clock: FakeClock) -> None:
    call = inbound(clock)
    with pytest.raises(LookupStateError):
        call.reassure()
    with pytest.raises(LookupStateError):
        call.end_lookup()
    call.start_lookup()
    with pytest.raises(LookupStateError, match="already running"):
        call.start_lookup()
    call.end_lookup()
    call.start_lookup()
    assert len(call.compliance_record().lookups) == 2


@given(
    st.lists(st.integers(min_value=1, max_value=90), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=90),
)
def test_p3_every_silence_over_30_seconds_and_no_other_is_a_gap(
    waits: list[int], last: int
) -> None:
    clock = FakeClock()
    call = inbound(clock)
    call.start_lookup()
    for wait in waits:
        clock.tick(wait)
        call.reassure()
    clock.tick(last)
    call.end_lookup()
    gaps = call.compliance_record().reassurance_gaps
    assert [g.seconds for g in gaps] == [float(w) for w in [*waits, last] if w > 30]


def test_p3_not_heard_line_is_available_at_any_step(clock: FakeClock) -> None:
    call = inbound(clock)
    assert call.repeat_not_heard().zh == "对不起,我没有听清楚您的问题,请您再重复一遍好吗?"
    walk_to_read_back(call, clock)
    call.repeat_not_heard()
    call.confirm_read_back()
    call.complete_step()
    call.repeat_not_heard()
    repeats = call.compliance_record().not_heard_repeats
    assert [r.step_id for r in repeats] == ["greeting", "read_back", "triage"]


def test_p3_prompt_missing_from_a_script_is_reported(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["repair_triage"], clock)
    with pytest.raises(PromptMissing, match="lookup"):
        call.start_lookup()


# --- P3: the compliance record -------------------------------------------------------


def test_p3_a_complete_call_misses_nothing(clock: FakeClock) -> None:
    call = inbound(clock)
    walk_to_read_back(call, clock)
    walk_to_end(call, clock)
    call.end(hung_up_by="caller")
    record = call.compliance_record()
    assert record.missed_required == ()
    assert not record.missed_greeting and not record.missed_closing
    assert record.hung_up_by == "caller"
    assert record.done_steps[0] == "greeting" and record.done_steps[-1] == "closing"
    assert record.steps[0].at == clock.at(0)
    assert {r.step_id for r in record.steps if r.status is StepStatus.SKIPPED} == {"anything_else"}


def test_p3_compliance_record_flags_a_missed_greeting(clock: FakeClock) -> None:
    call = inbound(clock)
    call.go_to("purpose")
    call.answer("enquiry")
    walk_rest = ["ask_name", "ask_problem", "ask_need", "ask_address", "classify"]
    for name, value in INTAKE.items():
        call.capture(name, value)
    call.capture("category", Category.CONSULTATION)
    for step_id in walk_rest:
        assert call.current_step is not None and call.current_step.id == step_id
        call.complete_step()
    walk_to_end(call, clock)
    call.end()
    record = call.compliance_record()
    assert record.missed_required == ("greeting",)
    assert record.missed_greeting and not record.missed_closing
    assert [(j.from_step, j.to_step) for j in record.jumps] == [("greeting", "purpose")]


def test_p3_compliance_record_flags_a_missed_closing_and_who_hung_up(clock: FakeClock) -> None:
    call = inbound(clock)
    walk_to_read_back(call, clock)
    call.confirm_read_back()
    call.complete_step()
    call.answer(TriageOutcome.CUSTOMER_SIDE)
    call.complete_step()  # guide_by_phone
    clock.tick(60)
    call.end(hung_up_by="operator")
    record = call.compliance_record()
    assert record.missed_required == ("closing",)
    assert record.missed_closing and not record.missed_greeting
    assert record.hung_up_by == "operator"
    assert record.ended_at == clock.at(65)


def test_p3_steps_on_branches_not_taken_are_not_missed(clock: FakeClock) -> None:
    call = inbound(clock)
    call.complete_step()
    call.answer("enquiry")
    call.end()
    missed = call.compliance_record().missed_required
    assert "apology" not in missed and "thanks_support" not in missed
    assert "guide_by_phone" not in missed and "promised_time" not in missed
    assert {"ask_name", "read_back", "triage", "closing"} <= set(missed)


def test_p3_branch_taken_makes_its_steps_required(clock: FakeClock) -> None:
    call = inbound(clock)
    call.complete_step()
    call.answer("complaint")
    call.go_to("ask_name")
    call.end()
    assert "apology" in call.compliance_record().missed_required


def test_compliance_record_is_json_ready_and_holds_no_personal_data(clock: FakeClock) -> None:
    call = inbound(clock)
    walk_to_read_back(call, clock)
    call.start_lookup()
    clock.tick(40)
    call.end_lookup()
    call.repeat_not_heard()
    call.end()
    data = call.compliance_record().to_dict()
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text)["script_id"] == "inbound_hotline"
    assert data["reassurance_gaps"][0]["seconds"] == 40.0
    assert "contact_phone" in data["captured_fields"]
    for value in INTAKE.values():
        assert value not in text


# --- moving through a script -------------------------------------------------------------


def test_a_required_step_cannot_be_skipped(clock: FakeClock) -> None:
    call = inbound(clock)
    with pytest.raises(StepRequired, match="step 'greeting'"):
        call.skip()
    assert call.current_step is not None and call.current_step.id == "greeting"


def test_an_optional_step_can_be_skipped(clock: FakeClock) -> None:
    call = inbound(clock)
    call.go_to("anything_else")
    assert call.skip().id == "closing"


def test_p3_contact_must_be_taken_before_leaving_the_name_step(clock: FakeClock) -> None:
    call = inbound(clock)
    call.go_to("ask_name")
    with pytest.raises(MissingCapture, match="contact_phone") as caught:
        call.complete_step()
    assert caught.value.step_id == "ask_name"
    assert caught.value.fields == ("contact_phone",)
    call.capture("contact_phone", "13812345678")
    assert call.complete_step().id == "ask_problem"


def test_a_branching_step_needs_an_answer(clock: FakeClock) -> None:
    call = inbound(clock)
    call.complete_step()
    with pytest.raises(AnswerRequired, match="step 'purpose'"):
        call.complete_step()
    with pytest.raises(UnknownAnswer, match="no answer 'chat'"):
        call.answer("chat")


def test_an_answer_at_a_step_without_branches_is_refused(clock: FakeClock) -> None:
    call = inbound(clock)
    with pytest.raises(UnknownAnswer, match="takes no answers"):
        call.answer("help")


def test_branch_answers_set_fields(clock: FakeClock) -> None:
    call = inbound(clock)
    call.complete_step()
    assert call.answer("complaint").id == "apology"
    assert call.fields["category"] == Category.COMPLAINT.value
    assert call.answers == {"purpose": "complaint"}


@pytest.mark.parametrize(
    ("outcome", "next_step"),
    [
        (TriageOutcome.CUSTOMER_SIDE, "guide_by_phone"),
        (TriageOutcome.OUT_OF_SCOPE, "explain_scope"),
        (TriageOutcome.UTILITY, "hand_to_dispatch"),
        (TriageOutcome.UNDETERMINED, "hand_to_dispatch"),
        (TriageOutcome.NOT_A_REPAIR, "outcome"),
    ],
)
def test_p5_triage_answer_routes_the_call_and_is_recorded(
    clock: FakeClock, outcome: TriageOutcome, next_step: str
) -> None:
    call = inbound(clock)
    walk_to_read_back(call, clock)
    call.confirm_read_back()
    call.complete_step()
    assert call.answer(outcome).id == next_step
    assert call.fields["triage"] == outcome.value


@pytest.mark.parametrize(
    ("outcome", "next_step"),
    [
        (TriageOutcome.CUSTOMER_SIDE, "guide_by_phone"),
        (TriageOutcome.OUT_OF_SCOPE, "explain_scope"),
        (TriageOutcome.UTILITY, "hand_to_dispatch"),
        (TriageOutcome.UNDETERMINED, "hand_to_dispatch"),
    ],
)
def test_p5_repair_triage_script_routes_each_outcome(
    clock: FakeClock, outcome: TriageOutcome, next_step: str
) -> None:
    call = CallSession(SCRIPTS["repair_triage"], clock)
    call.capture("problem", "水表前漏水")
    call.complete_step()
    call.capture("fault_location", "水表前")
    call.complete_step()
    assert call.answer(outcome).id == next_step
    assert call.fields["triage"] == outcome.value


def test_p5_triage_must_be_one_of_the_outcomes(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["repair_triage"], clock)
    call.go_to("judge")
    with pytest.raises(UnknownAnswer, match="customer_side"):
        call.answer("not_a_repair")


def test_g5_out_of_scope_needs_the_responsible_department(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["repair_triage"], clock)
    call.go_to("explain_scope")
    with pytest.raises(MissingCapture, match="transfer_department"):
        call.complete_step()
    call.capture("transfer_department", "小区物业")
    assert call.text().startswith("对不起,这件事需要由小区物业办理")
    assert call.complete_step() is None


def test_capture_checks_the_field_and_its_value(clock: FakeClock) -> None:
    call = inbound(clock)
    with pytest.raises(UnknownField, match="adress"):
        call.capture("adress", "阳光花园")
    with pytest.raises(InvalidFieldValue, match="flood"):
        call.capture("category", "flood")
    with pytest.raises(InvalidFieldValue, match="address"):
        call.capture("address", "   ")
    call.capture("address", "  阳光花园  ")
    assert call.fields["address"] == "阳光花园"


def test_go_to_an_unknown_step_is_refused(clock: FakeClock) -> None:
    with pytest.raises(UnknownStep, match="nowhere"):
        inbound(clock).go_to("nowhere")


def test_the_script_end_leaves_no_current_step(clock: FakeClock) -> None:
    call = inbound(clock)
    walk_to_read_back(call, clock)
    walk_to_end(call, clock)
    with pytest.raises(ScriptFinished):
        call.complete_step()
    with pytest.raises(ScriptFinished):
        call.text()


def test_an_ended_call_refuses_live_actions_but_allows_wrap_up(clock: FakeClock) -> None:
    call = inbound(clock, **INTAKE)
    call.end()
    for action in (call.complete_step, call.confirm_read_back, call.start_lookup, call.end):
        with pytest.raises(CallEnded):
            action()
    call.capture("category", Category.LEAK)
    assert call.fields["category"] == "leak"


def test_the_clock_must_be_timezone_aware() -> None:
    with pytest.raises(ClockError, match="timezone-aware"):
        CallSession(SCRIPTS["inbound_hotline"], lambda: datetime(2025, 11, 26, 14, 5))
    call = CallSession(SCRIPTS["inbound_hotline"], FakeClock())
    with pytest.raises(ClockError):
        call.due_reassurances(datetime(2025, 11, 26, 14, 6))


# --- W15, P7, P8 -------------------------------------------------------------------------

ACCOUNT = {"community": "阳光花园", "customer_name": "张三", "arrears_period": "3个月"}


def test_w15_dunning_call_fills_the_standard_wording_from_the_account(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["dunning_call"], clock, known=ACCOUNT)
    assert call.text() == "你好,我是润禹水务有限公司营业人员"
    call.complete_step()
    assert call.text() == "你是阳光花园小区张三用户吗?"
    call.answer("confirmed")
    assert call.text() == "你已欠费3个月时间,请及时缴纳水费"
    call.complete_step()
    assert call.text() == "你不方便上门交费,可以通过关注“润禹水务公众号”在网上交费"


def test_w15_cannot_verify_without_knowing_the_account(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["dunning_call"], clock)
    call.complete_step()
    assert call.text() == "你是××小区××用户吗?"
    with pytest.raises(MissingCapture) as caught:
        call.answer("confirmed")
    assert caught.value.fields == ("community", "customer_name")


def test_w15_wrong_person_hears_no_arrears_and_misses_nothing(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["dunning_call"], clock, known=ACCOUNT)
    call.complete_step()
    assert call.answer("wrong_person").id == "wrong_person"
    call.complete_step()
    call.end()
    record = call.compliance_record()
    assert record.missed_required == ()
    assert not record.missed_closing
    assert "arrears" not in record.done_steps


def test_p7_follow_up_records_each_aspect_and_the_outcome(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["follow_up_call"], clock, known={"problem": "家里没水"})
    call.answer("answered")
    assert "“家里没水”" in call.text()
    call.answer("confirmed")
    call.complete_step()  # purpose
    for aspect in ("attitude", "quality", "timeliness", "result"):
        assert call.current_step is not None and call.current_step.id == aspect
        call.answer(FollowUpOutcome.SATISFIED)
    call.skip()  # comments
    assert call.answer(FollowUpOutcome.DISSATISFIED).id == "apology_reopen"
    call.complete_step()
    call.complete_step()  # closing
    call.end()
    assert call.fields["follow_up_outcome"] == FollowUpOutcome.DISSATISFIED.value
    assert call.fields["attitude"] == "satisfied"
    assert call.compliance_record().missed_required == ()


def test_p7_unreachable_follow_up_needs_no_greeting(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["follow_up_call"], clock)
    call.answer("no_answer")
    assert call.fields["follow_up_outcome"] == FollowUpOutcome.UNREACHABLE.value
    call.complete_step()
    call.end(hung_up_by="operator")
    record = call.compliance_record()
    assert record.missed_required == ()
    assert not record.missed_greeting and not record.missed_closing


def test_p8_outage_notice_needs_the_notice_details(clock: FakeClock) -> None:
    call = CallSession(SCRIPTS["outage_notice_call"], clock)
    call.answer("go_ahead")
    with pytest.raises(MissingCapture, match="outage_area"):
        call.complete_step()
    notice = {
        "outage_area": "城区东部",
        "outage_reason": "管网改造",
        "outage_start": "11月28日8:00",
        "outage_end": "11月28日18:00",
    }
    for name, value in notice.items():
        call.capture(name, value)
    assert call.text() == "因管网改造,城区东部将计划停水(降压),请您知悉"
    call.complete_step()
    assert call.text() == "停水时间从11月28日8:00开始,预计11月28日18:00恢复供水,请您留意"
