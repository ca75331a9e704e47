"""In a real browser: G2 while typing. A banned phrase typed into a case note or
into the crew page's result note is named next to the field, in Chinese and,
after switching the language, in English; the warning never blocks the save
(the server records the flag, and the case page then marks the note). The
script finds exactly what the server's check finds."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from callflows.domain.compliance import find_banned_phrases
from hotline.domain.lifecycle import State
from tests.e2e.browser import log_in
from tests.support import bring_case_to

ZH = "禁语提示(G2):请勿使用 「不知道」"
EN = "Banned phrase (G2), do not use: 「不知道」"


def _warning(field):
    """The warning shown next to ``field`` (the element its aria-describedby names)."""
    return field.locator("xpath=following-sibling::*[contains(@class, 'phrase-warning')][1]")


def _switch_language(page) -> None:
    with page.expect_navigation():
        page.locator("form.lang button").click()


@pytest.mark.browser
def test_a_case_note_warns_while_typing_in_both_languages_and_saves(live_server, page) -> None:
    """G2: typing a banned phrase into a case note warns next to the field; the note saves."""
    svc, org = live_server.app.extensions["hotline"], live_server.org
    number = bring_case_to(svc, org, State.ASSIGNED)
    log_in(page, live_server.url, "dispatcher")
    page.goto(f"{live_server.url}/cases/{number}")
    note = page.locator("form[data-action=add_note] textarea[name=note]")
    note.press_sequentially("已联系用户,")
    warning = _warning(note)
    expect(warning).to_have_attribute("aria-live", "polite")
    expect(warning).to_have_text("")
    note.press_sequentially("这个我不知道")
    expect(warning).to_contain_text(ZH)
    expect(warning).to_contain_text("保存时仍会记录禁语标记")
    assert warning.get_attribute("id") in (note.get_attribute("aria-describedby") or "")
    note.fill("用户不知道户号")  # someone else's knowledge: allowed, as on the server
    expect(warning).to_have_text("")
    note.fill("")
    note.press_sequentially("这个我不知道")
    expect(warning).to_contain_text(ZH)

    with page.expect_navigation():  # the warning does not block the save
        page.locator("form[data-action=add_note] button[type=submit]").click()
    expect(page.locator(".history .g2-mark").first).to_contain_text("「不知道」")

    _switch_language(page)
    note = page.locator("form[data-action=add_note] textarea[name=note]")
    note.press_sequentially("我不知道")
    expect(_warning(note)).to_contain_text(EN)
    expect(_warning(note)).to_contain_text("supervisor review")


@pytest.mark.browser
def test_the_crew_result_note_warns_while_typing_in_both_languages(live_server, page) -> None:
    """G2: the crew page's result note warns about a banned phrase as it is typed."""
    svc, org = live_server.app.extensions["hotline"], live_server.org
    number = bring_case_to(svc, org, State.ON_SITE)
    log_in(page, live_server.url, "crew")
    page.goto(f"{live_server.url}/crew")
    result = page.locator(f"#case-{number} form[data-action=complete] textarea[name=result_note]")
    result.press_sequentially("已处理,其他的不知道")
    expect(_warning(result)).to_contain_text(ZH)

    _switch_language(page)
    result = page.locator(f"#case-{number} form[data-action=complete] textarea[name=result_note]")
    result.press_sequentially("其他的不知道")
    expect(_warning(result)).to_contain_text(EN)


# Texts on which the page's script and the server's check must agree.
_SAME_AS_SERVER = [
    "",
    "这个我不知道",
    "不 归 我 管",
    "办,不了",
    "办不了解",
    "办不了,解决不了",
    "等着，没看见正忙着",
    "等着没看见正忙着",
    "用户不知道户号",
    "如果您不知道户号",
    "不知道您现在方便吗?",
    "不知道您现在方便。",
    "我不知道您家是否在维修范围,我帮您查询",
    "我不知道。我帮您查询",
    "这是您自己的问题还是整栋楼都没水",
    "這是你自己的問題",
    "ＢＵ不\u200b知道",
    "不归我管!不知道!办不了",
    "他也不知道,我也不知道",
]


@pytest.mark.browser
def test_the_script_finds_what_the_server_finds(live_server, page) -> None:
    """G2: the warning while typing repeats the server's check, phrase for phrase."""
    log_in(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/operator")
    found = page.evaluate(
        "texts => texts.map(t => window.HotlinePhraseCheck.find(t)"
        ".map(f => [f.phrase, f.start, f.end]))",
        _SAME_AS_SERVER,
    )
    expected = [
        [[f.phrase, f.start, f.end] for f in find_banned_phrases(text)] for text in _SAME_AS_SERVER
    ]
    assert found == expected
