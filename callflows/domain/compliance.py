"""G2: finding the banned phrases in what staff say and write.

The standard forbids 「不归我管、办不了、不知道、这是你自己的问题、等着,没看见正忙着」.
:func:`find_banned_phrases` looks for them in any staff text (case notes,
replies, call transcripts: pass only the staff's own turns) and returns a
:class:`Flag` per hit, with offsets into the text exactly as given, so a page
can highlight the span.

Matching is done on a skeleton of the text: each character is NFKC-normalised
(full-width to half-width), case-folded, folded from a few variant forms
(traditional characters, 著 for 着, 您 for 你), and only letters
and digits are kept. Spaces of any width, zero-width characters, line breaks
and punctuation slipped between the characters therefore do not hide a phrase:
「不 归 我 管」, 「办,不了」, 「等着，没看见正忙着」 and 「等着没看见正忙着」 all match.

Some hits are innocent; :data:`DEFAULT_ALLOWANCES` lists the contexts in
which a hit is not flagged, each with its reason. The choices, in short:

* 不知道 about someone else's knowledge (「用户不知道户号」, 「如果您不知道户号」),
  as a polite question (「不知道您现在方便吗」), or followed in the same sentence
  by an offer to find out (「我不知道您家是否在维修范围,我帮您查询」, which is
  what W10 asks staff to do) is not flagged; 「不知道」 as an answer is.
* 办不了 directly followed by 解 or 了之 belongs to another word (不了解,
  不了了之) and is not flagged.
* 这是你自己的问题 directly followed by 还是 is a diagnostic question (「这是您
  自己的问题还是整栋楼都没水」) and is not flagged.

Contexts are read only up to the nearest space or punctuation mark, so a
comma cannot turn 「办不了,解决不了」 into 不了解. Both lists are data: pass your
own to :func:`find_banned_phrases` or :class:`PhraseChecker`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ALLOWANCES",
    "DEFAULT_BANNED_PHRASES",
    "Allowance",
    "Flag",
    "PhraseChecker",
    "find_banned_phrases",
    "rules_for_pages",
]

#: G2, as the standard lists them.
DEFAULT_BANNED_PHRASES: tuple[str, ...] = (
    "不归我管",
    "办不了",
    "不知道",
    "这是你自己的问题",
    "等着,没看见正忙着",
)


@dataclass(frozen=True)
class Allowance:
    """A context in which a hit of ``phrase`` is innocent and not flagged.

    Each set condition must hold. ``before`` is a regular expression that must
    match the end of the letters and digits directly before the hit, and
    ``after`` the start of those directly after it (both stop at the first
    space or punctuation mark). ``sentence`` must be found in the rest of the
    hit's sentence. Patterns see NFKC-normalised letters and digits only, with
    traditional characters folded to simplified but 您 and 你 kept apart.
    """

    phrase: str
    reason: str
    before: str = ""
    after: str = ""
    sentence: str = ""


DEFAULT_ALLOWANCES: tuple[Allowance, ...] = (
    Allowance(
        "不知道",
        "someone else's knowledge, as in a note: 用户不知道户号, 如果您不知道户号",
        before=r"(您|用户|客户|来电人|居民|户主|业主|租户|他|她|他们|她们|对方)"
        r"(也|都|还|并|说|称|表示|反映)*",
    ),
    Allowance(
        "不知道",
        "a polite question: 不知道您现在方便吗",
        after=r"您",
        sentence=r"吗",
    ),
    Allowance(
        "不知道",
        "unsure and offering to find out, as W10 asks: 我不知道…,我帮您查询",
        sentence=r"[帮为替][您你]|请示|向领导|问一下领导|请教",
    ),
    Allowance(
        "办不了",
        "another word: 不了解, 不了了之",
        after=r"解|了之",
    ),
    Allowance(
        "这是你自己的问题",
        "a diagnostic question: 这是您自己的问题还是整栋楼都没水",
        after=r"还是",
    ),
)


@dataclass(frozen=True)
class Flag:
    """A banned phrase found in a text.

    ``phrase`` is the phrase as listed; ``matched`` is ``text[start:end]`` of
    the original text, which may hold spaces or punctuation between the
    phrase's characters.
    """

    phrase: str
    matched: str
    start: int
    end: int
    rule: str = "G2"


# Traditional forms of the characters in the phrases and their allowances, and
# the common variant 著 of 着: folded in phrases and contexts alike.
_VARIANTS = {
    "歸": "归",
    "辦": "办",
    "這": "这",
    "問": "问",
    "題": "题",
    "見": "见",
    "沒": "没",
    "著": "着",
    "還": "还",
    "幫": "帮",
    "為": "为",
    "請": "请",
    "領": "领",
    "導": "导",
    "戶": "户",
    "對": "对",
    "們": "们",
    "來": "来",
    "電": "电",
    "業": "业",
}
_CONTEXT_FOLD = str.maketrans(_VARIANTS)
# Phrases also fold 您 into 你, so the polite form of 这是你自己的问题 is caught.
_FOLD = str.maketrans({**_VARIANTS, "您": "你"})

_SENTENCE_END = frozenset("。！？!?；;…\n\r")


def _letters(text: str) -> tuple[str, list[int]]:
    """NFKC letters and digits of ``text`` and, for each, its index in ``text``."""
    chars: list[str] = []
    index: list[int] = []
    for position, original in enumerate(text):
        for char in unicodedata.normalize("NFKC", original).casefold():
            if unicodedata.category(char)[0] in "LN":
                chars.append(char)
                index.append(position)
    return "".join(chars), index


def _skeleton(text: str) -> str:
    return _letters(text)[0].translate(_FOLD)


# Contexts are short words; a bound keeps a long unpunctuated text cheap.
_RUN_LIMIT = 24


def _in_run(char: str) -> bool:
    # Invisible format characters (zero-width space...) neither separate nor count.
    return bool(_letters(char)[0]) or unicodedata.category(char) == "Cf"


def _run_before(text: str, start: int) -> str:
    """The letters and digits directly before ``start``, up to a separator."""
    position = start
    while position > max(0, start - _RUN_LIMIT) and _in_run(text[position - 1]):
        position -= 1
    return _letters(text[position:start])[0].translate(_CONTEXT_FOLD)


def _run_after(text: str, end: int) -> str:
    """The letters and digits directly after ``end``, up to a separator."""
    position = end
    while position < min(len(text), end + _RUN_LIMIT) and _in_run(text[position]):
        position += 1
    return _letters(text[end:position])[0].translate(_CONTEXT_FOLD)


def _sentence_rest(text: str, start: int, end: int) -> str:
    """The rest of the sentence around ``text[start:end]``, letters and digits only."""
    head = start
    while head > 0 and text[head - 1] not in _SENTENCE_END:
        head -= 1
    tail = end
    while tail < len(text) and text[tail] not in _SENTENCE_END:
        tail += 1
    rest = _letters(text[head:start])[0] + "\n" + _letters(text[end:tail])[0]
    return rest.translate(_CONTEXT_FOLD)


@dataclass(frozen=True)
class _Compiled:
    phrase: str
    skeleton: str
    allowances: tuple[tuple[re.Pattern[str] | None, ...], ...]


class PhraseChecker:
    """Banned phrases and their allowances, prepared once for many texts.

    Raises ``ValueError`` for a phrase with no letters or digits, or an
    allowance whose pattern is not a valid regular expression.
    """

    def __init__(
        self,
        phrases: Iterable[str] = DEFAULT_BANNED_PHRASES,
        allowances: Iterable[Allowance] = DEFAULT_ALLOWANCES,
    ) -> None:
        by_skeleton: dict[str, list[tuple[re.Pattern[str] | None, ...]]] = {}
        for allowance in allowances:
            try:
                patterns = (
                    re.compile(f"(?:{allowance.before})$") if allowance.before else None,
                    re.compile(allowance.after) if allowance.after else None,
                    re.compile(allowance.sentence) if allowance.sentence else None,
                )
            except re.error as exc:
                raise ValueError(f"allowance for {allowance.phrase!r}: bad pattern: {exc}") from exc
            by_skeleton.setdefault(_skeleton(allowance.phrase), []).append(patterns)
        compiled: dict[str, _Compiled] = {}
        for phrase in phrases:
            skeleton = _skeleton(phrase)
            if not skeleton:
                raise ValueError(f"banned phrase {phrase!r} has no letters or digits")
            compiled.setdefault(
                skeleton, _Compiled(phrase, skeleton, tuple(by_skeleton.get(skeleton, ())))
            )
        self._phrases = tuple(compiled.values())

    @property
    def phrases(self) -> tuple[str, ...]:
        """The phrases looked for, as listed (duplicates after folding dropped)."""
        return tuple(entry.phrase for entry in self._phrases)

    @staticmethod
    def _allowed(
        entry: _Compiled,
        text: str,
        start: int,
        end: int,
    ) -> bool:
        for before, after, sentence in entry.allowances:
            if before is not None and not before.search(_run_before(text, start)):
                continue
            if after is not None and not after.match(_run_after(text, end)):
                continue
            if sentence is not None and not sentence.search(_sentence_rest(text, start, end)):
                continue
            return True
        return False

    def find(self, text: str) -> list[Flag]:
        """Every banned phrase in ``text``, in order of position.

        Offsets index the original ``text``. Raises ``TypeError`` if ``text``
        is not a string.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        letters, index = _letters(text)
        skeleton = letters.translate(_FOLD)
        flags: list[Flag] = []
        for entry in self._phrases:
            position = skeleton.find(entry.skeleton)
            while position != -1:
                last = position + len(entry.skeleton) - 1
                start, end = index[position], index[last] + 1
                if not self._allowed(entry, text, start, end):
                    flags.append(Flag(entry.phrase, text[start:end], start, end))
                position = skeleton.find(entry.skeleton, last + 1)
        flags.sort(key=lambda flag: (flag.start, flag.end, flag.phrase))
        return flags


_DEFAULT_CHECKER = PhraseChecker()


def find_banned_phrases(
    text: str,
    phrases: Iterable[str] | None = None,
    *,
    allowances: Iterable[Allowance] | None = None,
) -> list[Flag]:
    """Find the G2 banned phrases in ``text``; return one :class:`Flag` per hit.

    ``phrases`` and ``allowances`` default to :data:`DEFAULT_BANNED_PHRASES`
    and :data:`DEFAULT_ALLOWANCES`. Flags come in order of position, with
    offsets into ``text`` as given. Raises ``TypeError`` for a non-string text
    and ``ValueError`` for an unusable phrase or allowance pattern.
    """
    if phrases is None and allowances is None:
        return _DEFAULT_CHECKER.find(text)
    checker = PhraseChecker(
        DEFAULT_BANNED_PHRASES if phrases is None else phrases,
        DEFAULT_ALLOWANCES if allowances is None else allowances,
    )
    return checker.find(text)


def rules_for_pages(
    phrases: Iterable[str] = DEFAULT_BANNED_PHRASES,
    allowances: Iterable[Allowance] = DEFAULT_ALLOWANCES,
) -> dict[str, object]:
    """The phrases, allowances and folds as plain data, for the warning while typing.

    A page's script repeats :meth:`PhraseChecker.find` with these: the same
    phrases, the same variant folds (``variants`` in contexts and phrases,
    ``phrase_only`` in phrases alone) and the same allowance patterns, which
    use only syntax that JavaScript reads the same way. Raises ``ValueError``
    as :class:`PhraseChecker` does.
    """
    phrases = tuple(phrases)
    allowances = tuple(allowances)
    PhraseChecker(phrases, allowances)  # refuse what the server check would refuse
    return {
        "rule": "G2",
        "phrases": list(phrases),
        "allowances": [
            {
                "phrase": a.phrase,
                "before": a.before,
                "after": a.after,
                "sentence": a.sentence,
            }
            for a in allowances
        ],
        "variants": dict(_VARIANTS),
        "phrase_only": {"您": "你"},
        "sentence_end": "".join(sorted(_SENTENCE_END)),
        "run_limit": _RUN_LIMIT,
    }
