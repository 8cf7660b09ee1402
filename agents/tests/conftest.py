"""Fixtures for the agents tests: users, stored credentials, a clean cache and clean settings."""
from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from providers.models import ProviderCredential, VerificationStatus


TEST_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _clean_state(settings):
    """Cooldowns live in the cache: start every test without any. Platform credentials come from
    settings: start without any, so a developer's .env never leaks into a test."""
    cache.clear()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [TEST_KEY]
    settings.AI_GATEWAY_ENABLED = False
    for name in ("AI_GATEWAY_CLIENT_ID", "AI_GATEWAY_CLIENT_SECRET", "AI_GATEWAY_BASE_URL", "AI_GATEWAY_TOKEN_URL",
                 "AI_GATEWAY_DEFAULT_MODEL", "AI_GATEWAY_FAST_MODEL", "AI_GATEWAY_STANDARD_MODEL",
                 "AI_GATEWAY_PREMIUM_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        setattr(settings, name, "")
    settings.AGENTS_COOLDOWN_SECONDS = 30.0
    yield
    cache.clear()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-123")


@pytest.fixture
def make_credential():
    def make(owner, provider: str, *, status: str = VerificationStatus.VERIFIED, **fields: Any) -> ProviderCredential:
        if provider == "ai_gateway":
            fields.setdefault("client_id", "sim-client")
            fields.setdefault("client_secret", "sim-secret")
        else:
            fields.setdefault("api_key", f"sk-test-{provider}-0123456789")
        return ProviderCredential.objects.create(owner=owner, provider=provider, status=status, **fields)

    return make
