"""Live updates to browsers over Socket.IO (Flask-SocketIO, threading mode).

Case changes are published only after their transaction commits, through
:func:`publish`, to rooms by audience: ``dispatch`` (dispatchers and
supervisors), ``dept:<id>`` (the department handling the case) and
``staff:<id>`` (its first responder, G7). With a Redis ``message_queue``
setting any process (several web workers, the scheduler) can reach any
browser; without one, the single embedded process serves them itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from flask_login import current_user
from flask_socketio import SocketIO, join_room

from hotline.taxonomy import Role

socketio = SocketIO()

DISPATCH_ROOM = "dispatch"


def rooms_for(role: Role, staff_id: int, department_id: int | None) -> list[str]:
    """The rooms a member of staff listens in."""
    rooms = [f"staff:{staff_id}"]
    if role in (Role.DISPATCHER, Role.SUPERVISOR):
        rooms.append(DISPATCH_ROOM)
    if role in (Role.OPERATOR, Role.SUPERVISOR):
        rooms.append("operators")  # supervisors take calls when the hotline is busy
    if department_id is not None:
        rooms.append(f"dept:{department_id}")
    return rooms


def audience(payload: Mapping[str, Any]) -> list[str]:
    """The rooms told about a case change."""
    rooms = [DISPATCH_ROOM]
    if payload.get("handler_department_id") is not None:
        rooms.append(f"dept:{payload['handler_department_id']}")
    if payload.get("first_responder_id") is not None:
        rooms.append(f"staff:{payload['first_responder_id']}")
    return rooms


def publish(payload: Mapping[str, Any], event: str = "case") -> None:
    """Send a committed change to everyone who should see it."""
    for room in audience(payload):
        socketio.emit(event, dict(payload), to=room, namespace="/live")


def emit_to(room: str, event: str, payload: Mapping[str, Any]) -> None:
    """Send ``event`` to one room (e.g. an incoming call to the operators)."""
    socketio.emit(event, dict(payload), to=room, namespace="/live")


@socketio.on("connect", namespace="/live")
def _connect(auth: Any = None) -> bool:
    """Only logged-in staff connect; each joins the rooms of their role."""
    if not current_user.is_authenticated:
        return False
    for room in rooms_for(Role(current_user.role), current_user.id, current_user.department_id):
        join_room(room, sid=request.sid, namespace="/live")  # type: ignore[attr-defined]
    return True


def init_app(app: Flask, message_queue: str | None = None) -> None:
    """Bind Socket.IO to ``app``: threading mode, Redis as the queue when configured."""
    # Flask-SocketIO keeps the queue manager of an earlier init_app; an app built
    # later in the same process (tests, tools) must get the queue it asks for.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=message_queue or None,
        manage_session=False,
    )
