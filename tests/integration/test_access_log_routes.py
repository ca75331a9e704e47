"""W7 over every route: a page or API answer that shows a customer's whole personal
data has written exactly one access log row first, naming who, what and where.

Every GET route of the app is requested by every role (pages with the login,
the API also with each role's token) over the database seeded for the
"reading writes nothing" check: cases in several states, calls of every kind,
a crew's field report. An answer holding a seeded phone number, address or
name whole (not masked) must have written exactly one ``access_log`` row for
that person and path; no answer may write more than one. A new route that
shows personal data whole without logging it fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from hotline.models import AccessLog
from tests.integration.pagehelp import logged_in

# The seeded database and the list of every GET path, shared with the check that
# GET requests write nothing else.
from tests.integration.test_get_writes_nothing import ROLES, Seeded, every_get_path
from tests.integration.test_get_writes_nothing import seeded as seeded

#: The seeded personal data, written whole as pages and the API show it.
WHOLE = (
    "138 0534 1234",
    "+8613805341234",
    "139 0534 1111",
    "+8613905341111",
    "139 0534 2222",
    "139 0534 3333",
    "139 0534 4444",
    "+8613905344444",
    "汉槐街 18 号",
    "汉槐街 20 号",
    "孙先生",
)


#: The telephony simulator plays the caller's own phone (a test tool with no customer
#: data of its own): it shows the number the tester dials from.
NOT_STAFF_VIEWS = ("/simulator",)


#: The call takers' live queue (calls ringing now, missed calls to call back): the
#: caller ID is the call's own, shown to operators and supervisors to answer and call
#: back (P1, W11) and refreshed every few seconds; it is not logged per refresh
#: (docs/privacy.md). Opening a call is logged.
LIVE_QUEUE = ("/console", "/api/calls/incoming")
CALL_TAKERS = ("operator", "operator2", "supervisor")


def shows_whole(response: Any) -> str | None:
    """The first piece of whole personal data the answer holds (None: none)."""
    text = response.get_data().decode("utf-8", "replace")  # photos and downloads too
    if response.is_json:
        text = json.dumps(response.get_json(), ensure_ascii=False)
    return next((piece for piece in WHOLE if piece in text), None)


def _rows(app: Any) -> list[AccessLog]:
    with app.extensions["hotline"].sessions() as session:
        return list(session.scalars(select(AccessLog).order_by(AccessLog.id)))


def _count(app: Any) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).select_from(AccessLog)) or 0


def test_w7_every_view_of_whole_personal_data_writes_exactly_one_access_log_row(
    app, seeded: Seeded
) -> None:
    """W7: every answer showing whole personal data is logged once, and only then shown."""
    paths = every_get_path(app, seeded)
    unlogged: list[tuple[str | None, str, str]] = []
    twice: list[tuple[str | None, str, int]] = []
    whole_views = 0
    for username in ROLES:
        clients = []
        if username is None:
            clients.append((app.test_client(), {}))
        else:
            clients.append((logged_in(app.test_client(), username), {}))
            token = {"Authorization": f"Bearer {seeded.org.tokens[username]}"}
            clients.append((app.test_client(), token))
        for client, headers in clients:
            for path in paths:
                if (headers and not path.startswith("/api/")) or path.startswith(NOT_STAFF_VIEWS):
                    continue
                before = _count(app)
                response = client.get(path, headers=headers)
                written = _count(app) - before
                assert response.status_code < 500, (username, path, response.status_code)
                if written > 1:
                    twice.append((username, path, written))
                piece = shows_whole(response) if response.status_code == 200 else None
                if piece is not None and not (path in LIVE_QUEUE and username in CALL_TAKERS):
                    whole_views += 1
                    if written != 1:
                        unlogged.append((username, path, piece))
                    else:
                        row = _rows(app)[-1]
                        assert row.staff_id == seeded.org[username].id, (username, path)
                        assert row.path.split("?")[0] == path.split("?")[0], (row.path, path)
    assert whole_views > 10  # the operators, dispatchers and crews really saw data whole
    assert unlogged == [], "whole personal data shown without an access log row:\n" + "\n".join(
        f"  {user} {path}: {piece}" for user, path, piece in unlogged
    )
    assert twice == [], f"more than one access log row for one view: {twice}"


@pytest.mark.parametrize("username", ["admin", "billing"])
def test_w7_roles_without_the_need_see_no_whole_personal_data_anywhere(
    app, seeded: Seeded, username: str
) -> None:
    """W7: an administrator (and the billing system's account) sees every page and API
    answer with the personal data masked, and so writes no access log row."""
    paths = every_get_path(app, seeded)
    page = logged_in(app.test_client(), username)
    token = {"Authorization": f"Bearer {seeded.org.tokens[username]}"}
    api = app.test_client()
    shown: list[tuple[str, str]] = []
    answered = 0
    for path in (p for p in paths if not p.startswith(NOT_STAFF_VIEWS)):
        for client, headers in ((page, {}), (api, token)):
            if headers and not path.startswith("/api/"):
                continue
            response = client.get(path, headers=headers)
            answered += response.status_code == 200
            piece = shows_whole(response) if response.status_code == 200 else None
            if piece is not None:
                shown.append((path, piece))
    assert answered > 10
    assert shown == [], f"{username} was shown whole personal data: {shown}"
