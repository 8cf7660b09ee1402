"""Tokens shared between processes through a real redis-server: encrypted storage, the refresh
lease, failure markers, and 4 processes hitting an expired token at once."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from providers.exceptions import CredentialInvalid
from providers.gateway import token_store
from providers.gateway.token_info import token_key
from providers.gateway.tokens import TokenManager
from providers.secrets import Secret
from providers.testing.gateway_simulator import GatewaySimulator

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared(settings, redis_url):
    """This process configured as in production: REDIS_URL set, Redis as the Django cache."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    settings.REDIS_URL = redis_url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "ideaforge",
        }
    }
    yield client
    client.flushdb()
    client.close()


def test_the_shared_token_is_encrypted_and_used_by_another_process(shared, gateway_sim, gateway_config):
    first, second = TokenManager(), TokenManager()  # two processes' worth of state
    token = first.get_token(gateway_config)
    assert second.get_token(gateway_config) == token
    assert gateway_sim.token_requests == 1
    keys = [k.decode() for k in shared.keys("*")]
    assert len(keys) == 1 and keys[0].startswith("ideaforge:providers:gwtoken:")
    assert "sim-client" not in keys[0] and "sim-secret" not in keys[0]
    raw = shared.get(keys[0])
    assert token.reveal().encode() not in raw and b"sim-secret" not in raw
    assert 3590 < shared.pttl(keys[0]) / 1000 <= 3600
    assert second.expires_in(gateway_config) == pytest.approx(3600, abs=5)


def test_invalidate_is_compare_and_delete(shared, gateway_sim, gateway_config):
    a, b = TokenManager(), TokenManager()
    old = a.get_token(gateway_config)
    b.invalidate(gateway_config, Secret("not-the-current-one"))
    assert b.get_token(gateway_config) == old and gateway_sim.token_requests == 1
    b.invalidate(gateway_config, old)  # a 401 in process b
    new = b.get_token(gateway_config)
    assert new != old and gateway_sim.token_requests == 2
    a.invalidate(gateway_config, old)  # process a's late 401 for the same old token keeps the new one
    assert a.get_token(gateway_config) == new and gateway_sim.token_requests == 2


def test_waiting_for_the_lease_holder_then_its_token_is_used(shared, gateway_sim, gateway_config, settings):
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 1.0  # lease 3 s
    cache_id = token_key(gateway_config).cache_id
    lease_key = f"ideaforge:providers:gwlease:{cache_id}"
    shared.set(lease_key, "another-process", nx=True, px=3000)
    store = token_store.get_store()
    # The "other process" publishes its token while we poll.
    publisher = TokenManager()

    def publish() -> None:
        time.sleep(0.3)
        from providers.gateway.tokens import fetch_token

        store.put(cache_id, fetch_token(gateway_config))

    import threading

    threading.Thread(target=publish).start()
    started = time.monotonic()
    token = publisher.get_token(gateway_config)
    assert 0.25 < time.monotonic() - started < 2.0
    assert gateway_sim.token_requests == 1  # only the holder's request
    assert shared.get(lease_key) == b"another-process"  # we never release someone else's lease
    assert token


def test_a_dead_lease_holder_does_not_block_forever(shared, gateway_sim, gateway_config, settings):
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 0.2  # lease 0.6 s
    cache_id = token_key(gateway_config).cache_id
    shared.set(f"ideaforge:providers:gwlease:{cache_id}", "crashed-process", px=600)
    started = time.monotonic()
    assert TokenManager().get_token(gateway_config)
    assert time.monotonic() - started < 2.0 and gateway_sim.token_requests == 1


def test_a_failure_marker_fails_pollers_fast(shared, gateway_sim, gateway_config, settings):
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 2.0  # lease 6 s: pollers must not wait for it
    bad = replace(gateway_config, client_secret=Secret("revoked-secret"))
    cache_id = token_key(bad).cache_id
    shared.set(f"ideaforge:providers:gwlease:{cache_id}", "holder", px=6000)

    def holder_fails() -> None:
        time.sleep(0.2)
        store = token_store.get_store()
        from providers.gateway.tokens import fetch_token

        with pytest.raises(CredentialInvalid):
            store._fetch_and_share(cache_id, lambda: fetch_token(bad))

    import threading

    thread = threading.Thread(target=holder_fails)
    thread.start()
    started = time.monotonic()
    with pytest.raises(CredentialInvalid):
        TokenManager().get_token(bad)
    thread.join()
    assert time.monotonic() - started < 1.5
    assert gateway_sim.token_requests == 1


def test_redis_down_falls_back_to_per_process_tokens(settings, gateway_sim, gateway_config):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.REDIS_URL = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        manager = TokenManager()
        assert manager.get_token(gateway_config)
        assert manager.get_token(gateway_config)
    assert gateway_sim.token_requests == 1


def test_racing_keep_refreshes_in_two_processes_make_one_request(shared, gateway_sim, gateway_config):
    """The pre-refresh's "still not due?" is asked again under the Redis lease: two processes
    refreshing the same due token at once fetch it once."""
    gateway_sim.token_delay = 0.3
    managers = [TokenManager(), TokenManager()]  # two processes' worth of state
    barrier = threading.Barrier(2)
    infos = []

    def run(manager: TokenManager) -> None:
        barrier.wait()
        infos.append(manager.refresh(gateway_config, keep=lambda info: info.expires_in() > 300))

    threads = [threading.Thread(target=run, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(infos) == 2 and infos[0].access_token == infos[1].access_token
    assert gateway_sim.token_requests == 1


_WORKER = r"""
import json, os, sys, threading, time
import django
django.setup()
from providers.gateway.tokens import get_token_manager
from providers.secrets import Secret
from providers.types import CredentialConfig

config = CredentialConfig(provider="ai_gateway", client_id=Secret(os.environ["SIM_CLIENT_ID"]),
                          client_secret=Secret(os.environ["SIM_CLIENT_SECRET"]),
                          base_url=os.environ["SIM_BASE_URL"], token_url=os.environ["SIM_TOKEN_URL"])
manager = get_token_manager()
print("ready", flush=True)
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
tokens, errors = [], []
def call():
    try:
        tokens.append(manager.get_token(config).reveal())
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=call) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"tokens": sorted(set(tokens)), "errors": errors}), flush=True)
"""


def test_four_processes_on_an_expired_token_make_one_token_request(shared, settings, redis_url, token_manager):
    with GatewaySimulator(token_lifetime=1) as sim:
        config_env = {
            "SIM_CLIENT_ID": sim.client_id,
            "SIM_CLIENT_SECRET": sim.client_secret,
            "SIM_BASE_URL": sim.base_url,
            "SIM_TOKEN_URL": sim.token_url,
        }
        from providers.types import CredentialConfig

        config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(sim.client_id),
            client_secret=Secret(sim.client_secret),
            base_url=sim.base_url,
            token_url=sim.token_url,
        )
        old = token_manager.get_token(config)  # shared through Redis, then expires everywhere
        time.sleep(1.1)
        sim.token_lifetime = 3600
        sim.token_delay = 0.2
        sim.reset_counters()
        env = {
            **os.environ,
            **config_env,
            "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "REDIS_URL": redis_url,
            "CREDENTIALS_ENCRYPTION_KEYS": ",".join(settings.CREDENTIALS_ENCRYPTION_KEYS),
            "PYTHONPATH": str(REPO),
        }
        with tempfile.TemporaryDirectory() as tmp:
            go = os.path.join(tmp, "go")
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", _WORKER, go],
                    env=env,
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(4)
            ]
            try:
                for proc in procs:
                    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
                Path(go).touch()
                outputs = [json.loads(proc.communicate(timeout=30)[0]) for proc in procs]
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
        assert all(not o["errors"] for o in outputs), outputs
        tokens = {t for o in outputs for t in o["tokens"]}
        assert len(tokens) == 1 and old.reveal() not in tokens
        assert sim.token_requests == 1


def test_the_prerefresh_judges_the_shared_token_not_its_own_stale_copy(shared, gateway_sim, gateway_config):
    """Issue 8, item 6: this process (the worker) holds an older, due copy; a web process has
    refreshed since. The pre-refresh finds the web's token fresh and requests none."""
    from providers.gateway.refresh import RefreshAction, refresh_if_due
    from providers.gateway.tokens import get_token_manager

    gateway_sim.token_lifetime = 8  # due 4 s before expiry
    worker = get_token_manager()
    worker.get_token(gateway_config)
    time.sleep(4.2)  # the worker's copy is due now; the web's new one will not be for 4 s
    web = TokenManager()
    web.refresh(gateway_config, force=True)  # the web process's on-demand refresh
    assert gateway_sim.token_requests == 2
    assert refresh_if_due(gateway_config, key="platform:ai_gateway").action == RefreshAction.FRESH
    assert gateway_sim.token_requests == 2
    assert worker.get_token(gateway_config) == web.get_token(gateway_config)


_LOOPER = r"""
import os, sys, threading, time
import django
django.setup()
from providers.gateway.tokens import get_token_manager
from providers.secrets import Secret
from providers.types import CredentialConfig

config = CredentialConfig(provider="ai_gateway", client_id=Secret(os.environ["SIM_CLIENT_ID"]),
                          client_secret=Secret(os.environ["SIM_CLIENT_SECRET"]),
                          base_url=os.environ["SIM_BASE_URL"], token_url=os.environ["SIM_TOKEN_URL"])
manager = get_token_manager()
end = time.monotonic() + float(sys.argv[1])
errors = []
def loop():
    while time.monotonic() < end:
        try:
            manager.get_token(config)
        except Exception as exc:
            errors.append(type(exc).__name__)
        time.sleep(0.01)
threads = [threading.Thread(target=loop) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("errors", len(errors), flush=True)
"""


def test_web_processes_and_beat_under_load_make_one_token_request_per_refresh(
    shared, settings, redis_url, token_manager
):
    """Issue 8, item 6: three web processes (4 threads each, a token every 10 ms) and the beat
    pre-refresh (every 0.5 s, here in this process) on 4 s tokens for 9 s. Each token is due 2 s
    before it expires (half its lifetime), so one token request every ~2 s is the whole budget:
    no two token requests may come closer than that (a duplicate came 0.6-7.6 s after a web
    refresh before the fix)."""
    from providers.gateway.refresh import refresh_if_due
    from providers.testing.gateway_simulator import TOKEN_PATH
    from providers.types import CredentialConfig

    run_for = 9.0
    with GatewaySimulator(token_lifetime=4) as sim:
        config = CredentialConfig(
            provider="ai_gateway",
            client_id=Secret(sim.client_id),
            client_secret=Secret(sim.client_secret),
            base_url=sim.base_url,
            token_url=sim.token_url,
        )
        env = {
            **os.environ,
            "SIM_CLIENT_ID": sim.client_id,
            "SIM_CLIENT_SECRET": sim.client_secret,
            "SIM_BASE_URL": sim.base_url,
            "SIM_TOKEN_URL": sim.token_url,
            "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "REDIS_URL": redis_url,
            "CREDENTIALS_ENCRYPTION_KEYS": ",".join(settings.CREDENTIALS_ENCRYPTION_KEYS),
            "PYTHONPATH": str(REPO),
        }
        web = TokenManager()
        web.get_token(config)  # a web process's token, in Redis before the load starts
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _LOOPER, str(run_for)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        try:
            # Beat starts at once: its first pass finds the web's 4 s token fresh (the old code
            # judged it by the whole 300 s margin and fetched a duplicate within milliseconds).
            started = time.monotonic()
            while time.monotonic() - started < run_for - 1.0:
                refresh_if_due(config, key="platform:ai_gateway")  # the beat task's decision and refresh
                time.sleep(0.5)
            outputs = [proc.communicate(timeout=60) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
    assert all(out.strip() == "errors 0" for out, _ in outputs), outputs
    times = sorted(r.at for r in sim.requests if r.path.startswith(TOKEN_PATH))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 4, times  # refreshes did happen under load
    assert min(gaps) > 1.5, gaps  # ...each one alone: ~2 s apart, never a duplicate
