"""The Forge page: pick an agent (and a tier), give a prompt, watch the answer stream in.

Two ways to get the answer, both streamed (`StreamingHttpResponse`):

* `POST /forge/` (the plain form, no JavaScript) redirects to `GET /forge/go/<token>`
  (post-redirect-get): an HTML page sent in pieces; the answer grows in the browser as it
  arrives, then its rendered Markdown and the run's details (provider, model, tier, fallbacks,
  error) follow at the end. The page is complete when the run is; a reload of it redirects to
  the run's record instead of running it again.
* `POST /forge/stream` (the page's small script): newline-delimited JSON events, which the
  script appends to the page without reloading it.

Views are thin: the runner (`agents.services`) does the work and records the run; the page's
reads are `agents.selectors`.

Both streams are async views with the iterator type of the server they run under (Django
consumes the other kind whole before sending anything): under ASGI (uvicorn, `make run`,
`make serve`) an async iterator over `astream_agent`; under WSGI (`runserver`, the test client)
a sync one over `stream_agent`. Under ASGI a client that leaves cancels the response: the
iterator closes the run's stream, which closes the upstream request and records the run as
abandoned with the text sent so far.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from .batches import batches
from .catalog import AGENTS, agent_get
from .events import CandidateChosen, Delta, Done, Event, Failed, FallbackTaken, Rendered
from .exceptions import AgentError, NoModelAvailable
from .forms import ForgeForm
from .limits import UserRateLimited, budget_warning
from .models import AgentRun
from .presentation import answer_html, provider_display
from .progressive import progressive_for
from .selectors import provider_available_for_user, run_get_for_user, run_latest_matching, run_list_for_user

logger = logging.getLogger(__name__)

HISTORY_SIZE = 20
_PENDING = "forge_pending"
_PENDING_MAX = 10  # runs asked for in this session and not yet looked at (older ones are dropped)
_ANSWER = "<!--forge:answer-->"
_SUMMARY = "<!--forge:summary-->"


def _authenticated_user(request: HttpRequest) -> Any:
    user = request.user  # the middleware's lazy user: the session read and the user query, here
    return user if user.is_authenticated else None


def _async_login_required(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """`login_required` for the async views in one thread hop: Django's async path takes three
    (the session, the user, then its test through `sync_to_async`). The view then reads
    `request.user`, resolved here."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if await sync_to_async(_authenticated_user)(request) is None:
            return redirect_to_login(request.get_full_path())
        return await view(request, *args, **kwargs)

    return wrapper


def _page_context(request: HttpRequest, form: ForgeForm) -> dict[str, Any]:
    return {
        "form": form,
        "agents": list(AGENTS.values()),
        "has_provider": provider_available_for_user(user=request.user),
        "history": run_list_for_user(user=request.user, limit=HISTORY_SIZE),
        "settings_url": reverse("providers:settings"),
        "budget_warning": budget_warning(request.user.pk),
    }


@_async_login_required
@require_http_methods(["GET", "POST"])
async def forge(request: HttpRequest) -> HttpResponse:
    form = ForgeForm(request.POST or None, initial={"agent": request.GET.get("agent") or next(iter(AGENTS))})
    if request.method == "POST" and form.is_valid():
        # Post-redirect-get: the run happens on the GET that follows, once; a reload of that
        # page shows the run's record instead of running it again.
        token = await sync_to_async(_remember_pending)(request, form.cleaned_data)
        return redirect("agents:go", token=token)
    status = 400 if form.is_bound else 200
    return await sync_to_async(_render_page)(request, form, status)


@_async_login_required
async def forge_go(request: HttpRequest, token: str) -> HttpResponse:
    """The run a POST to /forge/ asked for, streamed as HTML the first time; the record after.
    Over the user's rate limit or budget: the form again, with why, as 429 + Retry-After."""
    claimed = await sync_to_async(_claim_pending)(request, token)
    if isinstance(claimed, HttpResponse):
        return claimed
    events, refused = await _open_run(request, claimed)
    if refused is not None:
        return _retry_after(await sync_to_async(_refused_page)(request, claimed, refused), refused)
    return await _html_stream(request, claimed, events)


@login_required
def forge_history(request: HttpRequest) -> HttpResponse:
    """The history table alone, for the page's script to refresh after a run."""
    history = run_list_for_user(user=request.user, limit=HISTORY_SIZE)
    return render(request, "agents/_history.html", {"history": history})


@_async_login_required
@require_POST
async def forge_stream(request: HttpRequest) -> HttpResponse:
    form = ForgeForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": {k: [str(e) for e in v] for k, v in form.errors.items()}}, status=400)
    events, refused = await _open_run(request, form.cleaned_data)
    if refused is not None:
        body = {"kind": "error", "code": refused.code, "message": str(refused), "retry_after": refused.retry_after}
        return _retry_after(JsonResponse(body, status=429), refused)
    content = _stream_content(request, events, _with_rendered(form.cleaned_data["agent"]))
    return _no_buffering(StreamingHttpResponse(content, content_type="application/x-ndjson"))


def _with_rendered(agent_name: str) -> Callable[[Event], Iterable[str]]:
    """The NDJSON encoder, plus a `rendered` line after a delta when one is due (Markdown agents).
    A generator: the delta's line goes out before the render is computed, so it never waits."""
    markdown = progressive_for(agent_name)
    if markdown is None:
        return _ndjson_line

    def encode(event: Event) -> Iterator[str]:
        yield from _ndjson_line(event)
        rendered = markdown.feed(event)
        if rendered is not None:
            yield from _ndjson_line(rendered)

    return encode


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = run_get_for_user(user=request.user, pk=pk)
    except AgentRun.DoesNotExist:
        raise Http404("No such run") from None
    return render(request, "agents/run_detail.html", {"run": run, "agent": AGENTS.get(run.agent)})


# -- helpers -----------------------------------------------------------------------------------


def _render_page(request: HttpRequest, form: ForgeForm, status: int) -> HttpResponse:
    return render(request, "agents/forge.html", _page_context(request, form), status=status)


def _remember_pending(request: HttpRequest, data: dict[str, Any]) -> str:
    """Keep the asked-for run in the session under a new token (sync: the session is a query)."""
    token = secrets.token_urlsafe(12)
    pending = request.session.get(_PENDING, {})
    pending = dict(list(pending.items())[-(_PENDING_MAX - 1) :])
    pending[token] = {
        "agent": data["agent"],
        "tier": data.get("tier") or "",
        "prompt": data["prompt"],
        "fresh": bool(data.get("fresh")),
        "started": False,
    }
    request.session[_PENDING] = pending
    return token


def _refused_page(request: HttpRequest, data: dict[str, Any], refused: UserRateLimited) -> HttpResponse:
    form = ForgeForm({**data, "fresh": "on" if data.get("fresh") else ""})
    form.is_valid()
    form.add_error(None, str(refused))
    return _render_page(request, form, 429)


def _claim_pending(request: HttpRequest, token: str) -> dict[str, Any] | HttpResponse:
    """The run to stream for `token` (marked started), or the redirect when it ran already or is unknown."""
    pending = request.session.get(_PENDING, {})
    data = pending.get(token)
    if data is None:
        return redirect("agents:forge")
    if data["started"]:
        run = run_latest_matching(user=request.user, agent=data["agent"], prompt=data["prompt"])
        return redirect("agents:run", pk=run.pk) if run else redirect("agents:forge")
    pending[token] = {**data, "started": True}
    request.session[_PENDING] = pending  # saved before the stream starts (the response is returned first)
    return {"agent": data["agent"], "tier": data["tier"], "prompt": data["prompt"], "fresh": data.get("fresh", False)}


def _ndjson_line(event: Event | Rendered) -> list[str]:
    return [json.dumps(_event_json(event)) + "\n"]


async def _open_run(request: HttpRequest, data: dict[str, Any]) -> tuple[Any, UserRateLimited | None]:
    """Start the run up to its first event (nothing is sent upstream before it), as the stream
    this server needs (`astream` under ASGI, `stream` under WSGI), to learn whether the user's
    rate limits let it in: `(None, refusal)` is answered with 429 instead of a stream; else the
    events from the first on."""
    agent = agent_get(data["agent"])
    tier = data.get("tier") or None
    use_cache = not data.get("fresh")
    if isinstance(request, ASGIRequest):
        aevents = agent.astream(request.user, data["prompt"], tier=tier, use_cache=use_cache)
        try:
            first = await anext(aevents)
        except Exception as exc:  # the server failed before the first event: the stream says so
            return _achain(None, exc, aevents), None
        if _is_refusal(first):
            await aevents.aclose()
            return None, first.error  # type: ignore[union-attr]
        return _achain(first, None, aevents), None
    events = agent.stream(request.user, data["prompt"], tier=tier, use_cache=use_cache)
    try:
        # The sync stream touches the database: in Django's sync thread (the WSGI request's).
        first = await sync_to_async(next)(events)
    except Exception as exc:
        return _chain(None, exc, events), None
    if _is_refusal(first):
        events.close()  # type: ignore[attr-defined]
        return None, first.error  # type: ignore[union-attr]
    return _chain(first, None, events), None


def _is_refusal(event: Event) -> bool:
    return isinstance(event, Failed) and isinstance(event.error, UserRateLimited)


async def _achain(first: Event | None, error: Exception | None, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """The run's events again from its first (or the error that came instead); closing this
    closes the run's stream (a client that left abandons the run)."""
    async with aclosing(events):  # type: ignore[type-var]
        if error is not None:
            raise error
        yield first  # type: ignore[misc]
        async for event in events:
            yield event


def _chain(first: Event | None, error: Exception | None, events: Iterator[Event]) -> Iterator[Event]:
    try:
        if error is not None:
            raise error
        yield first  # type: ignore[misc]
        yield from events
    finally:
        events.close()  # type: ignore[attr-defined]


def _retry_after(response: HttpResponse, refused: UserRateLimited) -> HttpResponse:
    response["Retry-After"] = str(refused.retry_after)
    return response


def _stream_content(
    request: HttpRequest,
    events: Iterator[Event] | AsyncIterator[Event],
    render_event: Callable[[Event], Iterable[str]],
    head: str = "",
    tail: str = "",
) -> Iterator[str] | AsyncIterator[str]:
    """The response body: `head`, the rendered events, `tail`, as the iterator this server streams."""
    if isinstance(request, ASGIRequest):
        return _async_body(events, render_event, head, tail)  # type: ignore[arg-type]
    return _sync_body(events, render_event, head, tail)  # type: ignore[arg-type]


def _log_failure(exc: Exception) -> None:
    # Type and place only: the message (and a traceback, which repeats it) may quote a secret
    # that `scrub` does not know (it knows the running candidates', and this can fail before).
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    logger.error("forge stream failed at %s: %s", where, type(exc).__name__)


def _server_failure() -> Failed:
    """The run's end when the server itself failed mid-stream (the status line is long sent: a
    bare 500 is no longer possible, and a cut connection would tell the user nothing)."""
    return Failed(None, AgentError("The server could not finish this run. Please try again.", code="server_error"))


async def _async_body(
    events: AsyncIterator[Event], render_event: Callable[[Event], Iterable[str]], head: str, tail: str
) -> AsyncIterator[str]:
    # The events that are ready together go out as one body chunk (agents/batches.py). When the
    # client leaves, Django cancels this iteration; `batches` then closes the run's stream, which
    # closes the upstream request and records the run as abandoned (not left to the GC).
    # aclosing: the same when the client leaves before the events are reached (after `head`), or
    # while a send waits (Django then closes this body at its `yield`: `batches` must be closed
    # first, since its task is inside the run's stream, which cannot be closed from here then).
    async with aclosing(events):  # type: ignore[type-var]
        if head:
            yield head
        ended = False
        try:
            async with aclosing(batches(events)) as ready_batches:
                async for ready in ready_batches:
                    parts: list[str] = []
                    for event in ready:
                        ended = isinstance(event, (Done, Failed))
                        parts.extend(render_event(event))
                    yield "".join(parts)
        except Exception as exc:  # not CancelledError: a client that left gets nothing more
            _log_failure(exc)
            if not ended:
                yield "".join(render_event(_server_failure()))
        if tail:
            yield tail


def _sync_body(
    events: Iterator[Event], render_event: Callable[[Event], Iterable[str]], head: str, tail: str
) -> Iterator[str]:
    try:
        if head:
            yield head
        ended = False
        try:
            for event in events:
                ended = isinstance(event, (Done, Failed))
                yield from render_event(event)
        except Exception as exc:
            _log_failure(exc)
            if not ended:
                yield from render_event(_server_failure())
        if tail:
            yield tail
    finally:
        events.close()  # type: ignore[attr-defined]


def _no_buffering(response: StreamingHttpResponse) -> StreamingHttpResponse:
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass chunks on as they come
    return response


async def _html_stream(
    request: HttpRequest, data: dict[str, Any], events: Iterator[Event] | AsyncIterator[Event]
) -> StreamingHttpResponse:
    agent = agent_get(data["agent"])
    tier = data.get("tier") or agent.default_tier
    # Templates run in Django's sync thread (context processors read the session).
    page = await sync_to_async(render_to_string)(
        "agents/forge_run.html", {"agent": agent, "tier": tier, "prompt": data["prompt"]}, request=request
    )
    head, rest = page.split(_ANSWER, 1)
    middle, tail = rest.split(_SUMMARY, 1)
    # The summary is rendered to a string while the run ends, from plain values (no lazy query).
    summary_template = get_template("agents/_run_summary.html")
    chosen: list[CandidateChosen] = []

    def render_event(event: Event) -> list[str]:
        if isinstance(event, Delta):
            return [escape(event.text)]
        if isinstance(event, CandidateChosen):
            chosen[:] = [event]
        elif isinstance(event, (Done, Failed)):
            parts = [middle]
            if event.run is not None and event.run.output:
                # The rendered answer replaces the raw text (CSS hides .answer-raw once it follows).
                parts.append(f'<div class="answer rendered">{answer_html(agent.name, event.run.output)}</div>')
            context = _summary_context(event, chosen[0] if chosen else None, tier)
            parts.append(summary_template.render(context, request=None))
            return parts
        return []

    content = _stream_content(request, events, render_event, head=head, tail=tail)
    return _no_buffering(StreamingHttpResponse(content, content_type="text/html; charset=utf-8"))


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


def _event_json(event: Event | Rendered) -> dict[str, Any]:
    if isinstance(event, Delta):
        return {"kind": "delta", "text": event.text}
    if isinstance(event, Rendered):
        return {"kind": "rendered", "html": event.html, "tail": event.tail}
    if isinstance(event, CandidateChosen):
        return {
            "kind": "candidate",
            "provider": event.provider,
            "provider_name": event.provider_name,
            "model": event.model,
            "tier": event.tier,
            "source": event.source,
        }
    if isinstance(event, FallbackTaken):
        return {
            "kind": "fallback",
            "provider": event.provider,
            "provider_name": provider_display(event.provider),
            "model": event.model,
            "reason": event.reason,
        }
    run = event.run
    base: dict[str, Any] = {
        "run_id": run.pk if run else None,
        "run_url": reverse("agents:run", args=[run.pk]) if run else "",
    }
    if run is not None:
        base["html"] = str(answer_html(run.agent, run.output)) if run.output else ""
        base["summary_html"] = render_to_string("agents/_run_summary.html", {"run": run, "tier": run.tier})
    if isinstance(event, Done):
        return {
            "kind": "done",
            **base,
            "provider": run.provider,
            "provider_name": run.provider_name,
            "model": run.model_id,
            "tier": run.tier,
            "latency_ms": run.latency_ms,
            "time_to_first_token_ms": run.time_to_first_token_ms,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "fallbacks": run.fallbacks,
            "cache_hit": run.cache_hit,
        }
    error = event.error
    return {
        "kind": "error",
        **base,
        "message": str(error),
        "code": error.code,
        "fallbacks": run.fallbacks if run else [],
        "settings_url": reverse("providers:settings")
        if isinstance(error, NoModelAvailable) and error.nothing_configured
        else "",
    }
