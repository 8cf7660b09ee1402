"""Django's ASGI handler, with each request's sync work on one of a fixed set of threads.

Django's own handler gives every request a new thread for its sync work (the session, the ORM,
sync middleware), joins it with yet another new thread when the request ends, and, since the
database connection belongs to the thread, opens a new connection each time. Here a request
takes the least busy of `threads` long-lived single-thread executors instead (asgiref's
`ThreadSensitiveContext(executor=...)`, which exists for this). A request's sync calls still run
one at a time on one thread, as Django expects; the thread, and with it its database
connection (kept by `CONN_MAX_AGE` or the PostgreSQL pool), outlives the request.

The trade: requests that share a thread take turns on it, so a slow query also delays the
requests that share its thread. Each sync call is short (no view holds a thread while it waits
on a provider: the agent runs are async), and the count is a setting (`ASGI_SYNC_THREADS`,
docs/configuration.md). It also bounds the database connections a worker holds at once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class PooledThreadsASGIHandler(ASGIHandler):
    """`ASGIHandler` whose requests share `threads` long-lived threads for their sync work."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"ASGI_SYNC_THREADS must be at least 1, not {threads}")
        super().__init__()
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{i}") for i in range(threads)
        ]
        self._requests = [0] * threads  # requests in progress per thread; only the event loop touches it

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # as Django's handler (lifespan and websockets are not served)
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        index = min(range(len(self._requests)), key=self._requests.__getitem__)
        self._requests[index] += 1
        try:
            async with ThreadSensitiveContext(executor=self._executors[index]):
                await self.handle(scope, receive, send)
        finally:
            self._requests[index] -= 1
