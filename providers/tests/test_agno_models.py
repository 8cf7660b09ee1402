"""build_model() for the public providers: real Agno agents over real HTTP to local servers
speaking OpenAI's, Anthropic's and Gemini's wire formats (providers.testing.fake_chat)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from agno.agent import Agent, RunOutput
from agno.run.base import RunStatus

from providers import registry
from providers.secrets import Secret
from providers.testing.fake_chat import FakeAnthropicChat, FakeGeminiChat, FakeOpenAIChat
from providers.types import CredentialConfig

KEY = "test-key-0123456789abcdef"
ENV_CANARY = "env-key-that-must-never-be-sent"


@dataclass(frozen=True)
class Spec:
    provider: str
    fake: type
    setting: str
    model: str
    chat_path: str
    stream_path: str
    key_header: str
    agno_class: str


SPECS = [
    Spec(
        "openai",
        FakeOpenAIChat,
        "PROVIDERS_OPENAI_BASE_URL",
        "gpt-4o-mini",
        "/v1/chat/completions",
        "/v1/chat/completions",
        "authorization",
        "OpenAIChat",
    ),
    Spec(
        "anthropic",
        FakeAnthropicChat,
        "PROVIDERS_ANTHROPIC_BASE_URL",
        "claude-3-5-haiku-latest",
        # This anthropic SDK sends the key as a Bearer token (the fake accepts both).
        "/v1/messages",
        "/v1/messages",
        "authorization",
        "Claude",
    ),
    Spec(
        "gemini",
        FakeGeminiChat,
        "PROVIDERS_GEMINI_BASE_URL",
        "gemini-2.5-flash",
        "/v1/models/gemini-2.5-flash:generateContent",
        "/v1/models/gemini-2.5-flash:streamGenerateContent",
        "x-goog-api-key",
        "Gemini",
    ),
]


@pytest.fixture(params=SPECS, ids=[s.provider for s in SPECS])
def spec(request):
    return request.param


@pytest.fixture
def fake(spec, settings, monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(name, ENV_CANARY)
    with spec.fake(valid_key=KEY) as server:
        setattr(settings, spec.setting, server.base_url)
        yield server


@pytest.fixture
def model(spec, fake):
    return registry.get(spec.provider).build_model(
        CredentialConfig(provider=spec.provider, api_key=Secret(KEY)), spec.model
    )


def _headers(request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _assert_keys(fake) -> None:
    """Every request carried the credential's key and nothing from the environment."""
    assert fake.requests
    for request in fake.requests:
        assert ENV_CANARY not in json.dumps(request.headers) and ENV_CANARY.encode() not in request.body
        assert KEY in json.dumps(request.headers)
        assert KEY not in request.path


def _stream(events) -> tuple[str, int, RunOutput]:
    pieces = [e.content for e in events if type(e).__name__ == "RunContentEvent" and e.content]
    outputs = [e for e in events if isinstance(e, RunOutput)]
    assert len(outputs) == 1, [type(e).__name__ for e in events]
    return "".join(pieces), len(pieces), outputs[0]


def test_builder_class_and_settings(spec, model, fake):
    assert type(model).__name__ == spec.agno_class
    assert model.id == spec.model
    assert model.retries == 0


def test_repr_never_shows_the_key(spec, model, fake):
    # Tracebacks with locals, debuggers and error reporters print reprs; Agno's own show api_key.
    for text in (repr(model), str(model), repr(Agent(model=model)), repr([model])):
        assert KEY not in text and KEY[:12] not in text
    assert spec.model in repr(model)


def test_run(spec, model, fake):
    result = Agent(model=model, instructions="Answer briefly.").run("hello provider")
    assert result.status == RunStatus.completed, result.content
    assert result.content == "Echo: hello provider"
    assert fake.counts[spec.chat_path] == 1
    (request,) = fake.requests
    assert spec.key_header in _headers(request)
    # Usage numbers from the provider's response reach Agno's metrics.
    assert result.metrics.output_tokens == 3
    assert result.metrics.input_tokens > 0
    assert result.metrics.total_tokens == result.metrics.input_tokens + 3
    _assert_keys(fake)


def test_stream(spec, model, fake):
    events = list(Agent(model=model).run("one two three four", stream=True, yield_run_output=True))
    text, chunks, output = _stream(events)
    assert text == "Echo: one two three four"
    assert chunks >= 5
    assert output.status == RunStatus.completed
    assert output.metrics.output_tokens == 5
    assert fake.counter("stream") == 1
    assert fake.requests[0].path.startswith(spec.stream_path)


def test_arun_and_astream_across_event_loops(spec, model, fake):
    agent = Agent(model=model)
    for i in range(3):  # the same model instance on three successive event loops
        result = asyncio.run(agent.arun(f"loop {i}"))
        assert result.status == RunStatus.completed, result.content
        assert result.content == f"Echo: loop {i}"

    async def collect():
        return [e async for e in agent.arun("async stream here", stream=True, yield_run_output=True)]

    text, _, output = _stream(asyncio.run(collect()))
    assert text == "Echo: async stream here"
    assert output.metrics.output_tokens == 4
    assert fake.counter("chat") == 4
    _assert_keys(fake)


def test_scripted_reply_and_usage(spec, model, fake):
    fake.script_reply("A scripted answer.", usage={"prompt_tokens": 11, "completion_tokens": 7})
    result = Agent(model=model).run("anything")
    assert result.content == "A scripted answer."
    assert (result.metrics.input_tokens, result.metrics.output_tokens) == (11, 7)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_provider_errors_surface_as_error_status_without_retries(spec, model, fake, status):
    fake.inject(path_prefix="/v1", method="POST", status=status, headers={"Retry-After": "1"}, times=1)
    result = Agent(model=model).run("hello")
    assert result.status == RunStatus.error
    assert fake.counter("chat") == 0
    assert len(fake.requests) == 1  # neither the SDK nor Agno retried: the fallback loop decides
    assert Agent(model=model).run("again").status == RunStatus.completed


def test_wrong_key_is_an_error(spec, fake):
    model = registry.get(spec.provider).build_model(
        CredentialConfig(provider=spec.provider, api_key=Secret("wrong-key-000000")), spec.model
    )
    result = Agent(model=model).run("hello")
    assert result.status == RunStatus.error
    # The fake counts after it has answered: give its thread a moment.
    deadline = time.monotonic() + 2
    while fake.auth_failures < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.auth_failures == 1
    assert "wrong-key-000000" not in str(result.content)


@pytest.mark.parametrize("fault", [{"cut_after": 3}, {"error_after": 3}], ids=["cut", "error-event"])
def test_stream_broken_mid_way_is_an_error(spec, model, fake, fault):
    fake.stream_fault(**fault)
    events = list(Agent(model=model).run("one two three four five six", stream=True, yield_run_output=True))
    assert type(events[-1]).__name__ == "RunErrorEvent"
    assert not any(isinstance(e, RunOutput) for e in events)


def test_unknown_model_is_an_error(spec, fake):
    model = registry.get(spec.provider).build_model(
        CredentialConfig(provider=spec.provider, api_key=Secret(KEY)), "no-such-model"
    )
    assert Agent(model=model).run("hello").status == RunStatus.error


def test_backend_build_model_delegates(spec, fake):
    model = registry.get(spec.provider).build_model(
        CredentialConfig(provider=spec.provider, api_key=Secret(KEY)), spec.model
    )
    assert type(model).__name__ == spec.agno_class
    assert Agent(model=model).run("via the registry").content == "Echo: via the registry"


def test_gateway_backend_build_model():
    from providers.gateway.agno_model import AIGatewayModel
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator() as sim:
        config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(sim.client_id),
            client_secret=Secret(sim.client_secret),
            base_url=sim.base_url,
            token_url=sim.token_url,
        )
        model = registry.get("ai_gateway").build_model(config, "sim-standard", temperature=0.2)
        assert isinstance(model, AIGatewayModel) and model.temperature == 0.2
        assert Agent(model=model).run("gateway via registry").content == "Echo: gateway via registry"
        assert sim.chat_bodies[0]["temperature"] == 0.2


def test_build_model_rejects_missing_key_and_unknown_provider():
    with pytest.raises(ValueError):
        registry.get("openai").build_model(CredentialConfig(provider="openai"), "gpt-4o-mini")
    with pytest.raises(ValueError):
        registry.get("openai").build_model(CredentialConfig(provider="openai", api_key=Secret("k" * 20)), "")
    with pytest.raises(KeyError):
        registry.get("nope").build_model(CredentialConfig(provider="nope", api_key=Secret("k" * 20)), "m")


def test_provider_sdks_are_imported_lazily():
    code = (
        "import sys, providers.agno_support, providers.backends.openai, providers.backends.anthropic\n"
        "import providers.backends.gemini, providers.backends.ai_gateway\n"
        "heavy = [m for m in ('agno.models.anthropic', 'agno.models.google', 'anthropic', 'google.genai', 'openai')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
