"""A small threaded HTTP server on 127.0.0.1 for simulators of provider wire formats.

Shipped with the app (not only the tests) because `manage.py providers_gateway_simulator`
and `make demo` use it too. Subclass `SimulatorHandler`, add `do_GET`/`do_POST` routes, and
read/write shared state on `self.server.sim` (the owning `LocalServer`).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    """A canned failure for requests whose path starts with `path_prefix` (and `method`, if set).

    `delay` sleeps before the first byte (a timeout when longer than the client's read timeout);
    `redirect_to` answers 302 to that URL; `oversize` pads the body to that many bytes;
    `chunked` sends the body with chunked transfer encoding, without a Content-Length.
    `trickle` sends the body one byte every `trickle` seconds (each read is quick, the whole
    answer is not: what defeats per-read timeouts).
    `times=None` keeps it forever; otherwise it is used up after that many requests.
    """

    path_prefix: str = ""
    method: str | None = None
    status: int = 500
    body: Any = field(default_factory=lambda: {"error": {"message": "simulated failure", "type": "server_error"}})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    redirect_to: str | None = None
    oversize: int = 0
    chunked: bool = False
    trickle: float = 0.0
    times: int | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Handlers write headers and body separately; without TCP_NODELAY, Nagle's algorithm holds
        # the body until the client's delayed ACK (~40 ms on Linux) and every test and bench waits.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # Keep test output clean; the simulator records requests itself.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def sim(self) -> LocalServer:
        return self.server.sim

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def record(self, body: bytes = b"") -> None:
        """Count and keep the request; call once per request, before any fault applies."""
        with self.sim.lock:
            self.sim.counts[self.path_only] += 1
            self.sim.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), body, time.monotonic())
            )

    def apply_fault(self) -> bool:
        """Answer with the first matching injected fault; True when the request is handled."""
        fault = self.sim.take_fault(self.command, self.path_only)
        if fault is None:
            return False
        if fault.delay:
            time.sleep(fault.delay)
        if fault.redirect_to:
            self.send_response(302)
            self.send_header("Location", fault.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        body = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body).encode()
        if fault.oversize:
            body = body + b" " * max(0, fault.oversize - len(body))
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/json")
        self.send_header(*(("Transfer-Encoding", "chunked") if fault.chunked else ("Content-Length", str(len(body)))))
        for name, value in fault.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if fault.trickle:
                for index in range(len(body)):
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle)
            elif fault.chunked:
                for start in range(0, len(body), 4096):
                    piece = body[start : start + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (size cap, timeout)
            pass
        return True

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
    # The listen backlog (socketserver's default is 5): a burst of 50 concurrent connections
    # (a load test, a pool warming up) must queue, not be reset.
    request_queue_size = 1024
    sim: LocalServer

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # One thread per connection: count it open until the socket is shut (connection reuse
        # and "the upstream request was closed" are measured here).
        self.sim._connection_event(+1)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.sim._connection_event(-1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on purpose (timeouts, size caps, cancelled streams, pool shutdown):
        # not a server error worth a traceback on stderr. Anything else still prints.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """Runs a handler class on 127.0.0.1:<port> (0 = any free port) in a background thread."""

    handler_class: type[SimulatorHandler] = SimulatorHandler

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._httpd = _Server((host, port), self.handler_class)
        self._httpd.sim = self
        self._thread: threading.Thread | None = None
        # Re-entrant: `wait_for_connections` predicates may read `open_connections`.
        self.lock = threading.RLock()
        self.counts: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self.connections_opened = 0
        self.connections_closed = 0
        self._connections_changed = threading.Condition(self.lock)

    def _connection_event(self, delta: int) -> None:
        with self._connections_changed:
            if delta > 0:
                self.connections_opened += 1
            else:
                self.connections_closed += 1
            self._connections_changed.notify_all()

    @property
    def open_connections(self) -> int:
        """TCP connections accepted and not yet closed (idle keep-alive ones included)."""
        with self.lock:
            return self.connections_opened - self.connections_closed

    def wait_for_connections(self, predicate: Any, timeout: float) -> bool:
        """Wait until `predicate(sim)` holds (checked whenever a connection opens or closes)."""
        with self._connections_changed:
            return self._connections_changed.wait_for(lambda: predicate(self), timeout)

    def inject(self, **fault_fields: Any) -> Fault:
        """Add a fault (see `Fault`); the newest matching fault wins."""
        fault = Fault(**fault_fields)
        with self.lock:
            self._faults.insert(0, fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and fault.method in (None, method):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        # A short poll interval: stop() waits for the loop to notice, and tests start hundreds of servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Foreground mode, for management commands; `close()` after it returns."""
        self._httpd.serve_forever()

    def close(self) -> None:
        """Close the listening socket after foreground mode. Not `stop()`: with no serving loop
        running (it returned, or a signal came before it began) `shutdown()` would wait forever."""
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
