"""Token manager against the simulator's real token endpoint: caching, timing, single flight,
failures, invalidation (threads and asyncio tasks on several event loops)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import replace

import httpx
import pytest

from providers.exceptions import CredentialInvalid, ProviderUnavailable
from providers.gateway.token_info import TokenInfo, clamp_lifetime, refresh_margin, token_key
from providers.secrets import Secret
from providers.testing.gateway_simulator import GatewaySimulator
from providers.types import CredentialConfig


def _config(sim: GatewaySimulator, **changes) -> CredentialConfig:
    base = CredentialConfig(
        provider="ai_gateway",
        client_id=Secret(sim.client_id),
        client_secret=Secret(sim.client_secret),
        base_url=sim.base_url,
        token_url=sim.token_url,
    )
    return replace(base, **changes)


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _server_accepts(sim: GatewaySimulator, token: Secret) -> bool:
    return httpx.get(sim.base_url + "/models", headers={"Authorization": f"Bearer {token.reveal()}"}).status_code == 200


def test_margin_and_lifetime_clamping(settings):
    assert refresh_margin(3600) == 360
    assert refresh_margin(300) == 60
    assert refresh_margin(60) == 30
    assert refresh_margin(2) == 1
    settings.PROVIDERS_TOKEN_DEFAULT_LIFETIME = 42.0
    assert clamp_lifetime(None) == 42.0
    assert clamp_lifetime(float("nan")) == 42.0
    assert clamp_lifetime(0) == 1.0
    assert clamp_lifetime(-30) == 1.0
    assert clamp_lifetime(10**12) == 24 * 3600.0
    assert clamp_lifetime(900) == 900.0


def test_token_is_cached_then_refreshed_before_it_expires(token_manager):
    with GatewaySimulator(token_lifetime=2) as sim:  # margin 1 s
        config = _config(sim)
        first = token_manager.get_token(config)
        assert token_manager.get_token(config) == first
        assert sim.token_requests == 1
        time.sleep(1.1)  # inside the margin, still valid on the server
        assert token_manager.get_token(config) == first  # no waiting: a background refresh starts
        _wait_for(lambda: sim.token_requests == 2)
        _wait_for(lambda: token_manager.get_token(config) != first)
        second = token_manager.get_token(config)
        assert _server_accepts(sim, first), "the refresh happened before the old token expired"
        assert _server_accepts(sim, second)
        assert sim.token_requests == 2


def test_expiry_counts_from_the_send_time(token_manager, gateway_sim, gateway_config):
    gateway_sim.token_delay = 0.5
    before = time.time()
    info = token_manager.refresh(gateway_config)
    assert before <= info.obtained_at < before + 0.2
    assert info.expires_at == pytest.approx(info.obtained_at + 3600)
    assert info.refresh_at == pytest.approx(info.expires_at - 360)
    assert token_manager.expires_in(gateway_config) == pytest.approx(3600 - (time.time() - before), abs=1)


def test_default_lifetime_when_expires_in_is_missing(token_manager, settings):
    settings.PROVIDERS_TOKEN_DEFAULT_LIFETIME = 120.0
    with GatewaySimulator(token_lifetime=None) as sim:
        info = token_manager.refresh(_config(sim))
        assert info.lifetime == 120.0 and info.expires_at - info.refresh_at == 60.0


def test_secrets_stay_out_of_keys_and_reprs(token_manager, gateway_sim, gateway_config):
    info = token_manager.refresh(gateway_config)
    key = token_key(gateway_config)
    assert "sim-secret" not in repr(key) and "sim-client" not in repr(key)
    assert info.access_token.reveal() not in repr(info)
    assert "sim-secret" not in key.cache_id


def test_refresh_force_and_expires_in(token_manager, gateway_sim, gateway_config):
    assert token_manager.expires_in(gateway_config) is None
    first = token_manager.refresh(gateway_config)
    again = token_manager.refresh(gateway_config)
    assert again.access_token == first.access_token and gateway_sim.token_requests == 1
    forced = token_manager.refresh(gateway_config, force=True)
    assert forced.access_token != first.access_token and gateway_sim.token_requests == 2
    assert token_manager.get_token(gateway_config) == forced.access_token


def test_keys_separate_scope_and_secret(token_manager, gateway_sim, gateway_config):
    a = token_manager.get_token(gateway_config)
    b = token_manager.get_token(replace(gateway_config, scope="chat"))
    assert a != b and gateway_sim.token_requests == 2
    with pytest.raises(CredentialInvalid):
        token_manager.get_token(replace(gateway_config, client_secret=Secret("other-secret")))


def test_invalidate_drops_only_the_current_token(token_manager, gateway_sim, gateway_config):
    first = token_manager.get_token(gateway_config)
    token_manager.invalidate(gateway_config, Secret("some-older-token"))
    assert token_manager.get_token(gateway_config) == first and gateway_sim.token_requests == 1
    token_manager.invalidate(gateway_config, first)
    second = token_manager.get_token(gateway_config)
    assert second != first and gateway_sim.token_requests == 2


def _expired_token(token_manager, sim: GatewaySimulator, config: CredentialConfig) -> Secret:
    """Cache a 1-second token and let it expire."""
    old = token_manager.get_token(config)
    time.sleep(1.05)
    return old


def test_200_async_callers_and_16_threads_on_an_expired_token_make_one_request(token_manager):
    with GatewaySimulator(token_lifetime=1) as sim:
        config = _config(sim)
        old = _expired_token(token_manager, sim, config)
        sim.token_lifetime = 3600
        sim.token_delay = 0.3  # keep the flight open while everyone piles in
        sim.reset_counters()
        barrier = threading.Barrier(16 + 2)
        results: list[Secret] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def thread_caller() -> None:
            barrier.wait()
            try:
                token = token_manager.get_token(config)
                with lock:
                    results.append(token)
            except BaseException as exc:
                errors.append(exc)

        def loop_callers(count: int) -> None:
            async def main() -> list[Secret]:
                barrier.wait()
                return await asyncio.gather(*(token_manager.aget_token(config) for _ in range(count)))

            tokens = asyncio.run(main())
            with lock:
                results.extend(tokens)

        threads = [threading.Thread(target=thread_caller) for _ in range(16)]
        threads += [threading.Thread(target=loop_callers, args=(100,)) for _ in range(2)]  # two event loops
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not errors
        assert len(results) == 216
        assert sim.token_requests == 1
        assert len({r.reveal() for r in results}) == 1 and results[0] != old
        assert _server_accepts(sim, results[0])


def test_a_failing_refresh_releases_every_waiter_promptly_then_negative_cache(token_manager, settings):
    settings.PROVIDERS_TOKEN_NEGATIVE_CACHE_SECONDS = 0.5
    with GatewaySimulator(token_lifetime=1) as sim:
        config = _config(sim)
        _expired_token(token_manager, sim, config)
        sim.reset_counters()
        sim.fail_token_endpoint(503, delay=0.3)

        async def waiters() -> list[BaseException]:
            return await asyncio.gather(*(token_manager.aget_token(config) for _ in range(50)), return_exceptions=True)

        thread_errors: list[BaseException] = []

        def thread_caller() -> None:
            try:
                token_manager.get_token(config)
            except BaseException as exc:
                thread_errors.append(exc)

        threads = [threading.Thread(target=thread_caller) for _ in range(8)]
        started = time.monotonic()
        for t in threads:
            t.start()
        outcomes = asyncio.run(waiters())
        for t in threads:
            t.join(5)
        elapsed = time.monotonic() - started
        assert all(isinstance(o, ProviderUnavailable) for o in outcomes)
        assert len(thread_errors) == 8 and all(isinstance(e, ProviderUnavailable) for e in thread_errors)
        assert elapsed < 2.0, "waiters must not hang on a failed refresh"
        assert sim.token_requests == 1
        # The negative cache answers the next caller without another request...
        with pytest.raises(ProviderUnavailable):
            token_manager.get_token(config)
        assert sim.token_requests == 1
        # ...and expires quickly: once the endpoint is back, tokens flow again.
        sim.clear_faults()
        time.sleep(0.55)
        assert token_manager.get_token(config)
        assert sim.token_requests == 2


def test_invalid_client_is_not_retried(token_manager, gateway_sim, gateway_config):
    bad = replace(gateway_config, client_secret=Secret("wrong"))
    with pytest.raises(CredentialInvalid) as info:
        token_manager.get_token(bad)
    assert info.value.code == "invalid_client" and "wrong" not in str(info.value)
    with pytest.raises(CredentialInvalid):
        token_manager.get_token(bad)  # negative cache: the endpoint is not asked again
    assert gateway_sim.token_requests == 1


@pytest.mark.django_db(transaction=True)
def test_invalid_client_marks_the_stored_credential_failed(token_manager, gateway_sim, gateway_config, alice):
    from providers.models import ProviderCredential

    credential = ProviderCredential.objects.create(
        owner=alice,
        provider="ai_gateway",
        base_url=gateway_sim.base_url,
        token_url=gateway_sim.token_url,
        status="verified",
    )
    config = replace(gateway_config, client_secret=Secret("rotated-away"), credential_id=credential.pk)
    with pytest.raises(CredentialInvalid):
        token_manager.get_token(config)
    _wait_for(lambda: ProviderCredential.objects.get(pk=credential.pk).status == "failed")
    credential.refresh_from_db()
    assert credential.status_code == "invalid_client"
    assert "rotated-away" not in credential.last_error


def test_a_cancelled_caller_does_not_cancel_the_refresh_for_the_others(token_manager, gateway_sim, gateway_config):
    gateway_sim.token_delay = 0.4

    async def main() -> list[Secret]:
        first = asyncio.create_task(token_manager.aget_token(gateway_config))  # starts the flight
        await asyncio.sleep(0.05)
        others = [asyncio.create_task(token_manager.aget_token(gateway_config)) for _ in range(5)]
        await asyncio.sleep(0.05)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await asyncio.wait_for(asyncio.gather(*others), 3)

    tokens = asyncio.run(main())
    assert len({t.reveal() for t in tokens}) == 1
    assert gateway_sim.token_requests == 1
    assert token_manager.get_token(gateway_config) == tokens[0]


def test_a_timed_out_caller_gets_an_error_and_the_next_one_the_token(token_manager, gateway_sim, gateway_config):
    gateway_sim.token_delay = 0.5

    async def impatient() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(token_manager.aget_token(gateway_config), 0.1)

    asyncio.run(impatient())
    assert token_manager.get_token(gateway_config)  # joins the flight still running
    assert gateway_sim.token_requests == 1


def test_token_info_repr_has_no_secret():
    info = TokenInfo.issued(Secret("a-very-secret-access-token"), "Bearer", 60, time.time())
    assert "secret" not in repr(info) and "token_type" in repr(info)
    assert math.isclose(info.expires_in(), 60, abs_tol=1)


@pytest.mark.django_db(transaction=True)  # the providers app's receiver writes from the refresh thread
def test_a_rejected_stored_credential_is_reported_once_through_the_signal(token_manager, gateway_sim, gateway_config):
    from providers.gateway.tokens import credential_rejected

    calls: list[tuple[CredentialConfig, BaseException, threading.Thread]] = []

    def receiver(sender, *, config, error, **kwargs) -> None:
        calls.append((config, error, threading.current_thread()))

    credential_rejected.connect(receiver, dispatch_uid="test-receiver")
    try:
        bad = replace(gateway_config, client_secret=Secret("wrong"), credential_id=424242)
        for _ in range(2):  # the second answer comes from the negative cache: no second report
            with pytest.raises(CredentialInvalid):
                token_manager.get_token(bad)
        _wait_for(lambda: calls)
        time.sleep(0.1)
        assert len(calls) == 1
        config, error, thread = calls[0]
        assert config is bad and isinstance(error, CredentialInvalid) and error.code == "invalid_client"
        assert thread is not threading.current_thread()
        # The platform's credential (no credential_id) has no row to mark: nothing is sent.
        with pytest.raises(CredentialInvalid):
            token_manager.get_token(replace(gateway_config, client_secret=Secret("also-wrong")))
        time.sleep(0.1)
        assert len(calls) == 1
    finally:
        credential_rejected.disconnect(dispatch_uid="test-receiver")
