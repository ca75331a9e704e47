"""In a real browser: the dispatch board moves its cards live.

A case taken in over the API appears in its column without a reload; the
deadline sweep's escalation turns its card red; a dispatcher opens a card and
assigns it to a crew member, and the card moves to 待签收; the wall screen
shows every column. The app runs on an injected clock, and the browser's
clock is set to the same instant, so the countdowns agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from dispatch.services.sweep import sweep
from hotline.db import Base, make_engine
from hotline.domain.taxonomy import Role
from hotline.models import Case
from hotline.web import realtime
from hotline.web.auth import create_staff
from tests.conftest import FakeClock
from tests.e2e.browser import RunningApp, log_in
from tests.e2e.server import LiveServer
from tests.support import PASSWORD, seed_org

INTAKE = {
    "channel": "phone",
    "outcome": "dispatch",
    "category": "leak",
    "problem": "路边冒水",
    "need": "维修",
    "address": "禹城市汉槐街 18 号",
    "contact_phone": "13805341234",
    "triage": "utility",
    "read_back_confirmed": True,
}
COLUMNS = ["queue", "assigned", "moving", "on_site", "review", "follow_up"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def board_app(tmp_path: Path, clock: FakeClock) -> Iterator[RunningApp]:
    """The app on a free loopback port over a seeded SQLite file, on the test's clock,
    with a crew member of the dispatch center's own."""
    from hotline.app import create_app

    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(
        {
            "database_url": url,
            "secret_key": "board-test-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
        },
        clock=clock,
    )
    svc = app.extensions["hotline"]
    org = seed_org(svc)
    with svc.sessions() as session:
        create_staff(
            session,
            username="own_crew",
            password=PASSWORD,
            role=Role.CREW,
            department_id=org.departments["DISPATCH"],
            now=svc.now(),
        )
        session.commit()
    try:
        with LiveServer(app) as server:
            yield RunningApp(url=server.url, org=org, app=app)
    finally:
        realtime.flush(5)
        app.extensions["hotline.engine"].dispose()


def _intake(running: RunningApp) -> str:
    response = requests.post(
        running.url + "/api/contacts",
        headers={"Authorization": f"Bearer {running.org.tokens['operator']}"},
        json=INTAKE,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["case_number"]


def _open_board(page: Any, running: RunningApp, clock: FakeClock, path: str = "/dispatch") -> None:
    page.clock.set_fixed_time(clock.now)
    log_in(page, running.url, "dispatcher")
    page.goto(running.url + path)
    expect(page.locator("#live-dot.on")).to_be_attached()
    page.evaluate("window.boardNotReloaded = true")


def _card(page: Any, column: str, number: str) -> Any:
    return page.locator(f"[data-cards={column}] .card[data-case='{number}']")


@pytest.mark.browser
def test_a_new_case_appears_in_its_column_without_a_reload(board_app, page, clock) -> None:
    _open_board(page, board_app, clock)
    expect(page.locator("[data-cards=queue] .board-empty")).to_be_visible()

    number = _intake(board_app)

    card = _card(page, "queue", number)
    expect(card).to_be_visible()
    expect(card).to_contain_text("禹城市汉槐街**")  # W7: cards show the street only
    expect(card.locator(".unseen-mark")).to_have_text("新")
    expect(card.locator("svg.cat-icon")).to_be_attached()
    expect(page.locator("[data-count=queue]")).to_have_text("1")
    expect(page.locator("[data-cards=queue] .board-empty")).to_be_hidden()
    assert page.evaluate("window.boardNotReloaded") is True


@pytest.mark.browser
def test_a_breach_turns_the_card_red_without_a_reload(board_app, page, clock) -> None:
    number = _intake(board_app)
    _open_board(page, board_app, clock)
    card = _card(page, "queue", number)
    expect(card.locator(".due")).not_to_have_class("due breach")
    expect(card.locator(".due.breach")).to_have_count(0)

    svc = board_app.app.extensions["hotline"]
    with svc.sessions() as session:
        due = session.scalar(select(Case.due_at).where(Case.number == number))
    clock.now = due + timedelta(minutes=1)
    page.clock.set_fixed_time(clock.now)
    sweep(svc, check_duty=False)  # escalates the breach and tells the board

    expect(card.locator(".due.breach")).to_be_visible()
    expect(card.locator(".unseen-mark")).to_have_text("升级")
    assert page.evaluate("window.boardNotReloaded") is True


@pytest.mark.browser
def test_a_dispatcher_assigns_from_the_card_and_it_moves_to_acknowledge(
    board_app, page, clock
) -> None:
    number = _intake(board_app)
    _open_board(page, board_app, clock)
    card = _card(page, "queue", number)

    with page.expect_response(f"{board_app.url}/cases/{number}/seen") as seen:
        card.click()
    assert seen.value.status == 204
    drawer = page.locator("#board-drawer")
    expect(drawer).to_be_visible()
    expect(drawer).to_contain_text("处理记录")
    expect(card.locator(".unseen-mark")).to_have_count(0)

    form = drawer.locator("form[data-action=assign_direct]")
    form.locator("select[name=staff_id]").select_option(label="own_crew · DISPATCH")
    expect(form.locator("select[name=department_id]")).to_have_value(
        str(board_app.org.departments["DISPATCH"])
    )
    form.locator("button[type=submit]").click()

    moved = _card(page, "assigned", number)
    expect(moved).to_be_visible()
    expect(moved).to_contain_text("own_crew")
    expect(_card(page, "queue", number)).to_have_count(0)
    expect(page.locator("[data-count=queue]")).to_have_text("0")
    expect(page.locator("[data-count=assigned]")).to_have_text("1")
    expect(drawer.locator("h2")).to_contain_text("已派工")
    assert page.evaluate("window.boardNotReloaded") is True


@pytest.mark.browser
def test_a_refused_action_says_why_in_the_drawer(board_app, page, clock) -> None:
    number = _intake(board_app)
    _open_board(page, board_app, clock)
    _card(page, "queue", number).click()
    form = page.locator("#board-drawer form[data-action=assign_direct]")
    # a crew member of another department cannot be sent directly
    form.locator("select[name=staff_id]").select_option(label="crew · REPAIR")
    form.locator("button[type=submit]").click()

    expect(page.locator("#board-drawer .drawer-error")).to_contain_text("未保存")
    expect(_card(page, "queue", number)).to_be_visible()


@pytest.mark.browser
def test_the_wall_screen_shows_every_column_and_keeps_up(board_app, page, clock) -> None:
    _open_board(page, board_app, clock, "/dispatch?wall=1")

    for key in COLUMNS:
        column = page.locator(f"section.board-column[data-column={key}]")
        expect(column).to_be_in_viewport()
        box = column.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1440
    assert page.locator("main form:visible, .topbar form:visible").count() == 0
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 20

    number = _intake(board_app)
    expect(_card(page, "queue", number)).to_be_visible()
    assert page.evaluate("window.boardNotReloaded") is True


@pytest.mark.browser
def test_the_board_fits_a_phone(board_app, new_page, clock) -> None:
    number = _intake(board_app)
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    _open_board(page, board_app, clock)
    expect(_card(page, "queue", number)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    _card(page, "queue", number).click()
    expect(page.locator("#board-drawer")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('board-drawer').scrollWidth") <= 390
