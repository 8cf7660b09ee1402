"""Streaming chat completions against the simulator's SSE, and the SSE decoder itself."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from providers.exceptions import StreamError
from providers.gateway.client import AsyncGatewayClient, GatewayClient
from providers.gateway.retry import RetryPolicy
from providers.gateway.sse import SSEDecoder

FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
MESSAGES = [{"role": "user", "content": "one two three four"}]
EXPECTED = "Echo: one two three four"


@pytest.fixture
def gw(gateway_config, token_manager):
    return GatewayClient(gateway_config, retry=FAST)


def _text(items) -> str:
    return "".join(item.get("content") or "" for item in items)


def test_deltas_arrive_in_order_then_finish_and_usage(gw, gateway_sim):
    items = list(gw.stream_chat_completion(MESSAGES, "sim-fast"))
    assert items[0] == {"role": "assistant", "content": ""}
    assert [i["content"] for i in items[1:6]] == ["Echo:", " one", " two", " three", " four"]
    assert items[-2] == {"finish_reason": "stop"}
    assert items[-1]["usage"]["completion_tokens"] == 5
    assert gateway_sim.last_chat_request["stream"] is True
    assert gateway_sim.last_chat_request["stream_options"] == {"include_usage": True}


def test_without_usage_the_stream_ends_at_done(gw, gateway_sim):
    items = list(gw.stream_chat_completion(MESSAGES, "sim-fast", stream_options={"include_usage": False}))
    assert _text(items) == EXPECTED and "usage" not in items[-1]


def test_tool_call_fragments_keep_their_index(gw, gateway_sim):
    gateway_sim.script_tool_calls([("search", {"q": "ideas"}), ("add", {"a": 1, "b": 2})])
    items = list(gw.stream_chat_completion(MESSAGES, "sim-fast", tools=[]))
    calls: dict[int, str] = {}
    for item in items:
        for fragment in item.get("tool_calls", []):
            calls[fragment["index"]] = calls.get(fragment["index"], "") + fragment["function"].get("arguments", "")
    assert {i: json.loads(a) for i, a in calls.items()} == {0: {"q": "ideas"}, 1: {"a": 1, "b": 2}}
    assert {"finish_reason": "tool_calls"} in items


def test_an_error_event_after_deltas_is_a_stream_error_not_retried(gw, gateway_sim):
    gateway_sim.stream_fault(error_after=3)
    received = []
    with pytest.raises(StreamError) as info:
        for item in gw.stream_chat_completion(MESSAGES, "sim-fast"):
            received.append(item)
    assert info.value.reason == "error_event" and info.value.delta_yielded and not info.value.retryable
    assert "simulated stream failure" in str(info.value)
    assert _text(received) == "Echo: one"
    assert gateway_sim.chat_requests == 1


def test_an_error_event_before_any_delta_is_retried_transparently(gw, gateway_sim):
    gateway_sim.stream_fault(error_after=0)
    assert _text(gw.stream_chat_completion(MESSAGES, "sim-fast")) == EXPECTED
    assert gateway_sim.chat_requests == 2


def test_a_cut_connection_mid_stream(gw, gateway_sim):
    gateway_sim.stream_fault(cut_after=3)
    received = []
    with pytest.raises(StreamError) as info:
        for item in gw.stream_chat_completion(MESSAGES, "sim-fast"):
            received.append(item)
    assert info.value.reason == "cut" and info.value.delta_yielded
    assert _text(received) == "Echo: one" and gateway_sim.chat_requests == 1


def test_a_cut_before_the_first_delta_is_retried(gw, gateway_sim):
    gateway_sim.stream_fault(cut_after=1)  # only the role announcement got through
    items = list(gw.stream_chat_completion(MESSAGES, "sim-fast"))
    assert _text(items) == EXPECTED and gateway_sim.chat_requests == 2


def test_idle_timeout_between_chunks(gw, gateway_sim, settings):
    settings.PROVIDERS_STREAM_IDLE_TIMEOUT = 0.3
    gateway_sim.stream_fault(stall_after=2, stall_seconds=3)
    started = time.monotonic()
    received = []
    with pytest.raises(StreamError) as info:
        for item in gw.stream_chat_completion(MESSAGES, "sim-fast"):
            received.append(item)
    assert info.value.reason == "idle" and info.value.delta_yielded
    assert time.monotonic() - started < 1.5
    assert _text(received) == "Echo:"


def test_a_slow_first_byte_is_not_an_idle_timeout(gw, gateway_sim, settings):
    settings.PROVIDERS_STREAM_IDLE_TIMEOUT = 0.2
    gateway_sim.stream_fault(first_byte_delay=0.5)
    assert _text(gw.stream_chat_completion(MESSAGES, "sim-fast")) == EXPECTED


def test_a_short_stall_within_the_idle_timeout_is_fine(gw, gateway_sim, settings):
    settings.PROVIDERS_STREAM_IDLE_TIMEOUT = 1.0
    gateway_sim.stream_fault(stall_after=2, stall_seconds=0.3)
    assert _text(gw.stream_chat_completion(MESSAGES, "sim-fast")) == EXPECTED


def test_a_revoked_token_before_the_first_chunk_is_retried_transparently(gw, gateway_sim):
    gw.list_models()
    gateway_sim.revoke_tokens()
    assert _text(gw.stream_chat_completion(MESSAGES, "sim-fast")) == EXPECTED
    assert gateway_sim.token_requests == 2 and gateway_sim.unauthorized_requests == 1 and gateway_sim.chat_requests == 1


def test_5xx_before_the_stream_is_retried(gw, gateway_sim):
    gateway_sim.fail(503, times=1, path_prefix="/v1/chat")
    assert _text(gw.stream_chat_completion(MESSAGES, "sim-fast")) == EXPECTED


def test_async_stream_order_cut_idle_and_revoked(gateway_config, token_manager, gateway_sim, settings):
    settings.PROVIDERS_STREAM_IDLE_TIMEOUT = 0.3

    async def collect(client, **params):
        return [item async for item in client.stream_chat_completion(MESSAGES, "sim-fast", **params)]

    async def main():
        async with AsyncGatewayClient(gateway_config, retry=FAST) as client:
            assert _text(await collect(client)) == EXPECTED
            gateway_sim.revoke_tokens()
            assert _text(await collect(client)) == EXPECTED
            gateway_sim.stream_fault(cut_after=2)
            with pytest.raises(StreamError) as cut:
                await collect(client)
            assert cut.value.reason == "cut" and cut.value.delta_yielded
            gateway_sim.stream_fault(stall_after=3, stall_seconds=3)
            with pytest.raises(StreamError) as idle:
                await collect(client)
            assert idle.value.reason == "idle"
            gateway_sim.stream_fault(error_after=4)
            with pytest.raises(StreamError) as event:
                await collect(client)
            assert event.value.reason == "error_event"

    asyncio.run(main())
    assert gateway_sim.token_requests == 2


def test_async_consumer_can_stop_early(gateway_config, token_manager, gateway_sim):
    async def main():
        client = AsyncGatewayClient(gateway_config)
        async for item in client.stream_chat_completion(MESSAGES, "sim-fast"):
            if item.get("content"):
                break
        return await client.chat_completion(MESSAGES, "sim-fast")

    assert asyncio.run(main())["choices"]


def test_a_stream_over_its_size_cap_is_cut(gateway_config, token_manager, gateway_sim, settings):
    from providers.exceptions import ResponseTooLarge

    settings.PROVIDERS_HTTP_MAX_RESPONSE_BYTES = 1024  # not this cap: streams have their own
    settings.PROVIDERS_STREAM_MAX_BYTES = 100_000
    gateway_sim.stream_fault(pad_each=2000)
    assert _text(GatewayClient(gateway_config, retry=FAST).stream_chat_completion(MESSAGES, "sim-fast")) == EXPECTED

    settings.PROVIDERS_STREAM_MAX_BYTES = 5000
    gateway_sim.stream_fault(pad_each=2000, times=None)
    with pytest.raises(ResponseTooLarge, match="5000-byte"):
        list(GatewayClient(gateway_config, retry=FAST).stream_chat_completion(MESSAGES, "sim-fast"))

    async def go():
        return [
            i async for i in AsyncGatewayClient(gateway_config, retry=FAST).stream_chat_completion(MESSAGES, "sim-fast")
        ]

    with pytest.raises(ResponseTooLarge):
        asyncio.run(go())


def test_sse_decoder_follows_the_spec():
    decoder = SSEDecoder()
    lines = [": keep-alive", "event: error", "data:first", "data:  second", "id: 7", "retry: 100", "", "data: x", ""]
    events = [e for e in (decoder.feed(line) for line in lines) if e is not None]
    assert (
        events[0].event == "error"
        and events[0].data == "first\n second"
        and events[0].id == "7"
        and events[0].retry == 100
    )
    assert events[1].event == "message" and events[1].data == "x"
    assert decoder.feed("") is None  # a blank line with nothing pending dispatches nothing
    decoder.feed("event: lonely")
    assert decoder.feed("") is None  # an event with no data is dropped
    decoder.feed("data: tail")
    assert decoder.flush().data == "tail"
