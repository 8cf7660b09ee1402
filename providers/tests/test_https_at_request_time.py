"""A user's gateway URL stored as http:// is refused at request time once
`PROVIDERS_REQUIRE_HTTPS` is on (token requests and gateway calls), with a typed error and
without a byte sent. The operator's own env-configured gateway is not a user-set URL."""

from __future__ import annotations

import pytest

from providers.exceptions import URLNotAllowed
from providers.gateway.client import GatewayClient
from providers.gateway.tokens import fetch_token


@pytest.fixture
def https_required(settings):
    settings.PROVIDERS_REQUIRE_HTTPS = True
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = True  # the simulator is on 127.0.0.1
    return settings


def test_a_stored_http_token_url_is_refused(https_required, gateway_sim, gateway_config_for, token_manager):
    config = gateway_config_for(gateway_sim, credential_id=7)
    with pytest.raises(URLNotAllowed) as caught:
        fetch_token(config)
    assert caught.value.code == "https_required" and "token URL" in str(caught.value)
    with pytest.raises(URLNotAllowed):
        token_manager.get_token(config)
    assert gateway_sim.token_requests == 0


def test_a_stored_http_base_url_is_refused(https_required, gateway_sim, gateway_config_for, token_manager, settings):
    config = gateway_config_for(gateway_sim, credential_id=7)
    settings.PROVIDERS_REQUIRE_HTTPS = False
    token_manager.get_token(config)  # a token obtained while http was allowed
    settings.PROVIDERS_REQUIRE_HTTPS = True
    with GatewayClient(config) as client, pytest.raises(URLNotAllowed) as caught:
        client.list_models()
    assert caught.value.code == "https_required" and "base URL" in str(caught.value)
    with GatewayClient(config) as client, pytest.raises(URLNotAllowed):
        list(client.stream_chat_completion([{"role": "user", "content": "hi"}], "sim-fast"))
    assert gateway_sim.api_requests == 0


def test_the_operators_gateway_and_a_lax_policy_still_work(https_required, gateway_sim, gateway_config_for, settings):
    with GatewayClient(gateway_config_for(gateway_sim)) as client:  # credential_id None: env config
        assert client.list_models()
    settings.PROVIDERS_REQUIRE_HTTPS = False
    with GatewayClient(gateway_config_for(gateway_sim, credential_id=7)) as client:
        assert client.list_models()
