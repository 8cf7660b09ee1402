"""Fixtures for the agents tests: stored credentials, a clean cache and clean settings (the users
alice and bob come from the root conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache

from agents.limits import overrides_clear
from agents.modelcache import model_cache_clear
from providers.models import ProviderCredential, VerificationStatus

TEST_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _clean_state(settings):
    """Circuit breakers live in the cache: start every test without any. Platform credentials come from
    settings: start without any, so a developer's .env never leaks into a test."""
    cache.clear()
    model_cache_clear()
    overrides_clear()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [TEST_KEY]
    settings.AI_GATEWAY_ENABLED = False
    for name in (
        "AI_GATEWAY_CLIENT_ID",
        "AI_GATEWAY_CLIENT_SECRET",
        "AI_GATEWAY_BASE_URL",
        "AI_GATEWAY_TOKEN_URL",
        "AI_GATEWAY_DEFAULT_MODEL",
        "AI_GATEWAY_FAST_MODEL",
        "AI_GATEWAY_STANDARD_MODEL",
        "AI_GATEWAY_PREMIUM_MODEL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
    ):
        setattr(settings, name, "")
    settings.AGENTS_BREAKER_FAILURES = 3
    settings.AGENTS_BREAKER_WINDOW = 30.0
    settings.AGENTS_BREAKER_OPEN_SECONDS = 30.0
    settings.AGENTS_MAX_RETRY_WAIT = 5.0
    settings.AGENTS_RUN_TIMEOUT = 120.0
    yield
    cache.clear()
    model_cache_clear()


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


@pytest.fixture
def gateway():
    """A platform-side AI Gateway simulator (OAuth2 + OpenAI-compatible chat) on 127.0.0.1."""
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator(client_id="platform-client", client_secret="platform-secret-canary-0001") as sim:
        yield sim


@pytest.fixture
def gateway2():
    """A second gateway, for a user's own service account."""
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator(
        client_id="alice-client",
        client_secret="alice-secret-canary-0002",
        models=("alice-fast", "alice-standard", "alice-premium"),
    ) as sim:
        yield sim


@pytest.fixture
def platform_gateway(settings, gateway):
    """The operator's gateway, enabled (tried first), with a model per tier."""
    settings.AI_GATEWAY_ENABLED = True
    settings.AI_GATEWAY_CLIENT_ID = gateway.client_id
    settings.AI_GATEWAY_CLIENT_SECRET = gateway.client_secret
    settings.AI_GATEWAY_BASE_URL = gateway.base_url
    settings.AI_GATEWAY_TOKEN_URL = gateway.token_url
    settings.AI_GATEWAY_FAST_MODEL = "sim-fast"
    settings.AI_GATEWAY_STANDARD_MODEL = "sim-standard"
    settings.AI_GATEWAY_PREMIUM_MODEL = "sim-premium"
    return gateway


@pytest.fixture
def alice_gateway(alice, gateway2, make_credential):
    """Alice's own gateway service account (verified), on the second simulator."""
    return make_credential(
        alice,
        "ai_gateway",
        client_id=gateway2.client_id,
        client_secret=gateway2.client_secret,
        base_url=gateway2.base_url,
        token_url=gateway2.token_url,
        fast_model="alice-fast",
        standard_model="alice-standard",
        premium_model="alice-premium",
    )


@pytest.fixture
def openai_fake(settings):
    """A local server speaking OpenAI's wire format; the operator setting points OpenAI at it."""
    from providers.testing.fake_chat import FakeOpenAIChat

    with FakeOpenAIChat(
        valid_key="sk-alice-openai-canary-0003", models=["gpt-fast", "gpt-standard", "gpt-premium"]
    ) as fake:
        settings.PROVIDERS_OPENAI_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def alice_openai(alice, openai_fake, make_credential):
    """Alice's own OpenAI key (verified)."""
    return make_credential(
        alice,
        "openai",
        api_key=openai_fake.valid_key,
        priority=10,
        fast_model="gpt-fast",
        standard_model="gpt-standard",
        premium_model="gpt-premium",
    )
