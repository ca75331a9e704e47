"""Who is told about a case change, live: the dispatch board and the case's people.

The app's publisher (``Services.publish``, called once a change has
committed) sends each case change to its audience: the dispatch board's room
(dispatchers and supervisors), the department handling the case and its first
responder (G7). The board fetches the changed case's row from
``dispatch.web.board``; the other pages reload or mark the case. Delivery is
``hotline.web.realtime``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    """Send a committed change to everyone who should see it (queued; returns at once)."""
    emit(audience(payload), event, payload)
