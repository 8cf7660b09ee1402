"""The app under uvicorn for the benchmarks: one worker on a free loopback port, stopped on exit.

`http_bench.py` and `db_pool_bench.py` measure the app over HTTP the same way; this is that way,
with `logged_in_user` for the session their requests carry.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def logged_in_user(env: dict[str, str]) -> tuple[Any, str]:
    """Django in this process with `env`: the database migrated, a user and a logged-in session
    for it; (the user, the session key to send as the `sessionid` cookie)."""
    os.environ.update(env)
    import django
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return user, session.session_key  # type: ignore[return-value]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UvicornApp:
    """`ideaforge.asgi:application` under uvicorn with one worker, ready once the login page
    answers; under pyinstrument when `profile` names the report file."""

    def __init__(self, env: dict[str, str], profile: Path | None = None) -> None:
        import httpx

        self.port = free_port()
        argv = ["-m", "uvicorn", "ideaforge.asgi:application", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", "1", "--log-level", "warning", "--no-access-log"]  # fmt: skip
        if profile is not None:
            argv = ["-m", "pyinstrument", "-r", "text", "-o", str(profile), *argv]
        self.proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env={**os.environ, **env})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/accounts/login/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("uvicorn did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Ctrl-C, as an operator would (pyinstrument writes its report then); killed after 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
