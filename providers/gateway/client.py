"""The AI Gateway's OpenAI-compatible API, sync (`GatewayClient`) and async (`AsyncGatewayClient`).

* Connection pools are shared (`providers.gateway.pools`): one `httpx.Client` per process (per
  URL-policy kind), one `httpx.AsyncClient` per running event loop. Client objects are cheap;
  make one per request. `pools.close_pools()` / `await pools.aclose_pools()` close the shared
  pools at shutdown.
* Every request asks the token manager for the token (a dict lookup when it is cached). A 401
  invalidates that token (only if still current), fetches a fresh one and resends once; a
  second 401 is `CredentialInvalid`.
* Failures are the typed errors of `providers.exceptions`; retries follow `retry.RetryPolicy`.
* Timeouts: connect and read (`PROVIDERS_HTTP_*`), the silence allowed between two stream
  chunks (`PROVIDERS_STREAM_IDLE_TIMEOUT`) and a bound on the whole call, retries included
  (`PROVIDERS_GATEWAY_TOTAL_TIMEOUT`; a stream may overrun it by at most one idle timeout).
* Sizes: a JSON answer is read up to `PROVIDERS_HTTP_MAX_RESPONSE_BYTES`, a whole stream up to
  `PROVIDERS_STREAM_MAX_BYTES` (then `ResponseTooLarge`).
* Streams yield `choices[0].delta` dicts in order (with `finish_reason` added on the chunk that
  has one) and finally `{"usage": {...}}` when the gateway sends usage. A stream is retried
  (token refresh, 5xx, cut) only before its first delta reached the caller.

URLs a user set (credentials with a `credential_id`) go through the connect-time URL policy;
the operator's env-configured gateway does not (it may well live on a private network).

Both clients derive from `BaseGatewayClient` (configuration, URLs, headers, the model list) and
share the call's time bounds and request bodies below; the pools are in
`providers.gateway.pools`, the decoding of a stream in `providers.gateway.streaming`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import httpx
from django.core.signals import setting_changed

from ..conf import app_settings
from ..exceptions import ProviderError, UnexpectedResponse
from ..http.client import aread_capped, aread_error_body, cap_response, parse_json, read_capped, read_error_body
from ..http.errors import error_for_response, error_for_transport
from ..http.netpolicy import require_https
from ..secrets import Secret
from ..types import CredentialConfig
from .pools import shared_async_client, shared_client
from .retry import RetryPolicy
from .streaming import StreamState, set_idle_timeout
from .tokens import get_token_manager

# --- the time bounds of a call --------------------------------------------------------------


class _Timing(NamedTuple):
    total: float
    connect: float
    read: float
    max_bytes: int
    full: httpx.Timeout  # the per-request timeout while the deadline is further away than both


@functools.lru_cache(maxsize=1)
def _timing() -> _Timing:
    # Memoized (cleared when a PROVIDERS_ setting changes): reading four settings and building
    # an httpx.Timeout on every request is measurable next to a loopback call.
    connect, read = float(app_settings.HTTP_CONNECT_TIMEOUT), float(app_settings.HTTP_READ_TIMEOUT)
    full = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
    return _Timing(
        float(app_settings.GATEWAY_TOTAL_TIMEOUT), connect, read, int(app_settings.HTTP_MAX_RESPONSE_BYTES), full
    )


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("PROVIDERS_"):
        _timing.cache_clear()


setting_changed.connect(_on_setting_changed, dispatch_uid="providers.gateway.client.timing")


def _deadline() -> float:
    return time.monotonic() + _timing().total


def _timeout(deadline: float) -> httpx.Timeout:
    """The per-request timeout: the configured connect and read bounds, shortened as the call's
    deadline nears."""
    timing = _timing()
    left = deadline - time.monotonic()
    if left >= timing.connect and left >= timing.read:
        return timing.full
    left = max(0.001, left)
    connect, read = min(timing.connect, left), min(timing.read, left)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _chat_body(messages: list[dict[str, Any]], model: str, params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    body = {**params, "model": model, "messages": messages}
    if stream:
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
    else:
        body.pop("stream", None)
    return body


# --- the clients ----------------------------------------------------------------------------


class BaseGatewayClient:
    """What both clients hold: the credential's config, the retry policy and the process's token
    manager; how they build URLs and headers and read a model list. Not used on its own."""

    def __init__(self, config: CredentialConfig, *, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.provider = config.provider
        self._base = config.base_url.rstrip("/")
        self._enforce = config.credential_id is not None
        self._policy = retry or RetryPolicy.from_settings()
        self._tokens = get_token_manager()
        self._closed = False

    def _url(self, path: str) -> str:
        if self._closed:
            raise RuntimeError("this gateway client is closed")
        if self._enforce:  # a user's stored URL: the policy may have tightened since it was saved
            require_https(self._base, what="AI Gateway base URL", provider=self.provider)
        return self._base + path

    @staticmethod
    def _headers(token: Secret) -> dict[str, str]:
        # Only what the gateway needs: every extra header is parsed on both sides of every call.
        return {"Authorization": "Bearer " + token.reveal()}

    def _models(self, payload: Any) -> list[dict[str, Any]]:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise UnexpectedResponse(
                f"{self.provider} returned a model list in an unknown shape", provider=self.provider
            )
        return [m for m in data if isinstance(m, dict) and m.get("id")]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self._base!r})"


class GatewayClient(BaseGatewayClient):
    """Sync client. `with GatewayClient(config) as gw: gw.chat_completion(messages, "model")`."""

    def list_models(self) -> list[dict[str, Any]]:
        """The gateway's models, as OpenAI model objects (`id` at least)."""
        return self._models(self._call("GET", "/models", None))

    def chat_completion(self, messages: list[dict[str, Any]], model: str, **params: Any) -> dict[str, Any]:
        """A non-streamed chat completion; the gateway's JSON answer as a dict."""
        result = self._call("POST", "/chat/completions", _chat_body(messages, model, params, stream=False))
        if not isinstance(result, dict):
            raise UnexpectedResponse(
                f"{self.provider} returned a completion in an unknown shape", provider=self.provider
            )
        return result

    def _call(self, method: str, path: str, body: Any) -> Any:
        deadline = _deadline()
        url = self._url(path)
        return self._policy.call(lambda: self._authorized(method, url, body, deadline), deadline=deadline)

    def _authorized(self, method: str, url: str, body: Any, deadline: float) -> Any:
        http = shared_client(enforce_policy=self._enforce)
        for attempt in (0, 1):
            token = self._tokens.get_token(self.config)
            try:
                with http.stream(
                    method, url, json=body, headers=self._headers(token), timeout=_timeout(deadline)
                ) as response:
                    if response.status_code == 401 and attempt == 0:
                        self._tokens.invalidate(self.config, token)
                        continue
                    if not response.is_success:
                        error = error_for_response(
                            response,
                            provider=self.provider,
                            body=read_error_body(response),
                            remote_text=not self._enforce,
                        )
                        assert error is not None
                        raise error
                    raw = read_capped(response, _timing().max_bytes)
            except httpx.HTTPError as exc:
                raise error_for_transport(exc, provider=self.provider) from exc
            return parse_json(raw, provider=self.provider)
        raise AssertionError("unreachable")  # pragma: no cover

    def stream_chat_completion(
        self, messages: list[dict[str, Any]], model: str, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Deltas of a streamed chat completion, then `{"usage": ...}` (see the module doc)."""
        body = _chat_body(messages, model, params, stream=True)
        url = self._url("/chat/completions")
        deadline = _deadline()
        http = shared_client(enforce_policy=self._enforce)
        retry, reauthorized = 0, False
        while True:
            state = StreamState(self.provider, remote_text=not self._enforce)
            try:
                token = self._tokens.get_token(self.config)
                try:
                    with http.stream(
                        "POST", url, json=body, headers=self._headers(token), timeout=_timeout(deadline)
                    ) as response:
                        if response.status_code == 401 and not reauthorized:
                            reauthorized = True
                            self._tokens.invalidate(self.config, token)
                            continue
                        if not response.is_success:
                            error = error_for_response(
                                response,
                                provider=self.provider,
                                body=read_error_body(response),
                                remote_text=not self._enforce,
                            )
                            assert error is not None
                            raise error
                        set_idle_timeout(response, deadline)
                        cap_response(response, limit=int(app_settings.STREAM_MAX_BYTES), provider=self.provider)
                        try:
                            for line in response.iter_lines():
                                items = state.feed(line)
                                if items is None:
                                    continue
                                yield from items
                                if state.done:
                                    return
                                state.check_deadline(deadline)
                        except httpx.HTTPError as exc:
                            raise state.transport_error(exc) from exc
                        state.finished()
                        return
                except httpx.HTTPError as exc:
                    raise error_for_transport(exc, provider=self.provider) from exc
            except ProviderError as error:
                delay = None if state.yielded else self._policy.next_wait(error, retry, deadline)
                if delay is None:
                    raise
            time.sleep(delay)
            retry += 1

    def close(self) -> None:
        """Mark this client closed; the shared pool stays open for others (`pools.close_pools()`)."""
        self._closed = True

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGatewayClient(BaseGatewayClient):
    """Async client; safe to use from any event loop (pools are per loop)."""

    async def list_models(self) -> list[dict[str, Any]]:
        return self._models(await self._call("GET", "/models", None))

    async def chat_completion(self, messages: list[dict[str, Any]], model: str, **params: Any) -> dict[str, Any]:
        result = await self._call("POST", "/chat/completions", _chat_body(messages, model, params, stream=False))
        if not isinstance(result, dict):
            raise UnexpectedResponse(
                f"{self.provider} returned a completion in an unknown shape", provider=self.provider
            )
        return result

    async def _call(self, method: str, path: str, body: Any) -> Any:
        deadline = _deadline()
        url = self._url(path)
        return await self._policy.acall(lambda: self._authorized(method, url, body, deadline), deadline=deadline)

    async def _authorized(self, method: str, url: str, body: Any, deadline: float) -> Any:
        http = shared_async_client(enforce_policy=self._enforce)
        for attempt in (0, 1):
            token = await self._tokens.aget_token(self.config)
            try:
                async with http.stream(
                    method, url, json=body, headers=self._headers(token), timeout=_timeout(deadline)
                ) as response:
                    if response.status_code == 401 and attempt == 0:
                        self._tokens.invalidate(self.config, token)
                        continue
                    if not response.is_success:
                        error = error_for_response(
                            response,
                            provider=self.provider,
                            body=await aread_error_body(response),
                            remote_text=not self._enforce,
                        )
                        assert error is not None
                        raise error
                    raw = await aread_capped(response, _timing().max_bytes)
            except httpx.HTTPError as exc:
                raise error_for_transport(exc, provider=self.provider) from exc
            return parse_json(raw, provider=self.provider)
        raise AssertionError("unreachable")  # pragma: no cover

    async def stream_chat_completion(
        self, messages: list[dict[str, Any]], model: str, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        body = _chat_body(messages, model, params, stream=True)
        url = self._url("/chat/completions")
        deadline = _deadline()
        http = shared_async_client(enforce_policy=self._enforce)
        retry, reauthorized = 0, False
        while True:
            state = StreamState(self.provider, remote_text=not self._enforce)
            try:
                token = await self._tokens.aget_token(self.config)
                try:
                    async with http.stream(
                        "POST", url, json=body, headers=self._headers(token), timeout=_timeout(deadline)
                    ) as response:
                        if response.status_code == 401 and not reauthorized:
                            reauthorized = True
                            self._tokens.invalidate(self.config, token)
                            continue
                        if not response.is_success:
                            error = error_for_response(
                                response,
                                provider=self.provider,
                                body=await aread_error_body(response),
                                remote_text=not self._enforce,
                            )
                            assert error is not None
                            raise error
                        set_idle_timeout(response, deadline)
                        cap_response(response, limit=int(app_settings.STREAM_MAX_BYTES), provider=self.provider)
                        try:
                            async for line in response.aiter_lines():
                                items = state.feed(line)
                                if items is None:
                                    continue
                                for item in items:
                                    yield item
                                if state.done:
                                    return
                                state.check_deadline(deadline)
                        except httpx.HTTPError as exc:
                            raise state.transport_error(exc) from exc
                        state.finished()
                        return
                except httpx.HTTPError as exc:
                    raise error_for_transport(exc, provider=self.provider) from exc
            except ProviderError as error:
                delay = None if state.yielded else self._policy.next_wait(error, retry, deadline)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            retry += 1

    async def aclose(self) -> None:
        """Mark this client closed; the loop's shared pool stays open (`pools.aclose_pools()`)."""
        self._closed = True

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncGatewayClient", "BaseGatewayClient", "GatewayClient"]
