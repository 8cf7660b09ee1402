"""/healthz and /readyz against real dependencies: a real redis-server stopped and started again."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from providers.testing.redis_server import RedisServer, _ping, redis_server_binary

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_server():
    if redis_server_binary() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is required under CI=true")
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


def _start_again(server: RedisServer) -> subprocess.Popen[bytes]:
    """A new redis-server on the stopped one's port (what a restarted Redis looks like)."""
    process = subprocess.Popen(
        [server.binary, "--port", str(server.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _ping(server.port):
        assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start again"
        time.sleep(0.05)
    return process


@pytest.fixture
def restore_cache(settings):
    """Put the local cache back before the other fixtures' teardown clears it (a dead Redis would raise)."""
    original = settings.CACHES
    yield
    settings.CACHES = original


TOKEN = "readyz-metrics-token-0042"


@pytest.fixture
def ops(settings):
    """Sees /readyz's details: the METRICS_TOKEN bearer (no session: works with the cache down)."""
    settings.METRICS_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


DEAD_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


def _use_redis(settings, url: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.CELERY_BROKER_URL = url


def test_healthz_answers_without_touching_anything(client, settings, restore_cache, django_assert_num_queries):
    settings.CACHES = DEAD_REDIS  # nothing listens there: touching the cache would fail
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_readyz_on_the_embedded_default_is_ready(client, ops):
    response = client.get("/readyz", **ops)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {**body["checks"]["database"], "ok": True, "required": True}
    assert body["checks"]["cache"]["ok"] and not body["checks"]["cache"]["required"]
    assert body["checks"]["broker"]["transport"] == "memory"


def test_readyz_goes_503_while_redis_is_down_and_200_when_it_returns(
    client, settings, restore_cache, redis_server, ops
):
    _use_redis(settings, redis_server.url)
    settings.HEALTH_REQUIRED = ["database", "cache", "broker"]

    up = client.get("/readyz", **ops)
    assert up.status_code == 200, up.content
    assert up.json()["checks"]["cache"]["ok"] and up.json()["checks"]["broker"]["ok"]

    redis_server._terminate()  # stopped: the process is gone, its port refuses connections
    probe = client.get("/readyz")  # an orchestrator's probe: no credentials, the same verdict
    assert probe.status_code == 503
    assert probe.json()["checks"]["cache"] == {"ok": False, "required": True}
    down = client.get("/readyz", **ops)
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["ok"] is False and body["checks"]["cache"]["error"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert down.json()["checks"]["cache"]["ms"] < 3000  # bounded, not redis-py's 5 s default

    process = _start_again(redis_server)
    try:
        again = client.get("/readyz", **ops)
        assert again.status_code == 200, again.content
        assert client.get("/readyz").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_an_optional_dependency_down_is_reported_but_ready(client, settings, restore_cache):
    settings.CACHES = DEAD_REDIS
    settings.HEALTH_REQUIRED = ["database"]
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["cache"] == {**response.json()["checks"]["cache"], "ok": False, "required": False}


def test_readyz_reports_the_platform_gateway_token_and_breaker(client, platform_gateway, ops):
    from agents.breaker import breaker_open
    from providers.gateway.tokens import get_token_manager
    from providers.selectors import platform_config

    body = client.get("/readyz", **ops).json()
    (row,) = [r for r in body["credentials"] if r["key"] == "platform:ai_gateway"]
    assert row["token"] == {"present": False, "expires_in": None} and row["breaker"] == "closed"

    get_token_manager().get_token(platform_config("ai_gateway"))
    breaker_open("platform:ai_gateway", "sim-fast", seconds=30)  # the gateway's fast model
    body = client.get("/readyz", **ops).json()
    (row,) = [r for r in body["credentials"] if r["key"] == "platform:ai_gateway"]
    assert row["token"]["present"] is True and 0 < row["token"]["expires_in"] <= 3600
    assert row["breaker"] == "open" and row["breaker_models"] == {"sim-fast": "open"}
    assert platform_gateway.client_secret not in client.get("/readyz", **ops).content.decode()


def test_readyz_details_only_to_staff_or_the_metrics_token(client, platform_gateway, settings, alice):
    """A probe gets the verdict; credential keys, token expiry and breakers need what /metrics needs."""
    settings.METRICS_TOKEN = TOKEN
    minimal = {
        "status": "ok",
        "checks": {name: {"ok": True, "required": name == "database"} for name in ("database", "cache", "broker")},
    }
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong-token"}, {"HTTP_AUTHORIZATION": TOKEN}):
        response = client.get("/readyz", **headers)
        assert response.status_code == 200 and response.json() == minimal, headers
        assert "platform:ai_gateway" not in response.content.decode()
    client.force_login(alice)  # signed in, not staff: still the probe's answer
    assert client.get("/readyz").json() == minimal
    by_token = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()
    alice.is_staff = True
    alice.save()
    by_staff = client.get("/readyz").json()
    for body in (by_token, by_staff):
        assert body["checks"]["database"]["vendor"] and "ms" in body["checks"]["database"]
        assert "platform:ai_gateway" in {row["key"] for row in body["credentials"]}
