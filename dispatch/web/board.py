"""The dispatch board (调度大屏): the cases with dispatch, awaiting approval, being worked.

Built to be watched all shift. The page lists each table's cases by deadline;
afterwards ``live.js`` fetches one case's row (:func:`card`) whenever a change
to it is published (``dispatch.web.live``) and puts it in place, so new and
escalated cases arrive without a reload.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from dispatch.services.board import state_counts
from hotline.domain.lifecycle import DISPATCH_QUEUE, WORKING, State
from hotline.domain.taxonomy import Role
from hotline.services import CaseFilter, NotFound, get_case
from hotline.web import labels
from hotline.web.auth import roles_required
from hotline.web.pages import actor, case_rows, common, page_of_cases
from hotline.web.session import fresh_db_session, wiring

bp = Blueprint("board", __name__, template_folder="templates")

#: The board's tables, in the order shown, and the states each holds.
SECTIONS: dict[str, frozenset[State]] = {
    "queue": frozenset(DISPATCH_QUEUE),
    "pending": frozenset({State.EXTENSION_REQUESTED, State.DONE}),
    "working": frozenset({State.ASSIGNED, *WORKING}),
}
#: Rows per table on the page (the live updates keep them current).
PER_TABLE = 50


def board_section(state: str) -> str | None:
    """Which table of the dispatch board shows a case in ``state`` (None: not on the board)."""
    return next((name for name, states in SECTIONS.items() if state in states), None)


def board_counts(session: Any) -> dict[str, int]:
    """How many cases each table of the dispatch board holds (one grouped query)."""
    on_board = [str(state) for states in SECTIONS.values() for state in states]
    counts = dict.fromkeys(SECTIONS, 0)
    for state, number in state_counts(session, on_board).items():
        counts[board_section(state) or ""] += number
    return counts


@bp.route("/dispatch")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def page() -> Any:
    """Cases with dispatch first, then those awaiting approval, then every one being worked."""
    tables = {
        name: page_of_cases(CaseFilter(states=sorted(states)), per_page=PER_TABLE)
        for name, states in SECTIONS.items()
    }
    return render_template("dispatch/board.html", **tables, **common())


@bp.route("/dispatch/cards/<number>")
@roles_required(Role.DISPATCHER, Role.SUPERVISOR)
def card(number: str) -> Any:
    """One case's row of the dispatch board, the table it belongs in and the tables' sizes.

    ``{"case", "version", "section", "html", "counts"}``; ``section`` is None
    (and ``html`` empty) for a case no table shows; 404 for no such case.
    """
    session = fresh_db_session()
    try:
        case = get_case(session, actor(), number)
    except NotFound:
        response = jsonify(case=number, version=None, section=None, html="")
        response.status_code = 404
    else:
        section = board_section(case.state)
        html = ""
        if section is not None:
            now = wiring().now()
            html = render_template(
                "dispatch/_card.html",
                case=case_rows(session, [case], now)[0],
                labels=labels,
                now=now,
            )
        response = jsonify(
            case=case.number,
            version=case.version,
            section=section,
            html=html,
            counts=board_counts(session),
        )
    response.headers["Cache-Control"] = "no-store"
    return response
