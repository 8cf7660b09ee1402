"""`PooledThreadsASGIHandler`: requests run their sync work on a fixed set of kept threads, the
least busy one each, instead of a new thread (and database connection) per request."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.core.signals import request_started

from ideaforge.asgi_threads import PooledThreadsASGIHandler


def _scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def _get(app: PooledThreadsASGIHandler, path: str) -> int:
    """One GET through the handler, as an ASGI server would make it; the response's status."""
    sent: list[dict] = []
    body = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict:
        try:
            return next(body)
        except StopIteration:
            await asyncio.Event().wait()  # the client stays until the response is sent
            raise AssertionError("unreachable") from None

    async def send(message: dict) -> None:
        sent.append(message)

    await app(_scope(path), receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


@pytest.fixture
def sync_threads():
    """The threads each request's `request_started` (sync work in the request's thread) ran on,
    by path; a request to /slow/ holds its thread for 0.5 s."""
    seen: dict[str, list[int]] = {}

    def receiver(sender, scope=None, **kwargs):
        path = scope["path"] if scope else ""
        seen.setdefault(path, []).append(threading.get_ident())
        if path.startswith("/slow/"):
            time.sleep(0.5)

    request_started.connect(receiver, dispatch_uid="test_asgi_threads")
    yield seen
    request_started.disconnect(dispatch_uid="test_asgi_threads")


@pytest.mark.django_db(transaction=True)
def test_requests_share_a_fixed_set_of_kept_threads(sync_threads, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    app = PooledThreadsASGIHandler(threads=3)

    async def main() -> list[int]:
        first = await asyncio.gather(*(_get(app, "/healthz") for _ in range(12)))
        second = [await _get(app, "/healthz") for _ in range(6)]
        return [*first, *second]

    statuses = asyncio.run(main())
    assert set(statuses) == {200}
    threads = {ident for idents in sync_threads.values() for ident in idents}
    assert len(sync_threads["/healthz"]) == 18
    assert len(threads) <= 3, f"{len(threads)} threads for 18 requests, expected at most 3"
    assert threading.get_ident() not in threads


@pytest.mark.django_db(transaction=True)
def test_a_request_takes_a_thread_that_a_slow_request_is_not_holding(sync_threads, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    app = PooledThreadsASGIHandler(threads=2)

    async def main() -> float:
        slow = asyncio.create_task(_get(app, "/slow/"))
        await asyncio.sleep(0.05)  # the slow one holds its thread now
        began = time.monotonic()
        assert await _get(app, "/healthz") == 200
        took = time.monotonic() - began
        await slow
        return took

    took = asyncio.run(main())
    assert took < 0.4, f"the request waited {took:.2f} s behind the slow one"
    assert sync_threads["/healthz"][0] != sync_threads["/slow/"][0]


def test_at_least_one_thread_is_required():
    with pytest.raises(ValueError, match="ASGI_SYNC_THREADS"):
        PooledThreadsASGIHandler(threads=0)


def test_the_app_is_the_pooled_handler_with_the_configured_threads(settings):
    from ideaforge import asgi

    handler = asgi.application
    while not isinstance(handler, PooledThreadsASGIHandler):  # DEBUG wraps it for static files
        handler = handler.application
    assert len(handler._executors) == settings.ASGI_SYNC_THREADS
