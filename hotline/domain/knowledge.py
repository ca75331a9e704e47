"""The knowledge base (G3) and the questions nobody can answer on the call (W10).

Pure rules, no database: what an article must hold, how a query is cut into
search terms (Chinese text into character bigrams, other words whole), how
an article is scored against them (title first), what changed between two
versions, who may answer a question, and the shape of the seed file
(``config/knowledge.toml``). The service that stores all this is
``hotline.services.knowledge``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from hotline.domain.errors import Forbidden, Invalid
from hotline.domain.taxonomy import Category, Role

RULE = "G3"
QUESTION_RULE = "W10"

TITLE_MAX = 120
SUMMARY_MAX = 500
BODY_MAX = 8000
TAGS_MAX = 10
TAG_MAX = 20
QUERY_MAX = 200
QUESTION_MAX = 2000
ANSWER_MAX = 4000
SLUG_MAX = 64
#: The most terms one query is searched with (the first ones count).
TERMS_MAX = 24
#: The most articles a search answers with.
RESULTS_MAX = 50

#: Who writes and retires articles.
EDITOR_ROLES = frozenset({Role.SUPERVISOR})
#: Who may be asked a question nobody could answer on the call (a named superior).
ANSWERER_ROLES = frozenset({Role.SUPERVISOR, Role.DISPATCHER})
#: Who reads the knowledge base.
READER_ROLES = frozenset(Role)


class ArticleCategory(StrEnum):
    """What an article is about."""

    PROCEDURE = "procedure"  # 办事流程
    FEE = "fee"  # 收费标准
    PROBLEM = "problem"  # 常见问题


class QuestionStatus(StrEnum):
    """Where a question nobody could answer on the call stands (W10)."""

    AWAITING_ANSWER = "awaiting_answer"  # 待答复(上级)
    AWAITING_REPLY = "awaiting_reply"  # 已答复,待告知来电人
    REPLIED = "replied"  # 已告知来电人


class ReplyMethod(StrEnum):
    """How the answer reached the caller."""

    CALL = "call"  # 回电
    SMS = "sms"  # 短信


#: The fields of an article a version records, in the order changes are listed.
VERSIONED_FIELDS = ("title", "category", "tags", "summary", "body", "retired")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """``text`` folded for matching: NFKC (full-width to half-width), lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def terms(query: str) -> list[str]:
    """The search terms of ``query``, in order, each once.

    A run of Chinese characters gives its character bigrams (「停水时间」:
    停水, 水时, 时间), a single character alone only when it stands by itself;
    Latin words and numbers of two or more characters are kept whole. At most
    :data:`TERMS_MAX` terms.
    """
    text = normalise(query)[: QUERY_MAX * 10]
    found: list[str] = []
    pieces = sorted(
        [(m.start(), m.group()) for m in _CJK.finditer(text)]
        + [(m.start(), m.group()) for m in _WORD.finditer(text)]
    )
    for _position, piece in pieces:
        if _CJK.fullmatch(piece):
            grams = [piece[i : i + 2] for i in range(len(piece) - 1)] or [piece]
        else:
            grams = [piece] if len(piece) >= 2 else []
        for gram in grams:
            if gram not in found:
                found.append(gram)
    return found[:TERMS_MAX]


@dataclass(frozen=True)
class Score:
    """How well an article matches a query's terms: title hits count first."""

    title_hits: int
    tag_hits: int
    summary_hits: int
    body_hits: int
    whole_in_title: bool

    @property
    def matched(self) -> bool:
        return bool(self.title_hits or self.tag_hits or self.summary_hits or self.body_hits)

    @property
    def key(self) -> tuple[int, int, int]:
        """Sort key, highest first: the whole query in the title, title hits, then the rest."""
        rest = 3 * self.tag_hits + 2 * self.summary_hits + self.body_hits
        return (int(self.whole_in_title), self.title_hits, rest)


def score(
    query_terms: Sequence[str], *, title: str, tags: str, summary: str, body: str, query: str = ""
) -> Score:
    """How many of ``query_terms`` each part of an article holds."""
    title_n, tags_n, summary_n, body_n = (
        normalise(title),
        normalise(tags),
        normalise(summary),
        normalise(body),
    )
    whole = _SPACE.sub("", normalise(query))
    return Score(
        title_hits=sum(1 for t in query_terms if t in title_n),
        tag_hits=sum(1 for t in query_terms if t in tags_n),
        summary_hits=sum(1 for t in query_terms if t in summary_n),
        body_hits=sum(1 for t in query_terms if t in body_n),
        whole_in_title=len(whole) >= 2 and whole in _SPACE.sub("", title_n),
    )


def rank(scored: Iterable[tuple[Any, Score]], limit: int) -> list[Any]:
    """The matched items, best first (ties: the order given), at most ``limit``."""
    ordered = sorted(
        ((i, item, s) for i, (item, s) in enumerate(scored) if s.matched),
        key=lambda row: (tuple(-k for k in row[2].key), row[0]),
    )
    return [item for _i, item, _s in ordered[:limit]]


def clean_tags(raw: str | Sequence[str]) -> list[str]:
    """Tags from text (split on commas, 、 or spaces) or a list: stripped, each once."""
    items = re.split(r"[,，、;；\s]+", raw) if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for item in items:
        tag = str(item).strip()
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise Invalid(
                "each tag is at most %(most)s characters: '%(tag)s'",
                "tags",
                RULE,
                most=TAG_MAX,
                tag=tag,
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise Invalid("at most %(most)s tags", "tags", RULE, most=TAGS_MAX)
    return tags


@dataclass(frozen=True)
class ArticleDraft:
    """An article as an editor writes it, checked."""

    title: str
    category: ArticleCategory
    tags: tuple[str, ...]
    summary: str
    body: str


def check_article(
    *, title: str, category: str, tags: str | Sequence[str], summary: str, body: str
) -> ArticleDraft:
    """The article's fields checked and cleaned; :class:`Invalid` naming the field."""
    title = (title or "").strip()
    summary = (summary or "").strip()
    body = (body or "").strip()
    if not title:
        raise Invalid("'title' is required", "title", RULE)
    if len(title) > TITLE_MAX:
        raise Invalid("'title' is at most %(most)s characters", "title", RULE, most=TITLE_MAX)
    try:
        kind = ArticleCategory(category)
    except ValueError:
        choices = ", ".join(c.value for c in ArticleCategory)
        raise Invalid(
            "'category' must be one of %(choices)s", "category", RULE, choices=choices
        ) from None
    if not summary:
        raise Invalid("'summary' (the answer to give the caller) is required", "summary", RULE)
    if len(summary) > SUMMARY_MAX:
        raise Invalid("'summary' is at most %(most)s characters", "summary", RULE, most=SUMMARY_MAX)
    if not body:
        raise Invalid("'body' is required", "body", RULE)
    if len(body) > BODY_MAX:
        raise Invalid("'body' is at most %(most)s characters", "body", RULE, most=BODY_MAX)
    return ArticleDraft(title, kind, tuple(clean_tags(tags)), summary, body)


def changed_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """The versioned fields whose values differ (all of them for a first version)."""
    if before is None:
        return [name for name in VERSIONED_FIELDS if name != "retired"]
    return [name for name in VERSIONED_FIELDS if before.get(name) != after.get(name)]


def require_editor(role: Role | str) -> None:
    """:class:`Forbidden` unless ``role`` may write articles (supervisors)."""
    if Role(role) not in EDITOR_ROLES:
        raise Forbidden("only supervisors write, change and retire articles", None, RULE)


# -- W10: a question nobody could answer on the call -----------------------------------


def check_question(
    *, category: Category | str, question: str, answerer_role: Role | str, answerer_active: bool
) -> str:
    """W10: the question's text, checked; :class:`Invalid` naming the field.

    Only a consultation waits for an answer; the person asked must be active
    and a superior who may answer (:data:`ANSWERER_ROLES`).
    """
    if Category(category) != Category.CONSULTATION:
        raise Invalid(
            "only a consultation (category 'consultation') waits for an answer",
            "category",
            QUESTION_RULE,
        )
    text = (question or "").strip()
    if not text:
        raise Invalid("'question': say what the caller asked", "question", QUESTION_RULE)
    if len(text) > QUESTION_MAX:
        raise Invalid(
            "'question' is at most %(most)s characters",
            "question",
            QUESTION_RULE,
            most=QUESTION_MAX,
        )
    if not answerer_active or Role(answerer_role) not in ANSWERER_ROLES:
        raise Invalid(
            "name a superior who may answer (a supervisor or a dispatcher)",
            "answerer_id",
            QUESTION_RULE,
        )
    return text


def check_answer(*, answer: str, answerer_id: int, actor_id: int, actor_role: Role | str) -> str:
    """The answer, checked: only the person asked (or a supervisor) answers, in words."""
    if actor_id != answerer_id and Role(actor_role) != Role.SUPERVISOR:
        raise Forbidden("only the superior asked (or a supervisor) answers", None, QUESTION_RULE)
    text = (answer or "").strip()
    if not text:
        raise Invalid("'answer' is required", "answer", QUESTION_RULE)
    if len(text) > ANSWER_MAX:
        raise Invalid(
            "'answer' is at most %(most)s characters", "answer", QUESTION_RULE, most=ANSWER_MAX
        )
    return text


def status_of(answered: bool, replied: bool) -> QuestionStatus:
    """Where a question stands."""
    if replied:
        return QuestionStatus.REPLIED
    return QuestionStatus.AWAITING_REPLY if answered else QuestionStatus.AWAITING_ANSWER


# -- the seed file -----------------------------------------------------------------------


class _ArticleRow(Schema):
    class Meta:
        unknown = RAISE

    slug = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=SLUG_MAX), validate.Regexp(r"^[a-z0-9][a-z0-9-]*$")],
    )
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    category = fields.String(
        required=True, validate=validate.OneOf([c.value for c in ArticleCategory])
    )
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=TAG_MAX)), load_default=[])
    summary = fields.String(required=True, validate=validate.Length(min=1, max=SUMMARY_MAX))
    body = fields.String(required=True, validate=validate.Length(min=1, max=BODY_MAX))
    source = fields.String(load_default="", validate=validate.Length(max=200))


class _SeedFile(Schema):
    class Meta:
        unknown = RAISE

    articles = fields.List(fields.Nested(_ArticleRow), required=True)


@dataclass(frozen=True)
class SeedArticle:
    """One article of the seed file, keyed by its slug."""

    slug: str
    draft: ArticleDraft
    source: str


def parse_seed(text: str, name: str = "knowledge file") -> list[SeedArticle]:
    """The articles of a seed file's TOML text; ``ValueError`` naming the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{name}: not valid TOML: {exc}") from None
    try:
        data = _SeedFile().load(raw)
    except ValidationError as exc:
        raise ValueError(f"{name}: {exc.messages}") from None
    seen: set[str] = set()
    articles = []
    for row in data["articles"]:
        if row["slug"] in seen:
            raise ValueError(f"{name}: slug {row['slug']!r} appears twice")
        seen.add(row["slug"])
        try:
            draft = check_article(
                title=row["title"],
                category=row["category"],
                tags=row["tags"],
                summary=row["summary"],
                body=row["body"],
            )
        except Invalid as exc:
            raise ValueError(f"{name}: article {row['slug']!r}: {exc.message}") from None
        articles.append(SeedArticle(row["slug"], draft, row["source"]))
    return articles


def load_seed(path: Path) -> list[SeedArticle]:
    """The articles of the seed file at ``path``."""
    return parse_seed(path.read_text(encoding="utf-8"), str(path))
