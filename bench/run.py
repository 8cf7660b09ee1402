"""Benchmarks of the AI Gateway client against the local simulator (`make bench`).

Every ratio is measured in the same run, ours and the baseline interleaved against the same
server, so the machine's speed cancels out. The simulator runs in a child process.

    python bench/run.py            # full run (a couple of minutes), writes docs/benchmarks.md
    python bench/run.py --quick    # smoke run, seconds; writes nothing unless --output is given
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ideaforge.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import psutil  # noqa: E402

from providers.gateway.client import AsyncGatewayClient, GatewayClient  # noqa: E402
from providers.gateway.pools import aclose_pools, close_pools  # noqa: E402
from providers.gateway.tokens import TokenManager, get_token_manager  # noqa: E402
from providers.secrets import Secret  # noqa: E402
from providers.types import CredentialConfig  # noqa: E402

MODEL = "sim-standard"
PROMPT = [{"role": "user", "content": "Summarise why pre-refreshing OAuth2 tokens keeps request latency flat."}]
# A longer answer for streams: the simulator echoes the prompt, one word per delta.
STREAM_PROMPT = [{"role": "user", "content": " ".join(f"word{i}" for i in range(40))}]


# --- the simulator process -------------------------------------------------------------------


class Sim:
    def __init__(self, *, token_lifetime: int = 3600, chunk_delay: float = 0.0) -> None:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "simproc.py"),
                "--token-lifetime",
                str(token_lifetime),
                "--chunk-delay",
                str(chunk_delay),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(self._proc.stdout.readline())
        self.url, self.token_url, self.base_url = info["url"], info["token_url"], info["base_url"]

    def counters(self) -> dict[str, int]:
        return httpx.get(self.url + "/_bench/counters").json()

    def config(self) -> CredentialConfig:
        return CredentialConfig(
            provider="ai_gateway",
            client_id=Secret("sim-client"),
            client_secret=Secret("sim-secret"),
            base_url=self.base_url,
            token_url=self.token_url,
        )

    def close(self) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


@contextmanager
def simulator(**kwargs: Any) -> Iterator[Sim]:
    sim = Sim(**kwargs)
    try:
        yield sim
    finally:
        sim.close()


def _us(seconds: float) -> float:
    return seconds * 1e6


# --- 1. non-streaming chat ---------------------------------------------------------------------


def bench_chat(sim: Sim, iterations: int) -> dict[str, Any]:
    config = sim.config()
    token = get_token_manager().get_token(config).reveal()  # warm token for both sides
    raw = httpx.Client(timeout=30)
    ours = GatewayClient(config)
    url = sim.base_url + "/chat/completions"
    headers = {"Authorization": f"Bearer {token}"}

    def run_raw() -> None:
        r = raw.post(url, json={"model": MODEL, "messages": PROMPT}, headers=headers)
        r.raise_for_status()
        r.json()

    def run_ours() -> None:
        ours.chat_completion(PROMPT, MODEL)

    for _ in range(max(20, iterations // 10)):  # warm both pools and code paths
        run_raw(), run_ours()
    t_raw: list[float] = []
    t_ours: list[float] = []
    for i in range(iterations):
        pair = (run_raw, run_ours) if i % 2 == 0 else (run_ours, run_raw)  # alternate the order
        for fn in pair:
            start = time.perf_counter()
            fn()
            (t_raw if fn is run_raw else t_ours).append(time.perf_counter() - start)
    raw.close()
    m_raw, m_ours = statistics.median(t_raw), statistics.median(t_ours)
    return {
        "iterations": iterations,
        "raw_median_us": _us(m_raw),
        "ours_median_us": _us(m_ours),
        "ratio": m_ours / m_raw,
        "added_us": _us(m_ours - m_raw),
        "paired_added_us": _us(statistics.median(o - r for o, r in zip(t_ours, t_raw, strict=False))),
        "raw_p95_us": _us(statistics.quantiles(t_raw, n=20)[-1]),
        "ours_p95_us": _us(statistics.quantiles(t_ours, n=20)[-1]),
    }


# --- 2. streaming ------------------------------------------------------------------------------


def bench_stream(sim: Sim, iterations: int) -> dict[str, Any]:
    config = sim.config()
    token = get_token_manager().get_token(config).reveal()
    raw = httpx.Client(timeout=30)
    ours = GatewayClient(config)
    url = sim.base_url + "/chat/completions"
    headers = {"Authorization": f"Bearer {token}"}
    body = {"model": MODEL, "messages": STREAM_PROMPT, "stream": True, "stream_options": {"include_usage": True}}

    def run_raw() -> tuple[float, float, int]:
        start = time.perf_counter()
        first, deltas = 0.0, 0
        with raw.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or ():
                    if choice["delta"].get("content"):
                        deltas += 1
                        first = first or time.perf_counter() - start
        return first, time.perf_counter() - start, deltas

    def run_ours() -> tuple[float, float, int]:
        start = time.perf_counter()
        first, deltas = 0.0, 0
        for item in ours.stream_chat_completion(STREAM_PROMPT, MODEL):
            if item.get("content"):
                deltas += 1
                first = first or time.perf_counter() - start
        return first, time.perf_counter() - start, deltas

    for _ in range(max(10, iterations // 10)):
        run_raw(), run_ours()
    r_first, r_total, o_first, o_total = [], [], [], []
    deltas = (0, 0)
    for i in range(iterations):
        if i % 2 == 0:
            a, b = run_raw(), run_ours()
        else:
            b, a = run_ours(), run_raw()
        r_first.append(a[0]), r_total.append(a[1]), o_first.append(b[0]), o_total.append(b[1])
        deltas = (a[2], b[2])
    raw.close()
    if deltas[0] != deltas[1]:
        raise SystemExit(f"stream mismatch: raw saw {deltas[0]} deltas, ours {deltas[1]}")
    med = statistics.median
    return {
        "iterations": iterations,
        "deltas_per_stream": deltas[1],
        "raw_first_us": _us(med(r_first)),
        "ours_first_us": _us(med(o_first)),
        "added_first_us": _us(med(o_first) - med(r_first)),
        "raw_total_us": _us(med(r_total)),
        "ours_total_us": _us(med(o_total)),
        "added_total_us": _us(med(o_total) - med(r_total)),
        "ratio_total": med(o_total) / med(r_total),
    }


# --- 3. token single flight --------------------------------------------------------------------


def bench_single_flight(callers: int) -> dict[str, Any]:
    lifetime = 2
    with simulator(token_lifetime=lifetime) as sim:
        config = sim.config()
        manager = TokenManager()  # a fresh one, as a new process would have
        manager.get_token(config)
        time.sleep(lifetime + 0.3)  # the token has expired now
        before = sim.counters()["token"]

        async def storm() -> tuple[float, int]:
            start = time.perf_counter()
            tokens = await asyncio.gather(*(manager.aget_token(config) for _ in range(callers)))
            return time.perf_counter() - start, len({t.reveal() for t in tokens})

        elapsed, distinct = asyncio.run(storm())
        requests = sim.counters()["token"] - before
    return {"callers": callers, "token_requests": requests, "distinct_tokens": distinct, "total_ms": elapsed * 1000}


# --- 4. memory with concurrent streams ---------------------------------------------------------


def bench_memory(streams: int) -> dict[str, Any]:
    process = psutil.Process()
    with simulator(chunk_delay=0.02) as sim:
        config = sim.config()
        get_token_manager().get_token(config)
        open_now = peak_open = 0
        peak_rss = baseline = process.memory_info().rss
        sampling = True

        def sample() -> None:
            nonlocal peak_rss
            while sampling:
                peak_rss = max(peak_rss, process.memory_info().rss)
                time.sleep(0.005)

        async def one(client: AsyncGatewayClient) -> int:
            nonlocal open_now, peak_open
            deltas, opened = 0, False
            async for item in client.stream_chat_completion(STREAM_PROMPT, MODEL):
                if not opened:
                    opened, open_now = True, open_now + 1
                    peak_open = max(peak_open, open_now)
                deltas += bool(item.get("content"))
            open_now -= 1
            return deltas

        async def run() -> list[int]:
            client = AsyncGatewayClient(config)
            try:
                return await asyncio.gather(*(one(client) for _ in range(streams)))
            finally:
                await aclose_pools()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        counts = asyncio.run(run())
        elapsed = time.perf_counter() - start
        sampling = False
        sampler.join()
    if len(counts) != streams or min(counts) != max(counts) or counts[0] == 0:
        raise SystemExit(f"memory bench: incomplete streams {sorted(set(counts))}")
    return {
        "streams": streams,
        "peak_concurrent": peak_open,
        "deltas_per_stream": counts[0],
        "seconds": elapsed,
        "baseline_mib": baseline / 2**20,
        "peak_mib": peak_rss / 2**20,
        "added_mib": (peak_rss - baseline) / 2**20,
        "per_stream_kib": (peak_rss - baseline) / 1024 / streams,
    }


# --- report ------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "httpx": httpx.__version__,
    }


def verdicts(r: dict[str, Any]) -> dict[str, bool]:
    return {
        "chat": r["chat"]["ratio"] <= 1.05,
        "stream": r["stream"]["added_first_us"] < 1000 and r["stream"]["added_total_us"] < 1000,
        "single_flight": r["single_flight"]["token_requests"] == 1 and r["single_flight"]["distinct_tokens"] == 1,
    }


def render(r: dict[str, Any], mode: str) -> str:
    m, c, s, f, mem = r["machine"], r["chat"], r["stream"], r["single_flight"], r["memory"]
    ok = verdicts(r)
    mark = lambda good: "met" if good else "**missed**"  # noqa: E731
    return f"""# Benchmarks

Produced by `make bench` (`python bench/run.py`); do not edit by hand. Ours is
`providers.gateway` (token manager, retry policy, typed errors, SSE decoding); the baseline is a
bare `httpx` call to the same local gateway simulator (a separate process on 127.0.0.1) with a
token fetched beforehand. Runs are interleaved, so ratios compare like with like; absolute
numbers are mostly the simulator's own cost (a Python `ThreadingHTTPServer`).

Run: {r["when"]} ({mode}).
Machine: {m["cpu"]}, {m["cores"]} cores; Python {m["python"]}; {m["os"]}; httpx {m["httpx"]}.

## Non-streaming chat completion ({c["iterations"]} calls each, warm token)

| | median | p95 |
|---|---:|---:|
| raw httpx POST | {c["raw_median_us"]:.0f} µs | {c["raw_p95_us"]:.0f} µs |
| `GatewayClient.chat_completion` | {c["ours_median_us"]:.0f} µs | {c["ours_p95_us"]:.0f} µs |

Overhead ratio (median ours / median raw): **{c["ratio"]:.3f}** (target ≤ 1.05: {mark(ok["chat"])});
added {c["added_us"]:.0f} µs per call (median of paired differences: {c["paired_added_us"]:.0f} µs).

## Streaming chat completion ({s["iterations"]} streams each, {s["deltas_per_stream"]} content deltas per stream)

| | time to first delta | total |
|---|---:|---:|
| raw httpx stream + line parsing | {s["raw_first_us"]:.0f} µs | {s["raw_total_us"]:.0f} µs |
| `GatewayClient.stream_chat_completion` | {s["ours_first_us"]:.0f} µs | {s["ours_total_us"]:.0f} µs |
| added | {s["added_first_us"]:.0f} µs | {s["added_total_us"]:.0f} µs |

Target: under 1 ms added to both: {mark(ok["stream"])} (total ratio {s["ratio_total"]:.3f}).

## Token single flight

{f["callers"]} concurrent `aget_token` calls (asyncio) on an expired token: **{f["token_requests"]} token
request(s)**, {f["distinct_tokens"]} distinct token(s) handed out, {f["total_ms"]:.1f} ms in total
(must be exactly 1 request: {mark(ok["single_flight"])}).

## Memory with concurrent streams

{mem["streams"]} concurrent `AsyncGatewayClient.stream_chat_completion` streams in one process
(peak {mem["peak_concurrent"]} open at once, {mem["deltas_per_stream"]} deltas each, 20 ms between chunks,
{mem["seconds"]:.1f} s): RSS {mem["baseline_mib"]:.1f} MiB before, **{mem["peak_mib"]:.1f} MiB peak**
(+{mem["added_mib"]:.1f} MiB, about {mem["per_stream_kib"]:.0f} KiB per stream), sampled with psutil every 5 ms.
"""


AGENTS_START, AGENTS_END = "<!-- agents-bench:start -->", "<!-- agents-bench:end -->"


def write_report(report: str, path: Path) -> None:
    """Replace the gateway part of the file; keep the agents section (`bench/agents_bench.py`
    writes it between its markers) that follows."""
    old = path.read_text() if path.exists() else ""
    if AGENTS_START in old and AGENTS_END in old:
        section = AGENTS_START + old.split(AGENTS_START, 1)[1].split(AGENTS_END, 1)[0] + AGENTS_END
        report = report.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few iterations, nothing written")
    parser.add_argument(
        "--output", default=None, help="markdown report path (default: docs/benchmarks.md, none with --quick)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    output = args.output or (None if quick else str(ROOT / "docs" / "benchmarks.md"))
    sizes = (
        dict(chat=100, stream=30, callers=1000, streams=50)
        if quick
        else dict(chat=3000, stream=500, callers=1000, streams=500)
    )

    results: dict[str, Any] = {"machine": machine(), "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    with simulator() as sim:
        print(f"chat: {sizes['chat']} interleaved calls ...", flush=True)
        results["chat"] = bench_chat(sim, sizes["chat"])
        print(f"stream: {sizes['stream']} interleaved streams ...", flush=True)
        results["stream"] = bench_stream(sim, sizes["stream"])
    close_pools()
    print(f"single flight: {sizes['callers']} callers ...", flush=True)
    results["single_flight"] = bench_single_flight(sizes["callers"])
    print(f"memory: {sizes['streams']} concurrent streams ...", flush=True)
    results["memory"] = bench_memory(sizes["streams"])

    c, s, f, mem = results["chat"], results["stream"], results["single_flight"], results["memory"]
    ok = verdicts(results)
    print()
    print(
        f"chat      ratio {c['ratio']:.3f} (<= 1.05 {'ok' if ok['chat'] else 'MISSED'}), added {c['added_us']:.0f} us (raw {c['raw_median_us']:.0f} us)"
    )
    print(
        f"stream    first delta +{s['added_first_us']:.0f} us, total +{s['added_total_us']:.0f} us (< 1000 us {'ok' if ok['stream'] else 'MISSED'})"
    )
    print(
        f"tokens    {f['callers']} callers -> {f['token_requests']} token request(s) in {f['total_ms']:.1f} ms ({'ok' if ok['single_flight'] else 'MISSED'})"
    )
    print(
        f"memory    {mem['streams']} streams (peak {mem['peak_concurrent']} open): peak RSS {mem['peak_mib']:.1f} MiB (+{mem['added_mib']:.1f} MiB)"
    )
    if output:
        write_report(render(results, "quick" if quick else "full"), Path(output))
        print(f"wrote {output}")
    # Single flight is a correctness property: a miss fails the run. Timing targets are reported.
    return 0 if ok["single_flight"] else 1


if __name__ == "__main__":
    sys.exit(main())
