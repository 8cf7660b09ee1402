"""ForgeAgent.get_agno_model: the runner's models (resolve + the model cache), first healthy one."""

from __future__ import annotations

import pytest

from agents.breaker import breaker_open
from agents.catalog import AGENTS
from agents.exceptions import NoModelAvailable
from agents.modelcache import model_cache_clear, model_for
from agents.selectors import resolve
from providers import registry

pytestmark = pytest.mark.django_db

GENERATOR = AGENTS["idea_generator"]


def test_returns_the_cached_model_of_the_first_candidate(alice, platform_gateway, alice_openai):
    model = GENERATOR.get_agno_model(user=alice)
    assert model is model_for(resolve(alice, "fast")[0])[0]
    assert model.id == "sim-fast" and GENERATOR.get_agno_model(user=alice) is model
    assert GENERATOR.get_agno_model("premium", user=alice).id == "sim-premium"


def test_skips_open_and_unbuildable_candidates(alice, platform_gateway, alice_openai, monkeypatch):
    breaker_open("platform:ai_gateway", "sim-fast", seconds=30)
    assert GENERATOR.get_agno_model(user=alice).id == "gpt-fast"

    def broken(*args, **kwargs):
        raise ValueError("cannot build with sk-alice-openai-canary-0003")

    monkeypatch.setattr(registry.get("openai"), "build_model", broken)
    model_cache_clear()
    with pytest.raises(NoModelAvailable) as caught:
        GENERATOR.get_agno_model(user=alice)
    # The open one is named too (as the runner does), then the unbuildable one.
    assert [(t["provider"], t["model"]) for t in caught.value.tried] == [
        ("ai_gateway", "sim-fast"),
        ("openai", "gpt-fast"),
    ]
    assert caught.value.tried[0]["reason"].startswith("circuit open")
    assert caught.value.tried[1]["reason"].startswith("could not be used: ")
    assert "canary" not in str(caught.value)


def test_nothing_configured(alice):
    with pytest.raises(NoModelAvailable) as caught:
        GENERATOR.get_agno_model(user=alice)
    assert caught.value.nothing_configured


def test_every_breaker_open_gives_the_first_opened_not_nothing_configured(alice, platform_gateway, alice_openai):
    breaker_open(f"cred:{alice_openai.pk}", "gpt-fast", seconds=30)
    breaker_open("platform:ai_gateway", "sim-fast", seconds=30)
    assert GENERATOR.get_agno_model(user=alice).id == "gpt-fast"
