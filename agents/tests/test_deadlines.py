"""Deadlines of one agent attempt (AGENTS_RUN_TIMEOUT, PROVIDERS_STREAM_IDLE_TIMEOUT) against a
simulator that trickles keep-alive comments or stalls."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from agents.catalog import AGENTS
from agents.events import CandidateChosen, Delta, Done, Failed, FallbackTaken
from agents.exceptions import NoModelAvailable, StreamInterrupted
from agents.models import AgentRun, RunStatus
from agents.services import arun_agent, astream_agent, run_agent, stream_agent

pytestmark = pytest.mark.django_db(transaction=True)

GENERATOR = AGENTS["idea_generator"]


def _stream(user, prompt):
    async def main():
        started = time.monotonic()
        events = [e async for e in astream_agent(agent=GENERATOR, user=user, prompt=prompt)]
        elapsed = time.monotonic() - started
        await sync_to_async(connections.close_all)()
        return events, elapsed

    return asyncio.run(main())


def test_a_trickling_stream_is_cut_at_the_deadline_and_falls_back(
    alice, platform_gateway, openai_fake, alice_openai, settings
):
    settings.AGENTS_RUN_TIMEOUT = 1.0
    # Keep-alive comments every 0.2 s for 10 s before any content: never idle, never answering.
    platform_gateway.stream_fault(trickle_after=0, trickle_seconds=10, trickle_every=0.2)
    events, elapsed = _stream(alice, "are you there")
    assert elapsed < 5.0  # the deadline, the fallback, not the 10 s trickle
    fallback = next(e for e in events if isinstance(e, FallbackTaken))
    assert fallback.reason.startswith("AI Gateway") and "(sim-fast) did not finish within 1 s" in fallback.reason
    done = events[-1]
    assert isinstance(done, Done) and done.run.provider == "openai" and done.text == "Echo: are you there"


def test_a_trickle_after_the_first_delta_ends_the_run_without_fallback(
    alice, platform_gateway, openai_fake, alice_openai, settings
):
    settings.AGENTS_RUN_TIMEOUT = 1.0
    platform_gateway.stream_fault(trickle_after=3, trickle_seconds=10, trickle_every=0.2)
    events, elapsed = _stream(alice, "one two three four five")
    assert elapsed < 4.0  # not the 5 s or 10 s the server would take
    assert any(isinstance(e, Delta) for e in events) and not any(isinstance(e, FallbackTaken) for e in events)
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, StreamInterrupted)
    assert "did not finish within 1 s" in str(failed.error) and "AI Gateway" in str(failed.error)
    assert openai_fake.chat_requests == 0
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.provider == "ai_gateway" and "AGENTS_RUN_TIMEOUT" in run.error


def test_the_idle_timeout_applies_inside_agent_streams(alice, platform_gateway, settings):
    settings.PROVIDERS_STREAM_IDLE_TIMEOUT = 0.5
    platform_gateway.stream_fault(stall_after=0, stall_seconds=5, times=None)
    events, elapsed = _stream(alice, "silence")
    assert elapsed < 4.0  # not the 5 s or 10 s the server would take
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, NoModelAvailable)
    assert "sent nothing for 0.5 s" in str(failed.error)


def test_a_slow_unstreamed_answer_is_bounded_too(alice, platform_gateway, settings):
    settings.AGENTS_RUN_TIMEOUT = 1.0
    platform_gateway.inject(
        path_prefix="/v1/chat",
        delay=5,
        times=None,
        status=200,
        body={"choices": [{"index": 0, "message": {"role": "assistant", "content": "late"}, "finish_reason": "stop"}]},
    )

    async def main():
        started = time.monotonic()
        with pytest.raises(NoModelAvailable) as caught:
            await arun_agent(agent=GENERATOR, user=alice, prompt="slow")
        await sync_to_async(connections.close_all)()
        return caught.value, time.monotonic() - started

    error, elapsed = asyncio.run(main())
    assert elapsed < 4.0 and "did not finish within 1 s" in str(error)


# -- the sync entry points (run_agent / stream_agent): a blocking read is bounded too -------------


def _sync_stream(user, prompt):
    """The events, and the seconds from the attempt's start (its `CandidateChosen`) to the end:
    resolving and building the model before it can take a second on a loaded machine."""
    events, chosen_at = [], None
    for event in stream_agent(agent=GENERATOR, user=user, prompt=prompt):
        events.append(event)
        if isinstance(event, CandidateChosen) and chosen_at is None:
            chosen_at = time.monotonic()
    return events, time.monotonic() - chosen_at


def test_sync_stream_against_a_trickling_server_ends_at_the_deadline(alice, platform_gateway, settings):
    settings.AGENTS_RUN_TIMEOUT = 1.0
    # Keep-alive comments every 0.2 s for 10 s, before any content: no item ever reaches the loop.
    platform_gateway.stream_fault(trickle_after=0, trickle_seconds=10, trickle_every=0.2, times=None)
    events, elapsed = _sync_stream(alice, "are you there")
    assert elapsed < 2.0  # timeout + ~1 s, not the 10 s trickle
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, NoModelAvailable)
    assert "(sim-fast) did not finish within 1 s (AGENTS_RUN_TIMEOUT)" in str(failed.error)
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.streamed and "AGENTS_RUN_TIMEOUT" in run.error


def test_sync_stream_cut_mid_answer_is_a_typed_timeout_naming_the_provider(alice, platform_gateway, settings):
    settings.AGENTS_RUN_TIMEOUT = 1.0
    platform_gateway.stream_fault(trickle_after=3, trickle_seconds=10, trickle_every=0.2)
    events, elapsed = _sync_stream(alice, "one two three four five")
    assert elapsed < 2.0
    assert any(isinstance(e, Delta) for e in events)
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, StreamInterrupted)
    assert "AI Gateway" in str(failed.error) and "(sim-fast) did not finish within 1 s" in str(failed.error)
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.provider == "ai_gateway" and "AGENTS_RUN_TIMEOUT" in run.error


def test_sync_run_against_a_hung_server_is_an_attempt_timeout(alice, platform_gateway, settings):
    settings.AGENTS_RUN_TIMEOUT = 1.0
    # The server accepts and answers nothing for 10 s (each read would wait the full read timeout).
    platform_gateway.inject(path_prefix="/v1/chat", delay=10, times=None, status=200, body={})
    started = time.monotonic()
    with pytest.raises(NoModelAvailable) as caught:
        run_agent(agent=GENERATOR, user=alice, prompt="hello?")
    assert time.monotonic() - started < 4.0  # not the 10 s the server would take (setup included)
    (tried,) = caught.value.tried
    assert tried["provider"] == "ai_gateway"
    assert "(sim-fast) did not finish within 1 s (AGENTS_RUN_TIMEOUT)" in tried["reason"]
    run = AgentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.provider == "ai_gateway" and "AGENTS_RUN_TIMEOUT" in run.error


def test_sync_stream_from_a_public_provider_is_bounded_too(alice, openai_fake, alice_openai, settings):
    # The public providers' SDK clients obey the run's deadline as the gateway's do.
    settings.AGENTS_RUN_TIMEOUT = 1.0
    openai_fake.stream_fault(trickle_after=0, trickle_seconds=10, trickle_every=0.2, times=None)
    events, elapsed = _sync_stream(alice, "are you there")
    assert elapsed < 2.0
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, NoModelAvailable)
    assert "OpenAI (gpt-fast) did not finish within 1 s (AGENTS_RUN_TIMEOUT)" in str(failed.error)
    assert AgentRun.objects.get().status == RunStatus.FAILED
