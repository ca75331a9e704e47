"""The application factory: the one place where the parts are wired together.

``create_app`` reads the settings, opens the database, loads the time-limit
policy and binds the extensions. The outside world (clock, publisher) comes in
as arguments so tests and the demo pass their own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from hotline.db import (
    ScopedSessions,
    make_engine,
    make_reader_sessionmaker,
    make_sessionmaker,
)
from hotline.domain.timelimits import PolicyError, TimeLimitPolicy
from hotline.server import THREADS_VARIABLE
from hotline.services import Publisher, ServiceError, Services
from hotline.settings import SettingsError, load_settings, resolve_path, secret_key
from hotline.web import auth, extras, forms, i18n, realtime, refusals, session
from hotline.web.refusals import refusal_text
from hotline.web.schemas import describe_errors, first_field

if TYPE_CHECKING:
    from callflows.telephony import Telephony


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _sqlite_folder(url: str) -> None:
    """Create the folder of a relative SQLite file so a first start just works."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


#: Connections kept besides one per server thread: the in-process sweep, its
#: leadership lock, and the live-update connect checks.
SPARE_CONNECTIONS = 3


def pool_size(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> int:
    """Connections per process: the setting, else one per server thread plus spares.

    The production server's configuration (``hotline/gunicorn_conf.py``) puts its
    thread count in ``HOTLINE_SERVER_THREADS``.
    """
    configured = int(settings.get("database_pool_size") or 0)
    if configured < 0:
        raise SettingsError("setting 'database_pool_size': must be 0 (automatic) or more")
    if configured:
        return configured
    threads = (environ if environ is not None else os.environ).get(THREADS_VARIABLE, "")
    if threads.isdigit() and int(threads) > 0:
        return int(threads) + SPARE_CONNECTIONS
    return 10


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    publish: Publisher | None = None,
    telephony: Telephony | None = None,
) -> Flask:
    """Build the hotline application.

    ``test_config`` overrides settings (lower-case keys) and Flask config
    (upper-case keys). ``telephony`` replaces the adapter the ``telephony``
    setting names (tests pass fakes). Raises :class:`SettingsError` or
    :class:`PolicyError` with a message naming the key when the configuration
    cannot be used, and :class:`~callflows.domain.scripts.ScriptError` naming the
    file and step of a malformed call script.
    """
    overrides = dict(test_config or {})
    instance = overrides.pop("INSTANCE_PATH", None) or os.environ.get("HOTLINE_INSTANCE")
    app = Flask(
        __name__,
        template_folder="web/templates",
        static_folder="web/static",
        instance_path=str(Path(instance or Path.cwd() / "instance").resolve()),
    )
    settings = load_settings({k: v for k, v in overrides.items() if not k.isupper()})
    try:
        zone = ZoneInfo(settings["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"setting 'timezone': unknown time zone {settings['timezone']!r}"
        ) from None
    policy = TimeLimitPolicy.load(resolve_path(settings["time_limits_path"]))

    app.config.update(
        SECRET_KEY=secret_key(settings, Path(app.instance_path)),
        HOTLINE=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.get("session_cookie_secure", True)),
        REMEMBER_COOKIE_SECURE=bool(settings.get("session_cookie_secure", True)),
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=settings.get("default_locale", "zh_CN"),
        BABEL_DEFAULT_TIMEZONE=settings["timezone"],
        JSON_SORT_KEYS=False,
        SOCKETIO_CHANNEL=settings.get("socketio_channel") or "flask-socketio",
    )
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})
    forms.init_app(app)  # the <id:...> converter, the request size limit, the text check

    _sqlite_folder(settings["database_url"])
    engine = make_engine(
        settings["database_url"],
        pool_size=pool_size(settings),
        pool_timeout=float(settings.get("database_pool_timeout_seconds") or 3),
    )
    request_session = session.request_session_source(make_reader_sessionmaker(engine))
    from dispatch.web import live  # who is told of each case change

    app.extensions["hotline"] = Services(
        sessions=ScopedSessions(make_sessionmaker(engine), request_session, writing=True),
        readers=ScopedSessions(make_reader_sessionmaker(engine), request_session),
        clock=clock or _utc_now,
        policy=policy,
        calendar=policy.calendar,
        case_prefix=settings["case_prefix"],
        timezone=zone,
        phone_region=settings.get("phone_region", "CN"),
        area_code=settings.get("area_code", ""),
        publish=publish or live.publish,
    )
    app.extensions["hotline.engine"] = engine

    i18n.init_app(app)
    refusals.init_app(app)
    extras.init_app(app)
    auth.init_app(app)
    realtime.init_app(app, settings.get("socketio_message_queue") or None)
    from hotline.web import api, pages

    api.init_app(app)
    from hotline.web import api_base, api_customers  # the billing system's customers

    api_base.register(api_customers.bp)
    pages.init_app(app)
    from hotline.web import knowledge  # the knowledge base (G3), questions to answer (W10)

    knowledge.init_app(app)
    # G4: work that arrives with nobody to take it (a public app's request, a WeChat
    # report, a 12345 order) is owned by the dispatcher on duty, in a gap of the
    # roster by the first active dispatcher (hotline/services/ownership.py).
    from dispatch.services.duty import owner_of_new_work
    from hotline.web import open311  # the public apps' way in (docs/open311.md)

    open311.init_app(app, owner=owner_of_new_work)
    from hotline.web import wechat_form  # the official account's report form (docs/wechat.md)

    wechat_form.init_app(app, owner=owner_of_new_work)
    import dispatch  # deadline API and scheduler settings (docs/scheduler.md)

    dispatch.init_app(app)
    from dispatch.services.scheduler import JOBS_KEY
    from hotline.web import gov12345  # 12345 transfers (docs/gov12345.md)

    gov12345.init_app(app, settings, owner=owner_of_new_work)
    app.extensions.setdefault(JOBS_KEY, []).append(("gov12345", gov12345.scheduled_job(app)))
    from callflows.bootstrap import init_app as init_callflows

    init_callflows(app, settings, telephony=telephony)
    from hotline.web import idempotency

    idempotency.init_app(app)  # after every blueprint: wraps the API's commands
    _register_error_handlers(app)
    _register_health(app, engine)

    session.init_app(app)  # the request's session closes at teardown
    return app


def _register_health(app: Flask, engine: Any) -> None:
    """``GET /health``: for a load balancer or monitoring; no personal data.

    200 with the counters of work that failed after a commit (live pushes and
    the like), the live-update queue and the connection pool; 503 when the
    database does not answer.
    """
    from sqlalchemy import text

    from hotline.db import after_commit_failures

    reader = engine.execution_options(sqlite_begin="DEFERRED")  # no write lock

    @app.get("/health")
    def health() -> Any:
        body: dict[str, Any] = {
            "status": "ok",
            "after_commit_failures": dict(after_commit_failures),
            "live_updates": realtime.stats(),
            "database_pool": engine.pool.status(),
        }
        with reader.connect() as connection:  # errors become 503 (_busy)
            connection.execute(text("SELECT 1"))
        return jsonify(body)


#: Paths machines call (the API, the phone provider's webhooks): errors answer JSON.
_MACHINE_PATHS = ("/api/", "/twilio/")


def _wants_json() -> bool:
    return (
        request.path.startswith(_MACHINE_PATHS)
        or request.accept_mimetypes.best == "application/json"
    )


def _error_name(exc: HTTPException) -> str:
    """``Unprocessable Entity`` -> ``UnprocessableEntity``: one word, like a ServiceError's."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z]+", exc.name))


def error_body(code: int, error: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one error body of every JSON refusal (``hotline.web.api_base.ErrorSchema``)."""
    body: dict[str, Any] = {"code": code, "error": error, "message": message}
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def _register_error_handlers(app: Flask) -> None:
    """Errors become a JSON body under /api and a page elsewhere; never a traceback.

    Every JSON body has the shape of ``hotline.web.api_base.ErrorSchema``: ``code`` (the
    HTTP status), ``error`` (one word), ``message``, and where they apply
    ``field``, ``rule`` and ``errors`` (validation messages by location and field).
    """

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Any:
        display = refusal_text(exc)
        if _wants_json():
            return jsonify({**exc.to_dict(), "display": display}), exc.status
        return render_template("error.html", code=exc.status, message=display), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if _wants_json():
            messages = (getattr(exc, "data", None) or {}).get("messages")
            message = exc.description or exc.name
            if code == 413:
                message = (
                    f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes "
                    "(setting max_request_bytes)"
                )
            body = error_body(code, _error_name(exc), message)
            if messages:
                body["message"] = "invalid input: " + describe_errors(messages)
                field = first_field(messages)
                if field:
                    body["field"] = field
                body["errors"] = messages
            response = jsonify(body)
            response.status_code = code
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
            return response
        # A page shows the description a view gave, not the server's stock English one.
        given = exc.description if exc.description != type(exc).description else None
        return render_template("error.html", code=code, message=given), code

    @app.errorhandler(PoolTimeout)
    @app.errorhandler(OperationalError)
    def _busy(exc: Exception) -> Any:
        if isinstance(exc, PoolTimeout):
            app.logger.warning("no database connection free in time: answered 503")
        else:  # the server refused a connection, went away, or SQLite stayed locked
            app.logger.warning("database unavailable, answered 503: %s", exc)
        message = "the service is busy; nothing was saved, try again in a moment"
        if _wants_json():
            response = jsonify(error_body(503, "ServiceUnavailable", message))
        else:
            response = app.make_response(
                (render_template("error.html", code=503, message=message), 503)
            )
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unexpected error")
        message = "internal error; the change was not saved"
        if _wants_json():
            return jsonify(error_body(500, "InternalError", message)), 500
        return render_template("error.html", code=500, message=message), 500


__all__ = ["PolicyError", "SettingsError", "create_app"]
