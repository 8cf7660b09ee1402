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

from providers.testing.gateway_simulator import GatewayHandler, GatewaySimulator


class _BenchHandler(GatewayHandler):
    def do_GET(self) -> None:
        if self.path_only == "/_bench/counters":
            sim = self.sim
            self.send_json(
                200,
                {
                    "token": sim.token_requests,
                    "tokens_issued": len(sim.issued_tokens),
                    "api": sim.api_requests,
                    "chat": sim.chat_requests,
                    "connections_opened": sim.connections_opened,
                    "connections_closed": sim.connections_closed,
                    "streams_active": sim.streams_active,
                    "streams_aborted": sim.streams_aborted,
                },
            )
            return
        super().do_GET()

    def do_POST(self) -> None:
        # Fault switches for the load test: {"kind": "token_down", "seconds": 20} (token endpoint
        # answers 503 for that long) or {"kind": "chat_503", "times": 1}.
        if self.path_only == "/_bench/fault":
            order = json.loads(self.read_body() or b"{}")
            sim = self.sim
            if order.get("kind") == "token_down":
                sim.fail_token_endpoint(503)
                threading.Timer(float(order["seconds"]), sim.clear_faults).start()
            elif order.get("kind") == "chat_503":
                sim.fail(503, times=int(order.get("times", 1)), path_prefix="/v1/chat/completions")
            else:
                self.send_json(400, {"error": "unknown fault"})
                return
            self.send_json(200, {"ok": True})
            return
        super().do_POST()


class BenchSimulator(GatewaySimulator):
    handler_class = _BenchHandler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args()
    sim = BenchSimulator(0, token_lifetime=args.token_lifetime)
    sim.chunk_delay = args.chunk_delay
    sim.canned = False  # echo answers ("Echo: <prompt>"): the benchmarks' answer sizes follow the prompt
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
