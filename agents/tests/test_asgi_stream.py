"""The Forge streams under a real uvicorn on 127.0.0.1: events arrive as they are made, and a
client that leaves closes the upstream stream within a second and leaves an abandoned record."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from django.urls import reverse

from agents.models import AgentRun, RunStatus

from .live_asgi import LiveASGI, login

pytestmark = pytest.mark.django_db(transaction=True)

LONG_PROMPT = " ".join(f"word{i}" for i in range(200))


@pytest.fixture
def live():
    with LiveASGI() as server:
        yield server


@pytest.fixture
def http(live, alice):
    with httpx.Client(base_url=live.url, timeout=10) as client:
        client.headers["X-CSRFToken"] = login(client, alice)
        client.headers["Referer"] = live.url + "/forge/"
        yield client


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_first_event_arrives_before_the_answer_ends(http, platform_gateway):
    platform_gateway.chunk_delay = 0.05  # 20 deltas over about a second
    prompt = " ".join(f"w{i}" for i in range(20))
    started = time.monotonic()
    arrivals: list[tuple[float, dict]] = []
    with http.stream("POST", reverse("agents:stream"), data={"agent": "idea_generator", "prompt": prompt}) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic() - started, json.loads(line)))
    kinds = [event["kind"] for _, event in arrivals]
    assert kinds[0] == "candidate" and kinds[-1] == "done" and kinds.count("delta") >= 20
    first_delta = next(t for t, e in arrivals if e["kind"] == "delta")
    assert arrivals[-1][0] - first_delta > 0.7, "the deltas came in one piece: the view did not stream"
    assert "".join(e["text"] for _, e in arrivals if e["kind"] == "delta") == "Echo: " + prompt
    run = AgentRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.output == "Echo: " + prompt


def test_html_stream_without_javascript_streams_too(http, platform_gateway):
    platform_gateway.chunk_delay = 0.05
    prompt = " ".join(f"w{i}" for i in range(20))
    pieces: list[tuple[float, str]] = []
    started = time.monotonic()
    # Post-redirect-get: the POST answers at once; the GET it redirects to streams the run.
    posted = http.post(reverse("agents:forge"), data={"agent": "idea_generator", "prompt": prompt})
    assert posted.status_code == 302 and AgentRun.objects.count() == 0
    with http.stream("GET", posted.headers["Location"]) as response:
        assert response.status_code == 200
        for text in response.iter_text():
            pieces.append((time.monotonic() - started, text))
    page = "".join(p for _, p in pieces)
    assert "Echo: " + prompt in page and "Answered by" in page and page.rstrip().endswith("</html>")
    assert pieces[-1][0] - pieces[0][0] > 0.7, "the page came in one piece"


def test_client_disconnect_closes_upstream_and_records_abandoned_run(live, http, platform_gateway):
    sim = platform_gateway
    sim.chunk_delay = 0.05  # 200 deltas: a 10 s answer
    received: list[dict] = []
    with http.stream(
        "POST", reverse("agents:stream"), data={"agent": "idea_generator", "prompt": LONG_PROMPT}
    ) as response:
        for line in response.iter_lines():
            if line:
                received.append(json.loads(line))
            if sum(e["kind"] == "delta" for e in received) >= 5:
                break
        assert sim.streams_active == 1
        left_at = time.monotonic()
    # Leaving the `with` closed the client's connection mid-stream.
    assert _wait(lambda: sim.streams_active == 0, 1.0), "the upstream stream was still open 1 s after the client left"
    closed_after = time.monotonic() - left_at
    assert sim.streams_aborted == 1
    assert _wait(lambda: AgentRun.objects.filter(status=RunStatus.FAILED).exists(), 2.0)
    run = AgentRun.objects.get()
    assert "abandoned" in run.error
    sent = "".join(e["text"] for e in received if e["kind"] == "delta")
    assert run.output.startswith(sent) and len(run.output) < len("Echo: " + LONG_PROMPT)
    assert run.finished_at is not None and run.latency_ms is not None
    assert _wait(lambda: live.tasks() == [], 1.0), f"tasks left behind: {live.tasks()}"
    assert closed_after < 1.0


def test_a_server_failure_mid_stream_ends_with_a_clear_error_event(http, platform_gateway, monkeypatch):
    # The status line is sent before the run starts: a failure after that must still tell the
    # user something (not a cut connection), and must not show internals.
    import agents.services

    def broken(*args, **kwargs):
        raise RuntimeError("internal-detail-canary")

    monkeypatch.setattr(agents.services, "resolve", broken)
    response = http.post(reverse("agents:stream"), data={"agent": "idea_generator", "prompt": "x"})
    assert response.status_code == 200
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[-1]["kind"] == "error" and events[-1]["code"] == "server_error"
    assert "Please try again" in events[-1]["message"] and "internal-detail-canary" not in response.text
    page = http.post(reverse("agents:forge"), data={"agent": "idea_generator", "prompt": "x"}, follow_redirects=True)
    assert page.status_code == 200 and "Please try again" in page.text and page.text.rstrip().endswith("</html>")


def test_a_refused_run_answers_429_with_retry_after_under_asgi(http, platform_gateway, settings):
    # The run is started up to its first event inside the async view (astream_agent): a user
    # over their rate limit gets 429 + Retry-After, from the NDJSON endpoint and the form alike.
    settings.AGENTS_USER_RATE_LIMIT = "1/minute"
    ok = http.post(reverse("agents:stream"), data={"agent": "idea_generator", "prompt": "x"})
    assert ok.status_code == 200 and json.loads(ok.text.splitlines()[-1])["kind"] == "done"
    refused = http.post(reverse("agents:stream"), data={"agent": "idea_generator", "prompt": "y"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["code"] == "rate_limited"
    posted = http.post(reverse("agents:forge"), data={"agent": "idea_generator", "prompt": "z"})
    page = http.get(posted.headers["Location"])
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert "You have reached your limit of 1/minute agent runs" in page.text
    assert platform_gateway.chat_requests == 1


def test_rendered_events_arrive_while_streaming_under_asgi(http, platform_gateway):
    platform_gateway.canned = True  # the demo's Markdown brief
    platform_gateway.chunk_delay = 0.01
    started, arrivals = time.monotonic(), []
    with http.stream("POST", reverse("agents:stream"), data={"agent": "concept_brief", "prompt": "a bike cafe"}) as r:
        for line in r.iter_lines():
            if line:
                arrivals.append((time.monotonic() - started, json.loads(line)))
    kinds = [e["kind"] for _, e in arrivals]
    assert kinds[-1] == "done" and kinds.count("rendered") >= 2
    first_rendered = next(t for t, e in arrivals if e["kind"] == "rendered")
    assert arrivals[-1][0] - first_rendered > 0.2, "rendered HTML came only at the end"
    assert all(kinds[i - 1] == "delta" for i, k in enumerate(kinds) if k == "rendered")  # right after a delta


def test_a_streamed_run_under_asgi_records_the_callers_request_id(http, platform_gateway):
    """The request context lasts as long as the stream (agents' run record is written as it ends)."""
    data = {"agent": "idea_generator", "prompt": "x"}
    with http.stream("POST", reverse("agents:stream"), data=data, headers={"X-Request-ID": "req-asgi-0042abcdef"}) as r:
        assert r.status_code == 200 and r.headers["X-Request-ID"] == "req-asgi-0042abcdef"
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert events[-1]["kind"] == "done"
    assert _wait(lambda: AgentRun.objects.filter(status=RunStatus.SUCCEEDED).exists(), 5)
    assert AgentRun.objects.get().request_id == "req-asgi-0042abcdef"
