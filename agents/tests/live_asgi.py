"""The app under a real uvicorn on 127.0.0.1, in this process (it shares the test database).

`LiveASGI` runs `ideaforge.asgi.application` on its own event loop in a background thread, so a
test talks real HTTP to it, and can ask that loop what is still running (`tasks()`).
`login(client, user)` gives an httpx client the session and CSRF cookies of a logged-in user.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.middleware.csrf import _get_new_csrf_string


class LiveASGI:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.loop: asyncio.AbstractEventLoop | None = None
        config = uvicorn.Config(
            self._app, lifespan="off", log_level="warning", loop="asyncio", http="h11", interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="live-asgi", daemon=True
        )

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from ideaforge.asgi import application

        self.loop = asyncio.get_running_loop()
        await application(scope, receive, send)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveASGI:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def tasks(self) -> list[str]:
        """The server loop's tasks other than uvicorn's own (the serving loop, the caller)."""

        async def others() -> list[str]:
            me = asyncio.current_task()
            return [
                repr(t.get_coro()) for t in asyncio.all_tasks() if t is not me and "Server" not in repr(t.get_coro())
            ]

        assert self.loop is not None, "no request served yet"
        return asyncio.run_coroutine_threadsafe(others(), self.loop).result(5)

    def __enter__(self) -> LiveASGI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def login(client: httpx.Client, user: Any) -> str:
    """Give `client` a session for `user` and a CSRF cookie; returns the CSRF token for headers."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    csrf = _get_new_csrf_string()
    client.cookies.set(settings.SESSION_COOKIE_NAME, session.session_key)
    client.cookies.set(settings.CSRF_COOKIE_NAME, csrf)
    return csrf
