"""Staff login (sessions for people, tokens for integrations) and role checks.

People log in with a password (hashed with scrypt by Werkzeug) and get a
session cookie managed by Flask-Login; forms carry Flask-WTF's CSRF token.
Integrations send ``Authorization: Bearer <token>``; only the token's SHA-256
is stored. A browser calling the API with its session must send the CSRF token
in ``X-CSRFToken`` for anything that changes data.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
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
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from hotline.db import UnitSession
from hotline.models import ApiToken, Staff
from hotline.services import Actor, Services
from hotline.taxonomy import Role

login_manager = LoginManager()
csrf = CSRFProtect()
bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

MIN_PASSWORD_LENGTH = 8
#: Werkzeug's hashing method for staff passwords (scrypt; tests may use a cheaper one).
PASSWORD_HASH_METHOD = "scrypt"


class AccountError(ValueError):
    """A staff account cannot be created or changed as asked; the message says why."""


def services() -> Services:
    """The service wiring of the running app."""
    return current_app.extensions["hotline"]


def db_session() -> Session:
    """The request's one session, opened on first use and closed at teardown.

    Pages and the API read through it; a command's unit of work runs in it too
    (the service layer's ``session.begin()``), so a request holds one
    connection at a time.
    """
    if "db_session" not in g:
        g.db_session = services().read_session()
    return g.db_session


def fresh_db_session() -> Session:
    """The request's session, restarted so it sees changes just committed.

    Inside an open unit of work (an idempotent command) it keeps the unit and
    reloads what it reads from it.
    """
    session = db_session()
    if isinstance(session, UnitSession) and session.in_unit():
        session.flush()
        session.expire_all()
        return session
    session.rollback()
    return session


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_staff(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    department_id: int | None = None,
    now: datetime,
) -> Staff:
    """Add a staff member (the caller commits).

    Raises :class:`AccountError` for a taken or malformed username, a short
    password or an unknown role.
    """
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").isalnum()
    ):
        raise AccountError("username must be 1-64 letters, digits, '.' or '_'")
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(
            f"unknown role '{role}'; choose one of {', '.join(r.value for r in Role)}"
        ) from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(Staff).where(Staff.username == username)) is not None:
        raise AccountError(f"username '{username}' is taken")
    staff = Staff(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        department_id=department_id,
        password_hash=generate_password_hash(password, method=PASSWORD_HASH_METHOD),
        active=True,
        created_at=now,
    )
    session.add(staff)
    return staff


def issue_token(session: Session, staff: Staff, name: str, *, now: datetime) -> str:
    """Create an API token for ``staff``; returns the token text, shown only once."""
    token = "hl_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(staff_id=staff.id, name=name, token_hash=hash_token(token), created_at=now)
    )
    return token


def _staff_for_token(header: str) -> Staff | None:
    token = header.removeprefix("Bearer ").strip()
    if not token:
        return None
    row = db_session().scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None or not row.staff.active:
        return None
    return row.staff


def api_actor() -> Actor:
    """The actor behind an API request: a bearer token, or the logged-in session.

    Aborts with 401 when neither is present and with 400 when a session
    request that changes data lacks a valid CSRF token.
    """
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        staff = _staff_for_token(header)
        if staff is None:
            abort(401, description="invalid or revoked API token")
        return Actor.of(staff)
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
        staff = db_session().scalar(
            select(Staff).where(Staff.username == form.username.data.strip())
        )
        if staff and staff.active and check_password_hash(staff.password_hash, form.password.data):
            login_user(staff)
            return redirect(_safe_next(request.args.get("next")) or url_for("pages.home"))
        flash(_("用户名或密码错误。"), "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str) -> Any:
    if code not in ("zh_CN", "en"):
        abort(400, description="unknown language")
    session["lang"] = code
    return redirect(_safe_next(request.form.get("next")) or url_for("pages.home"))


@login_manager.user_loader
def _load_user(user_id: str) -> Staff | None:
    if not user_id.isdigit():
        return None
    staff = db_session().get(Staff, int(user_id))
    return staff if staff is not None and staff.active else None


def init_app(app: Flask) -> None:
    """Bind login, CSRF and the login pages to ``app``."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    csrf.init_app(app)
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return render_template("error.html", code=400, message=exc.description), 400
