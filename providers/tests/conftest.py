"""Shared fixtures for the providers tests (the users alice and bob come from the root conftest.py).
Helpers add fixtures here with small appended edits."""

from __future__ import annotations

import pytest

# pytest-django runs tests with DEBUG=False (Django's test setup forces it), so the DEBUG-only
# development key is not used and every write of a secret would fail. Give each test a real,
# throw-away key; tests about keys override `settings.CREDENTIALS_ENCRYPTION_KEYS` themselves.
_TEST_ENCRYPTION_KEY = __import__("cryptography.fernet", fromlist=["Fernet"]).Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _credentials_encryption_key(settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [_TEST_ENCRYPTION_KEY]


# --- helper B: settings page / JSON API fixtures -------------------------------------------

GATEWAY_CLIENT_ID = "sim-client-id-4242"
GATEWAY_CLIENT_SECRET = "sim-secret-value-9f8e7d6c"


@pytest.fixture
def gateway():
    """A running AI Gateway simulator whose valid service account is GATEWAY_CLIENT_ID/SECRET."""
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        yield sim


@pytest.fixture
def alice_client(alice):
    from django.test import Client

    client = Client()
    client.force_login(alice)
    return client


# --- helper D1: gateway simulator, token manager, real redis-server ---------------------------


@pytest.fixture
def gateway_sim():
    """A fresh AI Gateway simulator (default service account sim-client / sim-secret)."""
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator() as sim:
        yield sim


@pytest.fixture
def sim(gateway_sim):
    """The same simulator as `gateway_sim`, under the short name the token, task and Agno model
    tests use."""
    return gateway_sim


@pytest.fixture
def gateway_config_for():
    """Builds a CredentialConfig for any gateway simulator. credential_id None is the platform's
    (env) gateway, exempt from the URL policy; a number makes it a user's, which is checked."""
    from providers.secrets import Secret
    from providers.types import CredentialConfig

    def build(sim, credential_id: int | None = None) -> CredentialConfig:
        return CredentialConfig(
            credential_id=credential_id,
            provider="ai_gateway",
            client_id=Secret(sim.client_id),
            client_secret=Secret(sim.client_secret),
            base_url=sim.base_url,
            token_url=sim.token_url,
        )

    return build


@pytest.fixture
def gateway_config(gateway_sim, gateway_config_for):
    """A platform-style CredentialConfig for `gateway_sim` (no credential_id: no URL policy)."""
    return gateway_config_for(gateway_sim)


@pytest.fixture
def platform_gateway(settings, sim):
    """The operator's gateway (the AI_GATEWAY_* settings) pointed at `sim`."""
    settings.AI_GATEWAY_CLIENT_ID = sim.client_id
    settings.AI_GATEWAY_CLIENT_SECRET = sim.client_secret
    settings.AI_GATEWAY_BASE_URL = sim.base_url
    settings.AI_GATEWAY_TOKEN_URL = sim.token_url
    return sim


@pytest.fixture
def production(settings):
    """The URL policy as in production: HTTPS only, no private addresses, no allow-listed hosts."""
    settings.PROVIDERS_REQUIRE_HTTPS = True
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    settings.AI_GATEWAY_ALLOWED_HOSTS = []
    return settings


@pytest.fixture
def token_manager():
    """The process token manager, emptied before and after the test."""
    from providers.gateway.tokens import get_token_manager

    manager = get_token_manager()
    manager.clear()
    yield manager
    manager.clear()


OPENAI_KEY = "sk-openai-valid-key-0123abcd"


@pytest.fixture
def fake_openai(settings):
    """A running fake OpenAI (real HTTP) that the OpenAI backend is pointed at."""
    from providers.testing.fake_providers import FakeOpenAI

    with FakeOpenAI(valid_key=OPENAI_KEY, models=["gpt-4o-mini", "gpt-4o", "o3"]) as fake:
        settings.PROVIDERS_OPENAI_BASE_URL = fake.base_url
        yield fake
