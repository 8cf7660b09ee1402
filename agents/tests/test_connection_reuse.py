"""Runs reuse their connections to the gateway: over uvicorn, >= 95 % of the runs send their chat
request on a connection an earlier run opened (the simulator counts accepted connections).

Sequential here: the test database is SQLite in memory, whose shared-cache table locks fail
concurrent writers at once. Reuse with 32 runs in flight is measured by the load test
(`bench/loadtest.py`, and its 30-second version in agents/tests/test_loadtest.py), against the
real stack on a file database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.urls import reverse

from agents.models import AgentRun, RunStatus

from .live_asgi import LiveASGI, login

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 120
IN_FLIGHT = 1


def test_streamed_runs_reuse_gateway_connections(alice, platform_gateway):
    sim = platform_gateway
    sim.chunk_delay = 0.002
    with (
        LiveASGI() as live,
        httpx.Client(base_url=live.url, timeout=30, limits=httpx.Limits(max_connections=IN_FLIGHT)) as client,
    ):
        client.headers["X-CSRFToken"] = login(client, alice)

        def run(i: int) -> int:
            response = client.post(reverse("agents:stream"), data={"agent": "idea_generator", "prompt": f"hello {i}"})
            assert response.status_code == 200 and '"kind": "done"' in response.text, response.text[-300:]
            return i

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            assert len(list(pool.map(run, range(RUNS)))) == RUNS
        opened = sim.connections_opened
    assert AgentRun.objects.filter(status=RunStatus.SUCCEEDED).count() == RUNS
    assert sim.chat_requests == RUNS
    # The token request's connection, then one for the chat requests (one run in flight).
    reuse = 1 - (opened - sim.token_requests) / RUNS
    print(f"connections opened {opened} for {RUNS} runs ({sim.token_requests} token requests): reuse {reuse:.1%}")
    assert reuse >= 0.95, f"{opened} connections for {RUNS} runs"
