"""The pre-refresh decision and action on configs (`providers.gateway.refresh`): the margin, its
cap, and one token request however many copies of a refresh race (threads here; processes with
Redis in test_token_crossprocess.py). Real HTTP against the gateway simulator."""

from __future__ import annotations

import threading

import pytest

from providers.gateway.refresh import RefreshAction, effective_margin, refresh_if_due
from providers.gateway.token_info import refresh_margin
from providers.testing.gateway_simulator import GatewaySimulator

KEY = "platform:ai_gateway"


def test_one_margin_rule_for_both_callers():
    assert refresh_margin(3600) == 360  # on demand: 10 % of the lifetime...
    assert refresh_margin(300) == 60  # ...at least 60 s...
    assert refresh_margin(60) == 30  # ...never more than half the lifetime
    assert refresh_margin(3600, ahead=300) == 300  # pre-refresh: the setting...
    assert refresh_margin(200, ahead=300) == 100  # ...capped the same way


def test_the_margin_is_capped_by_the_lifetime_the_prerefresh_obtained(token_manager, gateway_config_for):
    with GatewaySimulator(token_lifetime=200) as sim:  # shorter than the 300 s margin
        config = gateway_config_for(sim)
        assert effective_margin(KEY, 300) == 300  # nothing obtained yet: the whole margin
        assert refresh_if_due(config, key=KEY).action == RefreshAction.REFRESHED
        assert effective_margin(KEY, 300) == 100
        # Without the cap the token just obtained would be due again, and refreshed again.
        assert refresh_if_due(config, key=KEY).action == RefreshAction.FRESH
        assert sim.token_requests == 1


def test_racing_prerefreshes_of_one_token_make_one_request(token_manager, gateway_config_for):
    with GatewaySimulator() as sim:
        sim.token_delay = 0.3  # keep the first refresh in flight while the others arrive
        config = gateway_config_for(sim)
        barrier = threading.Barrier(4)
        actions: list[str] = []

        def run() -> None:
            barrier.wait()
            actions.append(refresh_if_due(config, key=KEY).action)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sim.token_requests == 1
        assert len(actions) == 4 and RefreshAction.REFRESHED in actions
        assert set(actions) <= {RefreshAction.REFRESHED, RefreshAction.FRESH}


def test_keep_decides_whether_refresh_fetches(token_manager, gateway_sim, gateway_config):
    first = token_manager.refresh(gateway_config)
    assert token_manager.refresh(gateway_config, keep=lambda info: True) is first
    assert gateway_sim.token_requests == 1
    second = token_manager.refresh(gateway_config, keep=lambda info: info is not first)
    assert second.access_token != first.access_token and gateway_sim.token_requests == 2


def test_a_transient_failure_is_raised_for_the_task_to_retry(token_manager, gateway_sim, gateway_config):
    from providers.exceptions import ProviderUnavailable

    gateway_sim.fail_token_endpoint(503)
    with pytest.raises(ProviderUnavailable):
        refresh_if_due(gateway_config, key=KEY)


def test_dry_run_requests_nothing(token_manager, gateway_sim, gateway_config):
    outcome = refresh_if_due(gateway_config, key=KEY, dry_run=True)
    assert outcome.action == RefreshAction.WOULD_REFRESH and outcome.expires_in is None
    assert gateway_sim.token_requests == 0
