"""A canary secret never appears in pages, run records or logs, whatever happens to the run."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core import serializers
from django.core.management import CommandError, call_command

from agents.models import AgentRun

pytestmark = pytest.mark.django_db(transaction=True)

CANARY_KEY = "sk-canary-7f3a9c2e5b1d-OPENAI-SECRET"
CANARIES = (CANARY_KEY, "platform-secret-canary-0001", "alice-secret-canary-0002")


@pytest.fixture
def all_logs(caplog):
    """Everything logged at any level, Agno's loggers included (they do not propagate)."""
    caplog.set_level(logging.DEBUG)
    agno = logging.getLogger("agno")
    agno.addHandler(caplog.handler)
    yield caplog
    agno.removeHandler(caplog.handler)


def body_of(response) -> str:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_canary_never_leaks(
    client, alice, platform_gateway, gateway2, alice_gateway, openai_fake, make_credential, settings, all_logs
):
    openai_fake.valid_key = CANARY_KEY
    make_credential(
        alice, "openai", api_key=CANARY_KEY, priority=200, fast_model="gpt-fast", premium_model="gpt-premium"
    )
    client.force_login(alice)
    seen: list[str] = []

    # 1. A normal streamed run through the user's own gateway.
    def form_run(data):  # the plain form: POST, then the run's page (post-redirect-get)
        return body_of(client.get(client.post("/forge/", data)["Location"]))

    seen.append(form_run({"agent": "idea_generator", "prompt": "hello"}))
    # 2. Both gateways fail; OpenAI answers (NDJSON).
    platform_gateway.fail(503, times=None)
    gateway2.fail(500, times=None)
    seen.append(body_of(client.post("/forge/stream", {"agent": "concept_brief", "prompt": "fallback"})))
    # 3. OpenAI refuses and echoes the key it was sent (some providers do): a 400 goes back.
    openai_fake.inject(
        path_prefix="/v1/chat",
        status=400,
        times=None,
        body={"error": {"message": f"Bad request for key {CANARY_KEY}", "type": "invalid_request_error"}},
    )
    seen.append(form_run({"agent": "idea_generator", "tier": "premium", "prompt": "refused"}))
    seen.append(
        body_of(client.post("/forge/stream", {"agent": "idea_generator", "tier": "premium", "prompt": "refused"}))
    )
    # 4. The command, failing the same way.
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("agents_run", "idea_generator", "cmd", user="alice", tier="premium", stdout=out, stderr=err)
    seen += [out.getvalue(), err.getvalue(), str(caught.value)]
    # 5. The history and the run pages.
    seen.append(body_of(client.get("/forge/")))
    seen.append(body_of(client.get("/forge/history")))
    for run in AgentRun.objects.all():
        seen.append(body_of(client.get(f"/forge/runs/{run.pk}/")))
    seen.append(serializers.serialize("json", AgentRun.objects.all()))
    # 6. The monitoring pages: usage, readiness, metrics, the admin's dashboard and provider health.
    seen.append(body_of(client.get("/usage/?days=30")))
    seen.append(body_of(client.get("/readyz")))
    alice.is_staff = alice.is_superuser = True
    alice.save()
    for url in (
        "/readyz",
        "/metrics",
        "/admin/agents/agentrun/dashboard/",
        "/admin/agents/agentrun/provider-health/",
        "/admin/agents/agentrun/?period=all&q=alice",  # the run list, searched
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        seen.append(body_of(response))
    seen.append(all_logs.text)
    seen.append(json.dumps([r.getMessage() for r in all_logs.records]))

    everything = "\n".join(seen)
    # The runs happened as described (so the test exercised the leak paths it claims to).
    assert AgentRun.objects.filter(status="succeeded").count() == 2
    assert "Bad request for key [redacted]" in everything
    assert "refused the request" in everything
    for canary in CANARIES:
        assert canary not in everything


def test_canary_never_leaks_from_a_rejected_credential_or_a_timeout(
    alice, platform_gateway, openai_fake, make_credential, settings, all_logs
):
    """The breaker's paths: a 401 that echoes the key (credential rejected, marked failed) and a
    timeout; neither the events, the record, the credential's last error nor the logs carry it."""
    from agents.catalog import AGENTS
    from agents.services import stream_agent
    from providers.models import ProviderCredential

    settings.AI_GATEWAY_ENABLED = False  # Alice's key first, then the platform gateway
    settings.AGENTS_RUN_TIMEOUT = 0.5
    make_credential(alice, "openai", api_key=CANARY_KEY, fast_model="gpt-fast")
    openai_fake.inject(
        path_prefix="/v1/chat",
        status=401,
        times=None,
        body={
            "error": {
                "message": f"Incorrect API key provided: {CANARY_KEY}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    )
    platform_gateway.stream_fault(trickle_after=0, trickle_seconds=3, trickle_every=0.1)
    events = list(stream_agent(agent=AGENTS["idea_generator"], user=alice, prompt="leak?"))

    seen = [
        repr(events),
        serializers.serialize("json", AgentRun.objects.all()),
        serializers.serialize("json", ProviderCredential.objects.all(), fields=("status", "status_code", "last_error")),
        all_logs.text,
        json.dumps([r.getMessage() for r in all_logs.records]),
    ]
    everything = "\n".join(seen)
    assert "credential rejected" in everything and "AGENTS_RUN_TIMEOUT" in everything
    assert ProviderCredential.objects.get(owner=alice).status == "failed"
    for canary in CANARIES:
        assert canary not in everything


def test_a_server_failure_mid_stream_never_logs_or_shows_a_secret(
    client, alice, platform_gateway, monkeypatch, all_logs
):
    import agents.services

    def broken(*args, **kwargs):
        raise RuntimeError("connect failed for client platform-secret-canary-0001")

    monkeypatch.setattr(agents.services, "resolve", broken)
    client.force_login(alice)
    body = body_of(client.post("/forge/stream", {"agent": "idea_generator", "prompt": "x"}))
    assert '"server_error"' in body and "forge stream failed" in all_logs.text
    for canary in CANARIES:
        assert canary not in body and canary not in all_logs.text


def test_canary_never_reaches_the_limiters_the_response_cache_or_the_429(
    client, alice, platform_gateway, gateway2, alice_gateway, openai_fake, make_credential, settings, all_logs
):
    """Rate limit keys, cached answers and refusals hold ids and tokens, never a secret."""
    from django.core.cache import cache
    from django.core.cache.backends.locmem import _caches

    from agents.models import UsageLimits

    openai_fake.valid_key = CANARY_KEY
    make_credential(
        alice, "openai", api_key=CANARY_KEY, priority=200, fast_model="gpt-fast", standard_model="gpt-standard"
    )
    settings.AGENTS_USER_RATE_LIMIT = "3/minute"
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "1/minute"
    settings.AGENTS_USER_TOKEN_LIMIT = settings.PROVIDERS_MODEL_TOKEN_LIMIT = "100000/minute"
    settings.AGENTS_DAILY_TOKEN_BUDGET = 100000
    UsageLimits.objects.create(user=alice, monthly_token_budget=50000)
    platform_gateway.send_rate_limit_headers(remaining_requests=0, reset_requests="10s")
    client.force_login(alice)
    seen: list[str] = []
    for prompt in ("critic one", "critic one", "critic two", "over the limit"):  # a hit, a fallback, a 429
        seen.append(body_of(client.post("/forge/stream", {"agent": "idea_critic", "prompt": prompt})))
    assert '"cache_hit": true' in seen[1] and "rate_limited" in seen[3]
    from ideaforge import ratelimit

    memory = ratelimit._get_limiter().fallback.storage
    seen.append(repr(sorted(memory.storage)) + repr(sorted(memory.events)))
    for store in _caches.values():
        seen.append(repr(list(store.keys())) + repr([str(v) for v in store.values()]))
    seen.append(repr(cache))
    seen.append(body_of(client.get("/forge/")))
    seen.append(serializers.serialize("json", AgentRun.objects.all()))
    seen.append(all_logs.text)
    everything = "\n".join(seen)
    assert "agents-user" in everything and "agents:answer:" in everything  # what was inspected
    for canary in CANARIES:
        assert canary not in everything
