"""The knowledge base (G3) and questions awaiting a superior's answer (W10) on the web.

Pages: ``/knowledge`` (search and list, for all staff), ``/knowledge/<id>``
(one article with every version), ``/knowledge/new`` and the edit and retire
forms (supervisors), ``/knowledge/questions`` (W10: questions asked of me,
answers to pass on to callers). The API: ``/api/knowledge/articles`` (the
console panel's search; supervisors create, edit and retire),
``/api/cases/<number>/question`` and ``/api/knowledge/questions`` (W10), with
the same schemas as the page forms. Two template globals: ``knowledge_panel`` (the
console's panel beside the script, ``callflows/_knowledge_panel.html``) and
``case_knowledge`` (the case page's cited article and question,
``_knowledge_case.html``).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from hotline.domain import knowledge as rules
from hotline.domain.knowledge import ArticleCategory, QuestionStatus, ReplyMethod
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import Category
from hotline.services import ServiceError, knowledge
from hotline.web.api_base import ApiBlueprint, Id, InputSchema, refusal, register, request_actor
from hotline.web.cases import case_page_refusal
from hotline.web.pages import actor, common
from hotline.web.schemas import load_form
from hotline.web.session import db_session, fresh_db_session, wiring

#: ``app.extensions`` key of the G2 phrase finder (text -> phrases) the call flows install.
PHRASE_FINDER = "hotline.knowledge.phrase_finder"

CATEGORY = {
    ArticleCategory.PROCEDURE: _l("办事流程"),
    ArticleCategory.FEE: _l("收费标准"),
    ArticleCategory.PROBLEM: _l("常见问题"),
}
STATUS = {
    QuestionStatus.AWAITING_ANSWER: _l("待上级答复"),
    QuestionStatus.AWAITING_REPLY: _l("已答复,待告知来电人"),
    QuestionStatus.REPLIED: _l("已告知来电人"),
}
REPLY_METHOD = {ReplyMethod.CALL: _l("回电"), ReplyMethod.SMS: _l("短信")}
FIELD = {
    "title": _l("标题"),
    "category": _l("分类"),
    "tags": _l("标签"),
    "summary": _l("答复要点"),
    "body": _l("正文"),
    "retired": _l("停用"),
}

api_bp = ApiBlueprint(
    "api_knowledge",
    __name__,
    url_prefix="/api",
    description="The knowledge base: search, write, retire articles. 知识库:检索、编写、停用。",
)
bp = Blueprint("knowledge", __name__, template_folder="templates")


# -- schemas -------------------------------------------------------------------------


class KnowledgeArticleSchema(InputSchema):
    """An article as a supervisor writes it (G3)."""

    class Meta:
        unknown = RAISE

    title = fields.String(required=True, validate=validate.Length(min=1, max=rules.TITLE_MAX))
    category = fields.String(
        required=True, validate=validate.OneOf([c.value for c in ArticleCategory])
    )
    tags = fields.String(
        load_default="",
        validate=validate.Length(max=240),
        metadata={"description": "comma-separated"},
    )
    summary = fields.String(
        required=True,
        validate=validate.Length(min=1, max=rules.SUMMARY_MAX),
        metadata={"description": "the answer to give the caller"},
    )
    body = fields.String(required=True, validate=validate.Length(min=1, max=rules.BODY_MAX))
    version = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=100000),
        metadata={"description": "the version the change was made on (edit only)"},
    )


class KnowledgeRetireSchema(InputSchema):
    class Meta:
        unknown = RAISE

    note = fields.String(load_default="", validate=validate.Length(max=200))


class KnowledgeSearchArgs(InputSchema):
    class Meta:
        unknown = RAISE

    q = fields.String(load_default="", validate=validate.Length(max=rules.QUERY_MAX))
    category = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([c.value for c in ArticleCategory]),
    )
    limit = fields.Integer(load_default=8, validate=validate.Range(min=1, max=rules.RESULTS_MAX))


class QuestionAskSchema(InputSchema):
    """W10: the superior asked, and what the caller asked."""

    class Meta:
        unknown = RAISE

    answerer_id = Id(required=True)
    question = fields.String(required=True, validate=validate.Length(min=1, max=rules.QUESTION_MAX))


class QuestionAnswerSchema(InputSchema):
    """W10: the superior's answer; a supervisor may make it an article."""

    class Meta:
        unknown = RAISE

    answer = fields.String(required=True, validate=validate.Length(min=1, max=rules.ANSWER_MAX))
    make_article = fields.Boolean(load_default=False)
    title = fields.String(load_default="", validate=validate.Length(max=rules.TITLE_MAX))
    category = fields.String(
        load_default=ArticleCategory.PROBLEM.value,
        validate=validate.OneOf([c.value for c in ArticleCategory]),
    )
    tags = fields.String(load_default="", validate=validate.Length(max=240))


class QuestionReplySchema(InputSchema):
    """W10: how the caller was told the answer."""

    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf([m.value for m in ReplyMethod]))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class KnowledgeHitSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    category = fields.String()
    tags = fields.List(fields.String())
    summary = fields.String(metadata={"description": "the answer to give the caller"})
    version = fields.Integer()


class KnowledgeSavedSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()


def _finder() -> Any:
    return current_app.extensions.get(PHRASE_FINDER)


def _article_args(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("title", "category", "tags", "summary", "body")}


# -- the API -------------------------------------------------------------------------


@api_bp.route("/knowledge/articles")
class Articles(MethodView):
    @api_bp.arguments(KnowledgeSearchArgs, location="query")
    @api_bp.response(200, KnowledgeHitSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Search the knowledge base (G3): title matches first; Chinese by character pairs.

        An empty ``q`` lists the articles. Retired articles are left out.
        """
        hits = knowledge.search(
            db_session(), args["q"], category=args["category"], limit=args["limit"]
        )
        return [hit.to_dict() for hit in hits]

    @api_bp.arguments(KnowledgeArticleSchema)
    @api_bp.response(201, KnowledgeSavedSchema)
    @refusal(api_bp, 403, "only supervisors write articles")
    @refusal(api_bp, 422, "a field is missing, too long or not one of the choices")
    def post(self, body: dict[str, Any]) -> Any:
        """Write a new article (supervisors); version 1 is kept in its history."""
        article_id = knowledge.create(
            wiring(), request_actor(), finder=_finder(), **_article_args(body)
        )
        return {"id": article_id, "version": 1}


@api_bp.route("/knowledge/articles/<id:article_id>")
class OneArticle(MethodView):
    @api_bp.arguments(KnowledgeArticleSchema)
    @api_bp.response(200, KnowledgeSavedSchema)
    @refusal(api_bp, 403, "only supervisors change articles")
    @refusal(api_bp, 404, "no such article")
    @refusal(api_bp, 409, "the article was changed meanwhile, or is retired")
    @refusal(api_bp, 422, "a field is missing, too long, or nothing changed")
    def put(self, body: dict[str, Any], article_id: int) -> Any:
        """Change an article (supervisors): a new version; every earlier one is kept."""
        version = knowledge.edit(
            wiring(),
            request_actor(),
            article_id,
            expected_version=body["version"],
            finder=_finder(),
            **_article_args(body),
        )
        return {"id": article_id, "version": version}


@api_bp.route("/knowledge/articles/<id:article_id>/retire")
class RetireArticle(MethodView):
    @api_bp.arguments(KnowledgeRetireSchema)
    @api_bp.response(200, KnowledgeSavedSchema)
    @refusal(api_bp, 403, "only supervisors retire articles")
    @refusal(api_bp, 404, "no such article")
    @refusal(api_bp, 409, "the article is already retired")
    def post(self, body: dict[str, Any], article_id: int) -> Any:
        """Retire an article (supervisors): unlisted, kept for the cases that cite it."""
        version = knowledge.retire(wiring(), request_actor(), article_id, note=body["note"])
        return {"id": article_id, "version": version}


class QuestionSchema(Schema):
    id = fields.Integer()
    case_number = fields.String()
    question = fields.String()
    asked_by_id = fields.Integer()
    asked_by_name = fields.String()
    asked_at = fields.DateTime()
    answerer_id = fields.Integer()
    answerer_name = fields.String()
    due_at = fields.DateTime(metadata={"description": "the case's reply deadline"})
    answer = fields.String()
    answered_at = fields.DateTime(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    reply_method = fields.String()
    article_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "awaiting_answer, awaiting_reply or replied"})
    overdue = fields.Boolean()


class QuestionListsSchema(Schema):
    to_answer = fields.List(fields.Nested(QuestionSchema))
    to_reply = fields.List(fields.Nested(QuestionSchema))
    recent = fields.List(fields.Nested(QuestionSchema))


@api_bp.route("/knowledge/questions")
class Questions(MethodView):
    @api_bp.response(200, QuestionListsSchema)
    def get(self) -> Any:
        """W10: questions asked of me, answers I still have to pass on, the recent rest."""
        return knowledge.questions(db_session(), request_actor(), wiring().now())


@api_bp.route("/cases/<number>/question")
class AskQuestion(MethodView):
    @api_bp.arguments(QuestionAskSchema)
    @api_bp.response(201, QuestionSchema)
    @refusal(api_bp, 404, "no such case or person")
    @refusal(api_bp, 409, "the case is closed or already waits for an answer")
    @refusal(api_bp, 422, "W10: not a consultation with dispatch, or not a superior")
    def post(self, body: dict[str, Any], number: str) -> Any:
        """W10: the consultation waits for a named superior's answer, due at its reply deadline."""
        return knowledge.ask(wiring(), request_actor(), number, **body)


@api_bp.route("/knowledge/questions/<id:question_id>/answer")
class AnswerQuestion(MethodView):
    @api_bp.arguments(QuestionAnswerSchema)
    @api_bp.response(200, QuestionSchema)
    @refusal(api_bp, 403, "W10: only the superior asked (or a supervisor) answers")
    @refusal(api_bp, 404, "no such question")
    @refusal(api_bp, 409, "the question is already answered")
    @refusal(api_bp, 422, "the answer is blank or too long")
    def post(self, body: dict[str, Any], question_id: int) -> Any:
        """W10: the superior answers; a supervisor may make the answer an article."""
        return knowledge.answer(wiring(), request_actor(), question_id, finder=_finder(), **body)


@api_bp.route("/knowledge/questions/<id:question_id>/reply")
class ReplyQuestion(MethodView):
    @api_bp.arguments(QuestionReplySchema)
    @api_bp.response(200, QuestionSchema)
    @refusal(api_bp, 403, "the first responder tells the caller")
    @refusal(api_bp, 404, "no such question")
    @refusal(api_bp, 409, "no answer yet, or the caller was already told")
    def post(self, body: dict[str, Any], question_id: int) -> Any:
        """W10: record that the caller was told the answer (by call or SMS)."""
        return knowledge.record_reply(wiring(), request_actor(), question_id, **body)


# -- template globals ------------------------------------------------------------------


def knowledge_panel() -> dict[str, Any]:
    """What the console's knowledge panel shows: the superiors who may be asked (W10)."""
    return {
        "answerers": knowledge.answerers(db_session()),
        "categories": CATEGORY,
        "consultation": Category.CONSULTATION.value,
    }


def case_knowledge(case: Any) -> dict[str, Any]:
    """What the case page shows: the articles the case cites (G3) and its question (W10)."""
    session = fresh_db_session()
    me = actor()
    now = wiring().now()
    question = knowledge.question_for_case(session, case.id, now)
    may_ask = (
        question is None
        and str(case.category) == Category.CONSULTATION
        and State(case.state) not in (State.CLOSED, State.MERGED, State.ANSWERED_ON_CALL)
    )
    return {
        "cited": knowledge.articles_for_case(session, case.id),
        "question": question,
        "may_answer": question is not None
        and question.status == QuestionStatus.AWAITING_ANSWER
        and (me.id == question.answerer_id or me.role == "supervisor"),
        "may_reply": question is not None
        and question.status == QuestionStatus.AWAITING_REPLY
        and (me.id in (question.asked_by_id, case.first_responder_id) or me.role == "supervisor"),
        "may_ask": may_ask,
        "answerers": knowledge.answerers(session) if may_ask else [],
        "status": STATUS,
        "methods": REPLY_METHOD,
        "categories": CATEGORY,
        "is_editor": me.role in rules.EDITOR_ROLES,
    }


# -- pages -----------------------------------------------------------------------------


def _refused(exc: ServiceError, template: str, status: int | None = None, **context: Any) -> Any:
    return (
        render_template(template, error=exc, **_context(), **context),
        status or exc.status,
    )


def _context() -> dict[str, Any]:
    return {
        "categories": CATEGORY,
        "fields_named": FIELD,
        "is_editor": actor().role in rules.EDITOR_ROLES,
        **common(),
    }


@bp.route("/knowledge")
@login_required
def page() -> Any:
    """Search the knowledge base (all staff): procedures, fees, common problems."""
    try:
        args = KnowledgeSearchArgs().load(
            {
                "q": request.args.get("q", ""),
                **({"category": c} if (c := request.args.get("category")) else {}),
                "limit": rules.RESULTS_MAX,
            }
        )
    except ValidationError:  # a query string out of range lists everything
        args = {"q": "", "category": None, "limit": rules.RESULTS_MAX}
    hits = knowledge.search(db_session(), args["q"], category=args["category"], limit=args["limit"])
    return render_template(
        "knowledge.html", hits=hits, q=args["q"], category=args["category"], **_context()
    )


def _article_page(article_id: int, error: ServiceError | None = None, status: int = 200) -> Any:
    session = fresh_db_session()
    row = knowledge.article(session, article_id)
    return (
        render_template(
            "knowledge_article.html",
            article=row,
            versions=knowledge.versions(session, article_id),
            error=error,
            **_context(),
        ),
        status,
    )


@bp.route("/knowledge/<id:article_id>")
@login_required
def article_page(article_id: int) -> Any:
    """One article, and every version of it: who changed what, when."""
    try:
        return _article_page(article_id)
    except ServiceError as exc:
        return _refused(exc, "knowledge.html", hits=[], q="", category=None)


@bp.route("/knowledge/new", methods=["GET", "POST"])
@login_required
def new_page() -> Any:
    """A supervisor writes a new article."""
    if actor().role not in rules.EDITOR_ROLES:
        abort(403, description=_("只有主管可以编写知识库"))
    if request.method == "GET":
        return render_template(
            "knowledge_edit.html", article=None, form={}, error=None, **_context()
        )
    try:
        body = load_form(KnowledgeArticleSchema(), request.form, wiring().timezone)
        article_id = knowledge.create(wiring(), actor(), finder=_finder(), **_article_args(body))
    except ServiceError as exc:
        return _refused(exc, "knowledge_edit.html", article=None, form=request.form)
    flash(_("已保存"), "success")
    return redirect(url_for("knowledge.article_page", article_id=article_id))


@bp.route("/knowledge/<id:article_id>/edit", methods=["GET", "POST"])
@login_required
def edit_page(article_id: int) -> Any:
    """A supervisor changes an article: a new version."""
    if actor().role not in rules.EDITOR_ROLES:
        abort(403, description=_("只有主管可以编写知识库"))
    session = fresh_db_session()
    try:
        row = knowledge.article(session, article_id)
    except ServiceError as exc:
        return _refused(exc, "knowledge.html", hits=[], q="", category=None)
    if request.method == "GET":
        form = {
            "title": row.title,
            "category": row.category,
            "tags": row.tags.replace(",", "、"),
            "summary": row.summary,
            "body": row.body,
            "version": row.version,
        }
        return render_template(
            "knowledge_edit.html", article=row, form=form, error=None, **_context()
        )
    try:
        body = load_form(KnowledgeArticleSchema(), request.form, wiring().timezone)
        knowledge.edit(
            wiring(),
            actor(),
            article_id,
            expected_version=body["version"],
            finder=_finder(),
            **_article_args(body),
        )
    except ServiceError as exc:
        return _refused(exc, "knowledge_edit.html", article=row, form=request.form)
    flash(_("已保存新版本"), "success")
    return redirect(url_for("knowledge.article_page", article_id=article_id))


@bp.route("/knowledge/<id:article_id>/retire", methods=["POST"])
@login_required
def retire_page(article_id: int) -> Any:
    """A supervisor retires an article."""
    try:
        body = load_form(KnowledgeRetireSchema(), request.form, wiring().timezone)
        knowledge.retire(wiring(), actor(), article_id, note=body["note"])
    except ServiceError as exc:
        return _article_page(article_id, exc, exc.status)
    flash(_("已停用"), "success")
    return redirect(url_for("knowledge.article_page", article_id=article_id))


def _questions_page(error: ServiceError | None = None, status: int = 200) -> Any:
    lists = knowledge.questions(fresh_db_session(), actor(), wiring().now())
    return (
        render_template(
            "knowledge_questions.html",
            lists=lists,
            status_names=STATUS,
            methods=REPLY_METHOD,
            error=error,
            **_context(),
        ),
        status,
    )


@bp.route("/knowledge/questions")
@login_required
def questions_page() -> Any:
    """W10: questions asked of me (to answer) and answers to pass on to callers."""
    return _questions_page()


def _back(number: str) -> Any:
    if request.form.get("back") == "case" and number:
        return redirect(url_for("pages.case_page", number=number))
    return redirect(url_for("knowledge.questions_page"))


@bp.route("/cases/<number>/question", methods=["POST"])
@login_required
def ask_from_case(number: str) -> Any:
    """W10: from the case page, ask a superior the consultation's question."""
    try:
        body = load_form(QuestionAskSchema(), request.form, wiring().timezone)
        knowledge.ask(
            wiring(), actor(), number, answerer_id=body["answerer_id"], question=body["question"]
        )
    except ServiceError as exc:
        return case_page_refusal(number, exc)
    flash(_("已请示上级,请在答复时限内告知来电人"), "success")
    return redirect(url_for("pages.case_page", number=number))


@bp.route("/knowledge/questions/<id:question_id>/answer", methods=["POST"])
@login_required
def answer_page(question_id: int) -> Any:
    """W10: the superior asked answers (and may make the answer an article)."""
    number = request.form.get("case_number", "")
    try:
        body = load_form(QuestionAnswerSchema(), request.form, wiring().timezone)
        knowledge.answer(wiring(), actor(), question_id, finder=_finder(), **body)
    except ServiceError as exc:
        if request.form.get("back") == "case" and number:
            return case_page_refusal(number, exc)
        return _questions_page(exc, exc.status)
    flash(_("已答复,首问负责人将告知来电人"), "success")
    return _back(number)


@bp.route("/knowledge/questions/<id:question_id>/reply", methods=["POST"])
@login_required
def reply_page(question_id: int) -> Any:
    """W10: the caller was told the answer."""
    number = request.form.get("case_number", "")
    try:
        body = load_form(QuestionReplySchema(), request.form, wiring().timezone)
        knowledge.record_reply(wiring(), actor(), question_id, **body)
    except ServiceError as exc:
        if request.form.get("back") == "case" and number:
            return case_page_refusal(number, exc)
        return _questions_page(exc, exc.status)
    flash(_("已记录:答复已告知来电人"), "success")
    return _back(number)


def init_app(app: Flask) -> None:
    """Bind the knowledge pages, the API and the two template globals to ``app``."""
    register(api_bp)
    app.register_blueprint(bp)
    app.add_template_global(knowledge_panel, "knowledge_panel")
    app.add_template_global(case_knowledge, "case_knowledge")
