"""The Forge in Chromium: answers grow while streaming, render as Markdown or the critic's card,
Stop, Copy, the history without a reload, and the no-JavaScript path (post-redirect-get)."""

from __future__ import annotations

import itertools
import time

import pytest
from playwright.sync_api import expect

from agents.models import AgentRun

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def start(page, agent_title: str, prompt: str) -> None:
    page.get_by_label(agent_title).check()
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_role("button", name="Run").click()


def lengths_while_streaming(page, timeout: float = 20.0) -> list[int]:
    """The answer's text length sampled until the run is done."""
    answer, seen = page.locator("#live-answer"), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(len(answer.inner_text()))
        if page.locator("#live-meta").inner_text().startswith("Done"):
            break
        page.wait_for_timeout(60)
    return seen


@pytest.mark.parametrize(
    "agent,title",
    [("idea_generator", "Idea generator"), ("concept_brief", "Concept-brief writer"), ("idea_critic", "Idea critic")],
)
def test_each_agent_answers_in_place(logged_in, live_server, demo_gateway, console_errors, agent, title):
    page = logged_in
    page.goto(f"{live_server.url}/forge/")
    expect(page.locator("#history")).to_contain_text("No runs yet")
    start(page, title, "a repair cafe for bikes")
    grew = lengths_while_streaming(page)
    answer = page.locator("#live-answer")
    expect(page.locator("#live-meta")).to_contain_text("Done")
    if agent == "idea_critic":
        # A structured answer arrives whole, then shows as a card.
        card = answer.locator(".assessment")
        expect(card).to_be_visible()
        expect(card.locator(".score-value")).to_have_text("6")
        expect(card.locator(".verdict")).to_have_text("Refine")
        expect(card.locator(".pros li")).to_have_count(3)
        expect(card.locator(".next-step")).to_contain_text("Pre-sell ten places")
    else:
        steps = sorted({n for n in grew if n > 0})
        print(f"\n{agent}: {len(steps)} distinct answer lengths while streaming, final {steps[-1]} characters")
        assert len(steps) >= 4, f"the answer did not grow in steps: {grew}"
        if agent == "idea_generator":
            expect(answer.locator("ol > li")).to_have_count(5)
            expect(answer.locator("ol > li strong").first).to_contain_text("Neighbourhood pilot")
        else:
            expect(answer.locator("h2")).to_have_count(7)
    assert page.url == f"{live_server.url}/forge/"  # no navigation
    # The history updated without a reload, with display names.
    row = page.locator("#history tbody tr").first
    expect(row).to_contain_text(title)
    expect(row).to_contain_text("AI Gateway (service account)")
    expect(page.locator("#live-summary")).to_contain_text("Answered by AI Gateway (service account)")
    # Copy puts the answer on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#live-meta")).to_contain_text("Copied")
    assert "repair cafe for bikes" in page.evaluate("navigator.clipboard.readText()")
    assert console_errors == []


def test_markdown_renders_while_streaming_without_the_box_shrinking(logged_in, live_server, demo_gateway):
    page = logged_in
    page.goto(f"{live_server.url}/forge/")
    start(page, "Concept-brief writer", "a repair cafe for bikes")
    answer, samples = page.locator("#live-answer"), []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not page.locator("#live-meta").inner_text().startswith("Done"):
        samples.append(answer.evaluate("a => [a.querySelectorAll('h2').length, a.getBoundingClientRect().height]"))
        page.wait_for_timeout(40)
    expect(page.locator("#live-meta")).to_contain_text("Done")
    headings = [h for h, _ in samples]
    # Headings appeared (rendered on the server, sanitized) before the run was done, in steps.
    assert max(headings) >= 2 and len(set(headings)) >= 3, headings
    assert "##" not in answer.locator("h2").first.inner_text()
    heights = [h for _, h in samples]
    assert all(b >= a - 0.5 for a, b in itertools.pairwise(heights)), heights  # never jumps up
    expect(answer.locator("h2")).to_have_count(7)


def test_stop_ends_the_run(logged_in, live_server, demo_gateway):
    demo_gateway.chunk_delay = 0.15
    page = logged_in
    page.goto(f"{live_server.url}/forge/")
    start(page, "Concept-brief writer", "a repair cafe")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    answer = page.locator("#live-answer")
    expect(answer).to_contain_text("Problem", timeout=10000)
    stop.click()
    expect(page.locator("#live-meta")).to_contain_text("Stopped")
    expect(stop).to_be_hidden()
    expect(page.get_by_role("button", name="Run")).to_be_enabled()
    frozen = answer.inner_text()
    page.wait_for_timeout(800)
    assert answer.inner_text() == frozen and "First milestone" not in frozen


def test_no_javascript_form_posts_then_a_reload_does_not_run_again(browser, live_server, demo_gateway, user):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/forge/")
        page.get_by_label("Idea generator").check()
        page.get_by_label("Prompt").fill("tiny houses for rent")
        with page.expect_navigation():
            page.get_by_role("button", name="Run").click()
        assert "/forge/go/" in page.url
        rendered = page.locator(".answer.rendered")
        expect(rendered.locator("ol > li")).to_have_count(5)
        expect(page.locator(".answer-raw")).to_be_hidden()  # the raw stream gives way to the rendered answer
        assert AgentRun.objects.count() == 1 and demo_gateway.chat_requests == 1
        page.reload()
        run = AgentRun.objects.get()
        assert page.url.endswith(f"/forge/runs/{run.pk}/")
        expect(page.locator(".answer.rendered ol > li")).to_have_count(5)
        assert AgentRun.objects.count() == 1 and demo_gateway.chat_requests == 1
    finally:
        context.close()
