"""Fixtures every app's tests share (pytest loads this file for all of testpaths)."""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-123")


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Every test starts without the process-wide state an earlier test left: cached gateway
    tokens (keyed by token URL, and a later simulator can get an earlier one's port), the local
    cache (circuit breakers, credential generations), credential snapshots, rate-limit budgets and a
    remembered Redis outage."""
    from django.core.cache import cache

    from ideaforge import ratelimit
    from providers.gateway.tokens import get_token_manager
    from providers.redis_outage import outage
    from providers.snapshots import snapshots_clear

    outage.reset()
    get_token_manager().clear()
    cache.clear()
    snapshots_clear()
    ratelimit.reset()
    yield


@pytest.fixture(scope="session")
def redis_url():
    """A real redis-server for the session. Skips when it is not installed, except under
    CI=true, where a missing Redis is a failure."""
    import os

    from providers.testing.redis_server import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is required under CI=true")
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server.url


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright leaves an event loop in the test thread, and the
    DJANGO_ALLOW_ASYNC_UNSAFE their conftest then sets must not switch Django's async-safety
    check off for the other tests (ideaforge/tests/browser/conftest.py)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
