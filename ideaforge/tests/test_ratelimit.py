"""ideaforge.ratelimit: budgets in memory, shared through a real Redis, and a Redis outage."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from ideaforge import ratelimit


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the socket is: nothing listens there


@pytest.fixture
def shared(settings, redis_url):
    """The limiter on the test Redis, under a cache key prefix of its own (the server lives for
    the session). Settings as a process started with REDIS_URL and CACHE_KEY_PREFIX gets them."""
    settings.CACHE_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    settings.RATELIMIT_STORAGE_URL = redis_url
    settings.RATELIMIT_KEY_PREFIX = f"{settings.CACHE_KEY_PREFIX}:limits"
    return settings


def test_a_budget_allows_its_calls_then_says_when_to_retry():
    assert [ratelimit.hit("3/minute", "t", "u1") for _ in range(3)] == [None, None, None]
    refused = ratelimit.hit("3/minute", "t", "u1")
    assert isinstance(refused, ratelimit.RetryAfter) and 55 <= refused.seconds <= 60
    # Per identifiers: another user, another namespace, have their own budgets.
    assert ratelimit.hit("3/minute", "t", "u2") is None
    assert ratelimit.hit("3/minute", "other", "u1") is None


def test_a_refused_call_consumes_nothing():
    assert ratelimit.hit("1/second", "t", "u") is None
    for _ in range(5):
        assert ratelimit.hit("1/second", "t", "u") is not None
    import time

    time.sleep(1.05)
    assert ratelimit.hit("1/second", "t", "u") is None


def test_several_limits_in_one_string_all_apply():
    assert [ratelimit.hit("2/minute;3/hour", "t", "u") is None for _ in range(3)] == [True, True, False]


@pytest.mark.redis
def test_two_processes_sharing_redis_enforce_one_budget_together(shared):
    assert [ratelimit.hit("10/minute", "t", "u") for _ in range(4)] == [None] * 4
    # Another process configured the same way gets the 6 calls left, not a fresh 10.
    code = (
        "import django; django.setup(); from ideaforge import ratelimit; "
        "print(sum(ratelimit.hit('10/minute', 't', 'u') is None for _ in range(10)))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
        "DJANGO_DEBUG": "true",
        "REDIS_URL": shared.RATELIMIT_STORAGE_URL,
        "CACHE_KEY_PREFIX": shared.CACHE_KEY_PREFIX,
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "6"
    assert ratelimit.hit("10/minute", "t", "u") is not None
    # Forgetting this process's state changes nothing: the budget lives in Redis.
    ratelimit.reset()
    assert ratelimit.hit("10/minute", "t", "u") is not None


@pytest.mark.redis
def test_two_limiters_on_one_redis_share_the_budget(shared):
    first = ratelimit._Limiter(shared.RATELIMIT_STORAGE_URL, shared.RATELIMIT_KEY_PREFIX)
    second = ratelimit._Limiter(shared.RATELIMIT_STORAGE_URL, shared.RATELIMIT_KEY_PREFIX)
    items = ratelimit.parse("5/minute")
    results = [limiter.hit(items, ("t", "u")) is None for limiter in (first, second) * 4]
    assert results == [True] * 5 + [False] * 3


def test_redis_down_falls_back_to_this_process_with_one_log_line_per_outage(settings, caplog, monkeypatch):
    settings.RATELIMIT_STORAGE_URL = f"redis://127.0.0.1:{closed_port()}/0"
    caplog.set_level(logging.WARNING, logger="ideaforge.ratelimit")
    # Never an error: the per-process limiter still enforces the budget.
    assert [ratelimit.hit("3/minute", "t", "u") is None for _ in range(5)] == [True, True, True, False, False]
    outage = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage) == 1 and "127.0.0.1" not in outage[0].getMessage()
    # Past the retry interval it tries Redis again; still down: still one line for this outage.
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.0)
    for _ in range(3):
        ratelimit.hit("3/minute", "t", "u2")
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


@pytest.mark.redis
def test_recovery_after_an_outage_is_logged_once_and_shares_again(shared, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="ideaforge.ratelimit")
    limiter = ratelimit._get_limiter()
    real = limiter.shared
    limiter.shared = ratelimit.MovingWindowRateLimiter(
        ratelimit._storage(f"redis://127.0.0.1:{closed_port()}/0", {"wrap_exceptions": True})
    )
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.0)
    assert ratelimit.hit("5/minute", "t", "u") is None and ratelimit.hit("5/minute", "t", "u") is None
    limiter.shared = real  # Redis is back
    assert ratelimit.hit("5/minute", "t", "u") is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in m for m in messages) == 1
    assert sum("is back after" in m for m in messages) == 1
    ratelimit.hit("5/minute", "t", "u")
    assert sum("is back after" in m for m in [r.getMessage() for r in caplog.records]) == 1


def test_an_invalid_rate_limit_setting_fails_the_system_check(settings):
    settings.PROVIDERS_VERIFY_RATE_LIMIT = "10/m"  # `limits` wants full unit names
    with pytest.raises(SystemCheckError, match=r"ideaforge\.E001"):
        call_command("check")
