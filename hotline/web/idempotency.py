"""Commands that may be sent twice: the ``Idempotency-Key`` header.

A client that sends a command (an intake, a case action, a console
submission) with ``Idempotency-Key: <its own unique text>`` can send it again
with the same key when the answer did not arrive (a dropped connection, a
server restarted after the commit): the second answer is the first one, marked
``Idempotent-Replayed: true``, and nothing is written twice.

The answer is kept in ``idempotent_requests`` in the same transaction as the
change (the request's unit of work, ``hotline.db.UnitSession``), so there is
never a saved change without its answer nor an answer without its change. Two
copies racing each other meet on the unique (staff, key) constraint: the one
that loses rolls back and answers with the winner's answer.

Keys belong to the member of staff who sent them; reusing a key for another
request (another path or body) is refused with 422. Failed commands (4xx) are
not kept: they wrote nothing and may be retried as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, make_response, request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from hotline.services.idempotency import KEEP_FOR, keep_answer, prune, stored_answer
from hotline.web.auth import api_actor
from hotline.web.session import db_session, wiring

if TYPE_CHECKING:
    from hotline.models import IdempotentRequest

#: Kept importable from here: how long answers are kept, and their pruning.
__all__ = ["HEADER", "KEEP_FOR", "REPLAYED_HEADER", "idempotent", "init_app", "prune"]

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200


class _Refused(Exception):
    """Leaves the unit of work with a rollback, carrying the answer to send."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _error(status: int, message: str) -> Response:
    response = jsonify(  # the shape of every JSON refusal (hotline.web.api_base.ErrorSchema)
        {"code": status, "error": "InvalidIdempotencyKey", "message": message, "field": HEADER}
    )
    response.status_code = status
    return response


def _key_problem(key: str) -> str | None:
    if not key or len(key) > MAX_KEY_LENGTH:
        return f"'{HEADER}' must be 1-{MAX_KEY_LENGTH} characters"
    if not all(33 <= ord(ch) < 127 for ch in key):
        return f"'{HEADER}' must be printable ASCII without spaces (e.g. a UUID)"
    return None


def _staff_id() -> int | None:
    """Who sends the command: a bearer token's owner or the logged-in person."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return api_actor().id  # 401 for a bad token, before anything else
    if current_user.is_authenticated:
        return int(current_user.id)
    return None


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(stored: IdempotentRequest) -> Response:
    response = make_response(stored.body, stored.status)
    response.content_type = stored.content_type
    if stored.location:
        response.headers["Location"] = stored.location
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _stored(staff_id: int, key: str) -> IdempotentRequest | None:
    return stored_answer(db_session(), staff_id, key)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command's view so that a repeated ``Idempotency-Key`` replays its answer."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        staff_id = _staff_id()
        if staff_id is None:
            return view(*args, **kwargs)  # not logged in: the view refuses as usual
        problem = _key_problem(key)
        if problem:
            return _error(400, problem)
        fingerprint = _fingerprint()
        stored = _stored(staff_id, key)
        if stored is not None:
            return _checked_replay(stored, fingerprint)
        session = db_session()
        try:
            with session.begin():
                response = make_response(view(*args, **kwargs))
                if response.status_code >= 400 or response.is_streamed:
                    raise _Refused(response)
                keep_answer(
                    session,
                    staff_id=staff_id,
                    key=key,
                    method=request.method,
                    path=request.path,
                    fingerprint=fingerprint,
                    status=response.status_code,
                    content_type=response.content_type or "application/json",
                    location=response.headers.get("Location", ""),
                    body=response.get_data(as_text=True),
                    now=wiring().now(),
                )
        except _Refused as refused:
            return refused.response
        except IntegrityError:
            # The same command with the same key was committed by a twin first.
            session.rollback()
            stored = _stored(staff_id, key)
            if stored is None:
                raise
            return _checked_replay(stored, fingerprint)
        return response

    return wrapper


def _checked_replay(stored: IdempotentRequest, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        return _error(422, f"this '{HEADER}' was already used for another request; send a new key")
    return _replay(stored)


def init_app(app: Flask) -> None:
    """Make every command under ``/api/`` (a POST) accept an ``Idempotency-Key``.

    Call after every blueprint is registered.
    """
    for rule in app.url_map.iter_rules():
        if rule.methods and "POST" in rule.methods and rule.rule.startswith("/api/"):
            app.view_functions[rule.endpoint] = idempotent(app.view_functions[rule.endpoint])
