"""The knowledge base (G3) and the questions nobody could answer on the call (W10).

Articles: :func:`search` (the same on PostgreSQL and SQLite: the query's
terms, Chinese as character bigrams, filter the rows with ``ILIKE``, which
pg_trgm's trigram indexes serve on PostgreSQL; the rows are then scored, title
first, by ``hotline.domain.knowledge``), :func:`create`, :func:`edit` and
:func:`retire` (supervisors; each saves a new version with who, when and
which fields changed, and the G2 phrases found in its text), :func:`load_seed`
(the seed file, idempotent by slug).

Cases: :func:`cite` links a consultation answered on the call to the article
it answered with; :func:`ask` turns a consultation nobody could answer into a
question for a named superior, due at the case's reply deadline;
:func:`answer` records the superior's answer (on the case too) and may make it
an article; :func:`record_reply` records that the caller was told. Each
command is one transaction; :func:`cite` and :func:`ask` also run inside a
call's submission (``hotline.services.context.in_unit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from hotline.domain import knowledge as rules
from hotline.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hotline.domain.knowledge import ArticleCategory, QuestionStatus, ReplyMethod, SeedArticle
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Role, Stage
from hotline.models import (
    Case,
    CaseArticle,
    CaseDeadline,
    KnowledgeArticle,
    KnowledgeArticleVersion,
    KnowledgeQuestion,
    Staff,
)
from hotline.services.access import Actor, can_view, lock_case
from hotline.services.context import Services, publish_change
from hotline.services.milestones import record_milestone
from hotline.settings import CONFIG_DIR

#: The seed articles shipped with the product (``config/knowledge.toml``).
SHIPPED_SEED = CONFIG_DIR / "knowledge.toml"

__all__ = [
    "ArticleHit",
    "PhraseFinder",
    "QuestionView",
    "answer",
    "answerers",
    "article",
    "articles_for_case",
    "ask",
    "cite",
    "create",
    "edit",
    "load_seed",
    "load_seed_file",
    "question_for_case",
    "questions",
    "record_reply",
    "retire",
    "search",
    "versions",
]

#: Finds the banned phrases (G2) in a text; installed by the call flows.
PhraseFinder = Callable[[str], Sequence[str]]

#: History events on a case.
CITED = "knowledge_cited"
ASKED = "question_asked"
ANSWERED = "question_answered"
REPLIED = "question_replied"

_CLOSED = frozenset({State.CLOSED, State.MERGED})


@dataclass(frozen=True)
class ArticleHit:
    """An article as a list or the console panel shows it."""

    id: int
    title: str
    category: str
    tags: tuple[str, ...]
    summary: str
    version: int
    retired: bool
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "tags": list(self.tags),
            "summary": self.summary,
            "version": self.version,
        }


def _hit(row: KnowledgeArticle) -> ArticleHit:
    return ArticleHit(
        id=row.id,
        title=row.title,
        category=row.category,
        tags=tuple(t for t in row.tags.split(",") if t),
        summary=row.summary,
        version=row.version,
        retired=row.retired_at is not None,
        updated_at=row.updated_at,
    )


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    session: Session,
    query: str,
    *,
    category: str | None = None,
    limit: int = 10,
    include_retired: bool = False,
) -> list[ArticleHit]:
    """Articles matching ``query``, best first: title matches first (G3).

    An empty query lists the articles by title. Chinese of two or more
    characters is searched by its character bigrams, so 「水费」 finds the
    article on paying for water and 「停水」 the outage times.
    """
    limit = max(1, min(int(limit), rules.RESULTS_MAX))
    stmt = select(KnowledgeArticle)
    if not include_retired:
        stmt = stmt.where(KnowledgeArticle.retired_at.is_(None))
    if category:
        stmt = stmt.where(KnowledgeArticle.category == category)
    query_terms = rules.terms(query or "")
    if not query_terms:
        if (query or "").strip():
            return []
        rows = session.scalars(stmt.order_by(KnowledgeArticle.category, KnowledgeArticle.title))
        return [_hit(row) for row in rows][:limit] if limit else []
    columns = (
        KnowledgeArticle.title,
        KnowledgeArticle.tags,
        KnowledgeArticle.summary,
        KnowledgeArticle.body,
    )
    matches = [column.ilike(_like(term), escape="\\") for term in query_terms for column in columns]
    rows = session.scalars(stmt.where(or_(false(), *matches)).order_by(KnowledgeArticle.id)).all()
    scored = [
        (
            row,
            rules.score(
                query_terms,
                title=row.title,
                tags=row.tags,
                summary=row.summary,
                body=row.body,
                query=query,
            ),
        )
        for row in rows
    ]
    return [_hit(row) for row in rules.rank(scored, limit)]


def article(session: Session, article_id: int) -> KnowledgeArticle:
    """The article ``article_id``; :class:`NotFound` if there is none."""
    row = session.get(KnowledgeArticle, article_id) if isinstance(article_id, int) else None
    if row is None:
        raise NotFound("no article %(article_id)r", "article_id", article_id=article_id)
    return row


def versions(session: Session, article_id: int) -> list[KnowledgeArticleVersion]:
    """Every version of the article, the latest first."""
    return list(
        session.scalars(
            select(KnowledgeArticleVersion)
            .where(KnowledgeArticleVersion.article_id == article_id)
            .order_by(KnowledgeArticleVersion.version.desc())
        )
    )


def _snapshot(row: KnowledgeArticle) -> dict[str, Any]:
    return {
        "title": row.title,
        "category": row.category,
        "tags": row.tags,
        "summary": row.summary,
        "body": row.body,
        "retired": row.retired_at is not None,
    }


def _phrases(finder: PhraseFinder | None, *texts: str) -> list[str]:
    if finder is None:
        return []
    found: list[str] = []
    for text in texts:
        for phrase in finder(text):
            if phrase not in found:
                found.append(phrase)
    return found


def _save_version(
    session: Session,
    row: KnowledgeArticle,
    before: dict[str, Any] | None,
    actor_id: int | None,
    now: datetime,
    finder: PhraseFinder | None,
    note: str = "",
) -> KnowledgeArticleVersion:
    after = _snapshot(row)
    version = KnowledgeArticleVersion(
        article_id=row.id,
        version=row.version,
        title=row.title,
        category=row.category,
        tags=row.tags,
        summary=row.summary,
        body=row.body,
        retired=row.retired_at is not None,
        changes=rules.changed_fields(before, after),
        flags=_phrases(finder, row.title, row.summary, row.body),
        note=note[:200],
        changed_by_id=actor_id,
        changed_at=now,
    )
    session.add(version)
    return version


def _apply(row: KnowledgeArticle, draft: rules.ArticleDraft) -> None:
    row.title = draft.title
    row.category = str(draft.category)
    row.tags = ",".join(draft.tags)
    row.summary = draft.summary
    row.body = draft.body


def create(
    svc: Services,
    actor: Actor,
    *,
    title: str,
    category: str,
    tags: str | Sequence[str] = "",
    summary: str,
    body: str,
    finder: PhraseFinder | None = None,
    slug: str | None = None,
) -> int:
    """A supervisor writes a new article (version 1); returns its id."""
    rules.require_editor(actor.role)
    draft = rules.check_article(
        title=title, category=category, tags=tags, summary=summary, body=body
    )
    now = svc.now()
    with svc.sessions() as session, session.begin():
        row = KnowledgeArticle(
            slug=slug, version=1, created_at=now, updated_at=now, updated_by_id=actor.id
        )
        _apply(row, draft)
        session.add(row)
        session.flush()
        _save_version(session, row, None, actor.id, now, finder)
        return row.id


def edit(
    svc: Services,
    actor: Actor,
    article_id: int,
    *,
    title: str,
    category: str,
    tags: str | Sequence[str] = "",
    summary: str,
    body: str,
    expected_version: int | None = None,
    finder: PhraseFinder | None = None,
) -> int:
    """A supervisor changes an article: a new version, the old one kept; returns the version.

    :class:`Conflict` when someone saved a newer version since ``expected_version``
    was read, or the article is retired; :class:`Invalid` naming the field
    when nothing changed.
    """
    rules.require_editor(actor.role)
    draft = rules.check_article(
        title=title, category=category, tags=tags, summary=summary, body=body
    )
    now = svc.now()
    with svc.sessions() as session, session.begin():
        row = _locked(session, article_id)
        if row.retired_at is not None:
            raise Conflict("the article is retired", "article_id", rules.RULE)
        if expected_version is not None and expected_version != row.version:
            raise Conflict(
                "the article was changed meanwhile (now version %(version)s); reload it",
                "version",
                rules.RULE,
                version=row.version,
            )
        before = _snapshot(row)
        _apply(row, draft)
        if not rules.changed_fields(before, _snapshot(row)):
            raise Invalid("nothing changed", "body", rules.RULE)
        row.version += 1
        row.updated_at = now
        row.updated_by_id = actor.id
        _save_version(session, row, before, actor.id, now, finder)
        return row.version


def retire(svc: Services, actor: Actor, article_id: int, *, note: str = "") -> int:
    """A supervisor retires an article: unlisted, kept for the cases that cite it."""
    rules.require_editor(actor.role)
    now = svc.now()
    with svc.sessions() as session, session.begin():
        row = _locked(session, article_id)
        if row.retired_at is not None:
            raise Conflict("the article is already retired", "article_id", rules.RULE)
        before = _snapshot(row)
        row.retired_at = now
        row.version += 1
        row.updated_at = now
        row.updated_by_id = actor.id
        _save_version(session, row, before, actor.id, now, None, note.strip())
        return row.version


def _locked(session: Session, article_id: int) -> KnowledgeArticle:
    row = session.scalar(
        select(KnowledgeArticle).where(KnowledgeArticle.id == article_id).with_for_update()
    )
    if row is None:
        raise NotFound("no article %(article_id)r", "article_id", article_id=article_id)
    return row


def load_seed_file(svc: Services, path: Path | None = None) -> tuple[int, int]:
    """Load the seed file at ``path`` (the shipped one by default); returns (added, changed).

    ``ValueError`` naming the problem when the file is not a valid seed file.
    """
    return load_seed(svc, rules.load_seed(path or SHIPPED_SEED))


def load_seed(
    svc: Services, articles: Iterable[SeedArticle], *, actor_id: int | None = None
) -> tuple[int, int]:
    """Write the seed file's articles; returns (added, changed). Idempotent by slug.

    An article already loaded gets a new version only when the file's text
    differs; a retired one is left retired.
    """
    now = svc.now()
    added = changed = 0
    with svc.sessions() as session, session.begin():
        for item in articles:
            row = session.scalar(select(KnowledgeArticle).where(KnowledgeArticle.slug == item.slug))
            if row is None:
                row = KnowledgeArticle(
                    slug=item.slug,
                    version=1,
                    created_at=now,
                    updated_at=now,
                    updated_by_id=actor_id,
                )
                _apply(row, item.draft)
                session.add(row)
                session.flush()
                _save_version(session, row, None, actor_id, now, None, item.source)
                added += 1
                continue
            if row.retired_at is not None:
                continue
            before = _snapshot(row)
            _apply(row, item.draft)
            if rules.changed_fields(before, _snapshot(row)):
                row.version += 1
                row.updated_at = now
                row.updated_by_id = actor_id
                _save_version(session, row, before, actor_id, now, None, item.source)
                changed += 1
    return added, changed


# -- cases -----------------------------------------------------------------------------


def cite(svc: Services, actor: Actor, case_number: str, article_id: int) -> None:
    """G3: the consultation ``case_number``, answered on the call, cites the article.

    Runs inside the submission's unit of work (``in_unit``): the link, at the
    article's current version, and one event on the case's history.
    :class:`Invalid` naming ``article_id`` when the article is unknown or
    retired, or the case was not answered on the call.
    """
    now = svc.now()
    with svc.sessions() as session, session.begin():
        case = lock_case(session, case_number)
        if State(case.state) != State.ANSWERED_ON_CALL:
            raise Invalid(
                "only a consultation answered on the call cites an article",
                "article_id",
                rules.RULE,
            )
        row = session.get(KnowledgeArticle, article_id) if isinstance(article_id, int) else None
        if row is None or row.retired_at is not None:
            raise Invalid(
                "no article %(article_id)r to cite", "article_id", rules.RULE, article_id=article_id
            )
        session.add(
            CaseArticle(
                case_id=case.id,
                article_id=row.id,
                version=row.version,
                cited_by_id=actor.id,
                cited_at=now,
            )
        )
        record_milestone(
            svc,
            session,
            case,
            actor,
            CITED,
            now,
            {"article_id": row.id, "article_version": row.version, "title": row.title},
        )
        session.flush()


def articles_for_case(session: Session, case_id: int) -> list[CaseArticle]:
    """The articles a case cites, as cited."""
    return list(
        session.scalars(
            select(CaseArticle).where(CaseArticle.case_id == case_id).order_by(CaseArticle.cited_at)
        )
    )


def answerers(session: Session) -> list[Staff]:
    """W10: the superiors who may be asked (active supervisors and dispatchers), by name."""
    return list(
        session.scalars(
            select(Staff)
            .where(Staff.active.is_(True), Staff.role.in_([str(r) for r in rules.ANSWERER_ROLES]))
            .order_by(Staff.display_name)
        )
    )


@dataclass(frozen=True)
class QuestionView:
    """A question as lists and the case page show it, judged at ``now``."""

    id: int
    case_number: str
    question: str
    asked_by_id: int
    asked_by_name: str
    asked_at: datetime
    answerer_id: int
    answerer_name: str
    due_at: datetime
    answer: str
    answered_at: datetime | None
    replied_at: datetime | None
    reply_method: str
    article_id: int | None
    status: QuestionStatus
    overdue: bool


def _view(row: KnowledgeQuestion, now: datetime) -> QuestionView:
    status = rules.status_of(row.answered_at is not None, row.replied_at is not None)
    return QuestionView(
        id=row.id,
        case_number=row.case.number,
        question=row.question,
        asked_by_id=row.asked_by_id,
        asked_by_name=row.asked_by.display_name,
        asked_at=row.asked_at,
        answerer_id=row.answerer_id,
        answerer_name=row.answerer.display_name,
        due_at=row.due_at,
        answer=row.answer,
        answered_at=row.answered_at,
        replied_at=row.replied_at,
        reply_method=row.reply_method,
        article_id=row.article_id,
        status=status,
        overdue=(row.replied_at or now) > row.due_at,
    )


def _reply_due(svc: Services, session: Session, case: Case, now: datetime) -> datetime:
    """The case's reply deadline: its open ``reply`` stage clock (the time-limit policy's)."""
    session.flush()
    due = session.scalar(
        select(CaseDeadline.due_at).where(
            CaseDeadline.case_id == case.id,
            CaseDeadline.stage == str(Stage.REPLY),
            CaseDeadline.ended_at.is_(None),
        )
    )
    if due is None:
        raise Invalid(
            "the case has no reply deadline: send the consultation to dispatch to ask a superior",
            "outcome",
            rules.QUESTION_RULE,
        )
    return due


def ask(
    svc: Services, actor: Actor, case_number: str, *, answerer_id: int, question: str
) -> QuestionView:
    """W10: the consultation waits for the named superior's answer, due at its reply deadline.

    The case must be a consultation sent to dispatch (so its reply clock runs);
    one question per case. One event on the case records who was asked.
    """
    now = svc.now()
    with svc.sessions() as session, session.begin():
        case = lock_case(session, case_number)
        if not can_view(actor, case):
            raise NotFound("no case '%(case_number)s'", "case", case_number=case_number)
        if State(case.state) in _CLOSED:
            raise Conflict("the case is closed", "case", rules.QUESTION_RULE)
        answerer = session.get(Staff, answerer_id) if isinstance(answerer_id, int) else None
        if answerer is None:
            raise NotFound(
                "no staff member %(answerer_id)r", "answerer_id", answerer_id=answerer_id
            )
        text = rules.check_question(
            category=case.category,
            question=question,
            answerer_role=answerer.role,
            answerer_active=answerer.active,
        )
        if session.scalar(select(KnowledgeQuestion.id).where(KnowledgeQuestion.case_id == case.id)):
            raise Conflict("this case already waits for an answer", "case", rules.QUESTION_RULE)
        due = _reply_due(svc, session, case, now)
        row = KnowledgeQuestion(
            case_id=case.id,
            question=text,
            asked_by_id=actor.id,
            asked_at=now,
            answerer_id=answerer.id,
            due_at=due,
            answer="",
        )
        session.add(row)
        record_milestone(
            svc,
            session,
            case,
            actor,
            ASKED,
            now,
            {"answerer_id": answerer.id, "question_due_at": due, "note": text},
        )
        session.flush()
        result = _view(row, now)
    publish_change(svc, case, ASKED)
    return result


def _question(session: Session, question_id: int) -> KnowledgeQuestion:
    row = session.get(KnowledgeQuestion, question_id) if isinstance(question_id, int) else None
    if row is None:
        raise NotFound("no question %(question_id)r", "question_id", question_id=question_id)
    return row


def answer(
    svc: Services,
    actor: Actor,
    question_id: int,
    *,
    answer: str,
    make_article: bool = False,
    title: str = "",
    category: str = ArticleCategory.PROBLEM,
    tags: str | Sequence[str] = "",
    finder: PhraseFinder | None = None,
) -> QuestionView:
    """W10: the superior asked answers; the answer goes on the case for the first
    responder to tell the caller, and (a supervisor's) may become an article."""
    now = svc.now()
    with svc.sessions() as session, session.begin():
        row = _question(session, question_id)
        case = lock_case(session, row.case.number)
        session.refresh(row)
        text = rules.check_answer(
            answer=answer, answerer_id=row.answerer_id, actor_id=actor.id, actor_role=actor.role
        )
        if row.answered_at is not None:
            raise Conflict("the question is already answered", "question_id", rules.QUESTION_RULE)
        article_id = None
        if make_article:
            rules.require_editor(actor.role)
            draft = rules.check_article(
                title=title or row.question[: rules.TITLE_MAX],
                category=category,
                tags=tags,
                summary=text[: rules.SUMMARY_MAX],
                body=f"{row.question}\n\n{text}",
            )
            article_row = KnowledgeArticle(
                version=1, created_at=now, updated_at=now, updated_by_id=actor.id
            )
            _apply(article_row, draft)
            session.add(article_row)
            session.flush()
            _save_version(session, article_row, None, actor.id, now, finder, f"case {case.number}")
            article_id = article_row.id
        row.answer = text
        row.answered_at = now
        row.answered_by_id = actor.id
        row.article_id = article_id
        record_milestone(
            svc,
            session,
            case,
            actor,
            ANSWERED,
            now,
            {"question_id": row.id, "answer": text, "article_id": article_id},
        )
        session.flush()
        result = _view(row, now)
    publish_change(svc, case, ANSWERED)
    return result


def record_reply(
    svc: Services, actor: Actor, question_id: int, *, method: ReplyMethod | str, note: str = ""
) -> QuestionView:
    """W10: the caller was told the answer (by call or SMS); the case records it."""
    try:
        method = ReplyMethod(method)
    except ValueError:
        raise Invalid("'method' must be 'call' or 'sms'", "method", rules.QUESTION_RULE) from None
    now = svc.now()
    with svc.sessions() as session, session.begin():
        row = _question(session, question_id)
        case = lock_case(session, row.case.number)
        session.refresh(row)
        if (
            actor.id not in (row.asked_by_id, case.first_responder_id)
            and actor.role != Role.SUPERVISOR
        ):
            raise Forbidden("the first responder tells the caller (G4)", None, rules.QUESTION_RULE)
        if row.answered_at is None:
            raise Conflict("the question has no answer yet", "question_id", rules.QUESTION_RULE)
        if row.replied_at is not None:
            raise Conflict("the caller was already told", "question_id", rules.QUESTION_RULE)
        row.replied_at = now
        row.replied_by_id = actor.id
        row.reply_method = str(method)
        record_milestone(
            svc,
            session,
            case,
            actor,
            REPLIED,
            now,
            {"question_id": row.id, "method": str(method), "note": note.strip()[:500]},
        )
        session.flush()
        result = _view(row, now)
    publish_change(svc, case, REPLIED)
    return result


def question_for_case(session: Session, case_id: int, now: datetime) -> QuestionView | None:
    """The case's question, if it waits (or waited) for an answer."""
    row = session.scalar(select(KnowledgeQuestion).where(KnowledgeQuestion.case_id == case_id))
    return _view(row, now) if row is not None else None


def questions(session: Session, actor: Actor, now: datetime) -> dict[str, list[QuestionView]]:
    """W10 lists: ``to_answer`` (asked of me; every open one for a supervisor),
    ``to_reply`` (answered, the caller to be told by me), ``recent`` (the rest, latest first)."""
    stmt = select(KnowledgeQuestion).order_by(KnowledgeQuestion.due_at, KnowledgeQuestion.id)
    if actor.role != Role.SUPERVISOR:
        stmt = stmt.where(
            or_(
                KnowledgeQuestion.answerer_id == actor.id, KnowledgeQuestion.asked_by_id == actor.id
            )
        )
    rows = session.scalars(stmt).all()
    to_answer, to_reply, recent = [], [], []
    for row in rows:
        view = _view(row, now)
        if view.status == QuestionStatus.AWAITING_ANSWER and (
            actor.role == Role.SUPERVISOR or actor.id == row.answerer_id
        ):
            to_answer.append(view)
        elif view.status == QuestionStatus.AWAITING_REPLY and (
            actor.role == Role.SUPERVISOR or actor.id == row.asked_by_id
        ):
            to_reply.append(view)
        else:
            recent.append(view)
    recent.sort(key=lambda v: v.asked_at, reverse=True)
    return {"to_answer": to_answer, "to_reply": to_reply, "recent": recent[:30]}
