"""Live updates to browsers over Socket.IO (Flask-SocketIO, threading mode): the transport.

Each logged-in connection joins the rooms of its person (:func:`rooms_for`):
``staff:<id>``, ``dept:<id>``, ``dispatch`` for dispatchers and supervisors,
``operators`` for those who take calls. Who is told about a case change is
decided where the change is published (``dispatch.web.live``, after the
transaction commits); here an event goes out to the rooms it names in one
emit, and Socket.IO's client manager sends it once to each connection however
many of those rooms it is in (in this process and, through the Redis queue,
in every other one).

:func:`emit` and :func:`emit_to` only put the event on a bounded queue; one
background thread per process hands it to Socket.IO, so a request never waits
for the fan-out to hundreds of browsers and a failed emit never reaches the
caller. An event may come with a function the emitter thread runs first, to
replace it with events of its own (e.g. one carrying what only one room may
see, and the plain one to the other rooms, leaving that room's connections
out: :data:`EXCEPT_PREFIX`); work done after the commit that the request
does not wait for. :func:`stats` counts what happened, :func:`flush` waits
for the queue to drain. With Flask's ``TESTING`` set (or ``LIVE_INLINE_DELIVERY = True`` in
the Flask config), events are delivered in the caller's thread instead, so
Flask-SocketIO's test client sees them when the request returns.

With a Redis ``message_queue`` setting any process (several web workers, the
scheduler) can reach any browser; without one, the single embedded process
serves them itself. ``HOTLINE_PROCESS_ROLE=web`` in the environment makes a
process emit only: it refuses Socket.IO connections (browsers connect to the
``live_url`` process) and sends through the message queue.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request
from flask_login import current_user
from flask_socketio import SocketIO, join_room
from socketio import Manager, RedisManager

from hotline.domain.taxonomy import Role
from hotline.settings import SettingsError
from hotline.web import presence as board_presence

log = logging.getLogger(__name__)

socketio = SocketIO()

NAMESPACE = "/live"
DISPATCH_ROOM = "dispatch"

#: Events waiting for the emitter; beyond this the oldest is dropped.
QUEUE_LIMIT = 10_000
#: The environment variable naming what this process does ("web": emit only).
ROLE_VARIABLE = "HOTLINE_PROCESS_ROLE"
ROLES = ("", "web", "live")
#: Flask config key: deliver in the caller's thread (default: ``app.testing``).
INLINE_KEY = "LIVE_INLINE_DELIVERY"
#: Flask config key: the message queue's channel (default "flask-socketio"); every
#: process of one installation uses the same, installations sharing a Redis differ.
CHANNEL_KEY = "SOCKETIO_CHANNEL"
#: Seconds between two "queue full" warnings in the log.
DROP_WARNING_INTERVAL = 10.0


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


# -- the emitter ---------------------------------------------------------------------------


#: A room name with this prefix, in the list an event goes to, leaves out that
#: room's connections (see :class:`_ExceptRooms`).
EXCEPT_PREFIX = "!except:"


@dataclass(frozen=True)
class _Event:
    name: str
    rooms: list[str]
    payload: dict[str, Any]
    #: Connections in any of these rooms are left out (even when in ``rooms`` too).
    skip_rooms: tuple[str, ...] = ()
    #: Run in the emitter thread, not the caller's: the events to send instead of
    #: this one (e.g. with what only a room may see rendered in). If it raises,
    #: this event goes out as it is.
    expand: Callable[[], list[_Event]] | None = None


def _emit(event: _Event) -> None:
    """Hand one event to Socket.IO: one emit to the list of rooms."""
    to = event.rooms + [EXCEPT_PREFIX + room for room in event.skip_rooms]
    socketio.emit(event.name, event.payload, to=to, namespace=NAMESPACE)


class _ExceptRooms:
    """Client manager mixin: room names with :data:`EXCEPT_PREFIX` in an emit's
    list of rooms leave out the connections of those rooms.

    The list travels unchanged through the message queue, so the process holding
    the connections leaves them out; every process uses the same manager class.
    """

    def get_participants(self, namespace: str, room: Any) -> Any:
        base = super().get_participants  # type: ignore[misc]
        if not isinstance(room, (list, tuple)):
            yield from base(namespace, room)
            return
        excluded = [r[len(EXCEPT_PREFIX) :] for r in room if str(r).startswith(EXCEPT_PREFIX)]
        rooms = [r for r in room if not str(r).startswith(EXCEPT_PREFIX)]
        if not rooms:
            return
        if not excluded:
            yield from base(namespace, rooms)
            return
        skip = {sid for sid, _ in base(namespace, excluded)}
        for sid, eio_sid in base(namespace, rooms):
            if sid not in skip:
                yield sid, eio_sid


class _Manager(_ExceptRooms, Manager):
    """The in-process client manager, with rooms left out on request."""


class _RedisManager(_ExceptRooms, RedisManager):
    """The Redis message queue's client manager, with rooms left out on request."""


class Emitter:
    """A bounded queue of events and the one daemon thread that emits them.

    ``send`` is what does the emitting (the Socket.IO emit; tests pass their
    own). The thread starts on the first event and again on the next event if
    it has died; after ``os.fork`` the child starts with an empty queue and
    counters of its own.
    """

    def __init__(self, send: Callable[[_Event], None] = _emit, limit: int = QUEUE_LIMIT) -> None:
        self.send = send
        self.limit = limit
        self.inline = False
        self._reset()

    def _reset(self) -> None:
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # the thread waits here for events
        self._idle = threading.Condition(lock)  # flush waits here for the queue to drain
        self._events: deque[_Event] = deque()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._counts = {"published": 0, "delivered": 0, "failed": 0, "dropped": 0}
        self._last_drop_warning = 0.0
        self._drops_unreported = 0

    def put(self, event: _Event) -> None:
        """Queue ``event`` (or, inline, deliver it now); never raises for a failed emit."""
        if self.inline:
            with self._ready:
                self._counts["published"] += 1
            self._deliver(event)
            return
        with self._ready:
            self._counts["published"] += 1
            if len(self._events) >= self.limit:
                self._events.popleft()
                self._counts["dropped"] += 1
                self._drops_unreported += 1
                self._warn_dropped()
            self._events.append(event)
            self._ready.notify()
            if self._thread is None or not self._thread.is_alive():
                self._start()

    def _warn_dropped(self) -> None:
        now = time.monotonic()
        if now - self._last_drop_warning >= DROP_WARNING_INTERVAL:
            log.warning(
                "live updates: queue full (%d events), dropped the oldest %d; %d dropped in all",
                self.limit,
                self._drops_unreported,
                self._counts["dropped"],
            )
            self._last_drop_warning = now
            self._drops_unreported = 0

    def _start(self) -> None:
        if self._thread is not None:
            log.warning("live updates: the emitter thread had stopped; starting it again")
        self._thread = threading.Thread(target=self._run, name="live-emitter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._events:
                    self._ready.wait()
                event = self._events.popleft()
                self._busy += 1
            try:
                self._deliver(event)
            finally:
                with self._ready:
                    self._busy -= 1
                    self._idle.notify_all()

    def _deliver(self, event: _Event) -> None:
        events = [event]
        if event.expand is not None:
            try:
                events = event.expand()
            except Exception:
                log.exception("live updates: could not prepare %r; sent as it is", event.name)
        try:
            for one in events:
                self.send(one)
        except Exception:
            with self._ready:
                self._counts["failed"] += 1
            log.exception("live updates: could not emit %r to %s", event.name, event.rooms)
        else:
            with self._ready:
                self._counts["delivered"] += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been emitted; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._events or self._busy:
                if self._events and (self._thread is None or not self._thread.is_alive()):
                    self._start()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.5))
        return True

    def stats(self) -> dict[str, Any]:
        """The counters, the events waiting and whether the thread runs."""
        with self._ready:
            return {
                **self._counts,
                "queued": len(self._events),
                "emitter_alive": self._thread is not None and self._thread.is_alive(),
            }


emitter = Emitter()
os.register_at_fork(after_in_child=emitter._reset)
atexit.register(emitter.flush, 2.0)  # a command that published on its way out


def emit(
    rooms: list[str],
    event: str,
    payload: Mapping[str, Any],
    expand: Callable[[], list[_Event]] | None = None,
) -> None:
    """Send ``event`` to every connection in any of ``rooms``, once each (queued).

    ``expand``, when given, runs in the emitter thread and returns the events
    to send instead (:func:`event`); if it raises, this one goes out as it is.
    """
    emitter.put(_Event(event, list(rooms), dict(payload), expand=expand))


def event(
    rooms: list[str], name: str, payload: Mapping[str, Any], skip_rooms: tuple[str, ...] = ()
) -> _Event:
    """One event for :func:`emit`'s ``expand``: to ``rooms``, leaving out ``skip_rooms``."""
    return _Event(name, list(rooms), dict(payload), tuple(skip_rooms))


def skips_rooms() -> bool:
    """Whether this process's client manager leaves out rooms (:data:`EXCEPT_PREFIX`)."""
    manager = getattr(getattr(socketio, "server", None), "manager", None)
    return isinstance(manager, _ExceptRooms)


def emit_to(room: str, event: str, payload: Mapping[str, Any]) -> None:
    """Send ``event`` to one room (e.g. an incoming call to the operators), queued."""
    emitter.put(_Event(event, [room], dict(payload)))


def stats() -> dict[str, Any]:
    """What this process's live updates did: for a health endpoint.

    ``published`` events were handed to :func:`emit` or :func:`emit_to`,
    ``delivered`` were handed to Socket.IO's manager (and so to the message
    queue when there is one), ``failed`` raised while emitting, ``dropped`` were
    pushed out of a full queue; ``queued`` wait now.
    """
    return emitter.stats()


def flush(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for the queue to drain; True if it did."""
    return emitter.flush(timeout)


# -- connections ---------------------------------------------------------------------------


#: This process's open connections: sid -> (staff id, session version at connect).
_connections: dict[str, tuple[int, int]] = {}
_connections_lock = threading.Lock()
#: Seconds between two checks that every open connection's login still holds.
SESSION_CHECK_SECONDS = 15.0
_checker: dict[str, Any] = {}


@socketio.on("connect", namespace=NAMESPACE)
def _connect(auth: Any = None) -> bool:
    """Only logged-in staff connect; each joins the rooms of their role."""
    if not current_user.is_authenticated:
        return False
    sid = request.sid  # type: ignore[attr-defined]
    rooms = rooms_for(Role(current_user.role), current_user.id, current_user.department_id)
    for room in rooms:
        join_room(room, sid=sid, namespace=NAMESPACE)
    with _connections_lock:
        _connections[sid] = (int(current_user.id), int(current_user.session_version))
    if DISPATCH_ROOM in rooms:
        from hotline.web.i18n import select_locale

        presence.joined(sid, select_locale())
    _start_session_checks()
    return True


@socketio.on("disconnect", namespace=NAMESPACE)
def _disconnect(*args: Any) -> None:
    sid = request.sid  # type: ignore[attr-defined]
    with _connections_lock:
        _connections.pop(sid, None)
    presence.left(sid)


#: Who watches the dispatch board, by page language (:mod:`hotline.web.presence`).
presence: board_presence.Presence = board_presence.Presence()
os.register_at_fork(after_in_child=lambda: presence.reset())


def board_languages() -> frozenset[str] | None:
    """The page languages of the dispatch boards open now, in any process of the
    installation; ``None`` when that cannot be known (render for every language)."""
    return presence.languages()


def stale_connections(read_staff: Callable[[set[int]], dict[int, tuple[bool, int]]]) -> list[str]:
    """The open connections whose login has ended since they connected (logout,
    deactivation, password reset): ``read_staff`` maps staff ids to (active,
    session version)."""
    with _connections_lock:
        open_now = dict(_connections)
    staff = read_staff({staff_id for staff_id, _ in open_now.values()}) if open_now else {}
    return [
        sid
        for sid, (staff_id, version) in open_now.items()
        if staff.get(staff_id, (False, 0)) != (True, version)
    ]


def end_stale_connections(app: Flask) -> int:
    """Disconnect every open connection whose login has ended; returns how many."""
    from hotline.services.staff import login_states

    def read_staff(ids: set[int]) -> dict[int, tuple[bool, int]]:
        svc = app.extensions["hotline"]
        with svc.readers() if svc.readers else svc.sessions() as session:
            return login_states(session, ids)

    closed = 0
    for sid in stale_connections(read_staff):
        # A connection the server no longer holds (its server stopped without a
        # disconnect event) is only forgotten, not counted as closed.
        if socketio.server.manager.is_connected(sid, NAMESPACE):
            socketio.server.disconnect(sid, namespace=NAMESPACE)
            closed += 1
        with _connections_lock:
            _connections.pop(sid, None)
        presence.left(sid)
    if closed:
        log.info("live updates: closed %d connection(s) whose login had ended", closed)
    return closed


def _start_session_checks() -> None:
    """Once per process: every SESSION_CHECK_SECONDS, close connections of ended logins."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if _checker.get("pid") == os.getpid() or app.testing:
        return  # tests call end_stale_connections themselves
    _checker["pid"] = os.getpid()

    def loop() -> None:
        while True:
            socketio.sleep(SESSION_CHECK_SECONDS)
            try:
                with app.app_context():
                    end_stale_connections(app)
            except Exception:  # a database hiccup: try again next round
                log.exception("live updates: could not check open connections' logins")
            presence.refresh()  # before this process's published board counts expire

    socketio.start_background_task(loop)


@dataclass(frozen=True)
class LiveSettings:
    """Where browsers connect for live updates, and whether this process serves them."""

    url: str
    cors_origins: tuple[str, ...]
    role: str

    @property
    def serves_connections(self) -> bool:
        return self.role != "web"


def _origin(value: Any, key: str) -> str:
    text = str(value or "").strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
        raise SettingsError(
            f"setting '{key}': expected an origin like https://live.example.cn "
            f"(scheme and host, no path), got {value!r}"
        )
    return text


def live_url(value: Any) -> str:
    """The ``live_url`` setting: empty, or an origin such as ``https://live.example.cn``."""
    if not str(value or "").strip():
        return ""
    return _origin(value, "live_url")


def cors_origins(value: Any) -> tuple[str, ...]:
    """The ``live_cors_origins`` setting: a list (or comma-separated text) of origins."""
    if value is None or value == "":
        return ()
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise SettingsError("setting 'live_cors_origins': expected a list of origins")
    if any(str(item).strip() == "*" for item in items):
        raise SettingsError(
            "setting 'live_cors_origins': '*' is refused, the connection carries the "
            "login cookie; list the origins the pages are served from"
        )
    return tuple(_origin(item, "live_cors_origins") for item in items)


def process_role(environ: Mapping[str, str] | None = None) -> str:
    """``HOTLINE_PROCESS_ROLE``: "" (everything), "web" (emit only) or "live"."""
    role = (environ if environ is not None else os.environ).get(ROLE_VARIABLE, "")
    role = role.strip().lower()
    if role not in ROLES:
        raise SettingsError(f"{ROLE_VARIABLE}: expected 'web', 'live' or nothing, got {role!r}")
    return role


class _AllowedOrigins:
    """Socket.IO's origin check: the page's own origin and the configured ones."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)

    def __call__(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        if origin in self.origins:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == own


class _RefuseLiveConnections:
    """WSGI wrapper of an emit-only process: ``/socket.io/`` is answered 404 at once."""

    def __init__(self, wsgi_app: Callable[..., Any], path: str = "/socket.io") -> None:
        self.wsgi_app = wsgi_app
        self.path = path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == self.path or path.startswith(self.path + "/"):
            body = b"live updates are not served by this process\n"
            start_response(
                "404 NOT FOUND",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.wsgi_app(environ, start_response)


def init_app(app: Flask, message_queue: str | None = None) -> None:
    """Bind Socket.IO to ``app``: threading mode, Redis as the queue when configured.

    Reads ``live_url`` and ``live_cors_origins`` from the settings and the
    process role from ``HOTLINE_PROCESS_ROLE``; raises :class:`SettingsError`
    naming the key for a value that cannot be used.
    """
    settings = app.config.get("HOTLINE") or {}
    live = LiveSettings(
        url=live_url(settings.get("live_url", "")),
        cors_origins=cors_origins(settings.get("live_cors_origins", [])),
        role=process_role(),
    )
    # Flask-SocketIO keeps the options (the queue manager among them) of an
    # earlier init_app; an app built later in the same process (tests, tools)
    # must get the ones it asks for.
    socketio.server_options.clear()
    options: dict[str, Any] = {
        "async_mode": "threading",
        "message_queue": message_queue or None,
        "manage_session": False,
    }
    channel = str(app.config.get(CHANNEL_KEY) or "flask-socketio")
    global presence
    presence = board_presence.for_queue(message_queue, channel)
    if not message_queue:
        options["client_manager"] = _Manager()
    elif message_queue.startswith(("redis://", "rediss://")):
        options["client_manager"] = _RedisManager(
            message_queue, channel=channel, write_only=not live.serves_connections
        )
    else:  # another queue: Flask-SocketIO's own manager, without rooms left out
        options["channel"] = channel
    if live.cors_origins:
        options["cors_allowed_origins"] = _AllowedOrigins(live.cors_origins)
        options["cors_credentials"] = True
    if live.serves_connections:
        socketio.init_app(app, **options)
    else:
        # No server for browsers here: a write-only manager sends to the queue.
        socketio.init_app(None, **options)
        app.extensions["socketio"] = socketio
        app.wsgi_app = _RefuseLiveConnections(app.wsgi_app)  # type: ignore[method-assign]
        if not message_queue:
            log.warning(
                "%s=web without socketio_message_queue: live updates reach no browser",
                ROLE_VARIABLE,
            )
        if not live.url:
            log.warning(
                "%s=web with an empty live_url: browsers look for live updates on this "
                "process, which refuses them",
                ROLE_VARIABLE,
            )
    app.extensions["hotline.live"] = live
    emitter.inline = bool(app.config.get(INLINE_KEY, app.testing))

    @app.context_processor
    def _live_context() -> dict[str, Any]:
        return {"live_url": live.url}
