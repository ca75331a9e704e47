"""Staff login (sessions for people, tokens for integrations) and role checks.

People log in with a password and get a session cookie managed by
Flask-Login; forms carry Flask-WTF's CSRF token. Integrations send
``Authorization: Bearer <token>``. A browser calling the API with its session
must send the CSRF token in ``X-CSRFToken`` for anything that changes data.
The accounts themselves (password hashes, tokens, ``session_version``,
opening and closing an account) are :mod:`hotline.services.accounts`; the
request's database session is :mod:`hotline.web.session`.

A login session ends when the person's ``session_version`` moves on (logout,
deactivation, a password reset). Failed logins are throttled per user name and
per client address, and unknown API tokens per address, with Flask-Limiter's
storage (memory, or Redis shared by every process). See docs/accounts.md.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.wrappers import Response
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from limits import RateLimitItem
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from hotline.domain.taxonomy import Role
from hotline.services import Actor
from hotline.services.accounts import (
    AccountError,
    TokenRefused,
    activate_staff,
    authenticate,
    create_staff,
    deactivate_staff,
    end_sessions,
    find_staff,
    hash_token,
    issue_token,
    reset_password,
    revoke_tokens,
    session_is_current,
    token_actor,
)
from hotline.services.staff import staff_member
from hotline.settings import SettingsError
from hotline.web.session import db_session, fresh_db_session, wiring

if TYPE_CHECKING:
    from hotline.models import Staff

#: Kept importable from here for the CLI, the demo and the call-flow views.
__all__ = [
    "AccountError",
    "activate_staff",
    "api_actor",
    "authenticate",
    "create_staff",
    "csrf",
    "db_session",
    "deactivate_staff",
    "find_staff",
    "fresh_db_session",
    "hash_token",
    "issue_token",
    "reset_password",
    "revoke_tokens",
    "roles_required",
]

log = logging.getLogger(__name__)

login_manager = LoginManager()
csrf = CSRFProtect()
bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])


# -- throttling -----------------------------------------------------------------


@dataclass
class Throttle:
    """Counts of failures by key in a moving window, kept in Flask-Limiter's storage.

    When the shared storage (Redis) cannot be reached, the count goes on in
    this process's memory and a warning is logged: logins keep working and
    stay throttled, per process, until the storage answers again.
    """

    limiter: Limiter
    per_user: RateLimitItem
    per_address: RateLimitItem
    token_per_address: RateLimitItem
    #: Keeps the counts of installations that share one Redis apart.
    namespace: str = "hotline"
    _fallback: RateLimiter | None = field(default=None, repr=False)

    def _call(self, method: str, item: RateLimitItem, scope: str, key: str) -> Any:
        identifiers = (self.namespace, scope, key)
        try:
            return getattr(self.limiter.limiter, method)(item, *identifiers)
        except Exception as exc:  # the storage's own errors (redis.ConnectionError, ...)
            log.warning("rate-limit storage failed (%s): counting in this process's memory", exc)
            if self._fallback is None:
                self._fallback = MovingWindowRateLimiter(MemoryStorage())
            return getattr(self._fallback, method)(item, *identifiers)

    def wait(self, checks: Iterable[tuple[RateLimitItem, str, str]]) -> int:
        """Seconds until every check allows another failure (0: allowed now)."""
        if not self.limiter.enabled:
            return 0
        wait = 0.0
        for item, scope, key in checks:
            if not self._call("test", item, scope, key):
                stats = self._call("get_window_stats", item, scope, key)
                wait = max(wait, stats.reset_time - time.time(), 1.0)
        return math.ceil(wait)

    def failed(self, checks: Iterable[tuple[RateLimitItem, str, str]]) -> None:
        """Count one failure under each key."""
        if not self.limiter.enabled:
            return
        for item, scope, key in checks:
            self._call("hit", item, scope, key)

    def login_checks(self, username: str) -> list[tuple[RateLimitItem, str, str]]:
        return [
            (self.per_user, "login-user", username.strip().lower()),
            (self.per_address, "login-address", _client_address()),
        ]

    def token_checks(self) -> list[tuple[RateLimitItem, str, str]]:
        return [(self.token_per_address, "api-token-address", _client_address())]


def throttle() -> Throttle:
    """The running app's throttle."""
    return current_app.extensions["hotline.throttle"]


def _client_address() -> str:
    return get_remote_address() or "unknown"


def _retry_later(seconds: int) -> None:
    """Have the response carry ``Retry-After`` (the 429 answer is built elsewhere)."""
    g.retry_after = seconds


def _actor_for_token(header: str) -> Actor:
    """Who a bearer token acts for; aborts with 401 saying why, or 429."""
    token = header.removeprefix("Bearer ").strip()
    try:
        return token_actor(db_session(), token, now=wiring().now())
    except TokenRefused as refused:
        if not refused.known:
            # Only unknown tokens are counted and throttled: a known one costs no
            # look-up in the throttle's storage, and guessing is what is slowed.
            guard = throttle()
            checks = guard.token_checks()
            wait = guard.wait(checks)
            if wait:
                _retry_later(wait)
                abort(
                    429,
                    description="too many unknown API tokens from this address; try again later",
                )
            guard.failed(checks)
        abort(401, description=str(refused))


def api_actor() -> Actor:
    """The actor behind an API request: a bearer token, or the logged-in session.

    Aborts with 401 when neither is present or the token is unknown, expired
    or revoked (the message says which), with 429 when this address sent too
    many unknown tokens, and with 400 when a session request that changes data
    lacks a valid CSRF token. Checked once per request; later calls get the
    same actor without looking the token up again.
    """
    actor = g.get("hotline_api_actor")
    if actor is None:
        actor = g.hotline_api_actor = _check_api_caller()
    return actor


def _check_api_caller() -> Actor:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return _actor_for_token(header)
    if not current_user.is_authenticated:
        abort(401, description="log in or send an API token")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except Exception:  # flask_wtf raises ValidationError with the reason
            abort(400, description="missing or invalid X-CSRFToken header")
    return Actor.of(current_user)


def roles_required(*roles: Role) -> Callable[[F], F]:
    """A page view only these roles may open (others get 403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if Role(current_user.role) not in roles:
                abort(403, description=_("您的角色无权打开此页面。"))
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("password", validators=[DataRequired()])


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        guard = throttle()
        checks = guard.login_checks(form.username.data)
        wait = guard.wait(checks)
        if wait:
            _retry_later(wait)
            flash(
                _("登录失败次数过多,请 %(minutes)s 分钟后再试。", minutes=math.ceil(wait / 60)),
                "error",
            )
            return render_template("login.html", form=form), 429
        staff = authenticate(db_session(), form.username.data, form.password.data)
        if staff is not None:
            login_user(staff)
            return redirect(_safe_next(request.args.get("next")) or url_for("homes.home"))
        guard.failed(checks)
        flash(_("用户名或密码错误。"), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Log out, ending every session of this person (a copied cookie included)."""
    if current_user.is_authenticated:
        session = db_session()
        with session.begin():
            staff = staff_member(session, current_user.id)
            if staff is not None:
                end_sessions(staff)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str) -> Any:
    if code not in ("zh_CN", "en"):
        abort(400, description="unknown language")
    session["lang"] = code
    return redirect(_safe_next(request.form.get("next")) or url_for("homes.home"))


@login_manager.user_loader
def _load_user(user_id: str) -> Staff | None:
    """The person of a login session, if the session is still current.

    The session keeps ``"<id>:<session_version>"``; a session of a deactivated
    person, or one opened before the person's last logout, deactivation or
    password reset, is refused.
    """
    staff_id, _sep, version = user_id.partition(":")
    if not (staff_id.isdigit() and version.isdigit()):
        return None
    staff = staff_member(db_session(), int(staff_id))
    return staff if session_is_current(staff, int(version)) else None


# -- settings, security headers --------------------------------------------------


def _limit_setting(settings: Mapping[str, Any], key: str, default: str) -> RateLimitItem:
    value = settings.get(key, default)
    try:
        return parse_limit(str(value))
    except ValueError:
        raise SettingsError(
            f"setting '{key}': expected a limit such as \"5 per 15 minutes\", got {value!r}"
        ) from None


def rate_limit_storage(settings: Mapping[str, Any]) -> str:
    """Where failure counts are kept: the setting, else the live-update Redis, else memory."""
    configured = str(settings.get("rate_limit_storage_url") or "")
    if configured:
        return configured
    queue = str(settings.get("socketio_message_queue") or "")
    if queue.startswith(("redis://", "rediss://")):
        return queue
    return "memory://"


def _make_throttle(app: Flask, settings: Mapping[str, Any]) -> Throttle:
    storage = rate_limit_storage(settings)
    options: dict[str, Any] = {}
    if storage.startswith("redis"):
        # A Redis that does not answer must not hold a login up for long.
        options = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter = Limiter(
        get_remote_address,
        storage_uri=storage,
        storage_options=options,
        strategy="moving-window",
        auto_check=False,
        headers_enabled=False,
        key_prefix="hotline",
    )
    try:
        limiter.init_app(app)
    except Exception as exc:  # an unknown scheme or a storage library missing
        raise SettingsError(f"setting 'rate_limit_storage_url': {exc}") from None
    installation = hashlib.sha256(str(settings.get("database_url", "")).encode()).hexdigest()
    return Throttle(
        namespace=f"hotline:{installation[:16]}",
        limiter=limiter,
        per_user=_limit_setting(settings, "login_failures_per_user", "5 per 15 minutes"),
        per_address=_limit_setting(settings, "login_failures_per_address", "20 per 15 minutes"),
        token_per_address=_limit_setting(
            settings, "api_token_failures_per_address", "20 per 15 minutes"
        ),
    )


_INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
_HANDLER = re.compile(r"\son[a-z]+\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", re.I)
#: Pages whose inline scripts come from the app's own configuration only (the
#: API docs of flask-smorest): their scripts are allowed by hash as served.
TRUSTED_INLINE_ENDPOINTS = frozenset({"api-docs.openapi_swagger_ui"})


def _csp_hash(code: str) -> str:
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _is_data_block(attributes: str) -> bool:
    return bool(re.search(r"\bsrc\s*=", attributes, re.I)) or bool(
        re.search(r"type\s*=\s*[\"']application/(ld\+)?json", attributes, re.I)
    )


def inline_script_hashes(text: str) -> list[str]:
    """CSP hashes of the inline ``<script>`` blocks of ``text`` (no templated ones)."""
    found = []
    for attributes, code in _INLINE_SCRIPT.findall(text):
        if _is_data_block(attributes) or not code.strip() or "{{" in code or "{%" in code:
            continue
        found.append(_csp_hash(code))
    return found


def inline_handler_hashes(text: str) -> list[str]:
    """CSP hashes of the inline event handlers (``onsubmit="..."``) of ``text``."""
    found = []
    for double, single in _HANDLER.findall(text):
        code = html.unescape(double or single)
        if code and "{{" not in code and "{%" not in code:
            found.append(_csp_hash(code))
    return found


def _template_hashes(app: Flask) -> tuple[list[str], list[str]]:
    """The hashes of the fixed inline scripts and handlers of the app's templates."""
    scripts: set[str] = set()
    handlers: set[str] = set()
    loader = app.jinja_env.loader
    assert loader is not None
    for name in app.jinja_env.list_templates(extensions=["html"]):
        source, _filename, _uptodate = loader.get_source(app.jinja_env, name)
        scripts.update(inline_script_hashes(source))
        handlers.update(inline_handler_hashes(source))
    return sorted(scripts), sorted(handlers)


def _origin_sources(url: str) -> list[str]:
    """An origin for connect-src, with its WebSocket twin (``https`` -> ``wss``)."""
    if not url:
        return []
    parts = urlparse(url)
    socket = {"https": "wss", "http": "ws"}.get(parts.scheme)
    return [url] + ([f"{socket}://{parts.netloc}"] if socket else [])


def content_security_policy(
    scripts: Iterable[str] = (), handlers: Iterable[str] = (), connect: Iterable[str] = ()
) -> str:
    """The Content-Security-Policy: this origin only, plus the hashed inline code."""
    script_src = ["'self'", *scripts]
    handlers = list(handlers)
    if handlers:
        script_src += ["'unsafe-hashes'", *handlers]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(script_src),
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src " + " ".join(["'self'", *connect]),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _install_security_headers(app: Flask) -> None:
    policies: dict[str, str] = {}

    def policy() -> str:
        # Built at the first response, once every blueprint's templates are known.
        if "default" not in policies:
            scripts, handlers = _template_hashes(app)
            live = app.extensions.get("hotline.live")
            connect = _origin_sources(getattr(live, "url", "") or "")
            policies["default"] = content_security_policy(scripts, handlers, connect)
        return policies["default"]

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        csp = policy()
        if request.endpoint in TRUSTED_INLINE_ENDPOINTS and response.mimetype == "text/html":
            served = inline_script_hashes(response.get_data(as_text=True))
            csp = csp.replace("script-src 'self'", " ".join(["script-src 'self'", *served]), 1)
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        retry_after = g.get("retry_after")
        if retry_after and response.status_code == 429:
            headers["Retry-After"] = str(retry_after)
        return response


def init_app(app: Flask) -> None:
    """Bind login, CSRF, throttling, security headers and the login pages to ``app``."""
    settings = app.config.get("HOTLINE") or {}
    proxies = int(settings.get("trusted_proxies") or 0)
    if proxies < 0:
        raise SettingsError("setting 'trusted_proxies': must be 0 or more")
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.extensions["hotline.throttle"] = _make_throttle(app, settings)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    csrf.init_app(app)
    app.register_blueprint(bp)
    _install_security_headers(app)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return render_template("error.html", code=400, message=exc.description, reason="csrf"), 400
