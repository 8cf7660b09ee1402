"""The Redis cache backend degrades to per-process state: against a real redis-server that the
tests stop, restart and hang (SIGSTOP)."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from providers.redis_outage import outage
from providers.softcache import SoftRedisCache
from providers.testing.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.redis


@pytest.fixture
def server():
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")  # CI=true fails in the session fixture
    with RedisServer() as running:
        yield running


@pytest.fixture
def soft(server, settings):
    settings.PROVIDERS_REDIS_SOCKET_TIMEOUT = 0.2
    settings.PROVIDERS_REDIS_RETRY_SECONDS = 0.3
    cache = SoftRedisCache(server.url, {"KEY_PREFIX": "t"})
    yield cache
    outage.reset()


def _warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "providers.redis_outage"]


def test_down_answers_locally_logs_once_and_recovers(server, soft, caplog):
    soft.set("k", "shared")
    server.down()
    started = time.monotonic()
    assert soft.get("k") is None  # not an exception
    soft.set("k", "local")
    assert soft.get("k") == "local" and soft.get_many(["k"]) == {"k": "local"}
    assert soft.add("n", 1) and soft.incr("n") == 2
    for _ in range(50):
        soft.get("k")
    assert time.monotonic() - started < 1.0
    assert len(_warnings(caplog)) == 1 and outage.outages == 1

    server.up()  # empty, like a restarted Redis
    direct = redis.Redis.from_url(server.url)
    direct.set(soft.make_key("k"), b"stale")  # what a Redis that kept its data would still hold
    time.sleep(0.35)
    assert soft.get("k") is None  # the key written during the outage was dropped, not trusted
    soft.set("k", "shared again")
    assert direct.exists(soft.make_key("k"))
    assert soft.get("k") == "shared again"
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
    assert len(_warnings(caplog)) == 1
    direct.close()


def test_a_hung_redis_costs_one_timeout_per_retry_period(server, soft, settings):
    settings.PROVIDERS_REDIS_RETRY_SECONDS = 5.0
    soft.set("k", "v")
    server.pause()
    try:
        started = time.monotonic()
        assert soft.get("k") is None
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(100):
            soft.get("k")
            soft.set("k", "x")
        rest = time.monotonic() - started
    finally:
        server.resume()
    assert 0.15 < first < 1.0, first  # one socket timeout (0.2 s), not redis-py's 5 s
    assert rest < 1.0, rest  # 200 calls, not one 0.2 s timeout each: nobody waits on Redis again


def test_other_redis_errors_still_raise(soft):
    soft.set("text", "not a number")
    with pytest.raises(redis.ResponseError):
        soft.incr("text")
    assert not outage.in_outage


def test_threads_share_the_fallback_and_its_resync(server, soft):
    """Django makes one backend instance per thread: what one thread wrote during the outage is
    seen by another, and dropped from Redis whichever thread reaches Redis first."""
    other = SoftRedisCache(server.url, {"KEY_PREFIX": "t"})  # another thread's instance
    soft.set("k", "shared")
    server.down()
    soft.set("k", "local")
    assert other.get("k") == "local"
    server.up()
    direct = redis.Redis.from_url(server.url)
    direct.set(soft.make_key("k"), b"stale")
    time.sleep(0.35)
    assert other.get("k") is None and not direct.exists(soft.make_key("k"))
    direct.close()
