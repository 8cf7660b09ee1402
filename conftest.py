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
    cache (cooldowns, credential generations), credential snapshots and a remembered Redis outage."""
    from django.core.cache import cache

    from providers.snapshots import snapshots_clear
    from providers.gateway.tokens import get_token_manager
    from providers.redis_outage import outage

    outage.reset()
    get_token_manager().clear()
    cache.clear()
    snapshots_clear()
    yield
