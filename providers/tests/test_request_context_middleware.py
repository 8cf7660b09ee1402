"""The request context ends with the response: at once for a plain one, and for a stream only
once the server has iterated it (the answer runs then, and its records and log lines carry the
request id), whether it ends, fails or is closed unread; sync (WSGI) and async (ASGI) streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from providers.context import current_request_id
from providers.middleware import request_context_middleware

# Closing a response sends request_finished, whose receiver checks the database connection.
pytestmark = pytest.mark.django_db

RID = "req-stream-0123456789"


def _request():
    return RequestFactory().get("/", HTTP_X_REQUEST_ID=RID)


def _seen_while_streaming() -> Iterator[bytes]:
    """What the answer sees as it runs: the request id in force at each chunk."""
    for _ in range(2):
        yield current_request_id().encode()


async def _aseen_while_streaming() -> AsyncIterator[bytes]:
    for _ in range(2):
        await asyncio.sleep(0)
        yield current_request_id().encode()


def test_a_plain_response_ends_the_context_at_once():
    middleware = request_context_middleware(lambda request: HttpResponse(current_request_id()))
    response = middleware(_request())
    assert response.content == RID.encode() and response["X-Request-ID"] == RID
    assert current_request_id() == ""


def test_a_sync_stream_keeps_the_context_until_it_is_exhausted():
    middleware = request_context_middleware(lambda request: StreamingHttpResponse(_seen_while_streaming()))
    response = middleware(_request())
    assert current_request_id() == RID  # the view returned; the answer has not run yet
    assert list(response) == [RID.encode(), RID.encode()]
    assert current_request_id() == ""
    response.close()
    assert current_request_id() == ""


def test_a_sync_stream_closed_unread_ends_the_context():
    middleware = request_context_middleware(lambda request: StreamingHttpResponse(_seen_while_streaming()))
    response = middleware(_request())
    assert current_request_id() == RID
    response.close()  # the WSGI server closes a response whose client left before reading it
    assert current_request_id() == ""


def test_a_failing_sync_stream_ends_the_context():
    def broken() -> Iterator[bytes]:
        yield b"x"
        raise RuntimeError("upstream broke")

    middleware = request_context_middleware(lambda request: StreamingHttpResponse(broken()))
    response = middleware(_request())
    with pytest.raises(RuntimeError):
        list(response)
    assert current_request_id() == ""


def test_an_async_stream_keeps_the_context_until_it_is_exhausted():
    async def view(request):
        return StreamingHttpResponse(_aseen_while_streaming())

    async def serve() -> tuple[list[bytes], str, str]:
        # As Django's ASGI handler does: one task gets the response and iterates it.
        response = await request_context_middleware(view)(_request())
        during = current_request_id()
        chunks = [chunk async for chunk in response]
        return chunks, during, current_request_id()

    chunks, during, after = asyncio.run(serve())
    assert chunks == [RID.encode(), RID.encode()] and during == RID and after == ""


def test_an_async_stream_served_by_wsgi_ends_the_context_on_close():
    """WSGI iterates an async stream on another event loop, then closes the response in the
    thread whose context the request began in: that close ends it."""

    async def view(request):
        return StreamingHttpResponse(_aseen_while_streaming())

    middleware = request_context_middleware(lambda request: asyncio.run(view(request)))
    response = middleware(_request())
    assert current_request_id() == RID
    with pytest.warns(Warning, match="asynchronous iterators"):
        assert list(response) == [RID.encode(), RID.encode()]
    response.close()
    assert current_request_id() == ""
