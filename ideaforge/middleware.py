"""Django's middleware without the thread hops under ASGI, where the hook does no I/O.

Under ASGI, `MiddlewareMixin.__acall__` runs every `process_request` / `process_response` through
`sync_to_async(thread_sensitive=True)`, and the handler wraps every sync `process_view` the same
way: one thread hop each (a handoff to the request's sync thread and back), fifteen per request
on this stack. The hooks below only read the request and set headers or lazy attributes, so they
run on the event loop. Where a hook may touch the database (a modified session to save, queued
messages, CSRF tokens kept in the session) it still hops, as Django does. A hook that queries
by mistake fails loudly (`SynchronousOnlyOperation`), never silently.

Why it matters: with the request threads kept (`ideaforge/asgi_threads.py`) a hop costs little
CPU but still two thread wake-ups of latency each time; the fifteen of them were about 2 ms of
an 8.5 ms streamed run (docs/benchmarks.md, "The HTTP path").

`settings.MIDDLEWARE` keeps naming Django's classes: Django's deploy checks look for the
security, session, CSRF and clickjacking middleware by dotted path. The ASGI application
(`ideaforge.asgi`) loads these subclasses in their place (`loaded_inline`); under WSGI and in
Django's test clients the middleware is Django's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from csp.middleware import CSPMiddleware as _CSP
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.middleware.security import SecurityMiddleware as _Security


class InlineAsyncMixin:
    """`__acall__` running the hooks in the event loop (each hops when its `*_needs_thread` says)."""

    get_response: Any

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self.request_needs_thread(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_needs_thread(request, response):
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
            else:
                response = process_response(request, response)
        return response


class SecurityMiddleware(InlineAsyncMixin, _Security):
    """The HTTPS redirect and security headers: settings and the request line only."""


class CSPMiddleware(InlineAsyncMixin, _CSP):
    """A lazy nonce on the request, the policy header on the response."""


class CommonMiddleware(InlineAsyncMixin, _Common):
    """User-agent check, the slash redirect (URL resolution) and headers: no I/O."""


class AuthenticationMiddleware(InlineAsyncMixin, _Authentication):
    """Sets the lazy `request.user` / `request.auser`: the session and user are read on use."""


class XFrameOptionsMiddleware(InlineAsyncMixin, _XFrameOptions):
    """One header."""


class SessionMiddleware(InlineAsyncMixin, _Session):
    """The store is created lazily (no query); the response hook saves a modified session (or
    every one with SESSION_SAVE_EVERY_REQUEST): then it hops, as Django does."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is None or session.modified or settings.SESSION_SAVE_EVERY_REQUEST


class MessageMiddleware(InlineAsyncMixin, _Messages):
    """The storage is created lazily; storing messages (which may read or write the session)
    hops, an untouched storage has nothing to store."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is None or storage.used or storage.added_new


class CsrfViewMiddleware(InlineAsyncMixin, _Csrf):
    """The token is read from and set in a cookie (no I/O). With CSRF_USE_SESSIONS it lives in
    the session, and every hook hops as Django's do."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode and not settings.CSRF_USE_SESSIONS:
            # The handler adapts process_view by its kind: a coroutine function runs as is.
            check = self.process_view

            async def process_view(*args: Any) -> HttpResponseBase | None:
                return check(*args)

            self.process_view = markcoroutinefunction(process_view)  # type: ignore[method-assign]

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return settings.CSRF_USE_SESSIONS


#: Django's dotted path -> the subclass the ASGI application loads in its place.
INLINE = {
    f"{base.__module__}.{base.__qualname__}": f"{__name__}.{cls.__qualname__}"
    for cls in (
        SecurityMiddleware,
        CSPMiddleware,
        CommonMiddleware,
        AuthenticationMiddleware,
        XFrameOptionsMiddleware,
        SessionMiddleware,
        MessageMiddleware,
        CsrfViewMiddleware,
    )
    for base in cls.__bases__[1:]
}


def asgi_middleware(paths: list[str]) -> list[str]:
    """`paths` (settings.MIDDLEWARE) with each of Django's classes replaced by its inline subclass."""
    return [INLINE.get(path, path) for path in paths]


@contextmanager
def loaded_inline() -> Iterator[None]:
    """Within: settings.MIDDLEWARE names the inline subclasses, for a handler's `load_middleware`
    (which reads the setting once, at start-up, before anything is served)."""
    configured = settings.MIDDLEWARE
    settings.MIDDLEWARE = asgi_middleware(configured)
    try:
        yield
    finally:
        settings.MIDDLEWARE = configured
