"""The API's plumbing: its OpenAPI document, the caller check and the input rules.

``/api/openapi.json`` is the document; ``/api/docs`` a browsable page served
from the packaged Swagger UI (no outside network needed). Every route under
``/api`` needs a bearer token or a login session (with the ``X-CSRFToken``
header for a change), except the public ones (:data:`PUBLIC_ENDPOINTS`: the
document, its page, the lifecycle table). The caller is checked before
anything of the body is read, so a stranger's request answers 401 whatever it
carries. Every refusal has the body of :class:`ErrorSchema`, and
:class:`ApiBlueprint` says so in the document for every operation.
:class:`InputSchema` and the ``Id``, ``Moment`` and ``Day`` fields hold every
request body and query string to what the database can store.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import swagger_ui_bundle
from flask import Flask, request, send_from_directory
from flask_smorest import Api, Blueprint
from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load, validate
from webargs.flaskparser import FlaskParser, abort

from hotline.services import Actor, NotFound
from hotline.web.auth import api_actor, csrf
from hotline.web.forms import (
    EARLIEST,
    EARLIEST_DAY,
    LATEST,
    LATEST_DAY,
    MAX_INT,
    bad_text,
    text_problem,
)

#: The blueprint flask-smorest serves the document and its page from.
DOCS_BLUEPRINT = "api-docs"
#: Endpoints under /api that answer without a token or login.
PUBLIC_ENDPOINTS = frozenset(
    # The 12345 platform's webhook proves itself by its body's signature instead.
    {"api_cases.Lifecycle", "swagger_static", "api_gov12345.webhook"}
)


# -- the error body ------------------------------------------------------------------


class ErrorSchema(Schema):
    """Every refusal and error under /api, whatever its status."""

    class Meta:
        unknown = INCLUDE  # a few refusals add facts (P4's "missing", a call's "uncertain")

    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    error = fields.String(
        required=True,
        metadata={"description": "what kind of refusal, one word: Invalid, NotFound, Conflict…"},
    )
    message = fields.String(required=True, metadata={"description": "what to do about it"})
    display = fields.String(
        metadata={
            "description": "the same words in the language of the session "
            "(Simplified Chinese unless English was chosen), for showing to people"
        }
    )
    field = fields.String(metadata={"description": "the field (or header) at fault"})
    rule = fields.String(metadata={"description": "the rule of the standard that refuses, e.g. P4"})
    errors = fields.Dict(
        metadata={"description": "validation messages by location (json, query) and field"}
    )


class _HotlineApi(Api):
    """flask-smorest's Api, leaving error pages to the app's own handlers.

    Its documented error responses (one per status) use :class:`ErrorSchema`,
    the body the app's handlers really send.
    """

    ERROR_SCHEMA = ErrorSchema
    #: No catch-all "default" response: each operation lists the statuses it answers.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        return None


api = _HotlineApi()


# -- blueprints whose every operation documents its refusals -----------------------------

#: Refusals any operation may answer, by kind of operation.
_SECURED_REFUSALS = {
    "401": "UNAUTHORIZED",  # no token or login, or a token unknown, expired or revoked
    "429": "TOO_MANY_REQUESTS",  # too many unknown tokens from this address
}
_COMMAND_REFUSALS = {
    "400": "BAD_REQUEST",  # a login session without X-CSRFToken, a body that is not JSON
    "413": "REQUEST_ENTITY_TOO_LARGE",  # a body over the max_request_bytes setting
}


class _Parser(FlaskParser):
    """webargs' parser, answering 400 for JSON nested too deeply to parse."""

    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            abort(400, messages={"json": ["the JSON body is nested too deeply"]})


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint under /api whose operations document their refusals.

    Each operation lists 401 and 429 unless it does not take the bearer token
    (public, ``security: []``, or proving itself otherwise, like a signed webhook),
    400 and 413 when it is a POST, and 503 (the database is busy), all with
    :class:`ErrorSchema`. Registered straight on the app (``app.register_blueprint``)
    it is put in hotline's document all the same.
    """

    ARGUMENTS_PARSER = _Parser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_refusals_doc)

    @staticmethod
    def _prepare_refusals_doc(
        doc: dict[str, Any], doc_info: dict[str, Any], *, method: str, **kwargs: Any
    ) -> dict[str, Any]:
        responses = doc.setdefault("responses", {})
        security = doc_info.get("manual_doc", {}).get("security")
        bearer = security is None or any("bearer" in scheme for scheme in security)
        standard = dict(_SECURED_REFUSALS) if bearer else {}
        if method.lower() == "post":
            standard.update(_COMMAND_REFUSALS)
        standard["503"] = "SERVICE_UNAVAILABLE"
        for status, name in standard.items():
            if status not in responses and int(status) not in responses:
                responses[status] = name
        return doc

    def arguments(self, schema: Any, **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``, given one instance of a schema class:
        webargs would otherwise build a new one (copying its fields) per request."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, **kwargs)

    def register(self, app: Flask, options: dict[str, Any]) -> None:
        super().register(app, options)
        name = options.get("name", self.name)
        known = app.extensions.get("flask-smorest", {}).get("blp_name_to_api", {})
        if name not in known and api.spec is not None and api._app is app:
            known[name] = api
            self.register_views_in_doc(api, app, api.spec, name=name, parameters=None)
            api.spec.tag({"name": name, "description": self.description})


def rules(text: str) -> Callable[[Any], Any]:
    """Add ``text`` (the rules that refuse valid-looking requests) to a view's description.

    Put it right above the view, under the other decorators, which copy the docstring.
    """

    def decorator(func: Any) -> Any:
        func.__doc__ = inspect.cleandoc(func.__doc__ or "") + "\n\n" + text
        return func

    return decorator


def refusal(bp: Blueprint, status: int, description: str) -> Callable[[Any], Any]:
    """Document one refusal of an operation, with the rule that makes it."""
    return bp.alt_response(status, schema=ErrorSchema, description=description)


# -- who calls ------------------------------------------------------------------------


def request_actor() -> Actor:
    """The caller of this API request (checked once per request, then kept)."""
    return api_actor()


def _authenticate() -> None:
    """Before anything of the body is read: the caller of a non-public /api route.

    Answers 401 (no or a bad token, no login), 429 (too many bad tokens) or 400
    (a session's change without X-CSRFToken); a path with text that cannot be
    stored names nothing that exists: 404.
    """
    if not request.path.startswith("/api/") or request.endpoint is None:
        return
    if request.blueprint == DOCS_BLUEPRINT or request.endpoint in PUBLIC_ENDPOINTS:
        return
    request_actor()
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and text_problem(value):
            raise NotFound("no %(name)s %(value)r", name, name=name, value=value)


# -- input schemas ---------------------------------------------------------------------


class InputSchema(Schema):
    """A request body or query string: no text in it may hold NUL or a lone surrogate."""

    @pre_load
    def _storable_text(self, data: Any, **kwargs: Any) -> Any:
        raw = getattr(data, "data", data)  # webargs' MultiDictProxy wraps the MultiDict
        if hasattr(raw, "getlist"):
            items: Any = {key: raw.getlist(key) for key in raw}
            found = bad_text(items)
            if found:
                found = (found[0].rsplit(".", 1)[0], found[1])  # the field, not its n-th value
        else:
            found = bad_text(raw)
        if found:
            name, problem = found
            raise ValidationError(problem, field_name=name or "_schema")
        return data


def Id(**kwargs: Any) -> fields.Integer:
    """A row id: a whole number from 1 to 2**31 - 1."""
    kwargs.setdefault("strict", True)
    return fields.Integer(validate=validate.Range(min=1, max=MAX_INT), **kwargs)


def Moment(**kwargs: Any) -> fields.AwareDateTime:
    """A time with its zone, in the years 2000 to 2099."""
    return fields.AwareDateTime(
        validate=validate.Range(
            min=EARLIEST, max=LATEST, error="must lie between the years 2000 and 2099"
        ),
        **kwargs,
    )


def Day(**kwargs: Any) -> fields.Date:
    """A local day, in the years 2000 to 2099."""
    return fields.Date(
        validate=validate.Range(
            min=EARLIEST_DAY, max=LATEST_DAY, error="must lie between the years 2000 and 2099"
        ),
        **kwargs,
    )


def _serve_swagger(filename: str) -> Any:
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def _document_the_document(app: Flask) -> None:
    """The document's own address, public like the page that shows it."""
    api.spec.path(
        rule=next(app.url_map.iter_rules(f"{DOCS_BLUEPRINT}.openapi_json")),
        operations={
            "get": {
                "summary": "This OpenAPI document (public)",
                "tags": [DOCS_BLUEPRINT],
                "security": [],
                "responses": {
                    "200": {
                        "description": "the document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    )


def register(*blueprints: Blueprint) -> None:
    """Put ``blueprints`` in the API's document; their sessions' callers send X-CSRFToken."""
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # the API checks X-CSRFToken itself for session callers


def init_app(app: Flask, *blueprints: Blueprint) -> None:
    """Bind the API, its OpenAPI document and ``blueprints`` to ``app``."""
    app.config.setdefault("API_TITLE", "Water hotline 供水服务热线")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/static/")
    limit = app.config.get("MAX_CONTENT_LENGTH")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Every operation needs `Authorization: Bearer <token>` or a login session "
                    "(sending `X-CSRFToken` with a change), except those marked public; the "
                    f"caller is checked before the body is read. A body over {limit} bytes "
                    "(setting max_request_bytes) answers 413. Ids run from 1 to 2147483647, "
                    "text may not hold NUL characters or unpaired surrogates, and times lie "
                    "in the years 2000 to 2099. Every refusal has the body ErrorSchema: code, "
                    "error, message and, where they apply, field, rule and errors."
                ),
            },
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    # The 12345 platform's webhook signs its body (docs/gov12345.md).
                    "gov12345Signature": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-Gov12345-Signature",
                    },
                }
            },
            "security": [{"bearer": []}],
        },
    )
    api.init_app(app)
    register(*blueprints)
    _document_the_document(app)
    app.add_url_rule("/api/docs/static/<path:filename>", "swagger_static", _serve_swagger)
    app.before_request(_authenticate)
