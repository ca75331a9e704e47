"""The dispatch board's data: columns by stage, cards, unseen marks, the opened
card, the side panel and the wall screen."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from dispatch.domain.board import COLUMN_KEYS
from dispatch.models import DutyAlarm
from dispatch.services.outages import OutageNotice, publish_outage
from dispatch.services.sweep import sweep
from dispatch.web.board import COLUMN_TITLES
from hotline.domain.lifecycle import State
from hotline.models import Case
from hotline.services.incidents import post_update
from tests.integration.pagehelp import csrf_from, logged_in, text_of
from tests.support import bring_case_to

TITLES = ["待派单", "待签收", "在途", "到场", "待审核", "待回访"]


def _cards(html: str) -> dict[str, str]:
    """Each card of the page by case number."""
    return {
        number: card
        for card, number in re.findall(
            r'(<article class="card[^"]*" data-case="([^"]+)".*?</article>)', html, flags=re.S
        )
    }


def _column_of(html: str, number: str) -> str | None:
    for key, body in re.findall(
        r'<div class="cards" data-cards="(\w+)"[^>]*>(.*?)<p class="board-empty"', html, flags=re.S
    ):
        if f'data-case="{number}"' in body:
            return key
    return None


def _counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def _board(client) -> str:
    response = client.get("/dispatch")
    assert response.status_code == 200
    return text_of(response)


def test_the_board_has_a_column_per_stage_in_order(app, client, app_org) -> None:
    html = _board(logged_in(client, "dispatcher"))

    titles = re.findall(r'<h2 id="col-\w+">([^<]+?) <span', html)
    assert titles == TITLES
    assert list(_counts(html)) == list(COLUMN_KEYS)
    assert set(COLUMN_TITLES) == set(COLUMN_KEYS)
    assert "<h1>调度中心</h1>" in html


@pytest.mark.parametrize(
    ("state", "column"),
    [
        (State.WITH_DISPATCH, "queue"),
        (State.RETURNED, "queue"),
        (State.ASSIGNED, "assigned"),
        (State.WORKER_ASSIGNED, "assigned"),
        (State.IN_PROGRESS, "moving"),
        (State.EXTENSION_REQUESTED, "moving"),
        (State.ON_SITE, "on_site"),
        (State.DONE, "review"),
        (State.AWAITING_FOLLOW_UP, "follow_up"),
        (State.ANSWERED_ON_CALL, None),
    ],
)
def test_a_card_is_the_one_the_board_shows_in_the_column_it_shows_it_in(
    app, client, app_org, state, column
) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, state)
    bring_case_to(svc, app_org, State.WITH_DISPATCH)  # a neighbour on the board
    logged_in(client, "dispatcher")

    board = _board(client)
    response = client.get(f"/dispatch/cards/{number}")
    card = response.get_json()

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert card["case"] == number
    assert card["column"] == column == _column_of(board, number)
    assert card["counts"] == _counts(board)
    if column is None:
        assert card["html"] == ""
        assert number not in _cards(board)
    else:
        assert card["html"].strip() == _cards(board)[number].strip()
        assert f'data-version="{card["version"]}"' in card["html"]


def test_a_card_shows_the_number_icon_address_age_handler_and_countdown(
    app, client, app_org, clock
) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WORKER_ASSIGNED)
    clock.advance(hours=2, minutes=5)
    card = logged_in(client, "dispatcher").get(f"/dispatch/cards/{number}").get_json()["html"]

    assert f">{number}</a>" in card
    assert '<svg class="cat-icon cat-leak"' in card
    # W7: a card is a list entry: the street only; the drawer shows it whole, logged.
    assert "禹城市汉槐街**" in card and "18 号" not in card
    assert "2小时5分" in card
    assert "REPAIR · crew" in card  # the department and the person
    assert 'class="due' in card and "data-warn=" in card


def test_the_countdown_turns_amber_at_the_warning_and_red_at_breach(
    app, client, app_org, clock
) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    with svc.sessions() as session:
        case = session.scalar(select(Case).where(Case.number == number))
        started, due = case.stage_started_at, case.due_at
    logged_in(client, "dispatcher")

    def state() -> str:
        html = client.get(f"/dispatch/cards/{number}").get_json()["html"]
        return re.search(r'data-state="(\w+)"', html).group(1)

    assert state() == "ok"
    clock.now = started + (due - started) * (svc.policy.warning_share + 0.05)
    assert state() == "warn"
    clock.now = due + timedelta(minutes=1)
    assert state() == "breach"


def _seen(client, number: str) -> int:
    html = text_of(client.get(f"/dispatch/cards/{number}/detail"))
    seq = re.search(r'data-seq="(\d+)"', html).group(1)
    return client.post(
        f"/cases/{number}/seen", data={"seq": seq}, headers={"X-CSRFToken": csrf_from(html)}
    ).status_code


def test_new_and_escalated_cards_are_marked_until_someone_opens_the_case(
    app, app_org, clock
) -> None:
    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    dispatcher = logged_in(app.test_client(), "dispatcher")
    supervisor = logged_in(app.test_client(), "supervisor")

    def mark(client) -> str | None:
        html = client.get(f"/dispatch/cards/{number}").get_json()["html"]
        found = re.search(r'<span class="unseen-mark"[^>]*>([^<]+)</span>', html)
        return found.group(1) if found else None

    assert mark(dispatcher) == "新"
    assert "card unseen" in _cards(_board(dispatcher))[number]
    # opening the card fetches its detail: that alone marks nothing
    dispatcher.get(f"/dispatch/cards/{number}/detail")
    assert mark(dispatcher) == "新"
    # the board's script then says what it showed; the mark goes for everyone
    assert _seen(dispatcher, number) == 204
    assert mark(dispatcher) is None
    assert mark(supervisor) is None

    with svc.sessions() as session:
        due = session.scalar(select(Case.due_at).where(Case.number == number))
    clock.now = due + timedelta(minutes=1)
    sweep(svc, check_duty=False)
    assert mark(supervisor) == "升级"
    assert _seen(supervisor, number) == 204
    assert mark(dispatcher) is None


def test_a_card_opened_by_others_than_the_dispatch_center_stays_marked(app, app_org) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    operator = logged_in(app.test_client(), "operator")
    html = text_of(operator.get(f"/cases/{number}"))
    seq = re.search(r'id="case-seen"[^>]*data-seq="(\d+)"', html).group(1)
    operator.post(
        f"/cases/{number}/seen", data={"seq": seq}, headers={"X-CSRFToken": csrf_from(html)}
    )

    dispatcher = logged_in(app.test_client(), "dispatcher")
    assert "unseen-mark" in dispatcher.get(f"/dispatch/cards/{number}").get_json()["html"]


def test_an_extension_request_shows_its_reason_beside_approve_and_refuse(
    app, client, app_org
) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.EXTENSION_REQUESTED)

    response = logged_in(client, "dispatcher").get(f"/dispatch/cards/{number}/detail")
    html = text_of(response)

    assert response.status_code == 200
    pending = html.split('id="pending-reason"')[1].split("</section>")[0]
    assert "需要调配大口径管材" in pending
    assert "延期工作日:2" in pending
    actions = html.split('class="drawer-actions"')[1]
    assert 'data-action="approve_extension"' in actions
    assert 'data-action="reject_extension"' in actions
    assert html.index('id="pending-reason"') < html.index('data-action="approve_extension"')
    assert f'action="/cases/{number}/action"' in html  # the case page's endpoint, without script


def test_a_returned_case_shows_why_beside_the_assign_forms(app, client, app_org) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.RETURNED)

    html = text_of(logged_in(client, "dispatcher").get(f"/dispatch/cards/{number}/detail"))

    assert "不属于本科室" in html.split('id="pending-reason"')[1].split("</section>")[0]
    assert 'data-action="assign"' in html
    assert 'data-action="assign_direct"' in html


def test_an_opened_card_shows_the_caller_and_the_history(app, client, app_org) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)

    html = text_of(logged_in(client, "dispatcher").get(f"/dispatch/cards/{number}/detail"))

    caller = html.split('class="caller">')[1].split("</dd>")[0]
    assert "孙先生" in caller and "0534" in caller
    assert '<ol class="history">' in html
    assert html.count("<li>") >= 2  # registered, then with the dispatch center
    assert 'id="pending-reason"' not in html  # nothing waits for a decision


def test_assigning_from_the_card_through_the_api_moves_it(app, client, app_org) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    html = text_of(client.get(f"/dispatch/cards/{number}/detail"))
    version = int(re.search(r'class="case-detail"[^>]*data-version="(\d+)"', html).group(1))

    response = client.post(
        f"/api/cases/{number}/actions",
        json={
            "action": "assign",
            "version": version,
            "department_id": app_org.departments["REPAIR"],
        },
        headers={"X-CSRFToken": csrf_from(html)},
    )

    assert response.status_code == 200, response.get_json()
    card = client.get(f"/dispatch/cards/{number}").get_json()
    assert card["column"] == "assigned"
    assert card["counts"]["queue"] == 0 and card["counts"]["assigned"] == 1


def test_the_side_panel_shows_crews_duty_alarms_and_outages(app, client, app_org, clock) -> None:
    svc = app.extensions["hotline"]
    bring_case_to(svc, app_org, State.ON_SITE)  # in the hands of 'crew'
    now = svc.now()
    with svc.sessions() as session, session.begin():
        hour = now.replace(minute=0, second=0, microsecond=0)
        session.add(DutyAlarm(hour_starts_at=hour, raised_at=now, gaps=[]))
        publish_outage(
            session,
            OutageNotice(
                planned=True,
                area="汉槐街一带",
                area_keywords="汉槐街",
                reason="管网改造",
                starts_at=now + timedelta(days=3),
                ends_at=now + timedelta(days=3, hours=6),
            ),
            by_id=app_org["dispatcher"].id,
            now=now,
        )

    html = text_of(logged_in(client, "dispatcher").get("/dispatch/panel"))

    crew = re.search(rf'<li class="crew crew-(\w+)" data-crew="{app_org["crew"].id}"', html)
    assert crew and crew.group(1) == "on_site"
    assert re.search(rf'data-crew="{app_org["crew_meter"].id}" data-state="free"', html)
    assert "调度中心本小时无人值班" in html  # nobody on the roster now (P1)
    assert "无人值班告警" in html
    assert "汉槐街一带" in html and "计划" in html
    assert 'id="panel-crews"' in _board(client)


def test_the_side_panel_lists_open_incidents_with_their_latest_update(
    app, client, app_org, clock
) -> None:
    svc = app.extensions["hotline"]
    parent = bring_case_to(svc, app_org, State.WITH_DISPATCH, address="汉槐街 DN300 主管")
    restore = svc.now() + timedelta(hours=4)
    post_update(svc, app_org["dispatcher"], parent, "DN300 主管爆裂", restore, "抢修队已到场")
    quiet = bring_case_to(svc, app_org, State.WITH_DISPATCH)  # no update, no caller: no incident

    html = text_of(logged_in(client, "dispatcher").get("/dispatch/panel"))

    block = html.split('id="panel-incidents"')[1].split("</section>")[0]
    assert f'data-incident="{parent}"' in block
    assert "DN300 主管爆裂" in block and "预计恢复" in block
    assert quiet not in block


def test_the_wall_screen_shows_every_column_and_no_forms(app, client, app_org) -> None:
    bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")

    for path in ("/dispatch/wall", "/dispatch?wall=1"):
        html = text_of(client.get(path))
        main = html.split("<main>")[1]
        assert 'class="dispatch-board wall"' in html
        assert re.findall(r'<h2 id="col-\w+">([^<]+?) <span', html) == TITLES
        assert "<form" not in main
        assert 'id="board-drawer"' not in html
        assert "data-detail-url" not in html


@pytest.mark.parametrize(("username", "status"), [("operator", 403), ("crew", 403)])
def test_the_board_is_for_the_dispatch_center(app, client, app_org, username, status) -> None:
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, username)
    for path in (
        "/dispatch",
        "/dispatch/wall",
        "/dispatch/panel",
        f"/dispatch/cards/{number}",
        f"/dispatch/cards/{number}/detail",
    ):
        assert client.get(path).status_code == status, path


def test_an_unknown_case_has_no_card(client, app_org) -> None:
    logged_in(client, "supervisor")
    response = client.get("/dispatch/cards/RY-NOPE")
    assert response.status_code == 404
    assert response.get_json()["column"] is None
    assert client.get("/dispatch/cards/RY-NOPE/detail").status_code == 404


def test_the_board_speaks_english_through_the_catalogue(app, client, app_org) -> None:
    bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    html = text_of(client.get("/dispatch", headers={"Accept-Language": "en"}))
    if "To acknowledge" not in html:  # the language is the person's choice, not the browser's
        token = csrf_from(html)
        client.post("/lang/en", data={"csrf_token": token, "next": "/dispatch"})
        html = text_of(client.get("/dispatch"))
    assert "To acknowledge" in html and "On the way" in html
    assert "待签收" not in html


# -- live: the card travels with the dispatch room's event ---------------------------------


def _assign_through_the_api(client, app_org, number: str) -> None:
    html = text_of(client.get(f"/dispatch/cards/{number}/detail"))
    version = int(re.search(r'class="case-detail"[^>]*data-version="(\d+)"', html).group(1))
    response = client.post(
        f"/api/cases/{number}/actions",
        json={
            "action": "assign",
            "version": version,
            "department_id": app_org.departments["REPAIR"],
        },
        headers={"X-CSRFToken": csrf_from(html)},
    )
    assert response.status_code == 200, response.get_json()


def _case_events(screen, number: str) -> list[dict]:
    return [
        message["args"][0]
        for message in screen.get_received("/live")
        if message["name"] == "case" and message["args"][0].get("case") == number
    ]


@pytest.fixture
def queued(monkeypatch):
    """Events go through the emitter thread, as in production; open screens close after."""
    from hotline.web import realtime

    monkeypatch.setattr(realtime.emitter, "inline", False)
    opened = []
    original = realtime.socketio.test_client

    def test_client(*args, **kwargs):
        opened.append(original(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(realtime.socketio, "test_client", test_client)
    yield realtime
    realtime.flush(5)
    for screen in opened:
        if screen.is_connected("/live"):
            screen.disconnect(namespace="/live")


def test_the_dispatch_rooms_event_carries_the_card_rendered_after_the_request(
    app, client, app_org, queued
) -> None:
    import threading

    from flask import template_rendered

    from hotline.web.realtime import socketio

    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    crew_client = logged_in(app.test_client(), "crew")  # the REPAIR department's room only
    english = _in_english(logged_in(app.test_client(), "supervisor"))
    board = socketio.test_client(app, namespace="/live", flask_test_client=client)
    crew = socketio.test_client(app, namespace="/live", flask_test_client=crew_client)
    english_board = socketio.test_client(app, namespace="/live", flask_test_client=english)
    assert queued.flush(5)
    for screen in (board, crew, english_board):
        screen.get_received("/live")
    renders: list[tuple[str, str]] = []

    def record(sender, template, context, **extra) -> None:
        renders.append((template.name, threading.current_thread().name))

    with template_rendered.connected_to(record):
        _assign_through_the_api(client, app_org, number)
        request_renders = list(renders)
        assert queued.flush(5)

    # The request rendered no card; the emitter thread rendered it once per language.
    assert ("dispatch/_card.html", threading.current_thread().name) not in request_renders
    in_emitter = [name for name, thread in renders if name == "dispatch/_card.html"]
    assert len(in_emitter) == 2
    assert all(
        thread == "live-emitter" for name, thread in renders if name == "dispatch/_card.html"
    )

    [event] = _case_events(board, number)  # once, though also in the DISPATCH department's room
    card = event["card"]
    assert card["case"] == number and card["column"] == "assigned"
    assert card["version"] == event["version"]
    assert set(card["html"]) == {"zh-CN", "en"}
    assert f'data-version="{event["version"]}"' in card["html"]["zh-CN"]
    assert card["html"]["en"] != card["html"]["zh-CN"]
    fetched = client.get(f"/dispatch/cards/{number}").get_json()
    assert card["html"]["zh-CN"] == fetched["html"] and card["counts"] == fetched["counts"]

    [plain] = _case_events(crew, number)  # the department hears it, without the card
    assert "card" not in plain and plain["version"] == event["version"]
    [same] = _case_events(english_board, number)
    assert same["card"] == card


def _in_english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


def _card_renders(queued, action) -> list[str]:
    """The threads that rendered a board card while ``action`` ran and the queue drained."""
    import threading

    from flask import template_rendered

    renders: list[str] = []

    def record(sender, template, context, **extra) -> None:
        if template.name == "dispatch/_card.html":
            renders.append(threading.current_thread().name)

    with template_rendered.connected_to(record):
        action()
        assert queued.flush(5)
    return renders


def test_the_card_is_rendered_only_in_the_languages_of_the_boards_open_now(
    app, client, app_org, queued
) -> None:
    from hotline.web.realtime import board_languages, socketio

    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    board = socketio.test_client(app, namespace="/live", flask_test_client=client)
    assert queued.flush(5)
    board.get_received("/live")
    assert board_languages() == {"zh_CN"}

    renders = _card_renders(queued, lambda: _assign_through_the_api(client, app_org, number))

    assert renders == ["live-emitter"]  # once, in Chinese only
    [event] = _case_events(board, number)
    assert set(event["card"]["html"]) == {"zh-CN"}

    board.disconnect(namespace="/live")
    assert board_languages() == frozenset()


def test_with_no_board_open_no_card_is_rendered_and_the_rooms_still_hear_the_change(
    app, client, app_org, queued
) -> None:
    from hotline.web.realtime import board_languages, socketio

    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    crew_client = logged_in(app.test_client(), "crew")
    crew = socketio.test_client(app, namespace="/live", flask_test_client=crew_client)
    assert queued.flush(5)
    crew.get_received("/live")
    assert board_languages() == frozenset()

    renders = _card_renders(queued, lambda: _assign_through_the_api(client, app_org, number))

    assert renders == []
    [plain] = _case_events(crew, number)
    assert "card" not in plain and plain["action"] == "assign"


def test_each_event_carries_a_card_as_new_as_its_change(app, client, app_org, queued) -> None:
    from hotline.web.realtime import socketio

    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    board = socketio.test_client(app, namespace="/live", flask_test_client=client)
    assert queued.flush(5)
    board.get_received("/live")

    _assign_through_the_api(client, app_org, number)
    html = text_of(client.get(f"/dispatch/cards/{number}/detail"))
    assert queued.flush(5)

    events = _case_events(board, number)
    assert [e["action"] for e in events] == ["assign"]
    assert all(e["card"]["version"] >= e["version"] for e in events)
    assert f'data-version="{events[-1]["card"]["version"]}"' in html


def test_a_card_that_cannot_be_rendered_leaves_the_plain_event_to_everyone(
    app, client, app_org, queued, monkeypatch
) -> None:
    from dispatch.web import board as board_web
    from hotline.web.realtime import socketio

    def broken(*args):
        raise RuntimeError("no card")

    monkeypatch.setattr(board_web, "live_card", broken)
    number = bring_case_to(app.extensions["hotline"], app_org, State.WITH_DISPATCH)
    logged_in(client, "dispatcher")
    board = socketio.test_client(app, namespace="/live", flask_test_client=client)
    assert queued.flush(5)
    board.get_received("/live")

    _assign_through_the_api(client, app_org, number)
    assert queued.flush(5)

    [event] = _case_events(board, number)
    assert "card" not in event  # the board fetches it


# -- supervision orders (督办) on the board -----------------------------------------------


def test_a_card_with_open_supervision_orders_is_marked_and_red_when_overdue(
    app, client, app_org, clock
) -> None:
    from dispatch.services import supervision

    svc = app.extensions["hotline"]
    number = bring_case_to(svc, app_org, State.ASSIGNED)
    quiet = bring_case_to(svc, app_org, State.ASSIGNED)
    supervision.issue(
        svc,
        app_org["supervisor"],
        number,
        instruction="请今天下班前到场处理并回复",
        to_department_id=app_org.departments["REPAIR"],
        due_in_minutes=60,
    )
    logged_in(client, "dispatcher")

    cards = _cards(_board(client))
    assert 'class="supervision-mark"' in cards[number] and "督办" in cards[number]
    assert "supervision-mark" not in cards[quiet]
    drawer = text_of(client.get(f"/dispatch/cards/{number}/detail"))
    assert 'id="drawer-supervision"' in drawer and "请今天下班前到场处理并回复" in drawer
    assert 'id="drawer-supervision"' not in text_of(client.get(f"/dispatch/cards/{quiet}/detail"))

    clock.advance(minutes=61)
    assert 'class="supervision-mark overdue"' in _cards(_board(client))[number]
    card = client.get(f"/dispatch/cards/{number}").get_json()["html"]
    assert 'class="supervision-mark overdue"' in card
    assert 'class="supervision-order overdue"' in text_of(
        client.get(f"/dispatch/cards/{number}/detail")
    )
