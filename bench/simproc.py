"""Run the gateway simulator in its own process for the benchmarks.

A separate process keeps the server's threads off the benchmark's GIL and out of its RSS.
Prints one JSON line (`url`, `token_url`, `base_url`), then serves until stdin closes.
Counters are served at `GET /_bench/counters` (a bench-only route, added by subclassing).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from providers.testing.gateway_simulator import GatewayHandler, GatewaySimulator  # noqa: E402


class _BenchHandler(GatewayHandler):
    def do_GET(self) -> None:
        if self.path_only == "/_bench/counters":
            sim = self.sim
            self.send_json(200, {"token": sim.token_requests, "api": sim.api_requests, "chat": sim.chat_requests})
            return
        super().do_GET()


class BenchSimulator(GatewaySimulator):
    handler_class = _BenchHandler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args()
    sim = BenchSimulator(0, token_lifetime=args.token_lifetime)
    sim.chunk_delay = args.chunk_delay
    # A deep accept queue: the memory benchmark opens hundreds of connections at once.
    sim._httpd.socket.listen(1024)
    sim.start()
    print(json.dumps({"url": sim.url, "token_url": sim.token_url, "base_url": sim.base_url}), flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    sim.stop()


if __name__ == "__main__":
    main()
