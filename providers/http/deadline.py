"""Total deadlines for outbound operations, enforced on every socket read and write.

httpx's timeouts bound each network operation (connect, one read, one write), not the whole
request: a server that trickles a byte every 10 s keeps a request with a 30 s read timeout alive
for ever (measured: a verify held for 320 s, a token request for 26.8 s, past its 3 s lease).
`deadline(seconds)` sets a total bound for everything the current thread or asyncio task sends
through our clients meanwhile: each connect, read and write gets at most the time left, and
none starts after the deadline. When it passes, the operation fails with the stack's own
timeout (`httpcore.ReadTimeout` and friends), which our error mapping turns into
`ProviderTimeout`; `Deadline.expired` tells callers that the total deadline was the cause, so
they can say which bound (and which provider) it was.

It lives in a context variable: nested deadlines keep the earliest; threads do not inherit it
(a token refresh thread sets its own); asyncio tasks do. `install(client)` wraps the network
backend of every connection pool of an httpx / httpx2 client (`providers.http.client` does it
for every client it makes), so connections from the pool obey the deadline of whoever uses
them.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("providers_http_deadline", default=None)


class Deadline:
    """One total bound, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every outbound operation in this block to `seconds` in total (an outer, earlier
    deadline still applies)."""
    mine = Deadline(seconds)
    outer = _current.get()
    token = _current.set(outer if outer is not None and outer.end <= mine.end else mine)
    try:
        yield mine
    finally:
        _current.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout` cut to the current deadline's time left; `error` once it has passed."""
    current = _current.get()
    if current is None:
        return timeout
    left = current.remaining()
    if left <= 0:
        raise error(f"total deadline of {current.seconds:g} s exceeded")
    return left if timeout is None else min(timeout, left)


def _wrappers(core: ModuleType) -> tuple[type, type]:
    """(sync, async) network-backend wrappers for the httpcore-like module `core`."""

    class Stream(core.NetworkStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, _bounded(timeout, core.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, _bounded(timeout, core.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
            return Stream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, core.ConnectTimeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(core.NetworkBackend):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> Any:
            bounded = _bounded(timeout, core.ConnectTimeout)
            return Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
        ) -> Any:
            bounded = _bounded(timeout, core.ConnectTimeout)
            return Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    class AsyncStream(core.AsyncNetworkStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return await self._inner.read(max_bytes, _bounded(timeout, core.ReadTimeout))

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            await self._inner.write(buffer, _bounded(timeout, core.WriteTimeout))

        async def aclose(self) -> None:
            await self._inner.aclose()

        async def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            bounded = _bounded(timeout, core.ConnectTimeout)
            return AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, bounded))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class AsyncBackend(core.AsyncNetworkBackend):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> Any:
            bounded = _bounded(timeout, core.ConnectTimeout)
            return AsyncStream(await self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
        ) -> Any:
            bounded = _bounded(timeout, core.ConnectTimeout)
            return AsyncStream(await self._inner.connect_unix_socket(path, bounded, socket_options))

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return Backend, AsyncBackend


_cache: dict[str, tuple[type, type]] = {}


def install(client: Any) -> Any:
    """Make every connection pool of `client` (an httpx or httpx2 client) obey `deadline()`."""
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        core_name = type(pool).__module__.split(".", 1)[0]  # httpcore or httpcore2
        if core_name not in _cache:
            _cache[core_name] = _wrappers(__import__(core_name))
        sync_wrapper, async_wrapper = _cache[core_name]
        if isinstance(backend, (sync_wrapper, async_wrapper)):
            continue
        is_async = hasattr(backend, "connect_tcp") and _is_coroutine_function(backend.connect_tcp)
        pool._network_backend = (async_wrapper if is_async else sync_wrapper)(backend)
    return client


def _is_coroutine_function(func: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(func)
