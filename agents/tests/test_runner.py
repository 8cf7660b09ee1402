"""The fallback loop against real HTTP simulators with real Agno agents."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from agents.breaker import breaker_state
from agents.catalog import AGENTS, IdeaAssessment
from agents.events import CandidateChosen, Delta, Done, Failed, FallbackTaken
from agents.exceptions import AgentError, NoModelAvailable, RequestRefused, StreamInterrupted
from agents.models import AgentRun, RunStatus
from agents.services import arun_agent, astream_agent, run_agent, stream_agent

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]


def test_platform_gateway_answers_and_the_run_is_recorded(alice, platform_gateway):
    result = run_agent(agent=GENERATOR, user=alice, prompt="bicycles for cities")
    assert result.text == "Echo: bicycles for cities"
    run = AgentRun.objects.get()
    assert run.pk == result.run.pk
    assert (run.user, run.agent, run.tier, run.status) == (alice, "idea_generator", "fast", RunStatus.SUCCEEDED)
    assert (run.provider, run.model_id, run.credential_source, run.credential_key) == (
        "ai_gateway",
        "sim-fast",
        "platform",
        "platform:ai_gateway",
    )
    assert run.fallbacks == [] and run.error == ""
    assert run.input_tokens > 0 and run.output_tokens > 0
    assert run.latency_ms is not None and run.finished_at is not None
    assert run.output == "Echo: bicycles for cities"
    assert platform_gateway.chat_requests == 1


def test_tier_override_picks_that_tiers_model(alice, platform_gateway):
    result = run_agent(agent=GENERATOR, user=alice, prompt="x", tier="premium")
    assert (result.run.tier, result.run.model_id) == ("premium", "sim-premium")


def test_gateway_5xx_falls_back_to_the_next_provider(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.fail(503, times=None)
    result = run_agent(agent=GENERATOR, user=alice, prompt="solar kiosks")
    assert result.text == "Echo: solar kiosks"
    run = result.run
    assert (run.provider, run.model_id, run.credential_source) == ("openai", "gpt-fast", "user")
    assert run.credential_key == f"cred:{alice_openai.pk}"
    assert len(run.fallbacks) == 1
    assert run.fallbacks[0]["provider"] == "ai_gateway" and run.fallbacks[0]["source"] == "platform"
    assert "503" in run.fallbacks[0]["reason"]
    # Tried twice (one retry), then one failure counted on the platform gateway's breaker (still
    # closed: one of three); Alice's own credential has none.
    assert platform_gateway.counts["/v1/chat/completions"] == 2
    assert breaker_state("platform:ai_gateway", "sim-fast").failures == 1
    assert not breaker_state("platform:ai_gateway", "sim-fast").is_open()
    assert not breaker_state(f"cred:{alice_openai.pk}", "gpt-fast").exists
    assert openai_fake.chat_requests == 1 and run.output_tokens > 0


def test_users_own_gateway_failing_falls_back_to_the_platform_gateway(alice, platform_gateway, gateway2, alice_gateway):
    # With AI_GATEWAY_ENABLED the user's own gateway comes first, then the platform's.
    gateway2.fail(500, times=None)
    result = run_agent(agent=GENERATOR, user=alice, prompt="own first")
    assert (result.run.credential_source, result.run.model_id) == ("platform", "sim-fast")
    assert result.run.fallbacks[0]["source"] == "user" and "500" in result.run.fallbacks[0]["reason"]
    assert breaker_state(f"cred:{alice_gateway.pk}", "alice-fast").failures == 1
    assert not breaker_state("platform:ai_gateway", "sim-fast").exists


def test_long_retry_after_opens_the_breaker_and_the_next_run_skips_it(
    alice, platform_gateway, openai_fake, alice_openai, settings
):
    platform_gateway.rate_limit(retry_after=600, times=None)
    first = run_agent(agent=GENERATOR, user=alice, prompt="one")
    assert "429" in first.run.fallbacks[0]["reason"] and "600" in first.run.fallbacks[0]["reason"]
    assert platform_gateway.counts["/v1/chat/completions"] == 1  # a long wait is not waited out
    assert breaker_state("platform:ai_gateway", "sim-fast").open_for() > 590
    chats_before = platform_gateway.counts["/v1/chat/completions"]
    second = run_agent(agent=GENERATOR, user=alice, prompt="two")
    assert second.run.provider == "openai" and second.run.credential_source == "user"
    assert platform_gateway.counts["/v1/chat/completions"] == chats_before  # not even tried
    assert "circuit open" in second.run.fallbacks[0]["reason"]


def test_400_goes_back_to_the_caller_without_fallback(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.inject(
        path_prefix="/v1/chat",
        status=400,
        body={"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}},
    )
    with pytest.raises(RequestRefused) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    assert "AI Gateway" in str(caught.value) and "max_tokens is too large" in str(caught.value)
    assert caught.value.status_code == 400 and caught.value.provider == "ai_gateway"
    assert openai_fake.chat_requests == 0
    assert not breaker_state("platform:ai_gateway", "sim-fast").exists
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.provider == "ai_gateway" and "max_tokens" in run.error


def test_cut_after_first_token_does_not_fall_back_and_is_recorded(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.stream_fault(cut_after=3)
    events = list(stream_agent(agent=GENERATOR, user=alice, prompt="a long answer please"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "candidate" and "delta" in kinds and kinds[-1] == "error"
    assert "fallback" not in kinds
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, StreamInterrupted)
    assert openai_fake.chat_requests == 0
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.streamed
    assert run.provider == "ai_gateway" and run.credential_source == "platform"
    assert "after the answer had started" in run.error
    assert run.time_to_first_token_ms is not None
    assert run.output == "".join(e.text for e in events if isinstance(e, Delta)) != ""


def test_stream_falls_back_before_the_first_token(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.fail(502, times=None)
    events = list(stream_agent(agent=GENERATOR, user=alice, prompt="streamed fallback"))
    assert [e.kind for e in events[:3]] == ["candidate", "fallback", "candidate"]
    assert isinstance(events[1], FallbackTaken) and "502" in events[1].reason
    assert isinstance(events[2], CandidateChosen) and events[2].source == "user"
    assert sum(1 for e in events if isinstance(e, Delta)) >= 2
    done = events[-1]
    assert isinstance(done, Done) and done.text == "Echo: streamed fallback"
    assert done.run.status == RunStatus.SUCCEEDED and len(done.run.fallbacks) == 1
    assert done.run.time_to_first_token_ms is not None and done.run.output_tokens > 0


def test_all_down_raises_one_error_naming_what_was_tried(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.fail(503, times=None)
    openai_fake.inject(path_prefix="/v1/chat", status=500, times=None)
    with pytest.raises(NoModelAvailable) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    error = caught.value
    assert [(t["provider"], t["model"], t["source"]) for t in error.tried] == [
        ("ai_gateway", "sim-fast", "platform"),
        ("openai", "gpt-fast", "user"),
    ]
    assert "sim-fast" in str(error) and "gpt-fast" in str(error) and "503" in str(error) and "500" in str(error)
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and len(run.fallbacks) == 2 and "No model available" in run.error
    # The record names the last candidate tried.
    assert (run.provider, run.model_id, run.credential_source) == ("openai", "gpt-fast", "user")


def test_token_endpoint_down_falls_back(alice, platform_gateway, openai_fake, alice_openai):
    platform_gateway.fail_token_endpoint(503)
    result = run_agent(agent=GENERATOR, user=alice, prompt="tokens")
    assert result.run.credential_source == "user" and len(result.run.fallbacks) == 1


def test_no_provider_at_all(alice):
    with pytest.raises(NoModelAvailable) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="x")
    assert caught.value.nothing_configured and "Settings" in str(caught.value)
    assert AgentRun.objects.get().status == RunStatus.FAILED


def test_structured_output_from_the_critic(alice, platform_gateway):
    critic = AGENTS["idea_critic"]
    result = run_agent(agent=critic, user=alice, prompt="A subscription for houseplant care")
    assert isinstance(result.content, IdeaAssessment)
    assert result.run.tier == "standard" and result.run.model_id == "sim-standard"
    assert "Score:" in result.text and "Risks:" in result.text
    body = platform_gateway.chat_bodies[-1]
    assert body["response_format"]["type"] == "json_schema"
    # Streaming entry point: one delta with the rendered assessment.
    events = list(stream_agent(agent=critic, user=alice, prompt="again"))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) == 1 and "Score:" in deltas[0].text
    assert isinstance(events[-1], Done) and isinstance(events[-1].content, IdeaAssessment)


def test_abandoned_stream_is_recorded_as_failed(alice, platform_gateway):
    stream = stream_agent(agent=GENERATOR, user=alice, prompt="one two three four five")
    for event in stream:
        if isinstance(event, Delta):
            break
    stream.close()
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and "abandoned" in run.error


def test_async_run_and_stream_with_fallback(alice, platform_gateway, openai_fake, alice_openai, settings):
    settings.AGENTS_BREAKER_FAILURES = 1
    platform_gateway.fail(503, times=2)

    async def main():
        result = await arun_agent(agent=GENERATOR, user=alice, prompt="async hello")
        events = [e async for e in astream_agent(agent=GENERATOR, user=alice, prompt="async stream")]
        # The runner's ORM calls ran in asgiref's executor thread; close that thread's connection
        # as Django's request_finished would (PostgreSQL cannot drop the test database otherwise).
        await sync_to_async(connections.close_all)()
        return result, events

    result, events = asyncio.run(main())
    assert result.text == "Echo: async hello" and result.run.credential_source == "user"
    assert events[-1].kind == "done" and events[-1].text == "Echo: async stream"
    # The platform gateway failed twice (attempt and retry): its breaker (threshold 1) opened,
    # so the stream skipped it.
    assert any(isinstance(e, FallbackTaken) and "circuit open" in e.reason for e in events)
    assert AgentRun.objects.filter(status=RunStatus.SUCCEEDED).count() == 2


def test_abandoned_async_stream_is_recorded_as_failed(alice, platform_gateway):
    async def main():
        stream = astream_agent(agent=GENERATOR, user=alice, prompt="one two three four five")
        async for event in stream:
            if isinstance(event, Delta):
                break
        await stream.aclose()
        await sync_to_async(connections.close_all)()

    asyncio.run(main())
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and "abandoned" in run.error and run.streamed
    assert run.provider == "ai_gateway" and run.output != ""


def test_run_without_a_record(alice, platform_gateway):
    result = run_agent(agent=GENERATOR, user=alice, prompt="unrecorded", record=False)
    assert result.text == result.content == "Echo: unrecorded" and result.run is None and result.fallbacks == []
    assert not AgentRun.objects.exists()


def test_unparseable_structured_answer_is_a_failure_with_a_clear_reason(
    alice, platform_gateway, openai_fake, alice_openai
):
    critic = AGENTS["idea_critic"]
    platform_gateway.script_reply("Sure! The idea is great, 9/10.")  # prose, not the schema's JSON
    with pytest.raises(AgentError) as caught:
        run_agent(agent=critic, user=alice, prompt="A subscription for houseplant care")
    assert "could not be read as IdeaAssessment" in str(caught.value)
    assert openai_fake.chat_requests == 0  # not a provider outage: no fallback
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.provider == "ai_gateway" and "IdeaAssessment" in run.error
    assert not breaker_state("platform:ai_gateway", "sim-standard").exists


def test_the_record_is_written_when_the_run_starts(alice, platform_gateway):
    # A process that dies mid-run leaves its record "running": it is inserted before any request.
    stream = stream_agent(agent=GENERATOR, user=alice, prompt="still running")
    first = next(stream)
    assert isinstance(first, CandidateChosen)
    run = AgentRun.objects.get()
    assert (run.status, run.prompt, run.agent, run.streamed) == (
        RunStatus.RUNNING,
        "still running",
        "idea_generator",
        True,
    )
    assert run.created_at is not None and run.finished_at is None and run.fallbacks == []
    events = [first, *stream]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.output == events[-1].text == "Echo: still running"
    assert run.provider == "ai_gateway" and run.finished_at is not None and run.output_tokens > 0


def test_sqlite_runs_in_wal_mode_with_synchronous_normal(settings):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert "journal_mode=WAL" in settings.DATABASES["default"]["OPTIONS"]["init_command"]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL
