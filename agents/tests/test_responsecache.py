"""The response cache (agents.responsecache) against the gateway simulator."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from agents import budgets, hooks, responsecache
from agents.catalog import AGENTS, IdeaAssessment
from agents.exceptions import UserRateLimited
from agents.models import AgentRun
from agents.services import arun_agent, astream_agent, run_agent, stream_agent
from providers.snapshots import credentials_changed

pytestmark = pytest.mark.django_db(transaction=True)

CRITIC = AGENTS["idea_critic"]
GENERATOR = AGENTS["idea_generator"]


def _assessment() -> dict:
    return {
        "summary": "s",
        "strengths": ["a"],
        "risks": ["b"],
        "open_questions": [],
        "score": 5,
        "verdict": "refine",
        "next_step": "n",
    }


def _kinds_and_texts(events):
    return [(e.kind, getattr(e, "text", None), getattr(e, "model", None)) for e in events]


def test_a_cached_critic_run_calls_no_provider_and_replays_the_same_answer(alice, platform_gateway):
    first = run_agent(agent=CRITIC, user=alice, prompt="a bakery for dogs")
    assert platform_gateway.chat_requests == 1 and not first.run.cache_hit
    second = run_agent(agent=CRITIC, user=alice, prompt="a bakery for dogs")
    assert platform_gateway.chat_requests == 1  # no provider call
    assert isinstance(second.content, IdeaAssessment) and second.content == first.content
    assert second.text == first.text
    run = AgentRun.objects.get(pk=second.run.pk)
    assert run.cache_hit and (run.input_tokens, run.output_tokens) == (0, 0)
    assert (run.provider, run.model_id) == (first.run.provider, first.run.model_id)
    assert run.output == first.text


def test_a_streamed_hit_yields_the_same_events_in_order(alice, platform_gateway):
    platform_gateway.script_reply(json=_assessment())  # plain text is no assessment (unparseable_answer)
    original = list(stream_agent(agent=CRITIC, user=alice, prompt="x"))
    replayed = list(stream_agent(agent=CRITIC, user=alice, prompt="x"))
    assert _kinds_and_texts(replayed) == _kinds_and_texts(original)
    assert replayed[-1].kind == "done" and replayed[-1].run.cache_hit
    assert platform_gateway.chat_requests == 1


def test_a_text_agent_opted_in_replays_its_stream_pieces(alice, platform_gateway, monkeypatch):
    monkeypatch.setattr(type(GENERATOR), "cache_ttl", 60)
    platform_gateway.chunk_delay = 0.0
    original = list(stream_agent(agent=GENERATOR, user=alice, prompt="pieces in order please"))
    replayed = list(stream_agent(agent=GENERATOR, user=alice, prompt="pieces in order please"))
    deltas = [e.text for e in original if e.kind == "delta"]
    assert len(deltas) > 1 and [e.text for e in replayed if e.kind == "delta"] == deltas
    assert _kinds_and_texts(replayed) == _kinds_and_texts(original)
    # The same answer, asked without streaming, comes from the same entry.
    assert run_agent(agent=GENERATOR, user=alice, prompt="pieces in order please").run.cache_hit
    assert platform_gateway.chat_requests == 1


def test_agents_without_cache_ttl_are_not_cached(alice, platform_gateway):
    run_agent(agent=GENERATOR, user=alice, prompt="same")
    assert not run_agent(agent=GENERATOR, user=alice, prompt="same").run.cache_hit
    assert platform_gateway.chat_requests == 2


def test_another_users_identical_prompt_is_a_miss(alice, bob, platform_gateway):
    run_agent(agent=CRITIC, user=alice, prompt="shared idea")
    assert not run_agent(agent=CRITIC, user=bob, prompt="shared idea").run.cache_hit
    assert platform_gateway.chat_requests == 2


def test_an_agent_declaring_user_independent_answers_shares_them(alice, bob, platform_gateway, monkeypatch):
    monkeypatch.setattr(type(CRITIC), "cache_shared", True)
    run_agent(agent=CRITIC, user=alice, prompt="shared idea")
    assert run_agent(agent=CRITIC, user=bob, prompt="shared idea").run.cache_hit
    assert platform_gateway.chat_requests == 1


def test_what_changes_the_answer_changes_the_key(alice, platform_gateway):
    run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert not run_agent(agent=CRITIC, user=alice, prompt="idea!").run.cache_hit
    assert not run_agent(agent=CRITIC, user=alice, prompt="idea", tier="premium").run.cache_hit  # another model
    assert platform_gateway.chat_requests == 3


def test_fresh_answer_skips_the_cache_and_refreshes_it(alice, platform_gateway):
    run_agent(agent=CRITIC, user=alice, prompt="idea")
    platform_gateway.script_reply(json={**_assessment(), "summary": "the fresh verdict"})
    fresh = run_agent(agent=CRITIC, user=alice, prompt="idea", use_cache=False)
    assert not fresh.run.cache_hit and platform_gateway.chat_requests == 2
    # The fresh answer replaced the stored one.
    again = run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert again.run.cache_hit and again.content.summary == "the fresh verdict"


def test_changing_credentials_empties_the_users_cache(alice, platform_gateway):
    run_agent(agent=CRITIC, user=alice, prompt="idea")
    credentials_changed(owner_id=alice.pk)
    assert not run_agent(agent=CRITIC, user=alice, prompt="idea").run.cache_hit
    assert platform_gateway.chat_requests == 2


def test_a_cache_outage_is_a_miss_never_an_error(alice, platform_gateway, monkeypatch):
    run_agent(agent=CRITIC, user=alice, prompt="idea")

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache down")

            return fail

    # The response cache's calls fail (the rest of the run keeps its own cache use).
    monkeypatch.setattr(responsecache, "cache", Down())
    result = run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert not result.run.cache_hit and result.text and platform_gateway.chat_requests == 2
    monkeypatch.setattr(responsecache, "_scope", lambda agent, user_id: f"user:{user_id}")
    result = run_agent(agent=CRITIC, user=alice, prompt="idea")  # get_many fails too: a miss
    assert not result.run.cache_hit and platform_gateway.chat_requests == 3


def test_answers_over_the_size_cap_are_not_stored(alice, platform_gateway, settings):
    settings.AGENTS_RESPONSE_CACHE_MAX_BYTES = 10
    run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert not run_agent(agent=CRITIC, user=alice, prompt="idea").run.cache_hit


def test_the_stream_endpoint_and_the_fresh_checkbox(client, alice, platform_gateway):
    client.force_login(alice)

    def ask(**extra):
        response = client.post(reverse("agents:stream"), {"agent": "idea_critic", "prompt": "p", **extra})
        return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]

    assert ask()[-1]["cache_hit"] is False
    assert ask()[-1]["cache_hit"] is True
    assert ask(fresh="on")[-1]["cache_hit"] is False
    assert platform_gateway.chat_requests == 2
    posted = client.post("/forge/", {"agent": "idea_critic", "prompt": "p"})  # post-redirect-get
    page = b"".join(client.get(posted["Location"]).streaming_content).decode()
    assert 'id="cache-hit"' in page
    assert 'name="fresh"' in client.get("/forge/").content.decode()


def test_agents_run_no_cache(alice, platform_gateway):
    out = io.StringIO()
    call_command("agents_run", "idea_critic", "p", user="alice", stdout=out, stderr=io.StringIO())
    call_command("agents_run", "idea_critic", "p", user="alice", stdout=out, stderr=io.StringIO())
    assert out.getvalue().count("cache=hit") == 1
    call_command("agents_run", "idea_critic", "p", "--no-cache", user="alice", stdout=out, stderr=io.StringIO())
    assert out.getvalue().count("cache=hit") == 1 and platform_gateway.chat_requests == 2


def test_async_entry_points_replay_too(alice, platform_gateway):
    from asgiref.sync import async_to_sync

    run_agent(agent=CRITIC, user=alice, prompt="async")
    result = async_to_sync(arun_agent)(agent=CRITIC, user=alice, prompt="async")
    assert result.run.cache_hit

    async def collect():
        return [e async for e in astream_agent(agent=CRITIC, user=alice, prompt="async")]

    events = async_to_sync(collect)()
    assert events[-1].kind == "done" and events[-1].run.cache_hit
    assert platform_gateway.chat_requests == 1


def test_a_hit_costs_no_rate_limit_of_the_credential(alice, platform_gateway, settings):
    settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "1/minute"
    run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert run_agent(agent=CRITIC, user=alice, prompt="idea").run.cache_hit
    assert responsecache.enabled(CRITIC, True) and not responsecache.enabled(CRITIC, False)


def test_a_hit_is_served_over_the_token_budget_but_not_over_the_request_limit(alice, platform_gateway, settings):
    settings.AGENTS_DAILY_TOKEN_BUDGET = 1  # the first run spends it
    settings.AGENTS_USER_TOKEN_LIMIT = "1/hour"
    settings.AGENTS_USER_RATE_LIMIT = "2/minute"
    run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert run_agent(agent=CRITIC, user=alice, prompt="idea").run.cache_hit  # costs no tokens
    with pytest.raises(budgets.BudgetExceeded):
        run_agent(agent=CRITIC, user=alice, prompt="another idea")
    # The two runs let in spent the request limit: a hit is refused by it like any run.
    with pytest.raises(UserRateLimited, match="2/minute agent runs"):
        run_agent(agent=CRITIC, user=alice, prompt="idea")
    assert platform_gateway.chat_requests == 1


def test_the_hooks_report_lookups_and_refusals(alice, platform_gateway, openai_fake, alice_openai, settings):
    seen: list[tuple] = []

    def on_lookup(sender, **kwargs):
        seen.append(("lookup", kwargs["agent"], kwargs["hit"]))

    def on_refused(sender, **kwargs):
        seen.append(("refused", kwargs["kind"], kwargs["credential_key"]))

    hooks.response_cache_lookup.connect(on_lookup)
    hooks.rate_limit_refused.connect(on_refused)
    try:
        settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = "1/minute"
        run_agent(agent=CRITIC, user=alice, prompt="a")
        run_agent(agent=CRITIC, user=alice, prompt="a")
        run_agent(agent=CRITIC, user=alice, prompt="b", use_cache=False)  # the gateway is over its limit
        settings.PROVIDERS_CREDENTIAL_RATE_LIMIT = ""
        settings.AGENTS_USER_RATE_LIMIT = "1/hour"
        run_agent(agent=GENERATOR, user=alice, prompt="c")
        with pytest.raises(UserRateLimited):
            run_agent(agent=GENERATOR, user=alice, prompt="d")
    finally:
        hooks.response_cache_lookup.disconnect(on_lookup)
        hooks.rate_limit_refused.disconnect(on_refused)
    assert seen == [
        ("lookup", "idea_critic", False),
        ("lookup", "idea_critic", True),
        ("refused", "credential", "platform:ai_gateway"),
        ("refused", "user", ""),
    ]
