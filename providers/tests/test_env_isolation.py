"""Issue 9, "Environment leaks": nothing from the SDKs' environment variables reaches a provider.

The openai SDK fills the organization, project and custom headers from `OPENAI_*`, the anthropic
SDK custom headers from `ANTHROPIC_CUSTOM_HEADERS`, google-genai its API version and keys from
`GOOGLE_*` / `GEMINI_*`. Every variable those SDKs read (grep of the installed
`openai`, `anthropic` and `google/genai` packages for `os.environ` / `getenv`) holds a canary;
real Agno agent runs through every backend go to local servers that record each request, and
no canary may appear in a header, the path and query, or the body.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from agno.agent import Agent

from providers import registry
from providers.secrets import Secret
from providers.testing.fake_chat import FakeAnthropicChat, FakeGeminiChat, FakeOpenAIChat
from providers.testing.gateway_simulator import GatewaySimulator
from providers.types import CredentialConfig

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET

KEY = "test-key-0123456789abcdef"
CANARY = "envcanary7q"

# What the installed SDKs read (values that would reach the wire are the point; the rest are
# set too, so a future SDK version that starts sending one is caught).
OPENAI_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_WEBHOOK_SECRET",
    "OPENAI_BASE_URL",
    "OPENAI_API_TYPE",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
)
ANTHROPIC_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_WEBHOOK_SIGNING_KEY",
    "ANTHROPIC_BASE_URL",
)
GOOGLE_VARIABLES = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_API_VERSION",
)
HEADER_VARIABLES = {
    "OPENAI_CUSTOM_HEADERS": f"X-Env-Leak: {CANARY}\nAuthorization: Bearer {CANARY}",
    "ANTHROPIC_CUSTOM_HEADERS": f"X-Env-Leak: {CANARY}\nx-api-key: {CANARY}",
}
# Switches whose canary value must not change where the request goes either.
SWITCHES = {"GOOGLE_GENAI_USE_VERTEXAI": "false", "GOOGLE_GENAI_USE_ENTERPRISE": ""}


@pytest.fixture
def canaries(monkeypatch):
    for name in (*OPENAI_VARIABLES, *ANTHROPIC_VARIABLES, *GOOGLE_VARIABLES):
        # URL-shaped where the SDK expects a URL, so a leak would show as a request elsewhere.
        value = f"http://127.0.0.1:9/{CANARY}" if name.endswith(("_URL", "_ENDPOINT")) else f"{CANARY}-{name.lower()}"
        monkeypatch.setenv(name, value)
    for name, value in {**HEADER_VARIABLES, **SWITCHES}.items():
        monkeypatch.setenv(name, value)


def assert_no_canary(requests) -> None:
    assert requests, "no request reached the server"
    for request in requests:
        wire = json.dumps(request.headers) + request.path + request.body.decode("utf-8", "replace")
        assert CANARY not in wire, (request.path, request.headers)
        assert "x-env-leak" not in {k.lower() for k in request.headers}
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert "openai-organization" not in headers and "openai-project" not in headers


def run_both(model) -> None:
    assert Agent(model=model).run("hello").content
    assert asyncio.run(Agent(model=model).arun("hello again")).content


@pytest.mark.parametrize(
    "provider, fake, setting, model_id",
    [
        ("openai", FakeOpenAIChat, "PROVIDERS_OPENAI_BASE_URL", "gpt-4o-mini"),
        ("anthropic", FakeAnthropicChat, "PROVIDERS_ANTHROPIC_BASE_URL", "claude-3-5-haiku-latest"),
        ("gemini", FakeGeminiChat, "PROVIDERS_GEMINI_BASE_URL", "gemini-2.5-flash"),
    ],
)
def test_public_providers_get_no_environment(canaries, settings, provider, fake, setting, model_id):
    with fake(valid_key=KEY) as server:
        setattr(settings, setting, server.base_url)
        model = registry.get(provider).build_model(CredentialConfig(provider=provider, api_key=Secret(KEY)), model_id)
        run_both(model)
        assert_no_canary(server.requests)


@pytest.mark.parametrize("credential_id", [7, None], ids=["users-gateway", "platform-gateway"])
def test_gateway_gets_no_environment(canaries, credential_id, token_manager):
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(GATEWAY_CLIENT_ID),
            client_secret=Secret(GATEWAY_CLIENT_SECRET),
            base_url=sim.base_url,
            token_url=sim.token_url,
            credential_id=credential_id,
        )
        model = registry.get("ai_gateway").build_model(config, "sim-fast")
        run_both(model)
        assert_no_canary(sim.requests)
