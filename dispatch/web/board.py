"""The dispatch board (调度大屏): a column per stage, a card per case, a side panel.

Built to be watched all shift and to run on a wall screen (``?wall=1`` or
``/dispatch/wall``: every column, large type, no forms). Which column shows
a case is :mod:`dispatch.domain.board`'s; the cards' countdowns are the
stage clocks' as the sweep reads them (:mod:`hotline.web.viewmodels`).

Live: ``board.js`` hears each case change (``dispatch.web.live``) with the
case's card and column in it (:func:`live_card`, rendered once per change
after the commit, in both languages) and moves the card; without one (an
event that could not carry it, the drawer's own changes) it fetches them
from :func:`card`. The side
panel is fetched again from :func:`panel`. Opening a card fetches
:func:`detail`: the history, the caller, the reason a pending decision
was asked with and the actions this role may take, which post to the case
API (``POST /api/cases/<number>/actions``) or, without the script, to the
case page's form.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, jsonify, render_template, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from dispatch.domain.board import COLUMNS, column_of
from dispatch.services import board as board_service
from dispatch.services.supervision import open_orders_by_case
from hotline import services
from hotline.domain import actions as case_actions
from hotline.domain.lifecycle import State
from hotline.domain.taxonomy import FollowUpOutcome, Role
from hotline.services import CaseFilter, NotFound, case_by_number, get_case
from hotline.web import labels, privacy, viewmodels
from hotline.web.auth import roles_required
from hotline.web.i18n import LANGUAGES
from hotline.web.pages import actor, case_rows, common, departments, staff_list
from hotline.web.session import db_session, fresh_db_session, wiring

bp = Blueprint(
    "board",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dispatch/static",
)

#: The follow-up outcomes a closing records (a dissatisfied one reopens instead).
CLOSING_OUTCOMES = (FollowUpOutcome.SATISFIED, FollowUpOutcome.BASICALLY_SATISFIED)
#: Cards per column on the page (the live updates keep them current).
PER_COLUMN = 50

#: Each column's title, by key (dispatch.domain.board.COLUMNS).
COLUMN_TITLES = {
    "queue": _l("待派单"),
    "assigned": _l("待签收"),
    "moving": _l("在途"),
    "on_site": _l("到场"),
    "review": _l("待审核"),
    "follow_up": _l("待回访"),
}

#: What a crew member is doing, as the side panel says it.
CREW_STATES = {
    "free": _l("空闲"),
    "assigned": _l("待签收"),
    "moving": _l("在途"),
    "on_site": _l("到场"),
}

#: The mark on a card not yet opened, by the event that put it there.
MARKS = {
    "deadline_escalated": _l("升级"),
    "return_work": _l("退单"),
    "reopen": _l("重启"),
}
NEW_MARK = _l("新")

#: A small glyph per category (16×16 SVG paths; no external files).
ICONS = {
    "leak": "M8 1C6 4 3 7.5 3 10a5 5 0 0 0 10 0c0-2.5-3-6-5-9z",
    "no_water": "M8 1C6 4 3 7.5 3 10a5 5 0 0 0 10 0c0-2.5-3-6-5-9zM2 2l12 12-1 1L1 3z",
    "water_quality": "M6 1h4v1H9v4l4 7.5A1 1 0 0 1 12 15H4a1 1 0 0 1-.9-1.5L7 6V2H6z",
    "meter_fault": "M8 2a6 6 0 1 0 0 12A6 6 0 0 0 8 2zm0 2a4 4 0 0 1 3.5 2L8 9 6.5 7.5 7.5 6.5z",
    "meter_well": "M2 2h12v12H2zm2 2v8h8V4zm1 1h2v2H5zm4 0h2v2H9zM5 9h2v2H5zm4 0h2v2H9z",
    "billing": "M2 3h12v10H2zm2 2v6h8V5zm2 1h4v1H6zm0 2h4v1H6z",
    "consultation": "M2 2h12v9H7l-3 3v-3H2zm5 2v1h2v1H8v2h1V7h1V4z",
    "complaint": "M8 1l7 13H1zm-1 4v5h2V5zm0 6v2h2v-2z",
    "suggestion": "M8 1a5 5 0 0 0-3 9v2h6v-2a5 5 0 0 0-3-9zM6 13h4v2H6z",
    "outage_enquiry": "M3 5h6V3h2v2h3v3h-3v2h-2V8H3zm1 5h2v4H4z",
}
DEFAULT_ICON = "M8 2a6 6 0 1 0 0 12A6 6 0 0 0 8 2z"


def age_parts(since: datetime, now: datetime) -> dict[str, int]:
    """How long a case has been open: whole days, hours and minutes."""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    return {"d": minutes // 1440, "h": minutes % 1440 // 60, "m": minutes % 60}


def _card_context(session: Any, cases: list[Any], now: datetime) -> dict[str, Any]:
    """What the cards of ``cases`` show besides the case: countdowns, unseen marks
    and open supervision orders (督办) by case id."""
    return {
        "rows": case_rows(session, cases, now),
        "unseen": board_service.unseen_marks(session, cases),
        "orders": open_orders_by_case(session, [case.id for case in cases], now),
    }


def _template_tools() -> dict[str, Any]:
    """The board templates' tools, as ``t`` (``labels`` itself comes with every page)."""
    tools = {
        "labels": labels,
        "icons": ICONS,
        "default_icon": DEFAULT_ICON,
        "marks": MARKS,
        "new_mark": NEW_MARK,
        "age_parts": age_parts,
        "column_of": column_of,
        "crew_states": CREW_STATES,
        "column_titles": COLUMN_TITLES,
    }
    return {"t": tools}


def _columns(session: Any, now: datetime) -> list[dict[str, Any]]:
    """Each column with its first :data:`PER_COLUMN` cards, most urgent first."""
    me = actor()
    out = []
    for column in COLUMNS:
        cases, total = services.list_cases(
            session,
            me,
            CaseFilter(states=sorted(column.states)),
            now=now,
            per_page=PER_COLUMN,
        )
        context = _card_context(session, cases, now)
        out.append(
            {
                "key": column.key,
                "title": COLUMN_TITLES.get(column.key, column.key),
                "total": total,
                "more": total > len(cases),
                **context,
            }
        )
    return out


def _panel_context(session: Any, now: datetime) -> dict[str, Any]:
    return {"panel": board_service.side_panel(session, now, wiring().timezone)}


def _render_board(wall: bool) -> Any:
    session = db_session()
    now = wiring().now()
    return render_template(
        "dispatch/board.html",
        columns=_columns(session, now),
        wall=wall,
        **_panel_context(session, now),
        **_template_tools(),
        **common(),
    )


@bp.route("/dispatch")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def page() -> Any:
    """The board: a column per stage, most urgent first; ``?wall=1`` for the wall screen."""
    return _render_board(request.args.get("wall") == "1")


@bp.route("/dispatch/wall")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def wall() -> Any:
    """The board for the wall screen: every column, large type, no forms."""
    return _render_board(True)


@bp.route("/dispatch/cards/<number>")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def card(number: str) -> Any:
    """One case's card, the column it belongs in and the columns' sizes.

    ``{"case", "version", "column", "section", "html", "counts"}`` (``section``
    names the column too); ``column`` is None (and ``html`` empty) for a case
    no column shows; 404 for no such case or one this person may not see.
    """
    session = fresh_db_session()
    try:
        case = get_case(session, actor(), number)
    except NotFound:
        response = jsonify(case=number, version=None, column=None, section=None, html="")
        response.status_code = 404
    else:
        column = column_of(case.state)
        html = _render_card(session, case) if column is not None else ""
        response = jsonify(
            case=case.number,
            version=case.version,
            column=column,
            section=column,
            html=html,
            counts=board_service.column_counts(session),
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_card(session: Any, case: Any) -> str:
    """One case's card, in the current language."""
    now = wiring().now()
    context = _card_context(session, [case], now)
    return render_template(
        "dispatch/_card.html",
        row=context["rows"][0],
        unseen=context["unseen"],
        orders=context["orders"],
        now=now,
        **_template_tools(),
    )


def _lang_tag(locale: str) -> str:
    """The page's ``<html lang>`` for a locale: ``zh_CN`` -> ``zh-CN``."""
    return locale.replace("_", "-")


def live_card(app: Flask, number: str, languages: Iterable[str] | None = None) -> dict[str, Any]:
    """Case ``number``'s card for the dispatch room's live event: what :func:`card`
    answers, with ``html`` by page language (``{"zh-CN": ..., "en": ...}``).

    Run by the emitter thread once per change, after the commit: one read of
    the case, one of the columns' sizes, one rendering per language of
    ``languages`` (locales; ``None``: every language). Everyone in the
    dispatch room may see every case. A board whose language is missing
    fetches the card.
    """
    wanted = set(LANGUAGES if languages is None else languages)
    with app.test_request_context("/dispatch"):
        session = db_session()
        case = case_by_number(session, number)
        column = column_of(case.state) if case is not None else None
        html: dict[str, str] = {}
        if case is not None and column is not None:
            for locale in (name for name in LANGUAGES if name in wanted):
                with force_locale(locale):
                    html[_lang_tag(locale)] = _render_card(session, case)
        return {
            "case": number,
            "version": case.version if case is not None else None,
            "column": column,
            "section": column,
            "html": html,
            "counts": board_service.column_counts(session),
        }


@bp.route("/dispatch/cards/<number>/detail")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def detail(number: str) -> Any:
    """An opened card: the caller, the history, the pending decision's reason, the actions.

    An HTML fragment for the board's drawer; 404 for no such case.
    """
    me = actor()
    session = fresh_db_session()
    case = get_case(session, me, number)
    personal = privacy.case_personal(me, case)
    privacy.log_if_whole(me.id, personal, "case", case.number)  # W7: before it is shown
    clocks = services.case_clocks(session, case)
    visits = services.case_visits(session, case)
    staff = staff_list()
    all_departments = departments()
    now = wiring().now()
    calendar = wiring().policy.calendar
    response = render_template(
        "dispatch/_drawer.html",
        case=case,
        personal=personal,
        events=services.history(session, me, number),
        pending=board_service.decision_reason(session, case),
        orders=open_orders_by_case(session, [case.id], now).get(case.id, []),
        offer=viewmodels.case_offer(me.role, State(case.state), visits, clocks),
        implied=case_actions.IMPLIED,
        follow_up_outcomes=CLOSING_OUTCOMES,
        State=State,
        case_due=viewmodels.case_due(clocks, now, calendar, fallback_due=case.due_at),
        departments=all_departments,
        crew=[s for s in staff if s.role == Role.CREW],
        everyone=[s for s in staff if s.role != Role.ADMIN],
        staff_names={s.id: s.display_name for s in staff},
        department_names={d.id: labels.department_name(d) for d in all_departments},
        now=now,
        **_template_tools(),
    )
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/dispatch/panel")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def panel() -> Any:
    """The side panel alone (crews, who is on duty, alarms, outages), for live refreshes."""
    session = fresh_db_session()
    now = wiring().now()
    html = render_template(
        "dispatch/_panel.html", now=now, **_panel_context(session, now), **_template_tools()
    )
    return html, 200, {"Cache-Control": "no-store"}
