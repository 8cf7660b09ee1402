"""The Forge page: pick an agent (and a tier), give a prompt, watch the answer stream in.

Two ways to get the answer, both streamed (`StreamingHttpResponse`):

* `POST /forge/` (the plain form, no JavaScript): an HTML page sent in pieces; the answer grows
  in the browser as it arrives and the run's details (provider, model, tier, fallbacks, error)
  follow at the end. The page is complete when the run is.
* `POST /forge/stream` (the page's small script): newline-delimited JSON events, which the
  script appends to the page without reloading it.

Views are thin: the runner (`agents.services`) does the work and records the run; the page's
reads are `agents.selectors`.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from .catalog import AGENTS, agent_get
from .events import CandidateChosen, Delta, Done, Event, Failed, FallbackTaken
from .exceptions import NoModelAvailable
from .forms import ForgeForm
from .models import AgentRun
from .presentation import answer_html, provider_display
from .selectors import provider_available_for_user, run_get_for_user, run_latest_matching, run_list_for_user

HISTORY_SIZE = 20
_PENDING = "forge_pending"
_PENDING_MAX = 10  # runs asked for in this session and not yet looked at (older ones are dropped)
_ANSWER = "<!--forge:answer-->"
_SUMMARY = "<!--forge:summary-->"


def _page_context(request: HttpRequest, form: ForgeForm) -> dict[str, Any]:
    return {
        "form": form,
        "agents": list(AGENTS.values()),
        "has_provider": provider_available_for_user(user=request.user),
        "history": run_list_for_user(user=request.user, limit=HISTORY_SIZE),
        "settings_url": reverse("providers:settings"),
    }


@login_required
@require_http_methods(["GET", "POST"])
def forge(request: HttpRequest) -> HttpResponse:
    form = ForgeForm(request.POST or None, initial={"agent": request.GET.get("agent") or next(iter(AGENTS))})
    if request.method == "POST" and form.is_valid():
        # Post-redirect-get: the run happens on the GET that follows, once; a reload of that
        # page shows the run's record instead of running it again.
        token = secrets.token_urlsafe(12)
        pending = request.session.get(_PENDING, {})
        pending = dict(list(pending.items())[-(_PENDING_MAX - 1):])
        pending[token] = {"agent": form.cleaned_data["agent"], "tier": form.cleaned_data.get("tier") or "",
                          "prompt": form.cleaned_data["prompt"], "started": False}
        request.session[_PENDING] = pending
        return redirect("agents:go", token=token)
    return render(request, "agents/forge.html", _page_context(request, form), status=400 if form.is_bound else 200)


@login_required
def forge_go(request: HttpRequest, token: str) -> HttpResponse:
    """The run a POST to /forge/ asked for, streamed as HTML the first time; the record after."""
    pending = request.session.get(_PENDING, {})
    data = pending.get(token)
    if data is None:
        return redirect("agents:forge")
    if data["started"]:
        run = run_latest_matching(user=request.user, agent=data["agent"], prompt=data["prompt"])
        return redirect("agents:run", pk=run.pk) if run else redirect("agents:forge")
    pending[token] = {**data, "started": True}
    request.session[_PENDING] = pending  # saved before the stream starts (the response is returned first)
    return _html_stream(request, {"agent": data["agent"], "tier": data["tier"], "prompt": data["prompt"]})


@login_required
def forge_history(request: HttpRequest) -> HttpResponse:
    """The history table alone, for the page's script to refresh after a run."""
    history = run_list_for_user(user=request.user, limit=HISTORY_SIZE)
    return render(request, "agents/_history.html", {"history": history})


@login_required
@require_POST
def forge_stream(request: HttpRequest) -> HttpResponse:
    form = ForgeForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": {k: [str(e) for e in v] for k, v in form.errors.items()}}, status=400)
    events = _events(request, form.cleaned_data)
    response = StreamingHttpResponse((json.dumps(_event_json(e)) + "\n" for e in events), content_type="application/x-ndjson")
    return _no_buffering(response)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = run_get_for_user(user=request.user, pk=pk)
    except AgentRun.DoesNotExist:
        raise Http404("No such run") from None
    return render(request, "agents/run_detail.html", {"run": run, "agent": AGENTS.get(run.agent)})


# -- helpers -----------------------------------------------------------------------------------

def _events(request: HttpRequest, data: dict[str, Any]) -> Iterator[Event]:
    agent = agent_get(data["agent"])
    return agent.stream(request.user, data["prompt"], tier=data.get("tier") or None)


def _no_buffering(response: StreamingHttpResponse) -> StreamingHttpResponse:
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass chunks on as they come
    return response


def _html_stream(request: HttpRequest, data: dict[str, Any]) -> StreamingHttpResponse:
    agent = agent_get(data["agent"])
    tier = data.get("tier") or agent.default_tier
    page = render_to_string("agents/forge_run.html", {"agent": agent, "tier": tier, "prompt": data["prompt"]}, request=request)
    head, rest = page.split(_ANSWER, 1)
    middle, tail = rest.split(_SUMMARY, 1)
    events = _events(request, data)

    def chunks() -> Iterator[str]:
        yield head
        chosen: CandidateChosen | None = None
        fallbacks: list[FallbackTaken] = []
        for event in events:
            if isinstance(event, Delta):
                yield escape(event.text)
            elif isinstance(event, CandidateChosen):
                chosen = event
            elif isinstance(event, FallbackTaken):
                fallbacks.append(event)
            elif isinstance(event, (Done, Failed)):
                yield middle
                if event.run is not None and event.run.output:
                    # The rendered answer replaces the raw text (CSS hides .answer-raw once it follows).
                    yield f'<div class="answer rendered">{answer_html(agent.name, event.run.output)}</div>'
                yield render_to_string("agents/_run_summary.html", _summary_context(event, chosen, tier), request=request)
        yield tail

    return _no_buffering(StreamingHttpResponse(chunks(), content_type="text/html; charset=utf-8"))


def _summary_context(event: Done | Failed, chosen: CandidateChosen | None, tier: str) -> dict[str, Any]:
    error = event.error if isinstance(event, Failed) else None
    return {
        "run": event.run,
        "tier": tier,
        "chosen": chosen,
        "error": str(error) if error else "",
        "needs_provider": isinstance(error, NoModelAvailable) and error.nothing_configured,
        "settings_url": reverse("providers:settings"),
    }


def _event_json(event: Event) -> dict[str, Any]:
    if isinstance(event, Delta):
        return {"kind": "delta", "text": event.text}
    if isinstance(event, CandidateChosen):
        return {"kind": "candidate", "provider": event.provider, "provider_name": event.provider_name,
                "model": event.model, "tier": event.tier, "source": event.source}
    if isinstance(event, FallbackTaken):
        return {"kind": "fallback", "provider": event.provider, "provider_name": provider_display(event.provider),
                "model": event.model, "reason": event.reason}
    run = event.run
    base: dict[str, Any] = {"run_id": run.pk if run else None, "run_url": reverse("agents:run", args=[run.pk]) if run else ""}
    if run is not None:
        base["html"] = str(answer_html(run.agent, run.output)) if run.output else ""
        base["summary_html"] = render_to_string("agents/_run_summary.html", {"run": run, "tier": run.tier})
    if isinstance(event, Done):
        return {"kind": "done", **base, "provider": run.provider, "provider_name": run.provider_name, "model": run.model_id, "tier": run.tier,
                "latency_ms": run.latency_ms, "time_to_first_token_ms": run.time_to_first_token_ms,
                "input_tokens": run.input_tokens, "output_tokens": run.output_tokens, "fallbacks": run.fallbacks}
    error = event.error
    return {"kind": "error", **base, "message": str(error), "code": error.code,
            "fallbacks": run.fallbacks if run else [],
            "settings_url": reverse("providers:settings") if isinstance(error, NoModelAvailable) and error.nothing_configured else ""}
