"""The request context: a request id (the caller's X-Request-ID when well-formed) on every
response, in every log line and run record, and who acts from where for the audit trail.

The context ends with the response: at once for a plain response; for a streamed one when the
server has read it to the end or closed it, because the answer runs after the view returned (in
the same task under ASGI, the same thread under WSGI) and its run record and log lines must
still carry the request id. The stream is followed by wrapping its content (`_Ending`,
`_AsyncEnding`), Django's public way, not by hooking the response's private closers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.decorators import sync_and_async_middleware

from ideaforge.clientip import client_ip

from . import context


def _end(response: HttpResponse, request_id: str) -> HttpResponse:
    response["X-Request-ID"] = request_id
    if isinstance(response, StreamingHttpResponse) and not isinstance(response, FileResponse):
        # The public way to follow a stream (Django's docs, "Dealing with streaming responses"):
        # replace its content with a wrapper; Django closes the wrapper with the response.
        content = response.streaming_content
        response.streaming_content = _AsyncEnding(content) if response.is_async else _Ending(content)
    else:
        _leave()
    return response


def _leave() -> None:
    # Not a token reset: the context may end in another context copy than the one it began in.
    context.enter(context.RequestContext())


class _Ending:
    """A sync stream that ends the request context when it is exhausted, fails or is closed
    (WSGI: the server closes the response in the thread that served it, even when it never
    iterated, which a generator's `finally` would miss)."""

    def __init__(self, content: Iterator[bytes]) -> None:
        self._content = content
        self._open = True

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._content)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._open:
            self._open = False
            _leave()


class _AsyncEnding:
    """An async stream that ends the request context when it is exhausted, fails or is cancelled
    (ASGI: in the task that iterates it), or closed: WSGI serves an async stream by iterating it
    on another event loop, then closes the response in the serving thread, whose context the
    request began in."""

    def __init__(self, content: AsyncIterator[bytes]) -> None:
        self._content = content
        self._open = True

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._content)
        except BaseException:
            _leave()
            raise

    def close(self) -> None:
        if self._open:
            self._open = False
            _leave()


def _enter(request: HttpRequest) -> str:
    # The same address the rate limits and login lockouts see: REMOTE_ADDR, or the client's as
    # the TRUSTED_PROXY_COUNT proxies in front report it in X-Forwarded-For (never a header the
    # client could forge).
    request_id = context.request_id_from(request.headers.get("X-Request-ID"))
    context.enter(context.RequestContext(request_id=request_id, request=request, ip=client_ip(request) or None))
    return request_id


@sync_and_async_middleware
def request_context_middleware(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponse:
            request_id = _enter(request)
            try:
                response = await get_response(request)
            except BaseException:
                context.enter(context.RequestContext())
                raise
            return _end(response, request_id)

        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponse:
        request_id = _enter(request)
        try:
            response = get_response(request)
        except BaseException:
            _leave()
            raise
        return _end(response, request_id)

    return middleware
