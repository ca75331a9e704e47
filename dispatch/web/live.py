"""Who is told about a case change, live: the dispatch board and the case's people.

The app's publisher (``Services.publish``, called once a change has
committed) sends each case change to its audience: the dispatch board's room
(dispatchers and supervisors), the department handling the case and its first
responder (G7). The dispatch room's event carries the changed case's card,
rendered once per change in the emitter thread after the commit
(``dispatch.web.board.live_card``, in each language a board is open in), so open boards put it in
place without a request; the other rooms get the plain event (a connection
in the dispatch room gets only the first), and their pages reload, mark the
case or fetch its card. Delivery is ``hotline.web.realtime``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, has_app_context

from hotline.web import realtime
from hotline.web.realtime import DISPATCH_ROOM, emit


def audience(payload: Mapping[str, Any]) -> list[str]:
    """The rooms told about a case change."""
    rooms = [DISPATCH_ROOM]
    if payload.get("handler_department_id") is not None:
        rooms.append(f"dept:{payload['handler_department_id']}")
    if payload.get("first_responder_id") is not None:
        rooms.append(f"staff:{payload['first_responder_id']}")
    # A supervision order (督办) is also heard by its addressee: a department or a person.
    if payload.get("to_department_id") is not None:
        rooms.append(f"dept:{payload['to_department_id']}")
    if payload.get("to_staff_id") is not None:
        rooms.append(f"staff:{payload['to_staff_id']}")
    return list(dict.fromkeys(rooms))


def publish(payload: Mapping[str, Any], event: str = "case") -> None:
    """Send a committed change to everyone who should see it (queued; returns at once).

    A case change to the dispatch room carries the case's card (``card``),
    rendered in the emitter thread in the languages of the boards open now
    (:func:`hotline.web.realtime.board_languages`; none open, no card); should
    that fail, everyone gets the plain event and the boards fetch the card.
    """
    rooms = audience(payload)
    number = payload.get("case")
    if not number or not has_app_context() or not realtime.skips_rooms():
        emit(rooms, event, payload)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    others = [room for room in rooms if room != DISPATCH_ROOM]
    plain = dict(payload)

    def with_card() -> list[Any]:
        from dispatch.web.board import live_card

        languages = realtime.board_languages()
        if languages is not None and not languages:  # no board open: nobody to render for
            return [realtime.event(rooms, event, plain)]
        card = live_card(app, number, languages)
        events = [realtime.event([DISPATCH_ROOM], event, {**plain, "card": card})]
        if others:
            events.append(realtime.event(others, event, plain, skip_rooms=(DISPATCH_ROOM,)))
        return events

    emit(rooms, event, payload, expand=with_card)
