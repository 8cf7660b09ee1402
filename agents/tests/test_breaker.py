"""The circuit breaker per (credential, model) and the per-candidate retry, against the simulators."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache import cache

from agents.breaker import breaker_cache_key, breaker_claim_probe, breaker_failure, breaker_open, breaker_state
from agents.catalog import AGENTS
from agents.events import FallbackTaken
from agents.exceptions import NoModelAvailable
from agents.models import AgentRun, RunStatus
from agents.services import run_agent, stream_agent
from providers.models import VerificationStatus

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]
PLATFORM = ("platform:ai_gateway", "sim-fast")
CHAT = "/v1/chat/completions"


def _end_open_period(credential_key: str, model_id: str) -> None:
    """Move the breaker's open period into the past (as if it had elapsed), without sleeping."""
    state = breaker_state(credential_key, model_id)
    value = {**state.__dict__, "open_until": time.time() - 0.01}
    cache.set(breaker_cache_key(credential_key, model_id), value, timeout=3600)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_503_is_retried_on_the_same_candidate_and_opens_nothing(
    alice, bob, platform_gateway, openai_fake, alice_openai
):
    platform_gateway.fail(503, times=1)
    result = run_agent(agent=GENERATOR, user=alice, prompt="blip")
    assert result.text == "Echo: blip"
    assert (result.run.provider, result.run.credential_source) == ("ai_gateway", "platform")
    assert result.run.fallbacks == [] and openai_fake.chat_requests == 0
    assert platform_gateway.counts[CHAT] == 2
    assert not breaker_state(*PLATFORM).exists
    # Every other user still gets the shared platform gateway at once.
    other = run_agent(agent=GENERATOR, user=bob, prompt="me too")
    assert other.run.provider == "ai_gateway" and other.run.fallbacks == []
    assert platform_gateway.counts[CHAT] == 3


def test_three_failures_open_the_breaker_then_one_probe_closes_it(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.fail(503, times=None)
    for n in range(3):
        run = run_agent(agent=GENERATOR, user=alice, prompt=f"run {n}").run
        assert run.provider == "openai" and "503" in run.fallbacks[0]["reason"]
    state = breaker_state(*PLATFORM)
    assert state.is_open() and state.failures == 3
    assert platform_gateway.counts[CHAT] == 6  # three runs, each with its one retry

    skipped = run_agent(agent=GENERATOR, user=alice, prompt="open").run
    assert "circuit open" in skipped.fallbacks[0]["reason"] and platform_gateway.counts[CHAT] == 6

    _end_open_period(*PLATFORM)  # half-open now
    assert breaker_state(*PLATFORM).is_half_open()
    # Another process holds the probe: this run skips the gateway.
    assert breaker_claim_probe(*PLATFORM)
    assert not breaker_claim_probe(*PLATFORM)  # only one claim at a time
    probing = run_agent(agent=GENERATOR, user=alice, prompt="probing").run
    assert "another request is probing" in probing.fallbacks[0]["reason"]
    assert platform_gateway.counts[CHAT] == 6

    # That probe failed: open again. After the period, the next run is the probe and succeeds.
    breaker_failure(*PLATFORM)
    assert breaker_state(*PLATFORM).is_open()
    _end_open_period(*PLATFORM)
    platform_gateway.clear_faults()
    probe = run_agent(agent=GENERATOR, user=alice, prompt="probe").run
    assert probe.provider == "ai_gateway" and probe.fallbacks == []
    assert not breaker_state(*PLATFORM).exists


def test_failures_outside_the_window_do_not_add_up(settings):
    settings.AGENTS_BREAKER_WINDOW = 0.2
    assert breaker_failure("k", "m") == 0.0
    assert breaker_failure("k", "m") == 0.0
    time.sleep(0.3)
    assert breaker_failure("k", "m") == 0.0  # a new count of one
    assert breaker_state("k", "m").failures == 1


def test_when_every_candidate_is_open_the_first_opened_is_tried(alice, platform_gateway, openai_fake, alice_openai):
    breaker_open(f"cred:{alice_openai.pk}", "gpt-fast", seconds=30)
    time.sleep(0.01)
    breaker_open(*PLATFORM, seconds=30)
    result = run_agent(agent=GENERATOR, user=alice, prompt="last resort")
    # OpenAI opened first: tried (and answered) although the gateway comes first in order.
    assert (result.run.provider, result.run.status) == ("openai", RunStatus.SUCCEEDED)
    assert platform_gateway.counts[CHAT] == 0 and openai_fake.chat_requests == 1
    assert not breaker_state(f"cred:{alice_openai.pk}", "gpt-fast").exists  # the success closed it
    assert breaker_state(*PLATFORM).is_open()


def test_the_forced_candidate_failing_ends_naming_every_candidate(alice, platform_gateway):
    breaker_open(*PLATFORM, seconds=30)
    platform_gateway.fail(503, times=None)
    with pytest.raises(NoModelAvailable) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    assert platform_gateway.counts[CHAT] == 2 and "503" in caught.value.tried[0]["reason"]


def test_short_retry_after_is_waited_out_on_the_same_candidate(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.rate_limit(retry_after=1, times=1)
    started = time.monotonic()
    result = run_agent(agent=GENERATOR, user=alice, prompt="patience")
    assert time.monotonic() - started >= 1.0
    assert result.run.provider == "ai_gateway" and result.run.fallbacks == []
    assert platform_gateway.counts[CHAT] == 2 and openai_fake.chat_requests == 0
    assert not breaker_state(*PLATFORM).exists


def test_retry_after_over_the_limit_opens_the_breaker_for_that_long(
    alice, platform_gateway, openai_fake, alice_openai, settings
):
    settings.AGENTS_MAX_RETRY_WAIT = 2.0
    settings.AGENTS_BREAKER_OPEN_SECONDS = 1.0
    platform_gateway.rate_limit(retry_after=30, times=1)
    result = run_agent(agent=GENERATOR, user=alice, prompt="too long")
    assert result.run.provider == "openai" and platform_gateway.counts[CHAT] == 1
    assert 20 < breaker_state(*PLATFORM).open_for() <= 30  # the Retry-After, not the 1 s default


def test_insufficient_quota_opens_for_an_hour_without_any_retry(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.inject(
        path_prefix="/v1/chat",
        status=429,
        times=None,
        body={
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        },
    )
    result = run_agent(agent=GENERATOR, user=alice, prompt="quota")
    assert result.run.provider == "openai"
    assert "quota exhausted" in result.run.fallbacks[0]["reason"]
    assert platform_gateway.counts[CHAT] == 1  # neither we nor the SDK retried
    assert breaker_state(*PLATFORM).open_for() > 3500


def test_persistent_401_is_a_rejected_credential_marked_failed(alice, platform_gateway, gateway2, alice_gateway):
    gateway2.inject(
        path_prefix="/v1/chat",
        status=401,
        times=None,
        body={"error": {"message": "token rejected", "type": "invalid_request_error", "code": "invalid_token"}},
    )
    result = run_agent(agent=GENERATOR, user=alice, prompt="who am i")
    assert (result.run.credential_source, result.run.status) == ("platform", RunStatus.SUCCEEDED)
    assert "credential rejected" in result.run.fallbacks[0]["reason"]
    # The gateway client's own refresh + retry once, nothing more.
    assert gateway2.counts[CHAT] == 2
    alice_gateway.refresh_from_db()
    assert alice_gateway.status == VerificationStatus.FAILED and "credential rejected" in alice_gateway.last_error
    # Marked failed: the next run does not even resolve it.
    again = run_agent(agent=GENERATOR, user=alice, prompt="again")
    assert again.run.fallbacks == [] and gateway2.counts[CHAT] == 2


def test_401_from_openai_is_rejected_and_marks_the_key_failed(alice, openai_fake, make_credential):
    bad = make_credential(alice, "openai", api_key="sk-wrong-canary-0009", fast_model="gpt-fast")
    with pytest.raises(NoModelAvailable) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    assert "credential rejected" in caught.value.tried[0]["reason"] and "canary" not in str(caught.value)
    assert openai_fake.counts[CHAT] == 1
    bad.refresh_from_db()
    assert bad.status == VerificationStatus.FAILED


@pytest.mark.parametrize("which", ["openai", "gateway"])
def test_refused_connection_reads_connection_failed_not_http_502(which, alice, settings, make_credential, gateway):
    port = _closed_port()
    if which == "openai":
        settings.PROVIDERS_OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
        make_credential(alice, "openai", api_key="sk-x", fast_model="gpt-fast")
    else:
        settings.AI_GATEWAY_ENABLED = True
        settings.AI_GATEWAY_CLIENT_ID = gateway.client_id
        settings.AI_GATEWAY_CLIENT_SECRET = gateway.client_secret
        settings.AI_GATEWAY_TOKEN_URL = gateway.token_url
        settings.AI_GATEWAY_BASE_URL = f"http://127.0.0.1:{port}/v1"
        settings.AI_GATEWAY_FAST_MODEL = "sim-fast"
    events = list(stream_agent(agent=GENERATOR, user=alice, prompt="anyone?"))
    fallback = next(e for e in events if isinstance(e, FallbackTaken))
    assert "connection failed" in fallback.reason and "502" not in fallback.reason
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and "502" not in run.error


def test_an_abandoned_probe_gives_its_claim_back(alice, platform_gateway, settings):
    from agents.events import Delta

    breaker_open(*PLATFORM, seconds=0.2)
    time.sleep(0.3)
    stream = stream_agent(agent=GENERATOR, user=alice, prompt="one two three four")
    for event in stream:
        if isinstance(event, Delta):
            break
    stream.close()  # the probe's client walked away: no outcome
    assert breaker_state(*PLATFORM).is_half_open()
    assert breaker_claim_probe(*PLATFORM)  # the next request may probe at once
