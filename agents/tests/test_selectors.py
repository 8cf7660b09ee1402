"""resolve(user, tier): order, platform defaults, tier model precedence, skipped credentials, isolation."""

from __future__ import annotations

import pytest

from agents.breaker import breaker_open
from agents.selectors import UnknownTier, resolve
from providers import registry
from providers.models import VerificationStatus

pytestmark = pytest.mark.django_db


def summary(candidates):
    return [(c.provider, c.source, c.model_id) for c in candidates]


def test_own_credentials_by_priority_then_platform(alice, make_credential, settings, monkeypatch):
    monkeypatch.setattr(registry.get("gemini"), "default_tier_models", {"fast": "gemini-backend-fast"})
    monkeypatch.setattr(registry.get("openai"), "default_tier_models", {"fast": "openai-backend-fast"})
    anthropic = make_credential(alice, "anthropic", priority=20, fast_model="claude-fast")
    openai = make_credential(alice, "openai", priority=10, fast_model="gpt-fast")
    settings.GEMINI_API_KEY = "platform-gemini-key-0000"
    settings.OPENAI_API_KEY = "platform-openai-key-0000"
    got = resolve(alice, "fast")
    # Platform credentials come in registry order (openai before gemini) after the user's own.
    assert summary(got) == [
        ("openai", "user", "gpt-fast"),
        ("anthropic", "user", "claude-fast"),
        ("openai", "platform", "openai-backend-fast"),
        ("gemini", "platform", "gemini-backend-fast"),
    ]
    assert [c.key for c in got] == [f"cred:{openai.pk}", f"cred:{anthropic.pk}", "platform:openai", "platform:gemini"]
    # Reordering the user's priorities reorders their candidates.
    openai.priority = 30
    openai.save()
    assert [c.provider for c in resolve(alice, "fast")][:2] == ["anthropic", "openai"]


def test_gateway_first_when_enabled(alice, make_credential, settings):
    make_credential(alice, "openai", priority=1, standard_model="gpt-std")
    settings.AI_GATEWAY_ENABLED = True
    settings.AI_GATEWAY_CLIENT_ID = "platform-client"
    settings.AI_GATEWAY_CLIENT_SECRET = "platform-secret-value"
    settings.AI_GATEWAY_BASE_URL = "http://127.0.0.1:9/v1"
    settings.AI_GATEWAY_STANDARD_MODEL = "gw-standard"
    assert summary(resolve(alice, "standard")) == [
        ("ai_gateway", "platform", "gw-standard"),
        ("openai", "user", "gpt-std"),
    ]
    settings.AI_GATEWAY_ENABLED = False
    assert summary(resolve(alice, "standard")) == [
        ("openai", "user", "gpt-std"),
        ("ai_gateway", "platform", "gw-standard"),
    ]


def test_platform_only_user_gets_platform_defaults(alice, settings):
    settings.AI_GATEWAY_CLIENT_ID = "platform-client"
    settings.AI_GATEWAY_CLIENT_SECRET = "platform-secret-value"
    settings.AI_GATEWAY_BASE_URL = "http://127.0.0.1:9/v1"
    settings.AI_GATEWAY_DEFAULT_MODEL = "gw-default"
    settings.AI_GATEWAY_PREMIUM_MODEL = "gw-premium"
    assert summary(resolve(alice, "premium")) == [("ai_gateway", "platform", "gw-premium")]
    assert summary(resolve(alice, "fast")) == [("ai_gateway", "platform", "gw-default")]


def test_no_credentials_at_all_gives_no_candidates(alice):
    assert resolve(alice, "fast") == []


def test_tier_model_precedence(alice, make_credential, settings, monkeypatch):
    gateway = registry.get("ai_gateway")
    monkeypatch.setattr(
        gateway,
        "default_tier_models",
        {"fast": "backend-fast", "standard": "backend-std", "premium": "backend-premium"},
    )
    settings.AI_GATEWAY_STANDARD_MODEL = "env-std"
    cred = make_credential(
        alice, "ai_gateway", base_url="http://127.0.0.1:9/v1", default_model="cred-default", fast_model="user-fast"
    )
    # 1. the user's preference for the tier
    assert resolve(alice, "fast")[0].model_id == "user-fast"
    # 2. else the credential's default
    assert resolve(alice, "standard")[0].model_id == "cred-default"
    cred.default_model = ""
    cred.save()
    # 3. else the environment
    assert resolve(alice, "standard")[0].model_id == "env-std"
    # 4. else the backend default
    assert resolve(alice, "premium")[0].model_id == "backend-premium"
    settings.AI_GATEWAY_DEFAULT_MODEL = "env-default"
    assert resolve(alice, "premium")[0].model_id == "env-default"


def test_credential_without_any_model_is_left_out(alice, make_credential, monkeypatch):
    monkeypatch.setattr(registry.get("openai"), "default_tier_models", {})
    make_credential(alice, "openai")
    assert resolve(alice, "fast") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"enabled": False},
        {"status": VerificationStatus.UNVERIFIED},
        {"status": VerificationStatus.FAILED},
    ],
)
def test_disabled_and_unverified_are_skipped(alice, make_credential, fields):
    make_credential(alice, "openai", priority=1, fast_model="gpt-fast", **fields)
    make_credential(alice, "anthropic", priority=2, fast_model="claude-fast")
    assert summary(resolve(alice, "fast")) == [("anthropic", "user", "claude-fast")]


def test_user_isolation(alice, bob, make_credential):
    make_credential(bob, "openai", fast_model="bobs-model")
    make_credential(alice, "anthropic", fast_model="alices-model")
    alice_candidates = resolve(alice, "fast")
    assert summary(alice_candidates) == [("anthropic", "user", "alices-model")]
    assert all(c.credential.credential.owner_id == alice.pk for c in alice_candidates)
    assert summary(resolve(bob, "fast")) == [("openai", "user", "bobs-model")]


def test_open_breakers_are_skipped_per_credential_and_model(alice, bob, make_credential):
    alice_key = make_credential(alice, "openai", priority=1, fast_model="m1", standard_model="m1s")
    make_credential(alice, "anthropic", priority=2, fast_model="m2")
    make_credential(bob, "openai", fast_model="m3")
    breaker_open(f"cred:{alice_key.pk}", "m1", seconds=30)
    assert summary(resolve(alice, "fast")) == [("anthropic", "user", "m2")]
    # Only that model of that credential: Alice's other model and Bob's key are unaffected.
    assert summary(resolve(alice, "standard"))[0] == ("openai", "user", "m1s")
    assert summary(resolve(bob, "fast")) == [("openai", "user", "m3")]
    everything = resolve(alice, "fast", include_open=True)
    assert [c.provider for c in everything] == ["openai", "anthropic"]
    assert everything[0].breaker.open_for() > 25 and not everything[1].breaker.exists


def test_unknown_tier_raises(alice):
    with pytest.raises(UnknownTier):
        resolve(alice, "turbo")


def test_candidate_repr_and_describe_hold_no_secret(alice, make_credential):
    make_credential(alice, "openai", fast_model="gpt-fast", api_key="sk-canary-SECRET-123456789")
    candidate = resolve(alice, "fast")[0]
    assert "canary" not in repr(candidate) and "canary" not in str(candidate.describe("x"))


def test_run_queries_are_scoped_to_their_user(alice, bob):
    from agents.models import AgentRun
    from agents.selectors import run_get_for_user, run_list_for_user

    mine = [AgentRun.objects.create(user=alice, agent="idea_generator", tier="fast") for _ in range(3)]
    theirs = AgentRun.objects.create(user=bob, agent="idea_generator", tier="fast")
    assert list(run_list_for_user(user=alice, limit=2)) == [mine[2], mine[1]]
    assert run_get_for_user(user=alice, pk=mine[0].pk) == mine[0]
    with pytest.raises(AgentRun.DoesNotExist):
        run_get_for_user(user=alice, pk=theirs.pk)


def test_provider_available_for_user(alice, settings):
    from agents.selectors import provider_available_for_user

    assert provider_available_for_user(user=alice) is False
    settings.OPENAI_API_KEY = "platform-openai-key-0000"
    assert provider_available_for_user(user=alice) is True
