"""In a real browser: the case page, once shown, marks what it showed as read.

The dispatcher adds a note to a case the operator opened; the operator's list
counts one unread change until the operator's browser shows the case page,
whose script then posts the change it showed (under the app's
Content-Security-Policy, with the CSRF header).
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from hotline.domain.lifecycle import Action, State
from hotline.models import Case, CaseSeen
from tests.e2e.browser import log_in
from tests.support import act, bring_case_to


def _seen_seq(app, staff_id: int, number: str, timeout: float = 10) -> int | None:
    """The operator's read mark of the case, waiting a little for the page's POST."""
    deadline = time.monotonic() + timeout
    while True:
        with app.extensions["hotline"].sessions() as session:
            case = session.scalar(select(Case).where(Case.number == number))
            seen = session.get(CaseSeen, (staff_id, case.id))
            if seen is not None or time.monotonic() > deadline:
                return None if seen is None else seen.seen_seq
        time.sleep(0.1)


@pytest.mark.browser
def test_the_case_page_marks_what_it_showed_as_read(live_server, page) -> None:
    svc = live_server.app.extensions["hotline"]
    org = live_server.org
    number = bring_case_to(svc, org, State.WITH_DISPATCH)  # opened by 'operator'
    act(svc, org["dispatcher"], number, Action.ADD_NOTE, note="已联系用户")
    with svc.sessions() as session:
        last = session.scalar(select(Case.last_event_seq).where(Case.number == number))

    log_in(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/operator")
    row = page.locator("tr", has=page.get_by_role("link", name=number))
    expect(row.locator(".badge")).to_have_text("1")

    with page.expect_response(f"{live_server.url}/cases/{number}/seen") as posted:
        page.get_by_role("link", name=number).click()
    assert posted.value.status == 204
    assert _seen_seq(live_server.app, org["operator"].id, number) == last

    page.goto(f"{live_server.url}/operator")
    expect(row.locator(".badge")).to_have_count(0)
