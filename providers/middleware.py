"""The request context: a request id (the caller's X-Request-ID when well-formed) on every
response, in every log line and run record, and who acts from where for the audit trail.

The context ends with the response: at once for a plain response; for a streamed one when the
server closes it, because the answer runs after the view returned (in the same task under ASGI,
the same thread under WSGI) and its run record and log lines must still carry the request id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from ideaforge.clientip import client_ip

from . import context


def _end(response: HttpResponse, request_id: str) -> HttpResponse:
    response["X-Request-ID"] = request_id
    if getattr(response, "streaming", False):
        # Not a token reset: Django may close the response from another thread's context copy.
        response._resource_closers.append(lambda: context.enter(context.RequestContext()))
    else:
        context.enter(context.RequestContext())
    return response


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
            context.enter(context.RequestContext())
            raise
        return _end(response, request_id)

    return middleware
