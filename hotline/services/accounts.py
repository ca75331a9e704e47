"""Staff accounts: passwords, API tokens, opening and closing an account.

Passwords are hashed with Werkzeug (scrypt); only a token's SHA-256 is stored,
and each token has an expiry and can be revoked. Every login session carries
the person's ``session_version``: logout, deactivation and a password reset
raise it, so every session opened before ends there. The functions work in the
caller's unit of work and never commit; a refusal is an :class:`AccountError`
whose message says why. See docs/accounts.md.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hotline.domain.taxonomy import Role
from hotline.models import ApiToken, Staff, token_status
from hotline.services.access import Actor

MIN_PASSWORD_LENGTH = 8
#: Werkzeug's hashing method for staff passwords (scrypt; tests may use a cheaper one).
PASSWORD_HASH_METHOD = "scrypt"
#: Days an API token stays valid when nothing else is said.
DEFAULT_TOKEN_DAYS = 365


class AccountError(ValueError):
    """A staff account cannot be created or changed as asked; the message says why."""


class TokenRefused(Exception):
    """An API token that opens nothing; ``str()`` says why, ``known`` whether it exists."""

    def __init__(self, message: str, *, known: bool) -> None:
        super().__init__(message)
        self.known = known


# -- passwords -------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """The stored form of ``password``."""
    return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    """A hash of a random password, checked when there is no real one to check."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def authenticate(session: Session, username: str, password: str) -> Staff | None:
    """The active staff member with this user name and password, else None.

    Exactly one password hash is checked whatever the outcome: an unknown or
    deactivated user name costs the same as a wrong password.
    """
    staff = session.scalar(select(Staff).where(Staff.username == username.strip()))
    if staff is None or not staff.active:
        check_password_hash(_dummy_hash(PASSWORD_HASH_METHOD), password)
        return None
    return staff if check_password_hash(staff.password_hash, password) else None


# -- accounts --------------------------------------------------------------------------


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
    _check_password(password)
    if session.scalar(select(Staff).where(Staff.username == username)) is not None:
        raise AccountError(f"username '{username}' is taken")
    staff = Staff(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        department_id=department_id,
        password_hash=hash_password(password),
        active=True,
        created_at=now,
        session_version=1,
    )
    session.add(staff)
    return staff


def find_staff(session: Session, username: str) -> Staff:
    """The staff member called ``username``; :class:`AccountError` when there is none."""
    staff = session.scalar(select(Staff).where(Staff.username == username.strip()))
    if staff is None:
        raise AccountError(f"no staff member '{username.strip()}'")
    return staff


def end_sessions(staff: Staff) -> None:
    """End every login session of ``staff`` (in the caller's unit of work).

    The version is raised in SQL, so two requests doing it at once both count.
    """
    staff.session_version = Staff.session_version + 1  # type: ignore[assignment]


def session_is_current(staff: Staff | None, version: int) -> bool:
    """Whether a login session opened at ``version`` still holds for ``staff``."""
    return staff is not None and bool(staff.active) and staff.session_version == version


def deactivate_staff(session: Session, staff: Staff, *, now: datetime) -> int:
    """Close ``staff``'s account: no login, sessions ended, tokens revoked.

    Returns how many tokens were revoked. Refuses to close the last active
    administrator's account (:class:`AccountError`). The caller commits.
    """
    if staff.active and Role(staff.role) is Role.ADMIN:
        others = session.scalars(
            select(Staff.id).where(
                Staff.role == Role.ADMIN, Staff.active.is_(True), Staff.id != staff.id
            )
        ).first()
        if others is None:
            raise AccountError(f"'{staff.username}' is the last active administrator")
    staff.active = False
    end_sessions(staff)
    return len(revoke_tokens(session, now=now, staff=staff))


def activate_staff(staff: Staff) -> None:
    """Open ``staff``'s account again (tokens revoked at deactivation stay revoked)."""
    staff.active = True


def reset_password(staff: Staff, password: str) -> None:
    """Give ``staff`` a new password and end their sessions; the caller commits."""
    _check_password(password)
    staff.password_hash = hash_password(password)
    end_sessions(staff)


# -- API tokens ------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """What is stored of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    staff: Staff,
    name: str,
    *,
    now: datetime,
    days: int = DEFAULT_TOKEN_DAYS,
) -> str:
    """Create an API token for ``staff`` valid ``days`` days; returns its text, shown once."""
    if days < 1:
        raise AccountError("a token must be valid for at least 1 day")
    token = "hl_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            staff_id=staff.id,
            name=name,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    return token


_tokens = ApiToken.__table__
_staff = Staff.__table__
#: What a request's token check reads: the token's dates and its holder, by hash.
#: Plain columns (no objects loaded) and one statement built once, since every
#: API request runs it.
_TOKEN_CHECK = (
    select(
        _tokens.c.revoked_at,
        _tokens.c.expires_at,
        _staff.c.id,
        _staff.c.role,
        _staff.c.department_id,
        _staff.c.active,
    )
    .join_from(_tokens, _staff, _staff.c.id == _tokens.c.staff_id)
    .where(_tokens.c.token_hash == bindparam("token_hash"))
)


def token_actor(session: Session, token: str, *, now: datetime) -> Actor:
    """Who an API token acts for.

    Raises :class:`TokenRefused`: for a token nobody issued (``known`` false),
    or one expired, revoked or of a deactivated account (``known`` true).
    """
    row = (
        session.connection().execute(_TOKEN_CHECK, {"token_hash": hash_token(token)}).first()
        if token
        else None
    )
    if row is None:
        raise TokenRefused("invalid API token", known=False)
    status = token_status(row.revoked_at, row.expires_at, now)
    if status != "active":
        raise TokenRefused(f"token {status}", known=True)
    if not row.active:
        raise TokenRefused("account deactivated", known=True)
    return Actor(row.id, Role(row.role), row.department_id)


def list_tokens(
    session: Session, *, staff: Staff | None = None, include_revoked: bool = False
) -> list[ApiToken]:
    """The tokens (of one person, or everyone's), by person then age; revoked ones if asked."""
    query = select(ApiToken).order_by(ApiToken.staff_id, ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    if staff is not None:
        query = query.where(ApiToken.staff_id == staff.id)
    return list(session.scalars(query))


def revoke_tokens(
    session: Session,
    *,
    now: datetime,
    token_id: int | None = None,
    staff: Staff | None = None,
    name: str | None = None,
) -> list[ApiToken]:
    """Revoke the tokens not yet revoked that match: by id, or a person's (of one name).

    Returns the tokens revoked (none when nothing matched); the caller commits.
    """
    if token_id is None and staff is None:
        raise AccountError("say which token: its id, or the person (and the token's name)")
    query = select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    if staff is not None:
        query = query.where(ApiToken.staff_id == staff.id)
    if name is not None:
        query = query.where(ApiToken.name == name)
    tokens = list(session.scalars(query))
    for token in tokens:
        token.revoked_at = now
    return tokens
