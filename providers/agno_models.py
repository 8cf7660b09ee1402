"""Ready Agno models for each backend: `build_model(config, model_id, **options)`.

The provider SDKs are imported inside the builders, not at module import: `agno.models.anthropic`
alone costs about 1.2 s, and a process that only ever talks to the gateway should not pay it.

Shared choices, and why:

* Endpoints follow the operator settings (`PROVIDERS_OPENAI_BASE_URL`, `..._ANTHROPIC_...`,
  `..._GEMINI_...`), so tests, proxies and regional endpoints work without code changes.
* The key always comes from the `CredentialConfig`, never from the environment: each SDK would
  otherwise fall back to `OPENAI_API_KEY` / `ANTHROPIC_AUTH_TOKEN` / `GOOGLE_API_KEY`.
* Bounded timeouts (`providers.http.client.default_timeout()`), and no retries in the SDKs or in
  Agno: the agents' fallback loop decides whether to retry or move on (retrying inside would hide
  the failure from it and multiply latency).
* `options` go to the model class unchanged (e.g. `temperature`, `max_tokens`), so callers can
  tune a model without this module knowing every field.
"""
from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from typing import Any

from .conf import app_settings
from .secrets import Secret
from .types import CredentialConfig


_loop_clients_lock = threading.Lock()


class PerLoopAsyncClients:
    """Mixin for Agno model classes that cache one async SDK client in `self.async_client`.

    An async client is bound to the event loop it was first used on; Agno keeps one per model
    instance, so the same instance used from a second loop (`asyncio.run` per call, Django's
    `async_to_sync`) fails with "Event loop is closed". This keeps one client per running loop
    and forgets the clients of loops that have closed.
    """

    def get_async_client(self) -> Any:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with _loop_clients_lock:
            clients: dict[int, tuple[Any, Any]] = self.__dict__.setdefault("_loop_clients", {})
            entry = clients.get(id(loop))
            if entry is not None and entry[0]() is loop and not entry[1].is_closed():
                self.async_client = entry[1]  # type: ignore[attr-defined]
                return entry[1]
            for key, (ref, _) in list(clients.items()):
                alive = ref()
                if alive is None or alive.is_closed():
                    del clients[key]
            client = self._new_async_client()
            clients[id(loop)] = (weakref.ref(loop) if loop is not None else _no_loop, client)
            self.async_client = client  # type: ignore[attr-defined]
            return client

    def _new_async_client(self) -> Any:
        self.async_client = None  # type: ignore[attr-defined]
        return super().get_async_client()  # type: ignore[misc]

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # Agno's Model.__deepcopy__ drops `async_client`; our per-loop clients must go too.
        saved = self.__dict__.pop("_loop_clients", None)
        try:
            return super().__deepcopy__(memo)  # type: ignore[misc]
        finally:
            if saved is not None:
                self.__dict__["_loop_clients"] = saved


def _no_loop() -> None:
    return None


class SecretSafeRepr:
    """Mixin: a repr() without the key. Agno's model dataclasses print `api_key` and
    `client_params` (the key again), so a traceback with locals, a debugger or an error reporter
    would carry it; and `repr(Agent(model=...))` includes the model's repr."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={getattr(self, 'id', None)!r}, api_key=<hidden>)"


@functools.cache
def _secret_safe(cls: type) -> type:
    """`cls` with `SecretSafeRepr` mixed in, under the same name (isinstance still holds)."""
    return type(cls.__name__, (SecretSafeRepr, cls), {"__module__": __name__, "__doc__": cls.__doc__})


@functools.cache
def _per_loop(cls: type) -> type:
    """`cls` with `PerLoopAsyncClients` and `SecretSafeRepr` mixed in, under the same name."""
    return type(cls.__name__, (PerLoopAsyncClients, SecretSafeRepr, cls), {"__module__": __name__, "__doc__": cls.__doc__})


def _api_key(config: CredentialConfig) -> str:
    key = config.api_key
    if not isinstance(key, Secret) or not key:
        raise ValueError(f"the {config.provider} credential has no API key")
    return key.reveal()


def _timeouts(options: dict[str, Any]) -> Any:
    from .http.client import default_timeout

    return options.pop("http_timeout", None) or default_timeout()


def build_openai_model(config: CredentialConfig, model_id: str, **options: Any) -> Any:
    """Agno `OpenAIChat` for the public OpenAI API (or the operator's OpenAI-compatible proxy)."""
    from agno.models.openai import OpenAIChat
    from openai import Timeout

    timeout = Timeout(**_timeouts(options).as_dict())
    client_params = {"timeout": timeout, **(options.pop("client_params", None) or {})}
    return _per_loop(OpenAIChat)(
        id=model_id,
        api_key=_api_key(config),
        base_url=app_settings.OPENAI_BASE_URL,
        max_retries=0,
        client_params=client_params,
        **options,
    )


def build_anthropic_model(config: CredentialConfig, model_id: str, **options: Any) -> Any:
    """Agno `Claude`; the base URL goes through `client_params` (Claude has no base_url field)."""
    from agno.models.anthropic import Claude
    from anthropic import Timeout

    # The anthropic SDK runs on httpx2 and refuses an `httpx.Timeout`.
    timeout = Timeout(**_timeouts(options).as_dict())
    client_params = {
        "base_url": app_settings.ANTHROPIC_BASE_URL,
        # Agno fills auth_token from $ANTHROPIC_AUTH_TOKEN when unset; the key is the credential.
        "auth_token": None,
        "max_retries": 0,
        "timeout": timeout,
        **(options.pop("client_params", None) or {}),
    }
    return _per_loop(Claude)(id=model_id, api_key=_api_key(config), client_params=client_params, **options)


def build_gemini_model(config: CredentialConfig, model_id: str, **options: Any) -> Any:
    """Agno `Gemini` on the Gemini API (never Vertex AI: that needs Google Cloud credentials)."""
    from agno.models.google import Gemini

    timeout = _timeouts(options)
    # google-genai takes the timeout in milliseconds; its default retry_options=None never retries.
    read = timeout.read if timeout.read is not None else 30.0
    http_options = {"base_url": app_settings.GEMINI_BASE_URL, "timeout": int(read * 1000)}
    client_params = {
        "api_key": _api_key(config),
        # Agno switches to Vertex AI when $GOOGLE_GENAI_USE_VERTEXAI is true; pin the Gemini API.
        "vertexai": False,
        "http_options": http_options,
        **(options.pop("client_params", None) or {}),
    }
    return _secret_safe(Gemini)(id=model_id, api_key=_api_key(config), client_params=client_params, **options)


def build_gateway_model(config: CredentialConfig, model_id: str, **options: Any) -> Any:
    """Our `AIGatewayModel`: bearer token from the token manager on every request."""
    from .gateway.agno_model import AIGatewayModel

    timeout = _timeouts(options)
    return AIGatewayModel(id=model_id, config=config, http_timeout=timeout, **options)


BUILDERS = {
    "openai": build_openai_model,
    "anthropic": build_anthropic_model,
    "gemini": build_gemini_model,
    "ai_gateway": build_gateway_model,
}


def build_model(config: CredentialConfig, model_id: str, **options: Any) -> Any:
    """The Agno model for `config.provider`; raises KeyError for a provider without a builder."""
    if not model_id:
        raise ValueError("a model id is required")
    try:
        builder = BUILDERS[config.provider]
    except KeyError:
        raise KeyError(f"no Agno model builder for provider {config.provider!r}") from None
    return builder(config, model_id, **options)
