"""The Forge page: login, streaming (HTML and NDJSON), run records, history, errors, isolation."""

from __future__ import annotations

import json

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from agents.models import AgentRun, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def run_form(client, data):
    """POST the plain form, then follow its redirect to the run's page (which streams the run)."""
    posted = client.post("/forge/", data)
    assert posted.status_code == 302 and posted["Location"].startswith("/forge/go/")
    return client.get(posted["Location"])


def chunks_of(response) -> list[str]:
    assert isinstance(response, StreamingHttpResponse)
    return [c.decode() for c in response.streaming_content]


def test_login_required(client):
    response = client.get("/forge/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post(reverse("agents:stream"), {"agent": "idea_generator", "prompt": "x"}).status_code == 302


def test_page_without_provider_points_to_settings(alice_client):
    page = alice_client.get("/forge/").content.decode()
    assert 'id="no-provider"' in page and 'href="/settings/providers/"' in page
    assert "Idea generator" in page and "Idea critic" in page and "Concept-brief writer" in page


def test_page_with_provider_has_the_form_and_no_pointer(alice_client, platform_gateway):
    page = alice_client.get("/forge/").content.decode()
    assert 'id="no-provider"' not in page and 'id="forge-form"' in page


def test_form_post_streams_the_answer_page_and_records_the_run(alice_client, alice, platform_gateway):
    platform_gateway.chunk_delay = 0.01
    response = run_form(alice_client, {"agent": "idea_generator", "tier": "", "prompt": "tiny houses for rent"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    chunks = chunks_of(response)
    # Page head, one chunk per streamed delta, the summary, the page tail.
    assert len(chunks) >= 6
    page = "".join(chunks)
    assert "Echo: tiny houses for rent" in page
    assert "AI Gateway (service account)</strong> · sim-fast" in page and "fast tier" in page
    assert page.rstrip().endswith("</html>")
    run = AgentRun.objects.get()
    assert (run.user, run.status, run.streamed, run.agent) == (alice, RunStatus.SUCCEEDED, True, "idea_generator")
    assert run.time_to_first_token_ms is not None and run.time_to_first_token_ms <= run.latency_ms
    # The history shows it afterwards.
    assert reverse("agents:run", args=[run.pk]) in alice_client.get("/forge/").content.decode()


def test_ndjson_stream_for_the_script(alice_client, platform_gateway, openai_fake, alice_openai):
    platform_gateway.fail(503, times=None)
    response = alice_client.post(
        reverse("agents:stream"), {"agent": "concept_brief", "tier": "fast", "prompt": "a repair cafe"}
    )
    assert response["Content-Type"] == "application/x-ndjson"
    chunks = chunks_of(response)
    events = [json.loads(line) for line in "".join(chunks).splitlines()]
    assert len(chunks) == len(events) >= 5
    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["candidate", "fallback", "candidate"] and kinds[-1] == "done"
    assert "".join(e["text"] for e in events if e["kind"] == "delta") == "Echo: a repair cafe"
    done = events[-1]
    assert (done["provider"], done["model"], done["tier"]) == ("openai", "gpt-fast", "fast")
    assert len(done["fallbacks"]) == 1 and "503" in done["fallbacks"][0]["reason"]
    assert AgentRun.objects.get(pk=done["run_id"]).status == RunStatus.SUCCEEDED


def test_invalid_form(alice_client):
    response = alice_client.post(reverse("agents:stream"), {"agent": "nope", "prompt": ""})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"agent", "prompt"}
    response = alice_client.post("/forge/", {"agent": "idea_generator", "prompt": "   "})
    assert response.status_code == 400 and "Say what the agent should work on" in response.content.decode()
    assert not AgentRun.objects.exists()


def test_all_down_shows_a_clear_error_on_the_page(alice_client, platform_gateway):
    platform_gateway.fail(503, times=None)
    page = "".join(chunks_of(run_form(alice_client, {"agent": "idea_generator", "prompt": "x"})))
    assert "No model available for the fast tier" in page and "sim-fast" in page and "503" in page
    assert AgentRun.objects.get().status == RunStatus.FAILED


def test_no_provider_error_links_to_settings(alice_client):
    page = "".join(chunks_of(run_form(alice_client, {"agent": "idea_generator", "prompt": "x"})))
    assert "No AI provider is set up" in page and 'href="/settings/providers/"' in page
    events = [
        json.loads(line)
        for line in b"".join(
            alice_client.post(reverse("agents:stream"), {"agent": "idea_generator", "prompt": "x"}).streaming_content
        ).splitlines()
    ]
    assert events[-1]["kind"] == "error" and events[-1]["settings_url"] == "/settings/providers/"


def test_run_detail_is_private(alice_client, client, bob, alice, platform_gateway):
    run_form(alice_client, {"agent": "idea_generator", "prompt": "mine"}).getvalue()
    run = AgentRun.objects.get()
    assert "Echo: mine" in alice_client.get(reverse("agents:run", args=[run.pk])).content.decode()
    client.force_login(bob)
    assert client.get(reverse("agents:run", args=[run.pk])).status_code == 404
    assert "mine" not in client.get("/forge/").content.decode()


def test_page_loads_its_script_and_styles_from_static_files(alice_client, platform_gateway):
    from django.contrib.staticfiles import finders

    page = alice_client.get("/forge/").content.decode()
    assert '<script src="/static/agents/forge.js"></script>' in page
    assert '<link rel="stylesheet" href="/static/agents/forge.css">' in page
    assert "<style" not in page and "<script>" not in page
    # What the script reads from the page.
    assert f'data-stream-url="{reverse("agents:stream")}"' in page
    assert finders.find("agents/forge.js") and finders.find("agents/forge.css")


def test_no_inline_script_or_style_in_any_template():
    """The project's rule (static JS/CSS per app): no inline <script>, <style>, style= or on*= handlers."""
    import re
    from pathlib import Path

    from django.conf import settings

    inline = re.compile(r"<script(?![^>]*\ssrc=)|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    roots = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]] + list(Path(settings.BASE_DIR).glob("*/templates"))
    templates = [p for root in roots for p in root.rglob("*.html")]
    assert len(templates) > 5
    offending = [f"{p}: {m.group(0)}" for p in templates for m in inline.finditer(p.read_text())]
    assert offending == []


def test_a_server_failure_mid_stream_ends_with_a_clear_error_event_under_wsgi(
    alice_client, platform_gateway, monkeypatch
):
    import agents.services

    def broken(*args, **kwargs):
        raise RuntimeError("internal-detail-canary")

    monkeypatch.setattr(agents.services, "resolve", broken)
    response = alice_client.post(reverse("agents:stream"), {"agent": "idea_generator", "prompt": "x"})
    events = [json.loads(line) for line in "".join(chunks_of(response)).splitlines()]
    assert events[-1]["kind"] == "error" and events[-1]["code"] == "server_error"
    assert "internal-detail-canary" not in json.dumps(events)


def test_reload_after_the_form_post_does_not_run_again(alice_client, platform_gateway):
    posted = alice_client.post("/forge/", {"agent": "idea_generator", "prompt": "tiny houses"})
    "".join(chunks_of(alice_client.get(posted["Location"])))
    assert AgentRun.objects.count() == 1 and platform_gateway.chat_requests == 1
    again = alice_client.get(posted["Location"])  # the browser's reload
    run = AgentRun.objects.get()
    assert again.status_code == 302 and again["Location"] == reverse("agents:run", args=[run.pk])
    assert AgentRun.objects.count() == 1 and platform_gateway.chat_requests == 1
    # An unknown token (another session's, or made up) runs nothing either.
    assert alice_client.get("/forge/go/made-up").status_code == 302
    assert AgentRun.objects.count() == 1


def test_history_fragment_and_done_event_carry_display_names_and_rendered_html(alice_client, platform_gateway):
    response = alice_client.post(
        reverse("agents:stream"), {"agent": "idea_generator", "prompt": "**bold** <script>x</script>"}
    )
    events = [json.loads(line) for line in "".join(chunks_of(response)).splitlines()]
    done = events[-1]
    assert done["kind"] == "done"
    assert "<strong>bold</strong>" in done["html"] and "<script>" not in done["html"]
    assert "AI Gateway (service account)" in done["summary_html"]
    history = alice_client.get(reverse("agents:history")).content.decode()
    assert "Idea generator" in history and "AI Gateway (service account)" in history
    assert "<html" not in history  # a fragment for the script, not a page
