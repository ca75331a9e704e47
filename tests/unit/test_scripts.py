"""Call scripts as data: every file loads, the standard's wording is verbatim,
and malformed files are refused with the file, step and key named."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import callflows
from callflows.domain.compliance import find_banned_phrases
from callflows.domain.scripts import (
    FIELDS,
    Script,
    ScriptError,
    StepKind,
    load_all,
    load_script,
)
from hotline.domain.taxonomy import Category, FollowUpOutcome, TriageOutcome

SCRIPTS_DIR = Path(callflows.__file__).parent / "scripts"
NAMES = {
    "company": "禹城市润禹水务有限公司",
    "company_short": "润禹水务有限公司",
    "official_account": "润禹水务公众号",
}
SCRIPT_IDS = (
    "dunning_call",
    "follow_up_call",
    "inbound_hotline",
    "outage_notice_call",
    "repair_triage",
)

# The standard's own sentences (四、3 and 二、15), for checking every line a
# script marks verbatim.
STANDARD_P3 = (
    "接通后先问“您好,这里是禹城市润禹水务有限公司,请问有什么可以帮您”。对客户的供水求助或投诉,"
    "首先致歉“很抱歉,对您的用水造成不便”。问清客户姓名和联系方式“请问您贵姓?您的联系方式,"
    "电话号码是多少”。若没有听清楚客户所说的内容应再次询问:“对不起,我没有听清楚您的问题,"
    "请您再重复一遍好吗?” 查询资料时说“请您稍等,我正在查询(查询过程中每隔半分钟与客户打招呼,"
    "以取得谅解)”。 当客户来电报漏或提合理化建议时,应对客户表示感谢“感谢您对我们工作的支持”。"
    "受理完毕,应对客户表示感谢:“感谢您的来电,再见”。"
)
STANDARD_W15 = (
    "电话催费时,要首先表明身份“你好,我是润禹水务有限公司营业人员”,核实姓名与地址"
    "“你是××小区××用户吗?”,告知欠费时长“你已欠费××时间,请及时缴纳水费”。并向用户推介"
    "公众号缴费方式“你不方便上门交费,可以通过关注“润禹水务公众号”在网上交费。"
)
G1_PHRASES = ("您好", "谢谢", "请", "对不起", "请稍等", "再见")


@pytest.fixture(scope="module")
def scripts() -> dict[str, Script]:
    return load_all(SCRIPTS_DIR, **NAMES)


# --- every script loads ----------------------------------------------------------


@pytest.mark.parametrize("script_id", SCRIPT_IDS)
def test_every_script_file_loads(script_id: str) -> None:
    script = load_script(SCRIPTS_DIR / f"{script_id}.toml", **NAMES)
    assert script.id == script_id
    assert script.steps
    assert script.step(script.start)


def test_load_all_finds_every_script(scripts: dict[str, Script]) -> None:
    assert sorted(scripts) == list(SCRIPT_IDS)


def test_every_step_has_zh_and_en_wording_and_labelled_answers(
    scripts: dict[str, Script],
) -> None:
    for script in scripts.values():
        for step in script.steps:
            assert step.zh.strip() and step.en.strip(), (script.id, step.id)
            for branch in step.branches:
                assert branch.zh.strip() and branch.en.strip(), (script.id, step.id)


def test_loaded_scripts_are_immutable(scripts: dict[str, Script]) -> None:
    step = scripts["inbound_hotline"].step("greeting")
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.zh = "喂"  # type: ignore[misc]


# --- P3: the inbound call's wording is verbatim --------------------------------------


@pytest.mark.parametrize(
    ("step_id", "wording"),
    [
        ("greeting", "您好,这里是禹城市润禹水务有限公司,请问有什么可以帮您"),
        ("apology", "很抱歉,对您的用水造成不便"),
        ("ask_name", "请问您贵姓?您的联系方式,电话号码是多少"),
        ("thanks_support", "感谢您对我们工作的支持"),
        ("closing", "感谢您的来电,再见"),
    ],
)
def test_p3_inbound_step_wording_is_verbatim(
    scripts: dict[str, Script], step_id: str, wording: str
) -> None:
    step = scripts["inbound_hotline"].step(step_id)
    assert step.zh == wording
    assert step.verbatim
    assert step.rule == "P3"


@pytest.mark.parametrize(
    ("prompt_id", "wording"),
    [
        ("not_heard", "对不起,我没有听清楚您的问题,请您再重复一遍好吗?"),
        ("lookup", "请您稍等,我正在查询"),
    ],
)
def test_p3_prompts_available_at_any_step_are_verbatim(
    scripts: dict[str, Script], prompt_id: str, wording: str
) -> None:
    prompt = scripts["inbound_hotline"].prompt(prompt_id)
    assert prompt is not None
    assert prompt.zh == wording


def test_p3_lookup_prompt_says_to_speak_every_half_minute(scripts: dict[str, Script]) -> None:
    prompt = scripts["inbound_hotline"].prompt("lookup")
    assert prompt is not None
    assert "每隔半分钟" in prompt.note_zh


def test_p3_greeting_takes_the_company_name_from_config() -> None:
    script = load_script(
        SCRIPTS_DIR / "inbound_hotline.toml",
        company="某县自来水公司",
        company_short="某县自来水",
        official_account="某县水务",
    )
    assert script.step("greeting").zh == "您好,这里是某县自来水公司,请问有什么可以帮您"


def test_p3_closing_reminds_to_let_the_caller_hang_up_first(scripts: dict[str, Script]) -> None:
    closing = scripts["inbound_hotline"].step("closing")
    assert closing.kind is StepKind.CLOSING
    assert "等用户先挂断电话" in closing.note_zh
    assert "hang up first" in closing.en + closing.note_en


def test_p3_apology_comes_first_for_help_and_complaints_thanks_for_leaks_and_suggestions(
    scripts: dict[str, Script],
) -> None:
    purpose = scripts["inbound_hotline"].step("purpose")
    assert purpose.target("help") == "apology"
    assert purpose.target("complaint") == "apology"
    assert purpose.target("leak_report") == "thanks_support"
    assert purpose.target("suggestion") == "thanks_support"


def test_p3_greeting_opens_the_inbound_call(scripts: dict[str, Script]) -> None:
    script = scripts["inbound_hotline"]
    assert script.start == "greeting"
    assert script.step("greeting").kind is StepKind.GREETING
    assert script.step("greeting").required


# --- W15: the dunning call ---------------------------------------------------------


@pytest.mark.parametrize(
    ("step_id", "wording"),
    [
        ("identify", "你好,我是润禹水务有限公司营业人员"),
        ("verify", "你是××小区××用户吗?"),
        ("arrears", "你已欠费××时间,请及时缴纳水费"),
        ("official_account", "你不方便上门交费,可以通过关注“润禹水务公众号”在网上交费"),
    ],
)
def test_w15_dunning_wording_is_verbatim(
    scripts: dict[str, Script], step_id: str, wording: str
) -> None:
    step = scripts["dunning_call"].step(step_id)
    assert step.render({}) == wording
    assert step.verbatim and step.rule == "W15"


def test_w15_unknowns_are_filled_from_the_account(scripts: dict[str, Script]) -> None:
    script = scripts["dunning_call"]
    known = {"community": "阳光花园", "customer_name": "张三", "arrears_period": "3个月"}
    assert script.step("verify").render(known) == "你是阳光花园小区张三用户吗?"
    assert script.step("arrears").render(known) == "你已欠费3个月时间,请及时缴纳水费"


def test_w15_short_name_and_official_account_come_from_config() -> None:
    script = load_script(
        SCRIPTS_DIR / "dunning_call.toml",
        company="某县自来水有限公司",
        company_short="某县水务",
        official_account="某县水务服务号",
    )
    assert script.step("identify").zh == "你好,我是某县水务营业人员"
    assert script.step("official_account").zh == (
        "你不方便上门交费,可以通过关注“某县水务服务号”在网上交费"
    )


def test_w15_starts_by_stating_identity_then_verifies(scripts: dict[str, Script]) -> None:
    script = scripts["dunning_call"]
    assert script.start == "identify"
    assert script.step("identify").next == "verify"
    assert script.step("verify").target("confirmed") == "arrears"
    assert script.step("arrears").next == "official_account"


# --- every line marked verbatim is the standard's ------------------------------------


def test_g1_every_verbatim_line_is_found_in_the_standard(scripts: dict[str, Script]) -> None:
    standard = STANDARD_P3 + STANDARD_W15
    checked = 0
    for script in scripts.values():
        for step in script.steps:
            if step.verbatim:
                assert step.render({}) in standard, (script.id, step.id)
                checked += 1
        for prompt in script.prompts:
            if prompt.verbatim:
                assert prompt.zh in standard, (script.id, prompt.id)
                checked += 1
    assert checked >= 10


def test_g1_outage_notice_wording_is_polite(scripts: dict[str, Script]) -> None:
    for step in scripts["outage_notice_call"].steps:
        if step.kind is not StepKind.LISTEN:
            assert any(phrase in step.zh for phrase in G1_PHRASES), step.id


def test_g2_no_script_uses_a_banned_phrase(scripts: dict[str, Script]) -> None:
    for script in scripts.values():
        texts = [step.render({}) for step in script.steps]
        texts += [branch.zh for step in script.steps for branch in step.branches]
        texts += [prompt.zh for prompt in script.prompts]
        for text in texts:
            assert find_banned_phrases(text) == [], (script.id, text)


# --- P4, P5, P7, P8 ------------------------------------------------------------------


def test_p4_inbound_captures_problem_need_address_contact_and_reads_them_back(
    scripts: dict[str, Script],
) -> None:
    script = scripts["inbound_hotline"]
    captured = {name for step in script.steps for name in step.captures}
    four = {"problem", "need", "address", "contact_phone"}
    assert four <= captured
    (read_back,) = [s for s in script.steps if s.kind is StepKind.READ_BACK]
    assert read_back.required
    assert read_back.placeholders == four


def test_p5_inbound_triage_offers_every_triage_outcome(scripts: dict[str, Script]) -> None:
    triage = scripts["inbound_hotline"].step("triage")
    assert triage.answer_field == "triage"
    assert set(triage.answers) == {outcome.value for outcome in TriageOutcome}


@pytest.mark.parametrize(
    ("outcome", "next_step"),
    [
        (TriageOutcome.CUSTOMER_SIDE, "guide_by_phone"),
        (TriageOutcome.OUT_OF_SCOPE, "explain_scope"),
        (TriageOutcome.UTILITY, "hand_to_dispatch"),
        (TriageOutcome.UNDETERMINED, "hand_to_dispatch"),
    ],
)
def test_p5_repair_triage_outcome_decides_what_happens(
    scripts: dict[str, Script], outcome: TriageOutcome, next_step: str
) -> None:
    for script_id, step_id in (("repair_triage", "judge"), ("inbound_hotline", "triage")):
        step = scripts[script_id].step(step_id)
        assert step.answer_field == "triage"
        assert step.target(outcome.value) == next_step


def test_p5_repair_triage_answers_are_triage_outcomes(scripts: dict[str, Script]) -> None:
    judge = scripts["repair_triage"].step("judge")
    assert set(judge.answers) <= {outcome.value for outcome in TriageOutcome}
    assert TriageOutcome.NOT_A_REPAIR.value not in judge.answers


def test_p7_follow_up_asks_attitude_quality_timeliness_and_result(
    scripts: dict[str, Script],
) -> None:
    script = scripts["follow_up_call"]
    for aspect in ("attitude", "quality", "timeliness", "result"):
        step = script.step(aspect)
        assert step.required and step.answer_field == aspect
        assert set(step.answers) == set(FIELDS[aspect].choices)


def test_p7_follow_up_records_the_overall_outcome(scripts: dict[str, Script]) -> None:
    script = scripts["follow_up_call"]
    overall = script.step("overall")
    assert overall.answer_field == "follow_up_outcome"
    assert set(overall.answers) <= {outcome.value for outcome in FollowUpOutcome}
    no_answer = script.step("dial").branch("no_answer")
    assert ("follow_up_outcome", FollowUpOutcome.UNREACHABLE.value) in no_answer.sets


def test_p8_outage_notice_gives_area_start_end_reason_and_storage_advice(
    scripts: dict[str, Script],
) -> None:
    script = scripts["outage_notice_call"]
    shown = set().union(*(step.placeholders for step in script.steps))
    assert {"outage_area", "outage_start", "outage_end", "outage_reason"} <= shown
    assert any("储水" in step.zh and step.required for step in script.steps)


def test_complaint_and_leak_answers_set_the_category(scripts: dict[str, Script]) -> None:
    purpose = scripts["inbound_hotline"].step("purpose")
    assert ("category", Category.COMPLAINT.value) in purpose.branch("complaint").sets
    assert ("category", Category.LEAK.value) in purpose.branch("leak_report").sets


# --- malformed scripts ---------------------------------------------------------------


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _toml(steps: list[dict], head: str | None = None) -> str:
    lines = [head if head is not None else '[script]\nname_zh = "测试"\nname_en = "Test"']
    for raw in steps:
        step = dict(raw)
        branches = step.pop("branches", [])
        lines.append("[[steps]]")
        lines += [f"{key} = {_value(value)}" for key, value in step.items()]
        for branch in branches:
            lines.append("[[steps.branches]]")
            lines += [f"{key} = {_value(value)}" for key, value in branch.items()]
    return "\n".join(lines) + "\n"


def _greeting(**changes: object) -> dict:
    step = {
        "id": "greeting",
        "kind": "greeting",
        "required": True,
        "zh": "您好,这里是{company}",
        "en": "Hello, this is {company}.",
        "next": "closing",
    }
    step.update(changes)
    return {k: v for k, v in step.items() if v is not None}


def _closing(**changes: object) -> dict:
    step = {
        "id": "closing",
        "kind": "closing",
        "required": True,
        "zh": "感谢您的来电,再见",
        "en": "Thank you for calling. Goodbye.",
        "end": True,
    }
    step.update(changes)
    return {k: v for k, v in step.items() if v is not None}


def _branches(*pairs: tuple[str, str]) -> list[dict]:
    return [{"answer": answer, "zh": answer, "en": answer, "next": nxt} for answer, nxt in pairs]


def _write(tmp_path: Path, steps: list[dict], name: str = "broken_script.toml") -> Path:
    path = tmp_path / name
    path.write_text(_toml(steps), encoding="utf-8")
    return path


def test_a_minimal_script_loads(tmp_path: Path) -> None:
    script = load_script(_write(tmp_path, [_greeting(), _closing()]), **NAMES)
    assert script.step("greeting").zh == "您好,这里是禹城市润禹水务有限公司"
    assert script.id == "broken_script"


MALFORMED = [
    pytest.param(
        [_greeting(next="nowhere"), _closing()], "greeting", "next", "nowhere", id="unknown-next"
    ),
    pytest.param([_greeting(), _closing(zh=None)], "closing", "zh", "missing", id="missing-zh"),
    pytest.param([_greeting(), _closing(en=None)], "closing", "en", "missing", id="missing-en"),
    pytest.param(
        [_greeting(), _closing(), _closing()], "closing", "id", "duplicate", id="duplicate-id"
    ),
    pytest.param(
        [_greeting(captures=["caller_nmae"]), _closing()],
        "greeting",
        "captures",
        "caller_nmae",
        id="unknown-capture-field",
    ),
    pytest.param(
        [
            _greeting(),
            _closing(),
            {"id": "apology", "required": True, "zh": "很抱歉", "en": "Sorry", "next": "closing"},
        ],
        "apology",
        "id",
        "unreachable",
        id="unreachable-required-step",
    ),
    pytest.param(
        [_greeting(next=None, branches=_branches(("a", "closing"), ("b", "gone"))), _closing()],
        "greeting",
        "branches.next",
        "gone",
        id="unknown-branch-target",
    ),
    pytest.param(
        [
            _greeting(
                next=None,
                answer_field="triage",
                branches=_branches(("customer_side", "closing"), ("inside_home", "closing")),
            ),
            _closing(),
        ],
        "greeting",
        "branches.answer",
        "inside_home",
        id="answer-not-a-triage-outcome",
    ),
    pytest.param(
        [_greeting(requird=True), _closing()], "greeting", "requird", "unknown", id="typo-key"
    ),
    pytest.param(
        [_greeting(), _closing(required=None)], "closing", "required", "missing", id="no-required"
    ),
    pytest.param(
        [_greeting(zh="您好,这里是{compnay}"), _closing()],
        "greeting",
        "zh",
        "compnay",
        id="unknown-placeholder",
    ),
    pytest.param([_greeting(zh="您好{"), _closing()], "greeting", "zh", "brace", id="stray-brace"),
    pytest.param([_greeting(), _closing(end=None)], "closing", "next", "end", id="no-next-or-end"),
    pytest.param(
        [_greeting(kind="chat"), _closing()], "greeting", "kind", "chat", id="unknown-kind"
    ),
    pytest.param(
        [
            _greeting(
                next=None,
                branches=[
                    {"answer": "a", "zh": "甲", "en": "A", "next": "closing"},
                    {
                        "answer": "b",
                        "zh": "乙",
                        "en": "B",
                        "next": "closing",
                        "sets": {"category": "flood"},
                    },
                ],
            ),
            _closing(),
        ],
        "greeting",
        "branches.sets",
        "flood",
        id="set-value-not-a-category",
    ),
    pytest.param(
        [
            _greeting(next=None, branches=_branches(("a", "closing"), ("b", "loop"))),
            _closing(),
            {"id": "loop", "required": False, "zh": "请稍等", "en": "Wait", "next": "loop_two"},
            {"id": "loop_two", "required": False, "zh": "请稍等", "en": "Wait", "next": "loop"},
        ],
        "loop",
        "next",
        "no path reaches the end",
        id="never-reaches-end",
    ),
    pytest.param(
        [_greeting(en="Hello {problem}"), _closing()],
        "greeting",
        "en",
        "problem",
        id="english-uses-field-chinese-does-not",
    ),
    pytest.param(
        [
            _greeting(
                next=None,
                branches=[
                    {"answer": "a", "zh": "甲", "en": "A", "next": "closing", "colour": "red"},
                    {"answer": "b", "zh": "乙", "en": "B", "next": "closing"},
                ],
            ),
            _closing(),
        ],
        "greeting",
        "branches.colour",
        "answer 'a': unknown key",
        id="typo-key-in-a-branch",
    ),
    pytest.param(
        [
            _greeting(
                next=None,
                branches=[
                    {"answer": "a", "zh": "甲", "next": "closing"},
                    {"answer": "b", "zh": "乙", "en": "B", "next": "closing"},
                ],
            ),
            _closing(),
        ],
        "greeting",
        "branches.en",
        "answer 'a': needs an en label",
        id="answer-without-english-label",
    ),
]


@pytest.mark.parametrize(("steps", "step_id", "key", "detail"), MALFORMED)
def test_malformed_script_error_names_file_step_and_key(
    tmp_path: Path, steps: list[dict], step_id: str, key: str, detail: str
) -> None:
    path = _write(tmp_path, steps)
    with pytest.raises(ScriptError) as caught:
        load_script(path, **NAMES)
    message = str(caught.value)
    assert "broken_script.toml" in message
    assert f"step '{step_id}'" in message
    assert f"key '{key}'" in message
    assert detail in message
    assert caught.value.step_id == step_id
    assert caught.value.key == key
    assert caught.value.path == path


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "not_toml.toml"
    path.write_text('[script\nname_zh = "测试"\n', encoding="utf-8")
    with pytest.raises(ScriptError, match=r"not_toml\.toml: not valid TOML"):
        load_script(path, **NAMES)


def test_unknown_prompt_id_is_refused(tmp_path: Path) -> None:
    head = (
        '[script]\nname_zh = "测试"\nname_en = "Test"\n\n'
        '[[prompts]]\nid = "notheard"\nzh = "对不起"\nen = "Sorry"\n'
    )
    path = tmp_path / "prompts.toml"
    path.write_text(_toml([_greeting(), _closing()], head=head), encoding="utf-8")
    with pytest.raises(ScriptError, match=r"prompts\.toml: prompt 'notheard': key 'id'"):
        load_script(path, **NAMES)


def test_a_step_without_an_id_is_named_by_its_position(tmp_path: Path) -> None:
    path = _write(tmp_path, [_greeting(), _closing(id=None)])
    with pytest.raises(ScriptError, match=r"key 'id': \[\[steps\]\] entry 2: needs an 'id'"):
        load_script(path, **NAMES)


def test_missing_script_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "headless.toml"
    path.write_text(_toml([_greeting(), _closing()], head=""), encoding="utf-8")
    with pytest.raises(ScriptError, match=r"headless\.toml: key 'script'"):
        load_script(path, **NAMES)


def test_load_all_names_the_broken_file(tmp_path: Path) -> None:
    (tmp_path / "a_good.toml").write_text(_toml([_greeting(), _closing()]), encoding="utf-8")
    _write(tmp_path, [_greeting(next="nowhere"), _closing()], name="b_bad.toml")
    with pytest.raises(ScriptError, match=r"b_bad\.toml: step 'greeting': key 'next'"):
        load_all(tmp_path, **NAMES)


def test_load_all_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="not a directory"):
        load_all(tmp_path / "nope", **NAMES)


def test_load_all_needs_every_name() -> None:
    with pytest.raises(TypeError, match="official_account"):
        load_all(SCRIPTS_DIR, company="甲", company_short="乙")


def test_company_name_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="company"):
        load_script(SCRIPTS_DIR / "inbound_hotline.toml", **{**NAMES, "company": " "})


def test_f11_the_promised_time_reads_in_each_language(scripts: dict[str, Script]) -> None:
    """The case fills in the promised time as the Chinese wording says it; the
    English line shows it as English does, not as ``11月27日``."""
    step = scripts["inbound_hotline"].step("promised_time")
    values = {"case_number": "R20261127001", "promised_time": "11月27日09:00"}
    assert "在11月27日09:00前处理" in step.render(values, lang="zh")
    english = step.render(values, lang="en")
    assert "reply by 11-27 09:00;" in english
    assert "月" not in english and "日" not in english
