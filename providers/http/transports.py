"""Connect-time URL policy for outbound HTTP, on `httpx` (httpcore) and `httpx2` (httpcore2).

The transports made here resolve the host themselves, check every address with
`providers.http.netpolicy.check_address`, and connect to a checked IP, so DNS rebinding between
`validate_url()` and the request cannot reach a private address. TLS SNI and the Host header
still use the hostname (httpcore passes the origin's host to `start_tls`).

The two HTTP stacks have the same network-backend API but separate class hierarchies and
exception types (httpx maps only httpcore's errors, httpx2 only httpcore2's), so the backend and
transport classes are built once per stack from one definition (`policy_transports`); the
resolve-and-check step (`checked_addresses`) is shared by both and by sync and async.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from . import netpolicy


def checked_addresses(host: str, infos: Sequence[tuple[Any, ...]], port: int | None = None) -> list[str]:
    """The addresses of getaddrinfo() `infos`, in resolver order without duplicates, once every
    one of them passed the policy (URLNotAllowed otherwise): the OS may pick any of them."""
    ordered = list(dict.fromkeys(info[4][0] for info in infos))
    for ip in ordered:
        netpolicy.check_address(host, ip, port)
    return ordered


def _backends(core: ModuleType) -> tuple[type, type]:
    """(sync, async) network backends for the httpcore-like module `core`."""

    def addresses(host: str, port: int, infos: Sequence[tuple[Any, ...]]) -> list[str]:
        found = checked_addresses(host, infos, port)
        if not found:
            raise core.ConnectError(f"{host} did not resolve to any address")
        return found

    class PolicyNetworkBackend(core.NetworkBackend):  # type: ignore[misc, name-defined]
        """Wraps the stack's network backend: resolve, check with netpolicy, connect to the checked IP."""

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
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise core.ConnectError(f"could not resolve {host}: {exc}") from exc
            last_error: Exception | None = None
            for ip in addresses(host, port, infos):
                try:
                    return self._inner.connect_tcp(
                        ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                    )
                except (core.ConnectError, core.ConnectTimeout) as exc:
                    last_error = exc
            assert last_error is not None
            raise last_error

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
        ) -> Any:
            raise core.ConnectError("unix sockets are not allowed by the URL policy")

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    class AsyncPolicyNetworkBackend(core.AsyncNetworkBackend):  # type: ignore[misc, name-defined]
        """Async twin (resolution through the event loop's resolver)."""

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
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise core.ConnectError(f"could not resolve {host}: {exc}") from exc
            last_error: Exception | None = None
            for ip in addresses(host, port, infos):
                try:
                    return await self._inner.connect_tcp(
                        ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                    )
                except (core.ConnectError, core.ConnectTimeout) as exc:
                    last_error = exc
            assert last_error is not None
            raise last_error

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
        ) -> Any:
            raise core.ConnectError("unix sockets are not allowed by the URL policy")

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return PolicyNetworkBackend, AsyncPolicyNetworkBackend


@functools.cache
def policy_transports(lib: ModuleType) -> tuple[type, type]:
    """(sync, async) transport classes for `lib` (the `httpx` or `httpx2` module) whose
    connection pool connects through the policy backends. They take the transport's usual
    arguments (`verify=...`); the transport does the TLS, so it needs the verify setting."""
    core = __import__("httpcore2" if lib.__name__ == "httpx2" else "httpcore")
    sync_backend, async_backend = _backends(core)

    class PolicyTransport(lib.HTTPTransport):  # type: ignore[misc, name-defined]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            pool = self._pool
            pool._network_backend = sync_backend(pool._network_backend)

    class AsyncPolicyTransport(lib.AsyncHTTPTransport):  # type: ignore[misc, name-defined]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            pool = self._pool
            pool._network_backend = async_backend(pool._network_backend)

    return PolicyTransport, AsyncPolicyTransport
