"""Redis is a soft dependency of agent runs: a real redis-server holds the cache and the gateway
tokens, and is stopped, restarted and hung (SIGSTOP) between runs."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from agents.catalog import AGENTS
from agents.models import AgentRun, RunStatus
from agents.services import run_agent
from providers.redis_outage import outage
from providers.testing.redis_server import RedisServer, redis_server_binary

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

GENERATOR = AGENTS["idea_generator"]


@pytest.fixture
def server():
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed")
    with RedisServer() as running:
        yield running


@pytest.fixture
def production_redis(server, settings):
    """This process configured as in production: Redis holds the cache and the gateway tokens."""
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {"BACKEND": "providers.softcache.SoftRedisCache", "LOCATION": server.url, "KEY_PREFIX": "ideaforge"}
    }
    settings.PROVIDERS_REDIS_SOCKET_TIMEOUT = 0.2
    settings.PROVIDERS_REDIS_RETRY_SECONDS = 0.5
    yield server
    outage.reset()


def _outage_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and "Redis" in r.getMessage()]


def test_runs_survive_redis_down_are_recorded_and_recover(alice, platform_gateway, production_redis, caplog):
    direct = redis.Redis.from_url(production_redis.url)
    assert run_agent(agent=GENERATOR, user=alice, prompt="warm").text == "Echo: warm"
    assert direct.keys("ideaforge:*")  # shared state is in Redis

    production_redis.down()
    for i in range(5):
        assert run_agent(agent=GENERATOR, user=alice, prompt=f"down {i}").text == f"Echo: down {i}"
    assert AgentRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 6
    assert len(_outage_warnings(caplog)) == 1, [r.getMessage() for r in caplog.records]
    assert platform_gateway.token_requests == 1  # the process kept its token

    production_redis.up()
    time.sleep(0.6)
    assert run_agent(agent=GENERATOR, user=alice, prompt="back").text == "Echo: back"
    assert direct.keys("ideaforge:*"), "shared state is written to Redis again"
    assert AgentRun.objects.count() == 7
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
    assert len(_outage_warnings(caplog)) == 1
    direct.close()


def test_a_hung_redis_costs_bounded_time(alice, platform_gateway, production_redis, settings):
    settings.PROVIDERS_REDIS_RETRY_SECONDS = 30.0
    settings.PROVIDERS_REDIS_SOCKET_TIMEOUT = 1.0  # well above a run's own time, even on a busy machine
    run_agent(agent=GENERATOR, user=alice, prompt="warm")
    production_redis.pause()
    try:
        timings = []
        for i in range(5):
            started = time.monotonic()
            assert run_agent(agent=GENERATOR, user=alice, prompt=f"hung {i}").text == f"Echo: hung {i}"
            timings.append(time.monotonic() - started)
    finally:
        production_redis.resume()
    assert timings[0] < 4.0, timings  # one 1 s socket timeout, not redis-py's 5 s per call
    assert max(timings[1:]) < 1.0, timings  # the outage is remembered: Redis is not asked again
    assert AgentRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 6


def test_a_credential_written_while_redis_was_down_is_seen_after_recovery(
    alice, platform_gateway, production_redis, gateway2, alice_gateway
):
    """Another process's snapshot must not outlive a write it could not hear about. Redis goes
    away while this process disables Alice's own gateway, and comes back with its old data (a
    network partition); the "other process" is this one's snapshot from before the write."""
    from providers import snapshots

    assert run_agent(agent=GENERATOR, user=alice, prompt="own").run.credential_key == f"cred:{alice_gateway.pk}"
    other_process = snapshots._snapshots[alice.pk]
    direct = redis.Redis.from_url(production_redis.url)
    kept = {key: direct.dump(key) for key in direct.keys("ideaforge:*")}
    production_redis.down()
    alice_gateway.enabled = False
    alice_gateway.save()  # the signal replaces the generation token: only in this process now
    assert run_agent(agent=GENERATOR, user=alice, prompt="down").run.credential_key == "platform:ai_gateway"
    production_redis.up()
    direct = redis.Redis.from_url(production_redis.url)
    for key, value in kept.items():
        direct.restore(key, 0, value)
    time.sleep(0.6)
    snapshots._snapshots[alice.pk] = other_process
    assert run_agent(agent=GENERATOR, user=alice, prompt="back").run.credential_key == "platform:ai_gateway"
    direct.close()
