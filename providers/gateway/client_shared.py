"""What the sync and async AI Gateway clients (`providers.gateway.client`) share: the pooled
HTTP clients, the time bounds of a call, request bodies, and the decoding of a stream into the
items both yield. The clients themselves only differ in how they wait.

* Connection pools: one `httpx.Client` per process (per URL-policy kind), one `httpx.AsyncClient`
  per running event loop (an async client is bound to the loop that first used it).
* Timeouts: the whole call's deadline (`PROVIDERS_GATEWAY_TOTAL_TIMEOUT`), per-request connect and
  read bounds shortened as it nears, and the idle bound between stream chunks.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
import weakref
from typing import Any, NamedTuple

import httpx
from django.core.signals import setting_changed

from ..conf import app_settings
from ..exceptions import StreamError, UnexpectedResponse
from ..http.client import new_async_client, new_client
from ..http.errors import provider_error_detail
from ..redaction import redact
from ..types import CredentialConfig
from .retry import RetryPolicy
from .sse import SSEDecoder, ServerSentEvent
from .tokens import get_token_manager

# --- shared pools ---------------------------------------------------------------------------

_sync_pools: dict[tuple[int, bool], httpx.Client] = {}
_async_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, httpx.AsyncClient]]" = weakref.WeakKeyDictionary()
_pool_lock = threading.Lock()


def _limits() -> httpx.Limits:
    return httpx.Limits(max_connections=int(app_settings.GATEWAY_MAX_CONNECTIONS), max_keepalive_connections=100)


def shared_client(*, enforce_policy: bool) -> httpx.Client:
    key = (os.getpid(), enforce_policy)  # a forked worker must not share its parent's sockets
    client = _sync_pools.get(key)
    if client is None or client.is_closed:
        with _pool_lock:
            client = _sync_pools.get(key)
            if client is None or client.is_closed:
                client = _sync_pools[key] = new_client(enforce_policy=enforce_policy, limits=_limits())
    return client


def shared_async_client(*, enforce_policy: bool) -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    per_loop = _async_pools.get(loop)
    if per_loop is None:
        per_loop = _async_pools.setdefault(loop, {})
    client = per_loop.get(enforce_policy)
    if client is None or client.is_closed:
        client = per_loop[enforce_policy] = new_async_client(enforce_policy=enforce_policy, limits=_limits())
    return client


def close_pools() -> None:
    """Close this process's sync pools (worker shutdown, tests)."""
    with _pool_lock:
        clients = list(_sync_pools.values())
        _sync_pools.clear()
    for client in clients:
        client.close()


async def aclose_pools() -> None:
    """Close the running loop's async pools; call before the loop ends."""
    per_loop = _async_pools.pop(asyncio.get_running_loop(), {})
    for client in per_loop.values():
        await client.aclose()


# --- helpers shared by both clients ---------------------------------------------------------


class _Timing(NamedTuple):
    total: float
    connect: float
    read: float
    max_bytes: int
    full: httpx.Timeout  # the per-request timeout while the deadline is further away than both


@functools.lru_cache(maxsize=1)
def _timing() -> _Timing:
    # Memoized (cleared when a PROVIDERS_ setting changes): reading four settings and building
    # an httpx.Timeout on every request cost several microseconds of a ~400 us loopback call.
    connect, read = float(app_settings.HTTP_CONNECT_TIMEOUT), float(app_settings.HTTP_READ_TIMEOUT)
    full = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
    return _Timing(float(app_settings.GATEWAY_TOTAL_TIMEOUT), connect, read, int(app_settings.HTTP_MAX_RESPONSE_BYTES), full)


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("PROVIDERS_"):
        _timing.cache_clear()


setting_changed.connect(_on_setting_changed, dispatch_uid="providers.gateway.client.timing")


def _deadline() -> float:
    return time.monotonic() + _timing().total


def _timeout(deadline: float) -> httpx.Timeout:
    timing = _timing()
    left = deadline - time.monotonic()
    if left >= timing.connect and left >= timing.read:
        return timing.full
    left = max(0.001, left)
    connect, read = min(timing.connect, left), min(timing.read, left)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _set_idle_timeout(response: httpx.Response, deadline: float) -> None:
    # httpcore reads the body's read timeout from the request's extensions when the body is
    # first iterated (httpcore/_sync/http11.py `_receive_response_body`), so lowering it here,
    # after the headers arrived, makes it the bound on silence between chunks, while the first
    # byte keeps the ordinary read timeout.
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        timeouts["read"] = max(0.001, min(float(app_settings.STREAM_IDLE_TIMEOUT), deadline - time.monotonic()))


def _chat_body(messages: list[dict[str, Any]], model: str, params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    body = {**params, "model": model, "messages": messages}
    if stream:
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
    else:
        body.pop("stream", None)
    return body


def _meaningful(item: dict[str, Any]) -> bool:
    """A delta that carries part of the answer; a bare role announcement does not (so a stream
    cut right after it can still be retried transparently)."""
    return any(value for key, value in item.items() if key != "role")


class _StreamState:
    """Turns SSE events into the items we yield; tracks whether the caller got anything."""

    __slots__ = ("decoder", "yielded", "done", "provider")

    def __init__(self, provider: str) -> None:
        self.decoder = SSEDecoder()
        self.yielded = False
        self.done = False
        self.provider = provider

    def error(self, message: str, reason: str, status_code: int | None = None) -> StreamError:
        return StreamError(message, delta_yielded=self.yielded, reason=reason, provider=self.provider, status_code=status_code)

    def items(self, event: ServerSentEvent) -> list[dict[str, Any]]:
        if event.data == "[DONE]":
            self.done = True
            return []
        try:
            payload = json.loads(event.data)
        except ValueError:
            if event.event == "error":
                raise self.error(f"{self.provider} sent an error event: {redact(event.data)}", "error_event") from None
            raise self.error(f"{self.provider} sent a stream chunk that is not JSON", "incomplete") from None
        if not isinstance(payload, dict):
            raise self.error(f"{self.provider} sent a stream chunk in an unknown shape", "incomplete")
        if event.event == "error" or payload.get("error"):
            detail = provider_error_detail(event.data.encode())
            raise self.error(f"{self.provider} reported an error mid-stream{': ' + detail if detail else ''}", "error_event")
        out: list[dict[str, Any]] = []
        for choice in payload.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = dict(choice.get("delta") or {})
            if choice.get("finish_reason"):
                delta["finish_reason"] = choice["finish_reason"]
            if delta:
                out.append(delta)
        if payload.get("usage"):
            out.append({"usage": payload["usage"]})
        return out

    def feed(self, line: str) -> list[dict[str, Any]] | None:
        """The items one SSE line completes (None while an event is still being read), marking
        the stream as having reached the caller when one carries part of the answer (the items
        are yielded right after, with nothing in between that could fail)."""
        event = self.decoder.feed(line)
        if event is None:
            return None
        items = self.items(event)
        self.yielded = self.yielded or any(_meaningful(item) for item in items)
        return items

    def check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise self.error(f"{self.provider} stream exceeded the total time bound", "deadline")

    def transport_error(self, exc: Exception) -> StreamError:
        if isinstance(exc, httpx.TimeoutException):
            return self.error(f"{self.provider} went silent mid-stream (idle timeout)", "idle")
        return self.error(f"{self.provider} cut the stream: {redact(str(exc) or type(exc).__name__, limit=120)}", "cut")

    def finished(self) -> None:
        if not self.done:
            raise self.error(f"{self.provider} ended the stream without [DONE]", "incomplete")


class _Base:
    def __init__(self, config: CredentialConfig, *, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.provider = config.provider or "ai_gateway"
        self._base = config.base_url.rstrip("/")
        self._enforce = config.credential_id is not None
        self._policy = retry or RetryPolicy.from_settings()
        self._tokens = get_token_manager()
        self._closed = False

    def _url(self, path: str) -> str:
        if self._closed:
            raise RuntimeError("this gateway client is closed")
        return self._base + path

    @staticmethod
    def _headers(token: Any) -> dict[str, str]:
        # Only what the gateway needs: every extra header is parsed on both sides of every call.
        return {"Authorization": "Bearer " + token.reveal()}

    def _models(self, payload: Any) -> list[dict[str, Any]]:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise UnexpectedResponse(f"{self.provider} returned a model list in an unknown shape", provider=self.provider)
        return [m for m in data if isinstance(m, dict) and m.get("id")]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self._base!r})"
