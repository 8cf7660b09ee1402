"""What the Agno models of every backend share: repr without the key, one async client per event
loop, the key and the timeouts. Each backend's `agno_model()` builds its own model with these.

This module imports neither `providers.backends` nor `providers.gateway`, so both can import it
at module top (the gateway's `AIGatewayModel` mixes in `PerLoopAsyncClients`).

Shared choices, and why:

* Endpoints follow the operator settings (`PROVIDERS_OPENAI_BASE_URL`, `..._ANTHROPIC_...`,
  `..._GEMINI_...`), so tests, proxies and regional endpoints work without code changes.
* The key always comes from the `CredentialConfig`, never from the environment: each SDK would
  otherwise fall back to `OPENAI_API_KEY` / `ANTHROPIC_AUTH_TOKEN` / `GOOGLE_API_KEY`.
* Nothing else from the environment reaches a provider either (`isolate_sdk_client`): the
  openai SDK adds `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` and `OPENAI_CUSTOM_HEADERS` to every
  request and the anthropic SDK `ANTHROPIC_CUSTOM_HEADERS`, whatever the caller passes; base URLs
  and API versions are always passed explicitly, so their variables are never read.
* Bounded timeouts (`providers.http.client.default_timeout()`), and no retries in the SDKs or in
  Agno: the agents' fallback loop decides whether to retry or move on (retrying inside would hide
  the failure from it and multiply latency).
* `options` go to the model class unchanged (e.g. `temperature`, `max_tokens`), so callers can
  tune a model without this module knowing every field.
* The provider SDKs are imported inside the builders, not at module import: `agno.models.anthropic`
  alone costs about 1.2 s, and a process that only ever talks to the gateway should not pay it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from typing import Any

from .http.deadline import install as install_deadline
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


# The SDKs' variables whose values they add to every request: (attribute, variable) pairs and the
# custom-header variables, parsed as the SDKs parse them ("Name: value" lines).
_ENV_ATTRIBUTES = (("organization", "OPENAI_ORG_ID"), ("project", "OPENAI_PROJECT_ID"))
_ENV_HEADER_VARIABLES = ("OPENAI_CUSTOM_HEADERS", "ANTHROPIC_CUSTOM_HEADERS")


def _env_headers() -> set[str]:
    names: set[str] = set()
    for variable in _ENV_HEADER_VARIABLES:
        for line in os.environ.get(variable, "").split("\n"):
            if ":" in line:
                names.add(line[: line.find(":")].strip().lower())
    return names


def isolate_sdk_client(client: Any, *, explicit_headers: dict[str, str] | None = None) -> Any:
    """`client` (an openai or anthropic SDK client) without what its constructor took from the
    environment: the organization and project headers and the custom headers, keeping the
    `explicit_headers` the caller passed. The SDKs offer no switch for this, so the attributes
    they read on every request are reset right after construction (pinned by
    `providers/tests/test_env_isolation.py` against the installed SDKs)."""
    if getattr(client, "_ideaforge_isolated", False):
        return client
    for attribute, variable in _ENV_ATTRIBUTES:
        if hasattr(client, attribute) and getattr(client, attribute) == os.environ.get(variable):
            setattr(client, attribute, None)
    if hasattr(client, "_ambient_authorizations"):
        client._ambient_authorizations = frozenset()
    custom = getattr(client, "_custom_headers", None)
    if isinstance(custom, dict):
        keep = {k.lower() for k in explicit_headers or {}}
        from_env = _env_headers() - keep
        client._custom_headers = {k: v for k, v in custom.items() if k.lower() not in from_env}
    inner = getattr(client, "_client", None)  # the SDK's httpx client
    if inner is not None and hasattr(inner, "_transport"):
        # Its connections obey a caller's total deadline (the sync agent loop sets the run's).
        install_deadline(inner)
    client._ideaforge_isolated = True
    return client


class IsolatedClients:
    """Mixin for Agno models on the openai and anthropic SDKs: every client they build goes
    through `isolate_sdk_client`."""

    def get_client(self) -> Any:
        return isolate_sdk_client(super().get_client(), explicit_headers=getattr(self, "default_headers", None))  # type: ignore[misc]

    def get_async_client(self) -> Any:
        return isolate_sdk_client(super().get_async_client(), explicit_headers=getattr(self, "default_headers", None))  # type: ignore[misc]


class SecretSafeRepr:
    """Mixin: a repr() without the key. Agno's model dataclasses print `api_key` and
    `client_params` (the key again), so a traceback with locals, a debugger or an error reporter
    would carry it; and `repr(Agent(model=...))` includes the model's repr."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={getattr(self, 'id', None)!r}, api_key=<hidden>)"


@functools.cache
def secret_safe(cls: type) -> type:
    """`cls` with `SecretSafeRepr` mixed in, under the same name (isinstance still holds)."""
    return type(cls.__name__, (SecretSafeRepr, cls), {"__module__": __name__, "__doc__": cls.__doc__})


@functools.cache
def per_loop(cls: type) -> type:
    """`cls` with `IsolatedClients`, `PerLoopAsyncClients` and `SecretSafeRepr` mixed in, under
    the same name."""
    return type(
        cls.__name__,
        (IsolatedClients, PerLoopAsyncClients, SecretSafeRepr, cls),
        {"__module__": __name__, "__doc__": cls.__doc__},
    )


def api_key(config: CredentialConfig) -> str:
    """The revealed API key for an SDK client; ValueError when the credential has none."""
    key = config.api_key
    if not isinstance(key, Secret) or not key:
        raise ValueError(f"the {config.provider} credential has no API key")
    return key.reveal()


def http_timeout(options: dict[str, Any]) -> Any:
    """Pop `http_timeout` from a builder's options, else the providers' default `httpx.Timeout`."""
    from .http.client import default_timeout

    return options.pop("http_timeout", None) or default_timeout()
