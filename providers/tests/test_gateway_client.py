"""GatewayClient / AsyncGatewayClient against the simulator: JSON calls, the 401 path, the
retry policy, timeouts and the shared pools."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import replace

import pytest

from providers.exceptions import BadRequest, CredentialInvalid, ProviderTimeout, ProviderUnavailable, RateLimited
from providers.gateway.client import AsyncGatewayClient, GatewayClient
from providers.gateway.pools import shared_async_client, shared_client
from providers.gateway.retry import RetryPolicy
from providers.secrets import Secret

FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05, max_retry_after=1.0)
MESSAGES = [{"role": "user", "content": "hello gateway"}]


@pytest.fixture
def gw(gateway_config, token_manager):
    with GatewayClient(gateway_config, retry=FAST) as client:
        yield client


def test_list_models_and_chat_completion(gw, gateway_sim):
    assert [m["id"] for m in gw.list_models()] == ["sim-fast", "sim-standard", "sim-premium"]
    reply = gw.chat_completion(MESSAGES, "sim-standard", temperature=0.2)
    assert reply["choices"][0]["message"]["content"] == "Echo: hello gateway"
    assert reply["usage"]["total_tokens"] > 0
    assert gateway_sim.last_chat_request["temperature"] == 0.2 and "stream" not in gateway_sim.last_chat_request
    assert gateway_sim.token_requests == 1 and gateway_sim.api_requests == 2


def test_a_revoked_token_is_refreshed_once_and_the_request_resent(gw, gateway_sim):
    gw.list_models()
    gateway_sim.revoke_tokens()
    assert gw.list_models()
    assert gateway_sim.token_requests == 2 and gateway_sim.unauthorized_requests == 1 and gateway_sim.api_requests == 3


def test_a_second_401_is_credential_invalid(gw, gateway_sim):
    gw.list_models()
    gateway_sim.inject(
        path_prefix="/v1/models", status=401, body={"error": {"message": "nope", "type": "invalid_token"}}, times=5
    )
    with pytest.raises(CredentialInvalid):
        gw.list_models()
    assert gateway_sim.token_requests == 2  # exactly one refresh
    assert gateway_sim.api_requests == 3  # the first call, then one attempt and one resend


def test_invalid_client_is_credential_invalid_without_api_calls(gateway_config, token_manager, gateway_sim):
    client = GatewayClient(replace(gateway_config, client_secret=Secret("wrong-secret")), retry=FAST)
    with pytest.raises(CredentialInvalid) as info:
        client.chat_completion(MESSAGES, "sim-fast")
    assert info.value.code == "invalid_client"
    assert gateway_sim.token_requests == 1 and gateway_sim.api_requests == 0


def test_short_retry_after_is_waited_out(gw, gateway_sim):
    gw.list_models()
    gateway_sim.rate_limit(retry_after=0.3)
    started = time.monotonic()
    assert gw.chat_completion(MESSAGES, "sim-fast")
    assert time.monotonic() - started >= 0.3
    assert gateway_sim.api_requests == 3


def test_long_retry_after_fails_fast(gw, gateway_sim):
    gateway_sim.rate_limit(retry_after=60)
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        gw.chat_completion(MESSAGES, "sim-fast")
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 60 and gateway_sim.api_requests == 1


def test_5xx_is_retried_with_backoff_then_succeeds(gw, gateway_sim):
    gateway_sim.fail(503, times=2)
    assert gw.chat_completion(MESSAGES, "sim-fast")["choices"]
    assert gateway_sim.api_requests == 3


def test_5xx_retries_are_bounded(gw, gateway_sim):
    gateway_sim.fail(502, times=None)
    with pytest.raises(ProviderUnavailable) as info:
        gw.chat_completion(MESSAGES, "sim-fast")
    assert info.value.status_code == 502 and info.value.retryable
    assert gateway_sim.api_requests == 3  # 1 + max_retries


def test_400_class_is_never_retried(gw, gateway_sim):
    gateway_sim.inject(
        path_prefix="/v1/chat", status=400, body={"error": {"message": "bad param", "type": "invalid_request_error"}}
    )
    with pytest.raises(BadRequest) as info:
        gw.chat_completion(MESSAGES, "sim-fast")
    assert not info.value.retryable and gateway_sim.api_requests == 1
    gateway_sim.clear_faults()
    with pytest.raises(BadRequest):
        gw.chat_completion(MESSAGES, "no-such-model")  # the simulator answers 404
    assert gateway_sim.api_requests == 2


def test_a_read_timeout_is_not_retried(gw, gateway_sim, settings):
    gw.list_models()
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 0.3
    gateway_sim.inject(path_prefix="/v1/chat", status=200, delay=1.0)
    with pytest.raises(ProviderTimeout):
        gw.chat_completion(MESSAGES, "sim-fast")
    assert gateway_sim.api_requests == 2


def test_the_total_bound_stops_retries(gw, gateway_sim, settings):
    gw.list_models()
    settings.PROVIDERS_GATEWAY_TOTAL_TIMEOUT = 0.6
    gateway_sim.fail(503, times=None, delay=0.25)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        GatewayClient(gw.config, retry=RetryPolicy(max_retries=50, base_delay=0.01, max_delay=0.01)).chat_completion(
            MESSAGES, "sim-fast"
        )
    assert time.monotonic() - started < 1.2


def test_connect_errors_are_unavailable(token_manager, gateway_config, gateway_sim):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # bound, not listening: refused
        token_manager.get_token(gateway_config)
        client = GatewayClient(replace(gateway_config, base_url=dead), retry=FAST)
        with pytest.raises(ProviderUnavailable) as info:
            client.list_models()
    assert info.value.retryable and not isinstance(info.value, ProviderTimeout)


def test_dropped_connections_are_retried(token_manager, gateway_config):
    """A server that accepts and hangs up at once: each attempt is a new connection."""
    accepted = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        token_manager.get_token(gateway_config)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        with pytest.raises(ProviderUnavailable):
            GatewayClient(replace(gateway_config, base_url=url), retry=FAST).list_models()
        assert len(accepted) == 3
    finally:
        listener.close()


def test_pools_are_shared_per_process_and_per_event_loop(gw, gateway_config):
    assert shared_client(enforce_policy=False) is shared_client(enforce_policy=False)
    assert shared_client(enforce_policy=True) is not shared_client(enforce_policy=False)

    async def pool_of_this_loop():
        first = shared_async_client(enforce_policy=False)
        assert first is shared_async_client(enforce_policy=False)
        async with AsyncGatewayClient(gateway_config) as client:
            assert await client.list_models()
        return first

    a = asyncio.run(pool_of_this_loop())
    b = asyncio.run(pool_of_this_loop())
    assert a is not b  # never reused across loops
    gw.close()
    with pytest.raises(RuntimeError):
        gw.list_models()


def test_async_client_401_retry_and_rate_limit(gateway_config, token_manager, gateway_sim):
    async def main():
        async with AsyncGatewayClient(gateway_config, retry=FAST) as client:
            await client.list_models()
            gateway_sim.revoke_tokens()
            reply = await client.chat_completion(MESSAGES, "sim-fast")
            assert reply["choices"][0]["message"]["content"] == "Echo: hello gateway"
            gateway_sim.rate_limit(retry_after=30)
            with pytest.raises(RateLimited):
                await client.list_models()
            gateway_sim.fail(500, times=1)
            assert await client.list_models()

    asyncio.run(main())
    assert gateway_sim.token_requests == 2 and gateway_sim.unauthorized_requests == 1


def test_retry_policy_decisions():
    policy = RetryPolicy(max_retries=2, max_retry_after=5)
    assert policy.delay_for(RateLimited(retry_after=2), 0) == 2
    assert policy.delay_for(RateLimited(retry_after=6), 0) is None
    assert policy.delay_for(ProviderUnavailable(status_code=503), 1) is not None
    assert policy.delay_for(ProviderUnavailable(status_code=503), 2) is None
    assert policy.delay_for(BadRequest(), 0) is None
    assert policy.delay_for(CredentialInvalid(), 0) is None
    from providers.exceptions import StreamError

    assert policy.delay_for(StreamError(delta_yielded=False), 0) is not None
    assert policy.delay_for(StreamError(delta_yielded=True), 0) is None
    assert all(0 <= policy.backoff(n) <= policy.max_delay for n in range(10))
