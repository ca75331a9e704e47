"""Which languages the open dispatch boards use, across processes (``hotline.web.presence``).

The emitter renders a changed case's card only in those languages; these
tests hold the counting and its sharing through Redis, and the fallbacks
when the counts cannot be known (every language, as before).
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from hotline.web import presence
from tests.conftest import service_missing

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_one_process_counts_its_own_boards_by_language():
    local = presence.for_queue("", "c")
    assert type(local) is presence.Presence and local.languages() == frozenset()
    local.joined("a", "zh_CN")
    local.joined("b", "en")
    local.joined("c", "zh_CN")
    local.left("b")
    local.left("never-joined")
    assert local.languages() == {"zh_CN"}
    assert local.counts() == {"zh_CN": 2}
    local.reset()  # a forked child holds no connections
    assert local.languages() == frozenset()


def test_a_queue_it_cannot_read_means_every_language():
    unknown = presence.for_queue("kafka://somewhere", "c")
    unknown.joined("a", "en")
    assert unknown.languages() is None


def test_redis_that_does_not_answer_means_every_language_and_never_an_error(caplog):
    silent = presence.for_queue("redis://127.0.0.1:1/0", "c")
    assert isinstance(silent, presence.RedisPresence)
    silent.joined("a", "zh_CN")  # publishing fails quietly
    assert silent.languages() is None
    assert "cards go in every language" in caplog.text


@pytest.fixture
def redis_url():
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.ping()
    except redis.RedisError as exc:
        service_missing("Redis", f"{REDIS_URL} did not answer ({type(exc).__name__})")
    return REDIS_URL


@pytest.mark.redis
def test_the_live_process_counts_reach_an_emitting_process_through_redis(redis_url, monkeypatch):
    monkeypatch.setattr(presence, "CACHE_SECONDS", 0.0)
    channel = f"test-presence-{uuid.uuid4().hex}"
    live = presence.for_queue(redis_url, channel)
    web = presence.for_queue(redis_url, channel)
    other_installation = presence.for_queue(redis_url, channel + "-other")
    assert web.languages() == frozenset()

    live.joined("a", "zh_CN")
    live.joined("b", "en")
    assert web.languages() == {"zh_CN", "en"}
    assert other_installation.languages() == frozenset()

    client = redis.Redis.from_url(redis_url)
    [key] = client.keys(f"{channel}:boards:*")
    assert 0 < client.ttl(key) <= presence.TTL_SECONDS  # a dead process's counts expire

    live.left("b")
    assert web.languages() == {"zh_CN"}
    live.left("a")
    assert web.languages() == frozenset()
    assert client.keys(f"{channel}:boards:*") == []


@pytest.mark.redis
def test_an_emitting_process_reads_redis_at_most_once_a_second(redis_url):
    channel = f"test-presence-{uuid.uuid4().hex}"
    live = presence.for_queue(redis_url, channel)
    web = presence.for_queue(redis_url, channel)
    assert web.languages() == frozenset()
    live.joined("a", "en")
    assert web.languages() == frozenset()  # the sum read a moment ago
    web._cached = (0.0, None)  # a second later
    assert web.languages() == {"en"}
    live.left("a")
