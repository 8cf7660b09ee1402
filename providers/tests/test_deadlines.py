"""Total deadlines: a gateway that trickles its answers (one byte every interval, so no single
read ever times out) cannot hold a token request or a verify past its bound. Real HTTP against
the simulator's trickle switch."""

from __future__ import annotations

import time

import httpx
import pytest

from providers.exceptions import ProviderTimeout
from providers.gateway import token_store
from providers.gateway.tokens import fetch_token
from providers.http.client import new_async_client, new_client
from providers.http.deadline import deadline
from providers.services import credentials as services
from providers.services.credential_input import CredentialInput
from providers.testing.gateway_simulator import TOKEN_PATH
from providers.types import VerificationOutcome


def test_a_trickling_token_endpoint_is_cut_at_the_token_deadline_inside_the_lease(
    settings, gateway_sim, gateway_config
):
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 1.0  # lease 3 s
    gateway_sim.trickle(0.2, path_prefix=TOKEN_PATH)  # ~90 bytes: 18 s in all, 0.2 s per read
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        fetch_token(gateway_config)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < token_store.lease_seconds(), elapsed  # ~1 s; 18 s without the deadline
    assert "AI Gateway token endpoint did not answer within 1 s" in str(caught.value)
    assert caught.value.provider == "ai_gateway"


def test_the_token_manager_gives_waiters_the_timeout(settings, gateway_sim, gateway_config, token_manager):
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 0.5
    gateway_sim.trickle(0.1, path_prefix=TOKEN_PATH, times=1)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        token_manager.get_token(gateway_config)
    assert time.monotonic() - started < 3.0  # ~0.5 s; 9 s without


def test_a_fast_token_endpoint_is_unaffected(settings, gateway_sim, gateway_config):
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 0.5
    assert fetch_token(gateway_config).access_token


@pytest.mark.django_db
def test_a_verify_has_one_total_deadline_over_all_its_requests(settings, alice, gateway_sim):
    """The token grant takes most of the budget, the model list trickles: the verify ends at
    PROVIDERS_VERIFY_TIMEOUT, as "timed out", naming the provider."""
    settings.PROVIDERS_VERIFY_TIMEOUT = 1.5
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 5.0  # each read alone would be fine
    gateway_sim.token_delay = 0.8
    gateway_sim.trickle(0.2)  # /v1/models, one byte every 0.2 s
    data = CredentialInput(
        client_id=gateway_sim.client_id,
        client_secret=gateway_sim.client_secret,
        base_url=gateway_sim.base_url,
        token_url=gateway_sim.token_url,
    )
    started = time.monotonic()
    result = services.credential_verify_input(user=alice, provider="ai_gateway", data=data)
    elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 4.0, elapsed  # ~1.5 s; 20 s without the deadline
    assert result.outcome == VerificationOutcome.TIMEOUT
    assert "AI Gateway (service account) did not answer within 1.5 s (PROVIDERS_VERIFY_TIMEOUT)" in result.detail
    assert gateway_sim.token_requests == 1 and gateway_sim.counter("models") == 0


@pytest.mark.django_db
def test_a_verify_within_its_deadline_verifies(settings, alice, gateway_sim):
    settings.PROVIDERS_VERIFY_TIMEOUT = 5.0
    data = CredentialInput(
        client_id=gateway_sim.client_id,
        client_secret=gateway_sim.client_secret,
        base_url=gateway_sim.base_url,
        token_url=gateway_sim.token_url,
    )
    assert services.credential_verify_input(user=alice, provider="ai_gateway", data=data).ok


def test_nested_deadlines_keep_the_earliest_and_async_clients_obey(gateway_sim):
    gateway_sim.trickle(0.1)
    with new_client(enforce_policy=False) as client, deadline(0.4), deadline(10):
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            client.get(gateway_sim.base_url + "/models").read()
        assert time.monotonic() - started < 3.0  # ~0.4 s; 9 s without

    import asyncio

    async def main() -> float:
        async with new_async_client(enforce_policy=True) as client:
            with deadline(0.4):
                started = time.monotonic()
                with pytest.raises(httpx.TimeoutException):
                    await client.get(gateway_sim.base_url + "/models")
                return time.monotonic() - started

    assert asyncio.run(main()) < 3.0
