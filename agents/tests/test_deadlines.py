"""Deadlines of one agent attempt (AGENTS_RUN_TIMEOUT, PROVIDERS_STREAM_IDLE_TIMEOUT) against a
simulator that trickles keep-alive comments or stalls."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from agents.catalog import AGENTS
from agents.events import Delta, Done, Failed, FallbackTaken
from agents.exceptions import NoModelAvailable, StreamInterrupted
from agents.models import AgentRun, RunStatus
from agents.services import arun_agent, astream_agent

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
