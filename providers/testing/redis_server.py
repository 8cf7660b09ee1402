"""A throw-away `redis-server` on 127.0.0.1 for tests (and `.ci/run`): a free port, a temp dir,
no persistence. `with RedisServer() as server: server.url`.

Fault switches for the soft-dependency tests: `down()` stops the server and `up()` starts it
again on the same port (empty, as after a crash); `pause()` / `resume()` SIGSTOP / SIGCONT it,
a hung Redis that accepts connections (the kernel does) and never answers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, binary: str | None = None, *, start_timeout: float = 10.0) -> None:
        found = binary or redis_server_binary()
        if not found:
            raise FileNotFoundError("redis-server is not installed")
        self.binary = found
        self.start_timeout = start_timeout
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self._dir = tempfile.TemporaryDirectory(prefix="ideaforge-redis-")
        # A port picked then released can be taken by someone else before redis binds it: retry.
        for _ in range(5):
            self.port = _free_port()
            if self._spawn():
                return self
        self.stop()
        raise RuntimeError("redis-server did not start")

    def down(self) -> None:
        """Stop the server (keeps the port for `up()`)."""
        self.resume()
        self._terminate()

    def up(self) -> None:
        """Start the server again on the same port."""
        for _ in range(20):
            if self._spawn():
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not restart on its port")

    def pause(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGCONT)

    def _spawn(self) -> bool:
        assert self._dir is not None
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self._dir.name,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            if _ping(self.port):
                return True
            time.sleep(0.05)
        self._terminate()
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    def stop(self) -> None:
        self.resume()
        self._terminate()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
