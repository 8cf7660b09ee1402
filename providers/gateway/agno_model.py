"""`AIGatewayModel`: an Agno model for the AI Gateway (OpenAI-compatible, OAuth2 bearer tokens).

It subclasses Agno's `OpenAILike`, so tool calls (streamed fragments included), structured
output, streaming and usage metrics are Agno's own code. What it changes, and why:

* The bearer token comes from the token manager on every HTTP attempt, set by an httpx auth
  flow on our HTTP client (`_GatewayAuth`, one token lookup per request). The SDK only gets a
  placeholder `api_key`, whose header the flow overwrites; a real string key would stick in the
  cached client after it expires. (A callable `api_key` would work too, but cost a second
  lookup and the SDK's refresh machinery on every request.)
* `$OPENAI_API_KEY` is never read: `OpenAIChat._get_client_params` falls back to it when
  `api_key` is empty, and the SDK does too, so both are bypassed here.
* A 401 for the token we sent invalidates that token, fetches a fresh one and resends the request
  once (the same auth flow; neither Agno nor the SDK retries a 401 for a string key).
* One `AsyncOpenAI` per running event loop (`PerLoopAsyncClients`): an async client is bound to
  the loop that created it, and one model instance is used from several loops.
* Bounded timeouts, no redirects, an `httpx2` client from `providers.http.client.new_sdk_client`
  (the SDK's own HTTP stack: the SDK drives it for ~70 us less per request than a legacy `httpx`
  client, measured with `bench/agents_bench.py`'s setup). For a user's credential
  (`config.credential_id` set) the base URL passes `providers.http.netpolicy` when the model is
  built and every connection is checked again (`enforce_policy=True`: the policy transport of
  `providers.http.transports`). The platform's gateway (env settings, `credential_id=None`) is the
  operator's own URL and may be internal, the same rule the token manager applies to its token
  URL.
  The SDK reads at most `PROVIDERS_HTTP_MAX_RESPONSE_BYTES` of a JSON answer and
  `PROVIDERS_STREAM_MAX_BYTES` of an event stream, declared length or not (`_cap`): past that
  the read raises `ResponseTooLarge`, which Agno reports as the run's error.
* Agno's own keys in tool schemas (`requires_confirmation`, ...) are stripped: gateways that
  validate the OpenAI schema strictly reject them.
* System messages keep the `"system"` role (`OpenAILike`'s map), which gateways expect.
* `max_retries=0` in the SDK and `retries=0` in Agno: our fallback loop decides about retries.
* Each answer's `x-ratelimit-*` headers go to `ratelimit_signals.observe` (the agents app holds a
  credential whose window is spent back until its reset).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from agno.models.openai.like import OpenAILike
from openai import AsyncOpenAI, OpenAI

from ..agno_support import PerLoopAsyncClients, isolate_sdk_client
from ..conf import app_settings
from ..http.client import cap_response, default_timeout, new_sdk_client
from ..http.netpolicy import validate_url
from ..types import CredentialConfig
from .ratelimit_signals import observe as observe_rate_limits
from .tokens import get_token_manager

# What the SDK is given as `api_key`: a constant, so neither Agno nor the SDK looks for
# $OPENAI_API_KEY; `_GatewayAuth` replaces the header it produces on every request.
_PLACEHOLDER_KEY = "unused-see-token-manager"

# Keys Agno adds to a function's schema for its own bookkeeping; not part of OpenAI's tool format.
_TOOL_FUNCTION_KEYS = ("name", "description", "parameters", "strict")


class _GatewayAuth(httpx2.Auth):
    """Sets `Authorization: Bearer <token>` from the token manager on every request (replacing
    the SDK's placeholder), bounds how much of each response may be read (`_cap`), and on a 401
    for the token it sent invalidates that token, fetches a fresh one and resends once.

    Runs before the SDK reads the body: httpx2 hands the auth flow each response with only its
    headers read."""

    def __init__(self, config: CredentialConfig) -> None:
        self.config = config

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        manager = get_token_manager()
        token = manager.get_token(self.config)
        request.headers["Authorization"] = "Bearer " + token.reveal()
        response = yield request
        _cap(response, self.config.provider)  # the 401's body too: httpx reads it before the resend
        observe_rate_limits(
            response.headers, credential_id=self.config.credential_id, provider=self.config.provider, request=request
        )
        if response.status_code == 401:
            manager.invalidate(self.config, token)
            request.headers["Authorization"] = "Bearer " + manager.get_token(self.config).reveal()
            _cap((yield request), self.config.provider)

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        manager = get_token_manager()
        token = await manager.aget_token(self.config)
        request.headers["Authorization"] = "Bearer " + token.reveal()
        response = yield request
        _cap(response, self.config.provider)
        observe_rate_limits(
            response.headers, credential_id=self.config.credential_id, provider=self.config.provider, request=request
        )
        if response.status_code == 401:
            manager.invalidate(self.config, token)
            request.headers["Authorization"] = "Bearer " + (await manager.aget_token(self.config)).reveal()
            _cap((yield request), self.config.provider)


def _cap(response: httpx2.Response, provider: str) -> None:
    """Bound the bytes the SDK may read from this response (a user-set URL may point at a hostile
    server): PROVIDERS_HTTP_MAX_RESPONSE_BYTES for a JSON answer, the larger
    PROVIDERS_STREAM_MAX_BYTES for a whole event stream. A declared length over the cap is
    refused before any body is read; otherwise the read stops once the cap is passed."""
    streamed = response.headers.get("Content-Type", "").startswith("text/event-stream")
    limit = app_settings.STREAM_MAX_BYTES if streamed else app_settings.HTTP_MAX_RESPONSE_BYTES
    cap_response(response, limit=int(limit), provider=provider)


@dataclass
class AIGatewayModel(PerLoopAsyncClients, OpenAILike):
    """`AIGatewayModel(id="model", config=<CredentialConfig of an AI Gateway credential>)`."""

    id: str = "not-provided"
    name: str = "AIGatewayModel"
    provider: str = "AI Gateway"
    # Never a real key: `_GatewayAuth` replaces its header with the token manager's token on
    # every request. Keeping it non-empty also stops OpenAIChat and the SDK reading $OPENAI_API_KEY.
    api_key: str | None = _PLACEHOLDER_KEY
    max_retries: int | None = 0
    config: CredentialConfig | None = None
    # Optional httpx.Timeout for both clients (default: providers.http.client.default_timeout()).
    http_timeout: Any = None

    # Guards the sync client's creation; replaced by __deepcopy__ (Agno copies models).
    _clients_lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.config is None:
            raise ValueError("AIGatewayModel needs a CredentialConfig (config=...)")
        # Checked when built, so a disallowed URL fails before any token is requested.
        base_url = self.config.base_url
        self.base_url = validate_url(base_url) if self.enforce_policy else base_url

    @property
    def enforce_policy(self) -> bool:
        """User-set URLs only (see the module docstring)."""
        return self.config is not None and self.config.credential_id is not None

    # -- clients --------------------------------------------------------------------------

    def _timeout(self) -> Any:
        return httpx2.Timeout(**(self.http_timeout or default_timeout()).as_dict())

    def _http_client(self, *, sync: bool) -> Any:
        # httpx2 for both kinds of URL: the SDK's own stack (see the module docstring).
        # Keep as many idle connections as may be busy at once: httpx's default keeps 20, so a
        # worker with more streams in flight closed the extra connections after each burst and
        # opened new ones on the next (the load test measured 80 % reuse with 32 in flight).
        limits = httpx2.Limits(
            max_connections=int(app_settings.GATEWAY_MAX_CONNECTIONS),
            max_keepalive_connections=int(app_settings.GATEWAY_MAX_CONNECTIONS),
        )
        return new_sdk_client(
            sync=sync,
            enforce_policy=self.enforce_policy,
            timeout=self._timeout(),
            auth=_GatewayAuth(self.config),
            limits=limits,
        )

    def _get_client_params(self) -> dict[str, Any]:
        # Not super(): OpenAIChat's version reads $OPENAI_API_KEY when api_key is empty.
        params: dict[str, Any] = {
            "base_url": self.base_url,
            "max_retries": self.max_retries or 0,
            "timeout": self._timeout(),
        }
        if self.default_headers:
            params["default_headers"] = self.default_headers
        if self.default_query:
            params["default_query"] = self.default_query
        if self.client_params:
            params.update(self.client_params)
        return params

    def get_client(self) -> Any:
        client = self.client
        if client is not None and not client.is_closed():
            return client
        with self._clients_lock:
            if self.client is None or self.client.is_closed():
                http_client = self._http_client(sync=True)
                client = OpenAI(api_key=_PLACEHOLDER_KEY, http_client=http_client, **self._get_client_params())
                self.client = isolate_sdk_client(client, explicit_headers=self.default_headers)
            return self.client

    def _new_async_client(self) -> Any:
        # Called by PerLoopAsyncClients once per running event loop.
        client = AsyncOpenAI(
            api_key=_PLACEHOLDER_KEY, http_client=self._http_client(sync=False), **self._get_client_params()
        )
        # $OPENAI_ORG_ID, $OPENAI_PROJECT_ID and $OPENAI_CUSTOM_HEADERS never reach the gateway.
        return isolate_sdk_client(client, explicit_headers=self.default_headers)

    # -- requests -------------------------------------------------------------------------

    def get_request_params(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        params = super().get_request_params(*args, **kwargs)
        tools = params.get("tools")
        if tools:
            params["tools"] = [_clean_tool(tool) for tool in tools]
        return params

    def __deepcopy__(self, memo: dict[int, Any]) -> AIGatewayModel:
        copied = super().__deepcopy__(memo)
        copied._clients_lock = threading.Lock()
        copied.config = self.config  # frozen; no need to copy the Secrets inside
        return copied


def _clean_tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        return tool
    function = {k: v for k, v in tool["function"].items() if k in _TOOL_FUNCTION_KEYS}
    return {**tool, "function": function}
