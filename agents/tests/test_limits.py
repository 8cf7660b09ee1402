"""Rate limits on agent runs (agents.limits), against the gateway simulator and a real Redis."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from agents.breaker import breaker_state
from agents.catalog import AGENTS
from agents.exceptions import NoModelAvailable
from agents.limits import UserRateLimited
from agents.models import AgentRun, RunStatus, UsageLimits
from agents.services import run_agent, stream_agent
from ideaforge import ratelimit

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]


@pytest.fixture
def shared_redis(settings, redis_url):
    """The limiter on the test Redis, under a key prefix of its own (the server lives for the session)."""
    settings.CACHE_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    settings.RATELIMIT_STORAGE_URL = redis_url
    settings.RATELIMIT_KEY_PREFIX = f"{settings.CACHE_KEY_PREFIX}:limits"
    return settings


def test_the_run_past_the_users_limit_is_refused_before_any_request(alice, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "3/minute"
    for i in range(3):
        assert run_agent(agent=GENERATOR, user=alice, prompt=f"run {i}").text == f"Echo: run {i}"
    with pytest.raises(UserRateLimited) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="one too many")
    assert platform_gateway.chat_requests == 3  # the fourth never reached the provider
    assert 50 <= caught.value.retry_after <= 60
    assert "3/minute" in str(caught.value) and "Try again in" in str(caught.value)
    refused = AgentRun.objects.filter(status=RunStatus.RATE_LIMITED).get()
    assert refused.prompt == "one too many" and refused.provider == "" and "3/minute" in refused.error
    assert AgentRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 3


def test_the_users_limit_is_theirs_alone(alice, bob, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    run_agent(agent=GENERATOR, user=alice, prompt="a")
    assert run_agent(agent=GENERATOR, user=bob, prompt="b").text == "Echo: b"
    with pytest.raises(UserRateLimited):
        run_agent(agent=GENERATOR, user=alice, prompt="a again")


def test_an_operators_override_replaces_the_default(alice, bob, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    UsageLimits.objects.create(user=alice, rate_limit="unlimited")
    UsageLimits.objects.create(user=bob, rate_limit="")  # empty: the default
    for i in range(3):
        run_agent(agent=GENERATOR, user=alice, prompt=f"{i}")
    run_agent(agent=GENERATOR, user=bob, prompt="b")
    with pytest.raises(UserRateLimited):
        run_agent(agent=GENERATOR, user=bob, prompt="b")
    # An edit applies to the next run (the cached override is dropped on save).
    limits = UsageLimits.objects.get(user=alice)
    limits.rate_limit = "1/hour"
    limits.save()
    run_agent(agent=GENERATOR, user=alice, prompt="the hour's one run")
    with pytest.raises(UserRateLimited, match="1/hour"):
        run_agent(agent=GENERATOR, user=alice, prompt="now limited")


def test_a_bad_override_is_a_clear_validation_error(alice):
    with pytest.raises(ValidationError, match="not a rate limit"):
        UsageLimits(user=alice, rate_limit="30/min").full_clean()
    assert not UsageLimits.objects.exists()


def test_the_users_token_limit_refuses_once_the_window_is_full(alice, platform_gateway, settings):
    settings.AGENTS_USER_TOKEN_LIMIT = "5/minute"  # the first run uses more than that
    first = run_agent(agent=GENERATOR, user=alice, prompt="a long enough prompt")
    assert first.run.input_tokens + first.run.output_tokens > 5
    with pytest.raises(UserRateLimited, match="5/minute agent tokens"):
        run_agent(agent=GENERATOR, user=alice, prompt="again")
    assert platform_gateway.chat_requests == 1


def test_a_credential_over_its_limit_makes_the_runner_fall_back(
    alice, platform_gateway, openai_fake, alice_openai, settings
):
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "1/minute"
    first = run_agent(agent=GENERATOR, user=alice, prompt="one")
    assert first.run.provider == "ai_gateway"
    second = run_agent(agent=GENERATOR, user=alice, prompt="two")
    assert (second.run.provider, second.run.credential_source) == ("openai", "user")
    assert second.run.fallbacks[0]["provider"] == "ai_gateway"
    assert "rate limit for this credential" in second.run.fallbacks[0]["reason"]
    assert platform_gateway.chat_requests == 1 and openai_fake.chat_requests == 1
    # Both over their limits: the run fails naming each, and no provider is called.
    with pytest.raises(NoModelAvailable) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="three")
    assert str(caught.value).count("rate limit for this credential") == 2
    assert platform_gateway.chat_requests == 1 and openai_fake.chat_requests == 1


def test_a_model_limit_applies_per_credential_and_model(alice, platform_gateway, openai_fake, alice_openai, settings):
    settings.PROVIDERS_MODEL_RATE_LIMIT = "1/minute"
    assert run_agent(agent=GENERATOR, user=alice, prompt="a", tier="fast").run.model_id == "sim-fast"
    assert run_agent(agent=GENERATOR, user=alice, prompt="b", tier="standard").run.model_id == "sim-standard"
    assert run_agent(agent=GENERATOR, user=alice, prompt="c", tier="fast").run.provider == "openai"


def test_falling_back_after_a_failure_checks_the_next_credentials_limit(
    alice, platform_gateway, openai_fake, alice_openai, settings
):
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "1/minute"
    run_agent(agent=GENERATOR, user=alice, prompt="uses openai's one call", tier="fast")  # gateway's one call
    platform_gateway.fail(503, times=1)
    result = run_agent(agent=GENERATOR, user=alice, prompt="x")
    assert result.run.provider == "openai"
    with pytest.raises(NoModelAvailable, match="rate limit for this credential"):
        run_agent(agent=GENERATOR, user=alice, prompt="y")


def test_the_stream_endpoint_answers_429_with_retry_after(client, alice, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    client.force_login(alice)
    ok = client.post(reverse("agents:stream"), {"agent": "idea_generator", "prompt": "x"})
    assert ok.status_code == 200 and b"".join(ok.streaming_content)
    refused = client.post(reverse("agents:stream"), {"agent": "idea_generator", "prompt": "y"})
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    body = json.loads(refused.content)
    assert body["code"] == "rate_limited" and body["retry_after"] == int(refused["Retry-After"])
    assert "Try again in" in body["message"]
    assert platform_gateway.chat_requests == 1


def test_the_forge_page_shows_the_refusal_with_429(client, alice, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    client.force_login(alice)
    # Post-redirect-get: the run (and the refusal) happen on the GET the POST redirects to.
    b"".join(
        client.get(client.post("/forge/", {"agent": "idea_generator", "prompt": "x"})["Location"]).streaming_content
    )
    page = client.get(client.post("/forge/", {"agent": "idea_generator", "prompt": "y"})["Location"])
    assert page.status_code == 429 and "Retry-After" in page
    assert "You have reached your limit of 1/minute agent runs" in page.content.decode()
    assert platform_gateway.chat_requests == 1


def test_agents_run_says_when_to_retry(alice, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    call_command("agents_run", "idea_generator", "x", user="alice", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match=r"limit of 1/minute agent runs\. Try again in \d+ s"):
        call_command("agents_run", "idea_generator", "y", user="alice", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_refused_stream_is_one_failed_event(alice, platform_gateway, settings):
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    list(stream_agent(agent=GENERATOR, user=alice, prompt="x"))
    events = list(stream_agent(agent=GENERATOR, user=alice, prompt="y"))
    assert [e.kind for e in events] == ["error"] and isinstance(events[0].error, UserRateLimited)


@pytest.mark.redis
def test_all_limit_checks_of_a_run_are_one_redis_round_trip(alice, platform_gateway, settings, shared_redis):
    settings.AGENTS_USER_RATE_LIMIT = "100/minute"
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "100/minute"
    settings.PROVIDERS_MODEL_RATE_LIMIT = "100/minute;1000/hour"
    settings.AGENTS_USER_TOKEN_LIMIT = settings.PROVIDERS_CREDENTIAL_TOKEN_LIMIT = "100000/minute"
    run_agent(agent=GENERATOR, user=alice, prompt="warm up (loads the scripts)")
    connection = ratelimit._get_limiter().shared.storage.get_connection()
    sent: list[str] = []
    original = connection.execute_command

    def counting(*args, **kwargs):
        sent.append(str(args[0]))
        return original(*args, **kwargs)

    connection.execute_command = counting
    try:
        run_agent(agent=GENERATOR, user=alice, prompt="measured")
    finally:
        del connection.execute_command
    # One script for every check before the run, one script charging its tokens after it.
    assert sent == ["EVALSHA", "EVALSHA"]
    assert platform_gateway.chat_requests == 2


@pytest.mark.redis
def test_two_processes_sharing_redis_enforce_one_user_limit(alice, platform_gateway, settings, shared_redis):
    settings.AGENTS_USER_RATE_LIMIT = "5/minute"
    for i in range(2):
        run_agent(agent=GENERATOR, user=alice, prompt=f"{i}")
    # Another process (as a Celery worker would be) admits runs for the same user: 3 are left.
    code = (
        "import django; django.setup(); from agents import limits; "
        "limits.user_overrides = lambda user_id: limits.Overrides()\n"
        "ok = 0\n"
        "for _ in range(5):\n"
        "    try:\n"
        f"        limits.admit({alice.pk}, []); ok += 1\n"
        "    except limits.UserRateLimited:\n"
        "        pass\n"
        "print(ok)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
        "DJANGO_DEBUG": "true",
        "REDIS_URL": shared_redis.RATELIMIT_STORAGE_URL,
        "CACHE_KEY_PREFIX": shared_redis.CACHE_KEY_PREFIX,
        "AGENTS_USER_RATE_LIMIT": "5/minute",
        "CREDENTIALS_ENCRYPTION_KEYS": django_settings.CREDENTIALS_ENCRYPTION_KEYS[0],
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "3"
    with pytest.raises(UserRateLimited):
        run_agent(agent=GENERATOR, user=alice, prompt="sixth")
    assert platform_gateway.chat_requests == 2


def test_acquire_consumes_nothing_when_refused_and_only_the_chosen_alternative():
    user = [ratelimit.Ask("2/minute", ("t-user", "1"))]
    cred_a = [ratelimit.Ask("1/minute", ("t-cred", "a"))]
    cred_b = [ratelimit.Ask("1/minute", ("t-cred", "b"))]
    first = ratelimit.acquire(user, [cred_a, cred_b])
    assert (first.refused, first.chosen, first.over) == (None, 0, {})
    second = ratelimit.acquire(user, [cred_a, cred_b])
    assert second.chosen == 1 and set(second.over) == {0}
    third = ratelimit.acquire(user, [cred_a, cred_b])
    assert third.refused is not None and third.refused_by == 0
    # An alternative without any limit always passes.
    assert ratelimit.acquire([], [cred_a, [ratelimit.Ask("", ("t-cred", "c"))]]).chosen == 1


@pytest.mark.redis
def test_user_token_and_credential_limits_hold_on_redis(
    alice, platform_gateway, openai_fake, alice_openai, settings, shared_redis
):
    settings.AGENTS_USER_RATE_LIMIT = "3/minute"
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "1/minute"
    assert run_agent(agent=GENERATOR, user=alice, prompt="a").run.provider == "ai_gateway"
    assert run_agent(agent=GENERATOR, user=alice, prompt="b").run.provider == "openai"
    with pytest.raises(NoModelAvailable):
        run_agent(agent=GENERATOR, user=alice, prompt="c")
    with pytest.raises(UserRateLimited, match="3/minute agent runs"):
        run_agent(agent=GENERATOR, user=alice, prompt="d")
    assert platform_gateway.chat_requests == 1 and openai_fake.chat_requests == 1
    settings.AGENTS_USER_TOKEN_LIMIT = "5/hour"
    settings.AGENTS_USER_RATE_LIMIT = ""
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = ""
    run_agent(agent=GENERATOR, user=alice, prompt="spends more than five tokens")
    with pytest.raises(UserRateLimited, match="5/hour agent tokens") as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="e")
    assert 3500 <= caught.value.retry_after <= 3600


def _held_back(model_id: str) -> float:
    return breaker_state("platform:ai_gateway", model_id).open_for()


def test_the_gateways_spent_window_holds_the_credential_back_until_its_reset(
    alice, platform_gateway, openai_fake, alice_openai
):
    platform_gateway.send_rate_limit_headers(remaining_requests=0, reset_requests="1m30s", remaining_tokens=5000)
    first = run_agent(agent=GENERATOR, user=alice, prompt="last one allowed").run
    assert first.provider == "ai_gateway"
    # The breaker of (credential, model) the answer came from opens for the reset's length.
    assert 85 <= _held_back(first.model_id) <= 90
    # The next run does not send the request the gateway would refuse: it falls back at once.
    second = run_agent(agent=GENERATOR, user=alice, prompt="next")
    assert second.run.provider == "openai" and "circuit open" in second.run.fallbacks[0]["reason"]
    assert platform_gateway.chat_requests == 1


def test_remaining_capacity_and_streams_are_read_too(alice, platform_gateway):
    platform_gateway.send_rate_limit_headers(remaining_requests=10, reset_requests="1s")
    model = list(stream_agent(agent=GENERATOR, user=alice, prompt="a"))[-1].run.model_id
    assert _held_back(model) == 0
    platform_gateway.send_rate_limit_headers(remaining_tokens=0, reset_tokens="20s")
    events = list(stream_agent(agent=GENERATOR, user=alice, prompt="b"))
    assert events[-1].kind == "done"
    assert 15 <= _held_back(model) <= 20


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3s", 3723.0),
        ("2.5", 2.5),
        ("soon", None),
        ("", None),
        ("5x", None),
    ],
)
def test_reset_durations_as_gateways_write_them(text, seconds):
    from providers.gateway.ratelimit_signals import parse_duration

    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)
