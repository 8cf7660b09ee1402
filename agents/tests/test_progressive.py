"""Progressive Markdown on the Forge's NDJSON stream: when a `rendered` event is sent (throttled,
at line ends), that it is sanitized, that it covers exactly the deltas before it, and that the
critic's structured answer gets none."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from agents.events import CandidateChosen, Delta, FallbackTaken
from agents.presentation import render_markdown
from agents.progressive import ProgressiveMarkdown, progressive_for


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_renders_at_most_every_interval_and_only_up_to_the_last_line_end(clock):
    md = ProgressiveMarkdown(interval=0.25, stall=1.0, clock=clock)
    assert md.feed(Delta("# Title\n")) is None  # too soon after the start
    clock.now += 0.3
    first = md.feed(Delta("- one **bo"))
    assert first is not None and first.html == "<h1>Title</h1>\n" and first.tail == "- one **bo"
    clock.now += 0.1
    assert md.feed(Delta("ld**\n- two")) is None  # a line ended, but within the interval
    clock.now += 0.2
    second = md.feed(Delta(" more"))  # the line end from before is still pending
    assert second is not None and second.tail == "- two more"
    assert "<li>one <strong>bold</strong></li>" in second.html and "two" not in second.html


def test_a_long_line_renders_whole_after_the_stall(clock):
    md = ProgressiveMarkdown(interval=0.25, stall=1.0, clock=clock)
    clock.now += 0.5
    assert md.feed(Delta("a long **paragraph")) is None  # no line end yet
    clock.now += 0.6
    rendered = md.feed(Delta(" without** end"))
    assert rendered is not None and rendered.tail == ""
    assert rendered.html == "<p>a long <strong>paragraph without</strong> end</p>\n"


def test_a_new_candidate_starts_from_nothing(clock):
    md = ProgressiveMarkdown(interval=0.25, stall=1.0, clock=clock)
    md.feed(Delta("stale\n"))
    md.feed(FallbackTaken(provider="openai", model="m", reason="x"))
    md.feed(CandidateChosen(provider="gemini", provider_name="Gemini", model="g", tier="fast", source="user"))
    clock.now += 0.3
    rendered = md.feed(Delta("fresh\n"))
    assert rendered is not None and rendered.html == "<p>fresh</p>\n"


def test_rendered_html_is_sanitized(clock):
    md = ProgressiveMarkdown(interval=0.0, stall=1.0, clock=clock)
    clock.now += 0.1
    rendered = md.feed(Delta('<script>alert(1)</script>\n[x](javascript:alert(1)) <img src=x onerror="y">\n'))
    assert rendered is not None
    # Raw HTML stays text (escaped); a javascript: link is not made a link.
    assert "<script" not in rendered.html and "<img" not in rendered.html and "<a " not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_only_markdown_agents_get_a_renderer():
    assert progressive_for("idea_generator") is not None and progressive_for("concept_brief") is not None
    assert progressive_for("idea_critic") is None and progressive_for("nope") is None


def _events(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@pytest.mark.django_db(transaction=True)
def test_the_stream_sends_rendered_events_that_cover_the_deltas_before_them(client, alice, platform_gateway):
    platform_gateway.canned = True  # the demo's Markdown brief, word by word
    platform_gateway.chunk_delay = 0.01
    client.force_login(alice)
    response = client.post(reverse("agents:stream"), {"agent": "concept_brief", "prompt": "a repair cafe"})
    events = _events(response)
    assert events[-1]["kind"] == "done"
    rendered = [i for i, e in enumerate(events) if e["kind"] == "rendered"]
    assert len(rendered) >= 2, [e["kind"] for e in events]
    for index in rendered:
        text = "".join(e["text"] for e in events[:index] if e["kind"] == "delta")
        event = events[index]
        assert text.endswith(event["tail"])
        assert event["html"] == str(render_markdown(text[: len(text) - len(event["tail"])]))
    assert any("<h2>" in events[i]["html"] for i in rendered)  # headings show while it streams
    # No render closer than the interval: far fewer renders than deltas.
    assert len(rendered) < sum(e["kind"] == "delta" for e in events) / 4


@pytest.mark.django_db(transaction=True)
def test_the_critic_stream_has_no_rendered_events(client, alice, platform_gateway):
    platform_gateway.canned = True
    platform_gateway.chunk_delay = 0.01
    client.force_login(alice)
    response = client.post(reverse("agents:stream"), {"agent": "idea_critic", "prompt": "a repair cafe"})
    kinds = [e["kind"] for e in _events(response)]
    assert kinds[-1] == "done" and "rendered" not in kinds
