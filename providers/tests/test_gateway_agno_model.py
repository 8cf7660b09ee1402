"""AIGatewayModel with real Agno agents over real HTTP to the gateway simulator.

The token manager is the real one (providers.gateway.tokens); nothing is mocked.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json

import pytest
from agno.agent import Agent, RunOutput
from agno.run.base import RunStatus
from pydantic import BaseModel

from providers import registry
from providers.exceptions import URLNotAllowed
from providers.gateway.agno_model import AIGatewayModel
from providers.testing.gateway_simulator import GatewaySimulator

CHAT = "/v1/chat/completions"
CANARY_ENV_KEY = "sk-should-never-be-sent"


@pytest.fixture(autouse=True)
def _isolated(settings, monkeypatch):
    from django.core.cache import cache

    from providers.gateway.tokens import get_token_manager

    cache.clear()
    get_token_manager().clear()
    # A real OpenAI key in the environment must never reach the gateway (asserted below).
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_ENV_KEY)
    yield
    cache.clear()


@pytest.fixture
def model(gateway_config):
    return registry.get("ai_gateway").build_model(gateway_config, "sim-fast")


def _chat_requests(sim: GatewaySimulator):
    return [r for r in sim.requests if r.path.startswith(CHAT)]


def _bearer(request) -> str:
    headers = {k.lower(): v for k, v in request.headers.items()}
    value = headers.get("authorization", "")
    assert value.startswith("Bearer ")
    return value[len("Bearer ") :]


def _assert_no_env_key(sim: GatewaySimulator) -> None:
    for request in sim.requests:
        assert CANARY_ENV_KEY not in json.dumps(request.headers)
        assert CANARY_ENV_KEY.encode() not in request.body


def _stream_text(events) -> tuple[str, int, RunOutput]:
    pieces = [e.content for e in events if type(e).__name__ == "RunContentEvent" and e.content]
    outputs = [e for e in events if isinstance(e, RunOutput)]
    assert len(outputs) == 1
    return "".join(pieces), len(pieces), outputs[0]


def test_builder_returns_gateway_model_with_system_role_and_no_retries(model):
    assert isinstance(model, AIGatewayModel)
    assert model.id == "sim-fast"
    assert model.max_retries == 0 and model.retries == 0
    assert model.default_role_map["system"] == "system"


def test_run_answers_with_token_from_manager_and_usage(sim, model):
    agent = Agent(model=model, instructions="Be brief.")
    result = agent.run("hello gateway")
    assert result.status == RunStatus.completed, result.content
    assert result.content == "Echo: hello gateway"
    (request,) = _chat_requests(sim)
    assert _bearer(request) in sim.valid_tokens()
    body = sim.chat_bodies[0]
    assert body["model"] == "sim-fast"
    assert body["messages"][0]["role"] == "system"
    # Usage numbers come from the simulator's response, through Agno's metrics.
    prompt = sum(len(str(m["content"]).split()) + 3 for m in body["messages"])
    assert result.metrics.input_tokens == prompt
    assert result.metrics.output_tokens == 3
    assert result.metrics.total_tokens == prompt + 3
    _assert_no_env_key(sim)


def test_arun(sim, model):
    result = asyncio.run(Agent(model=model).arun("hello async"))
    assert result.status == RunStatus.completed, result.content
    assert result.content == "Echo: hello async"
    assert result.metrics.output_tokens == 3
    assert sim.chat_requests == 1
    _assert_no_env_key(sim)


def test_stream_sync(sim, model):
    events = list(Agent(model=model).run("one two three four", stream=True, yield_run_output=True))
    text, chunks, output = _stream_text(events)
    assert text == "Echo: one two three four"
    assert chunks >= 5  # word deltas arrive one by one
    assert output.status == RunStatus.completed
    assert output.metrics.output_tokens == 5 and output.metrics.input_tokens > 0
    assert sim.counter("stream") == 1
    assert sim.chat_bodies[0]["stream"] is True


def test_stream_async(sim, model):
    async def collect():
        return [e async for e in Agent(model=model).arun("async stream please", stream=True, yield_run_output=True)]

    text, chunks, output = _stream_text(asyncio.run(collect()))
    assert text == "Echo: async stream please"
    assert chunks >= 4
    assert output.metrics.output_tokens == 4
    assert sim.counter("stream") == 1
    _assert_no_env_key(sim)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_call_round(sim, model):
    sim.script_tool_call("add", {"a": 2, "b": 40})
    result = Agent(model=model, tools=[add]).run("what is 2 + 40?")
    assert result.status == RunStatus.completed, result.content
    assert result.content == "Tool result: 42"
    assert sim.chat_requests == 2
    tool_message = sim.chat_bodies[1]["messages"][-1]
    assert tool_message == {"role": "tool", "content": "42", "tool_call_id": "call_1"}
    assert [t.tool_name for t in result.tools] == ["add"]
    # Only OpenAI's own function keys go to the gateway.
    (tool,) = sim.chat_bodies[0]["tools"]
    assert set(tool["function"]) <= {"name", "description", "parameters", "strict"}


def test_streamed_tool_call_fragments_are_merged(sim, model):
    sim.script_tool_call("add", {"a": 7, "b": 8}, then="The sum is 15.")

    async def collect():
        agent = Agent(model=model, tools=[add])
        return [e async for e in agent.arun("7 + 8?", stream=True, yield_run_output=True)]

    text, _, output = _stream_text(asyncio.run(collect()))
    assert text == "The sum is 15."
    assert sim.chat_bodies[1]["messages"][-1]["content"] == "15"
    assert output.tools[0].tool_args == {"a": 7, "b": 8}


def test_agno_tool_keys_are_stripped(model):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "d",
                "parameters": {"type": "object"},
                "requires_confirmation": True,
                "external_execution": False,
            },
        }
    ]
    params = model.get_request_params(tools=tools)
    assert params["tools"] == [
        {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    ]
    assert "requires_confirmation" in tools[0]["function"]  # the caller's dict is left alone


class Assessment(BaseModel):
    verdict: str
    score: int
    risks: list[str]


def test_structured_output(sim, model):
    result = Agent(model=model, output_schema=Assessment).run("assess this idea")
    assert result.status == RunStatus.completed, result.content
    assert isinstance(result.content, Assessment)
    fmt = sim.chat_bodies[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Assessment"


def test_same_instance_across_event_loops(sim, model):
    agent = Agent(model=model)
    answers = [asyncio.run(agent.arun(f"loop {i}")) for i in range(3)]
    assert [a.status for a in answers] == [RunStatus.completed] * 3
    assert [a.content for a in answers] == [f"Echo: loop {i}" for i in range(3)]
    # ... and the sync path still works on the same instance.
    assert agent.run("sync after").content == "Echo: sync after"
    assert sim.token_requests == 1  # one token, shared through the manager


def test_one_instance_shared_by_threads(sim, model):
    from concurrent.futures import ThreadPoolExecutor

    agent_answers = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        agent_answers = list(pool.map(lambda i: Agent(model=model).run(f"thread {i}"), range(16)))
    assert [a.content for a in agent_answers] == [f"Echo: thread {i}" for i in range(16)]
    assert sim.token_requests == 1 and sim.unauthorized_requests == 0


def test_revoked_token_refreshes_once_then_succeeds(sim, model):
    agent = Agent(model=model)
    assert agent.run("first").status == RunStatus.completed
    first_token = _bearer(_chat_requests(sim)[0])
    sim.revoke_tokens()
    sim.reset_counters()
    result = agent.run("after revocation")
    assert result.status == RunStatus.completed, result.content
    assert sim.unauthorized_requests == 1
    assert sim.token_requests == 1
    assert sim.counts[CHAT] == 2
    retried = _chat_requests(sim)[-1]
    assert _bearer(retried) != first_token and _bearer(retried) in sim.valid_tokens()


def test_revoked_token_refreshes_once_async_stream(sim, model):
    agent = Agent(model=model)
    asyncio.run(agent.arun("warm up"))
    sim.revoke_tokens()
    sim.reset_counters()

    async def collect():
        return [e async for e in agent.arun("stream after revocation", stream=True, yield_run_output=True)]

    text, _, _output = _stream_text(asyncio.run(collect()))
    assert text == "Echo: stream after revocation"
    assert (sim.unauthorized_requests, sim.token_requests, sim.counts[CHAT]) == (1, 1, 2)


def test_persistent_401_is_retried_only_once(sim, model):
    sim.inject(path_prefix=CHAT, status=401, body={"error": {"message": "nope", "type": "invalid_request_error"}})
    result = Agent(model=model).run("hello")
    assert result.status == RunStatus.error
    assert sim.counts[CHAT] == 2  # the request and one retry with a fresh token, no loop


def test_server_error_surfaces_without_sdk_retries(sim, model):
    sim.fail(503, times=1)
    result = Agent(model=model).run("hello")
    assert result.status == RunStatus.error
    assert sim.counts[CHAT] == 1  # max_retries=0: the fallback loop decides, not the SDK
    assert Agent(model=model).run("again").status == RunStatus.completed


def test_stream_cut_mid_way_is_an_error(sim, model):
    sim.stream_fault(cut_after=3)
    events = list(Agent(model=model).run("one two three four five", stream=True, yield_run_output=True))
    assert [type(e).__name__ for e in events][-1] == "RunErrorEvent"
    assert sum(1 for e in events if type(e).__name__ == "RunContentEvent") >= 1  # output had started
    assert sim.counts[CHAT] == 1  # never retried after output began


def test_token_expiry_during_long_stream(gateway_config_for):
    with GatewaySimulator(token_lifetime=1) as sim:
        sim.chunk_delay = 0.12
        agent = Agent(model=registry.get("ai_gateway").build_model(gateway_config_for(sim), "sim-fast"))
        words = " ".join(f"w{i}" for i in range(12))
        text, chunks, _output = _stream_text(list(agent.run(words, stream=True, yield_run_output=True)))
        # The stream outlived its token (about 1.5 s for a 1 s token) and still arrived whole.
        assert text == "Echo: " + words and chunks == 13
        assert sim.valid_tokens() == []  # the token used for the stream has expired by now
        follow_up = agent.run("next")
        assert follow_up.status == RunStatus.completed, follow_up.content
        assert sim.unauthorized_requests == 0  # refreshed before use, not after a 401
        first, second = (_bearer(r) for r in _chat_requests(sim))
        assert first != second


def test_deepcopy_drops_clients_and_keeps_working(sim, model):
    assert Agent(model=model).run("warm").status == RunStatus.completed
    assert model.client is not None
    clone = copy.deepcopy(model)
    assert clone.client is None and "_loop_clients" not in clone.__dict__
    assert clone.config is model.config
    assert asyncio.run(Agent(model=clone).arun("clone")).content == "Echo: clone"


def test_users_base_url_must_pass_netpolicy(settings, sim, gateway_config_for):
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    with pytest.raises(URLNotAllowed):
        registry.get("ai_gateway").build_model(gateway_config_for(sim, credential_id=7), "sim-fast")
    assert sim.requests == []
    settings.AI_GATEWAY_ALLOWED_HOSTS = [f"127.0.0.1:{sim.port}"]  # the operator allow-lists the host:port
    model = registry.get("ai_gateway").build_model(gateway_config_for(sim, credential_id=7), "sim-fast")
    assert Agent(model=model).run("allowed").status == RunStatus.completed


def test_policy_is_enforced_per_connection_for_users_url(settings, sim, gateway_config_for):
    model = registry.get("ai_gateway").build_model(gateway_config_for(sim, credential_id=7), "sim-fast")
    # Built while allowed, then private addresses are refused: no request goes out.
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    result = Agent(model=model).run("hello")
    assert result.status == RunStatus.error
    assert _chat_requests(sim) == []


def test_users_gateway_model_connects_through_httpx2_policy_transport(settings, sim, gateway_config_for):
    import dataclasses

    import httpx2

    from providers.http.transports import policy_transports

    def by_name(url: str) -> str:
        return url.replace("127.0.0.1", "localhost")

    base = gateway_config_for(sim, credential_id=7)
    config = dataclasses.replace(base, base_url=by_name(base.base_url), token_url=by_name(base.token_url))
    model = registry.get("ai_gateway").build_model(config, "sim-fast")
    sync_transport, async_transport = policy_transports(httpx2)
    assert isinstance(model.get_client()._client._transport, sync_transport)
    assert isinstance(model.get_async_client()._client._transport, async_transport)

    from providers.gateway.tokens import get_token_manager

    get_token_manager().get_token(config)  # warm: the refusal below is the chat connection's
    tokens_before = sim.token_requests
    # Production mode: "localhost" resolves to 127.0.0.1, refused when connecting.
    settings.PROVIDERS_REQUIRE_HTTPS = True
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    settings.AI_GATEWAY_ALLOWED_HOSTS = []
    agent = Agent(model=model)
    assert agent.run("refused").status == RunStatus.error
    assert asyncio.run(agent.arun("refused")).status == RunStatus.error
    assert _chat_requests(sim) == [] and sim.token_requests == tokens_before

    settings.AI_GATEWAY_ALLOWED_HOSTS = [f"localhost:{sim.port}"]  # the operator allow-lists the name
    assert agent.run("allowed").content == "Echo: allowed"
    assert asyncio.run(agent.arun("allowed too")).content == "Echo: allowed too"
    assert [r.headers["Host"] for r in _chat_requests(sim)] == [f"localhost:{sim.port}"] * 2


def test_platform_gateway_model_gets_plain_httpx2_client(gateway_config):
    import httpx2

    model = registry.get("ai_gateway").build_model(gateway_config, "sim-fast")
    client = model.get_client()._client
    assert isinstance(client, httpx2.Client) and type(client._transport) is httpx2.HTTPTransport


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_oversized_response_is_refused(settings, sim, model, mode, chunked):
    # Declared (Content-Length) or not (chunked): the SDK never gets more than the cap.
    settings.PROVIDERS_HTTP_MAX_RESPONSE_BYTES = 4096
    completion = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "sim-fast",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "padded"}}],
    }
    sim.inject(path_prefix=CHAT, status=200, body=completion, oversize=200_000, chunked=chunked, times=1)
    agent = Agent(model=model)
    result = agent.run("big") if mode == "sync" else asyncio.run(agent.arun("big"))
    assert result.status == RunStatus.error
    assert "larger than the 4096-byte limit" in str(result.content)
    assert sim.counts[CHAT] == 1
    assert agent.run("normal").status == RunStatus.completed  # ordinary answers are well below


def test_compressed_answer_is_refused_and_identity_is_asked_for(sim, model):
    # A gzip body is tiny on the wire and may inflate past any cap: the SDK never decodes one.
    completion = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "sim-fast",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "0" * 100_000}}],
    }
    sim.inject(
        path_prefix=CHAT,
        status=200,
        body=gzip.compress(json.dumps(completion).encode()),
        headers={"Content-Encoding": "gzip"},
        times=1,
    )
    agent = Agent(model=model)
    result = agent.run("zipped")
    assert result.status == RunStatus.error and "gzip-encoded" in str(result.content)
    assert agent.run("plain").status == RunStatus.completed
    assert {r.headers.get("Accept-Encoding") for r in _chat_requests(sim)} == {"identity"}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_has_its_own_larger_cap(settings, sim, model, mode):
    prompt = " ".join(f"word{i}" for i in range(30))  # ~32 events, each padded to ~1 KiB

    def stream_events():
        sim.stream_fault(pad_each=1000)
        agent = Agent(model=model)
        if mode == "sync":
            return list(agent.run(prompt, stream=True, yield_run_output=True))

        async def go():
            return [e async for e in agent.arun(prompt, stream=True, yield_run_output=True)]

        return asyncio.run(go())

    # Over the JSON cap but within the stream cap: the stream is whole.
    settings.PROVIDERS_HTTP_MAX_RESPONSE_BYTES = 4096
    settings.PROVIDERS_STREAM_MAX_BYTES = 1_000_000
    assert _stream_text(stream_events())[0] == "Echo: " + prompt
    # Over the stream cap: the read stops there and the run fails, no hang.
    settings.PROVIDERS_STREAM_MAX_BYTES = 8192
    events = stream_events()
    assert type(events[-1]).__name__ == "RunErrorEvent"
    assert "larger than the 8192-byte limit" in str(events[-1].content)
    text = "".join(e.content for e in events if type(e).__name__ == "RunContentEvent" and e.content)
    assert 0 < len(text) < len("Echo: " + prompt)  # cut part-way, after some output


def test_platform_gateway_url_is_the_operators_own(settings, gateway_config):
    # The env-configured gateway (credential_id None) may live on an internal network, as
    # for the token manager's token URL.
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    model = registry.get("ai_gateway").build_model(gateway_config, "sim-fast")
    assert Agent(model=model).run("internal").status == RunStatus.completed


def test_repr_has_no_secret(sim, model):
    Agent(model=model).run("hello")
    text = repr(model)
    assert sim.client_secret not in text
    for token in sim.issued_tokens:
        assert token not in text
