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

import itertools
import json
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from .catalog import AGENTS, agent_get
from .events import CandidateChosen, Delta, Done, Event, Failed, FallbackTaken
from .exceptions import NoModelAvailable
from .forms import ForgeForm
from .limits import UserRateLimited, budget_warning
from .models import AgentRun
from .selectors import provider_available_for_user, run_get_for_user, run_list_for_user

HISTORY_SIZE = 20
_ANSWER = "<!--forge:answer-->"
_SUMMARY = "<!--forge:summary-->"


def _page_context(request: HttpRequest, form: ForgeForm) -> dict[str, Any]:
    return {
        "form": form,
        "agents": list(AGENTS.values()),
        "has_provider": provider_available_for_user(user=request.user),
        "history": run_list_for_user(user=request.user, limit=HISTORY_SIZE),
        "settings_url": reverse("providers:settings"),
        "budget_warning": budget_warning(request.user.pk),
    }


@login_required
@require_http_methods(["GET", "POST"])
def forge(request: HttpRequest) -> HttpResponse:
    form = ForgeForm(request.POST or None, initial={"agent": request.GET.get("agent", "")})
    if request.method == "POST" and form.is_valid():
        events, refused = _admitted(_events(request, form.cleaned_data))
        if refused is not None:
            form.add_error(None, str(refused))
            return _retry_after(render(request, "agents/forge.html", _page_context(request, form), status=429), refused)
        return _html_stream(request, form.cleaned_data, events)
    return render(request, "agents/forge.html", _page_context(request, form), status=400 if form.is_bound else 200)


@login_required
@require_POST
def forge_stream(request: HttpRequest) -> HttpResponse:
    form = ForgeForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": {k: [str(e) for e in v] for k, v in form.errors.items()}}, status=400)
    events, refused = _admitted(_events(request, form.cleaned_data))
    if refused is not None:
        body = {"kind": "error", "code": refused.code, "message": str(refused), "retry_after": refused.retry_after}
        return _retry_after(JsonResponse(body, status=429), refused)
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
    return agent.stream(request.user, data["prompt"], tier=data.get("tier") or None, use_cache=not data.get("fresh"))


def _admitted(events: Iterator[Event]) -> tuple[Iterator[Event], UserRateLimited | None]:
    """Start the run (nothing is sent upstream before its first event) to learn whether the
    user's rate limit let it in: a refusal is answered with 429 instead of a stream."""
    first = next(events)
    if isinstance(first, Failed) and isinstance(first.error, UserRateLimited):
        events.close()  # type: ignore[attr-defined]
        return iter(()), first.error
    return itertools.chain([first], events), None


def _retry_after(response: HttpResponse, refused: UserRateLimited) -> HttpResponse:
    response["Retry-After"] = str(refused.retry_after)
    return response


def _no_buffering(response: StreamingHttpResponse) -> StreamingHttpResponse:
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass chunks on as they come
    return response


def _html_stream(request: HttpRequest, data: dict[str, Any], events: Iterator[Event]) -> StreamingHttpResponse:
    agent = agent_get(data["agent"])
    tier = data.get("tier") or agent.default_tier
    page = render_to_string("agents/forge_run.html", {"agent": agent, "tier": tier, "prompt": data["prompt"]}, request=request)
    head, rest = page.split(_ANSWER, 1)
    middle, tail = rest.split(_SUMMARY, 1)

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
        return {"kind": "fallback", "provider": event.provider, "model": event.model, "reason": event.reason}
    run = event.run
    base: dict[str, Any] = {"run_id": run.pk if run else None, "run_url": reverse("agents:run", args=[run.pk]) if run else ""}
    if isinstance(event, Done):
        return {"kind": "done", **base, "provider": run.provider, "provider_name": run.provider_name, "model": run.model_id, "tier": run.tier,
                "latency_ms": run.latency_ms, "time_to_first_token_ms": run.time_to_first_token_ms,
                "input_tokens": run.input_tokens, "output_tokens": run.output_tokens, "fallbacks": run.fallbacks,
                "cache_hit": run.cache_hit}
    error = event.error
    return {"kind": "error", **base, "message": str(error), "code": error.code,
            "fallbacks": run.fallbacks if run else [],
            "settings_url": reverse("providers:settings") if isinstance(error, NoModelAvailable) and error.nothing_configured else ""}
