"""A small threaded HTTP server on 127.0.0.1 for simulators of provider wire formats.

Shipped with the app (not only the tests) because `manage.py providers_gateway_simulator`
and `make demo` use it too. Subclass `SimulatorHandler`, add `do_GET`/`do_POST` routes, and
read/write shared state on `self.server.sim` (the owning `LocalServer`).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    # Keep test output clean; the simulator records requests itself.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def sim(self) -> "LocalServer":
        return self.server.sim

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: "LocalServer"


class LocalServer:
    """Runs a handler class on 127.0.0.1:<port> (0 = any free port) in a background thread."""

    handler_class: type[SimulatorHandler] = SimulatorHandler

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._httpd = _Server((host, port), self.handler_class)
        self._httpd.sim = self
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LocalServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Foreground mode, for management commands."""
        self._httpd.serve_forever()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
