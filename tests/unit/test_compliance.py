"""G2: banned phrases are found through spacing and punctuation tricks, with
offsets into the original text, and innocent text is left alone."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflows.domain.compliance import (
    DEFAULT_ALLOWANCES,
    DEFAULT_BANNED_PHRASES,
    Allowance,
    Flag,
    PhraseChecker,
    find_banned_phrases,
)


def test_g2_default_list_is_the_standards() -> None:
    assert DEFAULT_BANNED_PHRASES == (
        "不归我管",
        "办不了",
        "不知道",
        "这是你自己的问题",
        "等着,没看见正忙着",
    )


@pytest.mark.parametrize(
    ("text", "phrase", "matched"),
    [
        ("这个不归我管,你找别人。", "不归我管", "不归我管"),
        ("这个业务我们办不了。", "办不了", "办不了"),
        ("不知道。", "不知道", "不知道"),
        ("我也不知道。", "不知道", "不知道"),
        ("这是你自己的问题。", "这是你自己的问题", "这是你自己的问题"),
        ("等着,没看见正忙着吗?", "等着,没看见正忙着", "等着,没看见正忙着"),
    ],
)
def test_g2_each_banned_phrase_is_flagged(text: str, phrase: str, matched: str) -> None:
    (flag,) = find_banned_phrases(text)
    assert flag.phrase == phrase
    assert flag.matched == matched
    assert text[flag.start : flag.end] == matched
    assert flag.rule == "G2"


@pytest.mark.parametrize(
    ("text", "phrase", "matched"),
    [
        ("不 归 我 管", "不归我管", "不 归 我 管"),
        ("这个不　归　我　管", "不归我管", "不　归　我　管"),
        ("不\u200b归\u200d我\ufeff管", "不归我管", "不\u200b归\u200d我\ufeff管"),
        ("不归\n我管", "不归我管", "不归\n我管"),
        ("办,不了", "办不了", "办,不了"),
        ("办，不了", "办不了", "办，不了"),
        ("办 - 不 - 了", "办不了", "办 - 不 - 了"),
        ("不.知.道", "不知道", "不.知.道"),
        ("不\r\n知\t道", "不知道", "不\r\n知\t道"),
        ("等着，没看见正忙着", "等着,没看见正忙着", "等着，没看见正忙着"),
        ("等着没看见正忙着", "等着,没看见正忙着", "等着没看见正忙着"),
        ("等着!没看见,正忙着?", "等着,没看见正忙着", "等着!没看见,正忙着"),
        ("等著,沒看見正忙著", "等着,没看见正忙着", "等著,沒看見正忙著"),
        ("这是您自己的问题", "这是你自己的问题", "这是您自己的问题"),
        ("這是你自己的問題", "这是你自己的问题", "這是你自己的問題"),
        ("不歸我管", "不归我管", "不歸我管"),
        ("你不知道吗?", "不知道", "不知道"),
        ("不知道,你自己去查", "不知道", "不知道"),
        ("不知道您在说什么", "不知道", "不知道"),
        ("办不了,解决不了", "办不了", "办不了"),
    ],
)
def test_g2_variants_in_spacing_and_punctuation_are_flagged(
    text: str, phrase: str, matched: str
) -> None:
    flags = find_banned_phrases(text)
    assert [(f.phrase, f.matched) for f in flags] == [(phrase, matched)]
    assert text[flags[0].start : flags[0].end] == matched


@pytest.mark.parametrize(
    "text",
    [
        "知道了",
        "好的,我知道了,马上为您处理",
        "这个业务可以办理",
        "我不了解这个情况,请您稍等",
        "管道维修",
        "用完后完好归还",
        "我们马上办",
        "您好,请问有什么可以帮您",
        "请您在家等着,师傅马上到",
        "我不知道您家的地址是否在维修范围,我帮您查询",
        "如果您不知道户号,可以报一下地址",
        "用户不知道水表位置",
        "来电人也不知道阀门在哪里",
        "不知道您现在方便接电话吗?",
        "这个业务能办,不了解的地方您可以问我",
        "不能让用户反映的事办不了了之",
        "请问这是您自己的问题还是整栋楼都没水?",
        "这段管道归我们管,我马上派人",
        "对不起,请稍等,我正在查询",
        "感谢您的来电,再见",
        "这个我不知道,我向领导请示后再答复您",
    ],
)
def test_g2_innocent_text_is_not_flagged(text: str) -> None:
    assert find_banned_phrases(text) == []


def test_g2_offsets_point_into_the_original_text() -> None:
    text = "【备注】\u3000来电人问能否改时间,答:不 归 我 管。又说「办，不了」。"
    flags = find_banned_phrases(text)
    assert [f.phrase for f in flags] == ["不归我管", "办不了"]
    for flag in flags:
        assert text[flag.start : flag.end] == flag.matched
    assert flags[0].matched == "不 归 我 管"
    assert flags[1].matched == "办，不了"


def test_g2_every_occurrence_is_flagged_in_order() -> None:
    text = "不知道。办不了。不知道!"
    assert [(f.phrase, f.start) for f in find_banned_phrases(text)] == [
        ("不知道", 0),
        ("办不了", 4),
        ("不知道", 8),
    ]


def test_g2_the_phrase_list_is_data() -> None:
    assert find_banned_phrases("没办法,你找别人吧", phrases=["没办法"])[0].phrase == "没办法"
    assert find_banned_phrases("不知道", phrases=["没办法"]) == []
    checker = PhraseChecker(phrases=[*DEFAULT_BANNED_PHRASES, "没看见我正忙着"])
    assert [f.phrase for f in checker.find("等着,没看见我正忙着吗")] == ["没看见我正忙着"]


def test_g2_allowances_are_data() -> None:
    text = "我不知道您家的地址是否在维修范围,我帮您查询"
    assert [f.phrase for f in find_banned_phrases(text, allowances=())] == ["不知道"]
    strict = [a for a in DEFAULT_ALLOWANCES if "W10" not in a.reason]
    assert [f.phrase for f in find_banned_phrases(text, allowances=strict)] == ["不知道"]
    extra = Allowance("办不了", "quoting the caller", before=r"说")
    assert find_banned_phrases("用户说办不了", allowances=[extra]) == []


def test_g2_bad_phrases_and_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="no letters"):
        PhraseChecker(phrases=[",,"])
    with pytest.raises(ValueError, match="bad pattern"):
        PhraseChecker(allowances=[Allowance("不知道", "broken", after="(")])
    with pytest.raises(TypeError):
        find_banned_phrases(None)  # type: ignore[arg-type]


def test_flag_is_frozen() -> None:
    flag = Flag("不知道", "不知道", 0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        flag.start = 1  # type: ignore[misc]


SEPARATORS = st.text(
    alphabet=st.sampled_from(
        " \u3000\u00a0\u200b\u200c\u200d\ufeff\n\r\t,，.。、!！?？;；:：-—_·「」“”()（）"
    ),
    max_size=3,
)


@given(st.sampled_from(DEFAULT_BANNED_PHRASES), st.data())
def test_g2_separators_between_the_characters_never_hide_a_phrase(
    phrase: str, data: st.DataObject
) -> None:
    chars = [c for c in phrase if c != ","]
    text = chars[0] + "".join(data.draw(SEPARATORS) + c for c in chars[1:])
    flags = find_banned_phrases(text)
    assert [f.phrase for f in flags] == [phrase]
    assert flags[0].matched == text
    assert (flags[0].start, flags[0].end) == (0, len(text))


@given(
    st.text(alphabet=st.sampled_from("知道了办理管道归还您好请稍等谢谢再见对起,。 \n"), max_size=40)
)
def test_g2_polite_vocabulary_is_never_flagged(text: str) -> None:
    assert find_banned_phrases(text) == []
