"""The HTTP path against the agent run: `POST /forge/stream` over uvicorn vs `run_agent` in-process.

    .venv/bin/python bench/http_bench.py              # full run, updates the HTTP section of docs/benchmarks.md
    .venv/bin/python bench/http_bench.py --quick      # small run, prints only
    .venv/bin/python bench/http_bench.py --profile var/http-profile.txt   # the app under pyinstrument

One run measures the baselines beside the app, against the same gateway simulator (its own
process, `bench/simproc.py`, no delay between chunks) and the same SQLite file:

1. Sequential, interleaved call by call: a bare Agno `Agent.run` (whole and streamed),
   `run_agent` in-process (with and without its run record), `astream_agent` in-process (the
   view's run, streamed), `GET /healthz` over uvicorn (what any request through Django costs),
   and `POST /forge/stream` over uvicorn (one worker, a logged-in session, the whole NDJSON
   answer, keep-alive). Target: the HTTP path adds <= 3 ms at the median over `run_agent`; the
   other rows split that time.
2. 32 requests in flight for a fixed time: a bare Agno `arun` loop in this process (streaming,
   as the view does, and non-streaming), then the app over uvicorn. Targets: the app serves
   >= 80 % of the bare loop's runs/s, with p99 under 4x p50.

The app runs with DJANGO_DEBUG=false, as in production; the SQLite file is on tmpfs
(/dev/shm) when available, so the numbers are the path's CPU cost, not the disk's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appserver import UvicornApp, logged_in_user  # noqa: E402  (bench/ is the script's directory)
from docsection import write_block  # noqa: E402

START, END = "<!-- http-bench:start -->", "<!-- http-bench:end -->"
PROMPT = "ideas for a neighbourhood tool library"
IN_FLIGHT = 32
RECORDED = "`run_agent` (with its run record)"
STREAMED = "`astream_agent` in-process (with its run record), whole stream"
FLOOR = "`GET /healthz` over uvicorn (the same middleware, no session, no run)"
HTTP = "`POST /forge/stream` over uvicorn"


def _env(db_path: str, sim: dict[str, str]) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_COOKIES": "false",
        # Plain http on loopback, as behind a TLS-terminating proxy (docs/deployment.md).
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "AGNO_TELEMETRY": "false",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "REDIS_URL": "",
        "AI_GATEWAY_ENABLED": "true",
        "AI_GATEWAY_CLIENT_ID": "sim-client",
        "AI_GATEWAY_CLIENT_SECRET": "sim-secret",
        "AI_GATEWAY_BASE_URL": sim["base_url"],
        "AI_GATEWAY_TOKEN_URL": sim["token_url"],
        "AI_GATEWAY_FAST_MODEL": "sim-fast",
        "AI_GATEWAY_STANDARD_MODEL": "sim-standard",
        "AI_GATEWAY_PREMIUM_MODEL": "sim-premium",
        "LOG_LEVEL": "ERROR",
        "AGNO_LOG_LEVEL": "CRITICAL",
    }


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6  # ms


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sequential(variants: dict[str, Callable[[], object]], n: int, warmup: int) -> dict[str, list[float]]:
    """Each variant n times, the order rotated every round so drift hits all alike."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            samples[name].append(_time(variants[name]))
    return samples


async def _in_flight(one: Callable[[], Any], seconds: float) -> tuple[float, list[float]]:
    """IN_FLIGHT loops calling `one` for `seconds`: (runs/s, per-call ms)."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def loop() -> None:
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            await one()
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
    return len(latencies) / (time.monotonic() - began), latencies


def run(n: int, seconds: float, profile: Path | None) -> dict[str, Any]:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "simproc.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        sim = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        # The database on tmpfs when there is one: the run record's fsync (issue 8's "run record,
        # cheaper", measured by agents_bench.py) would otherwise drown the HTTP path's own cost
        # on a busy disk; both sides of every comparison here write the same record.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        with tempfile.TemporaryDirectory(dir=shm) as tmp:
            env = _env(os.path.join(tmp, "bench.sqlite3"), sim)
            user, session = logged_in_user(env)
            app = UvicornApp(env, profile)
            try:
                processes = {
                    "bench (client, bare Agno)": os.getpid(),
                    "simulator": proc.pid,
                    "app server": app.proc.pid,
                }
                return _measure(user, session, sim, app, n, seconds, httpx, processes)
            finally:
                app.stop()
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(10)


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) each process has used so far."""
    import psutil

    return {name: sum(psutil.Process(pid).cpu_times()[:2]) for name, pid in pids.items()}


def _measure(
    user: Any,
    session: str,
    sim: dict[str, str],
    app: UvicornApp,
    n: int,
    seconds: float,
    httpx: Any,
    processes: dict[str, int],
) -> dict[str, Any]:
    from agno.agent import Agent
    from agno.models.openai.like import OpenAILike

    from agents.catalog import AGENTS
    from agents.events import Done
    from agents.services import astream_agent, run_agent

    agent = AGENTS["idea_generator"]
    token = httpx.post(
        sim["token_url"], data={"grant_type": "client_credentials"}, auth=("sim-client", "sim-secret")
    ).json()["access_token"]

    def bare_agent() -> Any:
        model = OpenAILike(id="sim-standard", api_key=token, base_url=sim["base_url"], max_retries=0)
        return Agent(
            model=model,
            name=agent.name,
            description=agent.description or None,
            instructions=list(agent.instructions),
            telemetry=False,
        )

    bare = bare_agent()
    csrf = secrets.token_hex(16)  # CSRF tokens are 32 alphanumerics
    cookies = {"sessionid": session, "csrftoken": csrf}
    headers = {"X-CSRFToken": csrf, "Referer": app.url + "/forge/"}
    form = {"agent": agent.name, "prompt": PROMPT}
    client = httpx.Client(base_url=app.url, cookies=cookies, headers=headers, timeout=30)

    def http() -> None:
        body = client.post("/forge/stream", data=form).text
        assert '"kind": "done"' in body, body[-300:]

    def floor() -> None:
        assert client.get("/healthz").status_code == 200

    loop = asyncio.new_event_loop()  # one loop for every in-process streamed run, as a server has

    async def streamed() -> None:
        async for event in astream_agent(agent=agent, user=user, prompt=PROMPT):
            last = event
        assert isinstance(last, Done), last

    samples = sequential(
        {
            "bare Agno `Agent.run`": lambda: bare.run(PROMPT),
            "bare Agno `Agent.run(stream=True)`": lambda: list(bare.run(PROMPT, stream=True)),
            "`run_agent(record=False)`": lambda: run_agent(agent=agent, user=user, prompt=PROMPT, record=False),
            RECORDED: lambda: run_agent(agent=agent, user=user, prompt=PROMPT),
            STREAMED: lambda: loop.run_until_complete(streamed()),
            FLOOR: floor,
            HTTP: http,
        },
        n,
        warmup=30,
    )
    loop.close()
    client.close()

    cpu: dict[str, dict[str, float]] = {}  # variant -> process -> CPU ms per run, while in flight

    async def concurrent() -> dict[str, tuple[float, list[float]]]:
        abare = bare_agent()

        async def bare_stream() -> None:
            async for _ in abare.arun(PROMPT, stream=True):
                pass

        async def bare_plain() -> None:
            await abare.arun(PROMPT)

        limits = httpx.Limits(max_connections=IN_FLIGHT)
        async with httpx.AsyncClient(
            base_url=app.url, cookies=cookies, headers=headers, timeout=60, limits=limits
        ) as aclient:

            async def ahttp() -> None:
                response = await aclient.post("/forge/stream", data=form)
                assert '"kind": "done"' in response.text, response.text[-300:]

            out = {}
            for name, one in (("bare Agno `arun` loop, streaming", bare_stream), ("bare Agno `arun` loop", bare_plain),
                              (HTTP, ahttp)):  # fmt: skip
                await _in_flight(one, 1.0)  # warm up
                before = _cpu(processes)
                out[name] = await _in_flight(one, seconds)
                runs = out[name][0] * seconds
                cpu[name] = {k: (v - before[k]) * 1000 / runs for k, v in _cpu(processes).items()}
            return out

    concurrent_results = asyncio.run(concurrent())
    return {"sequential": samples, "concurrent": concurrent_results, "cpu": cpu, "n": n, "seconds": seconds}


def report(result: dict[str, Any]) -> str:
    seq: dict[str, list[float]] = result["sequential"]
    lines = [f"### Sequential (one request at a time, interleaved, {result['n']} each)", "",
             "| | median ms | p99 ms |", "|---|---:|---:|"]  # fmt: skip
    for name, values in seq.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} | {_pct(values, 0.99):.2f} |")
    http = statistics.median(seq[HTTP])
    recorded = statistics.median(seq[RECORDED])
    bare_run = statistics.median(seq["`run_agent(record=False)`"])
    streamed = statistics.median(seq[STREAMED])
    floor = statistics.median(seq[FLOOR])
    added = http - recorded
    lines += ["", f"Added by the HTTP path over `run_agent` with its record: **{added:.2f} ms** at the median "
              f"(target <= 3 ms: **{'met' if added <= 3 else 'not met'}**); over `run_agent(record=False)`: {http - bare_run:.2f} ms.", "",
              "Where the added time goes (differences of medians, so approximate):", "",
              f"- streaming instead of one answer, in-process (`astream_agent` - `run_agent`): {streamed - recorded:.2f} ms",
              f"- an HTTP request through Django at all (`GET /healthz`, client included): {floor:.2f} ms",
              f"- the rest: the Forge view over HTTP (session and login, form, NDJSON, the final render): {http - streamed - floor:.2f} ms", ""]  # fmt: skip
    conc: dict[str, tuple[float, list[float]]] = result["concurrent"]
    lines += [
        f"### {IN_FLIGHT} in flight ({result['seconds']:g} s each)",
        "",
        "| | runs/s | p50 ms | p99 ms | p99 / p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (rate, lat) in conc.items():
        p50, p99 = statistics.median(lat), _pct(lat, 0.99)
        lines.append(f"| {name} | {rate:.0f} | {p50:.1f} | {p99:.1f} | {p99 / p50:.1f} |")
    cpu: dict[str, dict[str, float]] = result["cpu"]
    names = list(next(iter(cpu.values())))
    lines += ["", f"CPU per run while {IN_FLIGHT} are in flight, by process (ms; the machine has {os.cpu_count()} cores):", "",
              "| | " + " | ".join(names) + " | total |", "|---|" + "---:|" * (len(names) + 1)]  # fmt: skip
    for name, per in cpu.items():
        lines.append(f"| {name} | " + " | ".join(f"{per[k]:.2f}" for k in names) + f" | {sum(per.values()):.2f} |")
    app_rate, app_lat = conc[HTTP]
    stream_rate = conc["bare Agno `arun` loop, streaming"][0]
    plain_rate = conc["bare Agno `arun` loop"][0]
    tail = _pct(app_lat, 0.99) / statistics.median(app_lat)
    lines += ["", f"The app serves **{app_rate / plain_rate:.0%}** of the bare `arun` loop's throughput "
              f"({app_rate / stream_rate:.0%} of the streaming loop's; target >= 80 %: "
              f"**{'met' if app_rate / plain_rate >= 0.8 else 'not met'}**), p99 / p50 **{tail:.1f}** "
              f"(target under 4: **{'met' if tail < 4 else 'not met'}**)."]  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run; prints only")
    parser.add_argument("--profile", type=Path, help="run the app under pyinstrument and write its text report here")
    args = parser.parse_args()
    n, seconds = (60, 3.0) if args.quick else (600, 15.0)
    result = run(n, seconds, args.profile)
    header = f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores, SQLite on tmpfs, DJANGO_DEBUG=false."
    text = header + "\n\n" + report(result)
    print(text)
    if not args.quick and args.profile is None:
        write_block(text, start=START, end=END, heading="The HTTP path (`bench/http_bench.py`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
