"""Which page languages the open dispatch boards use, across the installation's processes.

A change to a case goes to the dispatch room with the case's card rendered in,
once per page language (``dispatch.web.live``). Rendering costs the emitting
process a few milliseconds of CPU per language and change, which is wasted
when no board is open in that language, as on a quiet night or for every
intake under a burst with nobody watching. The process holding the
connections counts its boards by language (:func:`joined`, :func:`left`);
the emitter asks :func:`board_languages` before rendering.

* Without a message queue (one embedded process) the counts are this
  process's own.
* With Redis, each process holding connections keeps its counts in a hash
  ``<channel>:boards:<host>:<pid>`` that expires unless refreshed
  (:data:`TTL_SECONDS`; refreshed on every change and by the live process's
  periodic session check), and an emitting process sums the hashes it finds,
  at most once per :data:`CACHE_SECONDS`. A process that dies leaves its hash
  to expire.

``None`` means "not known" (another kind of queue, or Redis did not answer):
the card is rendered in every language, as it would be without this module.
A board that connects between the check and the event gets the event without
its card and fetches the card, so nothing is ever missed, only paid for.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a process's published counts live without a refresh.
TTL_SECONDS = 60
#: Seconds an emitting process reuses the sum it read from Redis.
CACHE_SECONDS = 1.0


class Presence:
    """This process's open boards by page language; the installation's through :meth:`languages`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[str, str] = {}  # sid -> locale

    def joined(self, sid: str, locale: str) -> None:
        with self._lock:
            self._boards[sid] = locale
        self._published()

    def left(self, sid: str) -> None:
        with self._lock:
            if self._boards.pop(sid, None) is None:
                return
        self._published()

    def counts(self) -> Counter[str]:
        """This process's open boards by locale."""
        with self._lock:
            return Counter(self._boards.values())

    def refresh(self) -> None:
        """Publish this process's counts again (before they expire)."""
        self._published()

    def languages(self) -> frozenset[str] | None:
        """The locales of the boards open now; ``None`` when that cannot be known."""
        return frozenset(self.counts())

    def _published(self) -> None:
        """Tell the other processes (nothing to do for a process on its own)."""

    def reset(self) -> None:
        """After a fork: the child holds no connections yet."""
        with self._lock:
            self._boards.clear()


class UnknownPresence(Presence):
    """A message queue this module cannot read: every language, always."""

    def languages(self) -> frozenset[str] | None:
        return None


class RedisPresence(Presence):
    """Counts shared through Redis, as hashes that expire unless refreshed."""

    def __init__(self, url: str, channel: str) -> None:
        super().__init__()
        self.url = url
        self.prefix = f"{channel}:boards:"
        self._client: Any = None
        self._client_pid = 0
        self._cached: tuple[float, frozenset[str] | None] = (0.0, None)
        self._warned = 0.0

    def _redis(self) -> Any:
        if self._client is None or self._client_pid != os.getpid():
            import redis

            self._client = redis.Redis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._client_pid = os.getpid()
        return self._client

    def _key(self) -> str:
        return f"{self.prefix}{socket.gethostname()}:{os.getpid()}"

    def _published(self) -> None:
        counts = self.counts()
        try:
            pipe = self._redis().pipeline()
            pipe.delete(self._key())
            if counts:
                pipe.hset(self._key(), mapping=dict(counts))
                pipe.expire(self._key(), TTL_SECONDS)
            pipe.execute()
        except Exception as error:  # the boards still get every event; only the card waits
            self._warn("could not publish the open boards", error)

    def languages(self) -> frozenset[str] | None:
        at, cached = self._cached
        now = time.monotonic()
        if now - at < CACHE_SECONDS:
            return cached
        try:
            client = self._redis()
            total: Counter[str] = Counter()
            for key in client.scan_iter(match=self.prefix + "*", count=100):
                for locale, n in client.hgetall(key).items():
                    total[locale.decode()] += int(n)
            found: frozenset[str] | None = frozenset(k for k, n in total.items() if n > 0)
        except Exception as error:
            self._warn("could not read the open boards", error)
            found = None
        self._cached = (now, found)
        return found

    def _warn(self, what: str, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("live updates: %s (%s); cards go in every language", what, error)

    def reset(self) -> None:
        super().reset()
        self._client = None
        self._cached = (0.0, None)


def for_queue(message_queue: str | None, channel: str) -> Presence:
    """The presence that fits the installation's message queue setting."""
    if not message_queue:
        return Presence()
    if message_queue.startswith(("redis://", "rediss://")):
        return RedisPresence(message_queue, channel)
    return UnknownPresence()
