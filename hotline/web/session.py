"""The request's one database session and the service wiring views reach it through.

A request opens at most one session, on first use, and closes it at teardown:
pages and the API read through it, and a command's unit of work runs in it
too (the service layer's ``session.begin()``), so a request holds one
connection at a time. :func:`wiring` is the running app's
:class:`~hotline.services.Services`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flask import Flask, current_app, g, has_request_context
from sqlalchemy.orm import Session, sessionmaker

from hotline.db import UnitSession
from hotline.services import Services


def wiring() -> Services:
    """The service wiring of the running app."""
    return current_app.extensions["hotline"]


def request_session_source(maker: sessionmaker[Any]) -> Callable[[], Session | None]:
    """The current request's one session, opened on first use (None outside a request)."""

    def current() -> Session | None:
        if not has_request_context():
            return None
        session = g.get("db_session")
        if session is None:
            session = maker()
            session.info["request_owned"] = True
            g.db_session = session
        return session

    return current


def db_session() -> Session:
    """The request's one session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = wiring().read_session()
    return g.db_session


def fresh_db_session() -> Session:
    """The request's session, restarted so it sees changes just committed.

    Inside an open unit of work (an idempotent command) it keeps the unit and
    reloads what it reads from it.
    """
    return cast(UnitSession, db_session()).refreshed()


def init_app(app: Flask) -> None:
    """Close the request's session when the request (or app context) ends."""

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
