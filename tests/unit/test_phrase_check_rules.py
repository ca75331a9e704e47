"""The rules the pages' warning while typing (G2) is given: the server's own lists,
in a form a browser's script reads the same way."""

from __future__ import annotations

import json
import re

import pytest

from callflows.domain.compliance import (
    DEFAULT_ALLOWANCES,
    DEFAULT_BANNED_PHRASES,
    Allowance,
    rules_for_pages,
)

#: Regular-expression syntax Python and JavaScript read differently, or only Python reads.
_NOT_FOR_SCRIPTS = re.compile(r"\(\?P|\(\?[aiLmsux]|\\[AZz]|\(\?<[=!]|\(\?#|[*+?}]\+")


def test_the_pages_get_the_servers_phrases_and_allowances() -> None:
    """G2: the warning while typing looks for exactly what the server flags."""
    rules = rules_for_pages()
    assert rules["rule"] == "G2"
    assert tuple(rules["phrases"]) == DEFAULT_BANNED_PHRASES
    assert [
        Allowance(a["phrase"], "", a["before"], a["after"], a["sentence"])
        for a in rules["allowances"]
    ] == [Allowance(a.phrase, "", a.before, a.after, a.sentence) for a in DEFAULT_ALLOWANCES]
    assert rules["phrase_only"] == {"您": "你"}
    assert rules["variants"]["著"] == "着" and rules["variants"]["歸"] == "归"
    assert "。" in rules["sentence_end"] and "\n" in rules["sentence_end"]
    json.dumps(rules)  # plain data, ready for the page


def test_every_allowance_pattern_reads_the_same_in_a_browser() -> None:
    """G2: no pattern uses syntax a browser's script would read otherwise."""
    for allowance in rules_for_pages()["allowances"]:
        for key in ("before", "after", "sentence"):
            assert not _NOT_FOR_SCRIPTS.search(allowance[key]), (allowance, key)


def test_a_list_the_server_would_refuse_is_refused_for_the_pages_too() -> None:
    with pytest.raises(ValueError):
        rules_for_pages(phrases=("。。",))
    with pytest.raises(ValueError):
        rules_for_pages(
            allowances=(
                Allowance(
                    "不知道",
                    "bad",
                    before="(",
                ),
            )
        )
