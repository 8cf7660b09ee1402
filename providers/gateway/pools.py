"""The gateway clients' shared connection pools.

* One `httpx.Client` per process and URL-policy kind (a forked worker never reuses its parent's
  sockets).
* One `httpx.AsyncClient` per running event loop and URL-policy kind: an async client is bound
  to the loop that first used it, so it is never reused across loops.

Client objects (`GatewayClient`, `AsyncGatewayClient`) are cheap and made per request; the
pools are what they share. `close_pools()` / `await aclose_pools()` close them at shutdown.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref

import httpx

from ..conf import app_settings
from ..http.client import new_async_client, new_client

_sync_pools: dict[tuple[int, bool], httpx.Client] = {}
_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
_pool_lock = threading.Lock()


def _limits() -> httpx.Limits:
    return httpx.Limits(max_connections=int(app_settings.GATEWAY_MAX_CONNECTIONS), max_keepalive_connections=100)


def shared_client(*, enforce_policy: bool) -> httpx.Client:
    """This process's sync pool; `enforce_policy` for URLs a user set (the connect-time URL policy)."""
    key = (os.getpid(), enforce_policy)  # a forked worker must not share its parent's sockets
    client = _sync_pools.get(key)
    if client is None or client.is_closed:
        with _pool_lock:
            client = _sync_pools.get(key)
            if client is None or client.is_closed:
                client = _sync_pools[key] = new_client(enforce_policy=enforce_policy, limits=_limits())
    return client


def shared_async_client(*, enforce_policy: bool) -> httpx.AsyncClient:
    """The running event loop's async pool (call from inside the loop)."""
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
