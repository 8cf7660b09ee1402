"""The load + fault run: the production-like stack under 32 requests in flight, then one fault at a time.

    .venv/bin/python bench/loadtest.py                  # full: 6 scenarios x 120 s, updates docs/benchmarks.md
    .venv/bin/python bench/loadtest.py --quick          # 30 s (baseline + disconnects), prints only
    .venv/bin/python bench/loadtest.py --scenarios baseline,redis_down --duration 60

Everything runs on 127.0.0.1 and stops when the run ends (or on Ctrl-C): PostgreSQL in a
temporary directory when installed (else a SQLite file), redis-server, the stack of
`ops/stack.py` (gunicorn with uvicorn workers, a Celery worker and beat), and the gateway
simulator (`bench/simproc.py`: 30 s tokens, a delay between chunks). The driver keeps
`--in-flight` requests on `POST /forge/stream` for `--duration` seconds per scenario, each a
whole NDJSON answer. Scenarios (a fault starts at a third of the duration):

- `baseline`       no fault
- `token_down`     the token endpoint answers 503 for 20 s
- `redis_down`     redis-server killed for 20 s, then restarted on the same port
- `gateway_503`    one chat request answers 503
- `worker_killed`  the Celery worker is killed (SIGKILL), restarted 20 s later
- `disconnects`    on top of the load, 5 clients a second leave mid-stream

Per scenario: runs/s, p50/p99 time to the first event and to the end, failed requests inside
and outside the fault window (with the messages users saw), tokens issued per renewal (target 1:
no process fetches a token another already renewed), upstream streams still open after the
disconnects, and AgentRun records vs requests sent. The bounds: `--duration` <= 600 s,
`--in-flight` <= 256, one scenario at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from docsection import write_block  # noqa: E402  (bench/ is the script's directory)

from ops.stack import Stack  # noqa: E402
from providers.gateway.token_info import refresh_margin  # noqa: E402

SCENARIOS = ("baseline", "token_down", "redis_down", "gateway_503", "worker_killed", "disconnects")
FAULT_SECONDS = 20.0
DISCONNECTS_PER_SECOND = 5
START, END = "<!-- loadtest:start -->", "<!-- loadtest:end -->"
PROMPT = " ".join(f"idea{i}" for i in range(20))  # a 22-chunk answer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the servers the stack needs ----------------------------------------------------------------


class Redis:
    """redis-server on a fixed port, so it can be killed and brought back where clients expect it."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Postgres:
    """A throwaway cluster (initdb) on a free port, sockets in its own directory."""

    def __init__(self, workdir: Path) -> None:
        initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        self.bin = initdb[-1].parent
        self.dir = workdir / "pg"
        self.dir.mkdir()
        self.port = _free_port()
        self.started = False

    @staticmethod
    def available() -> bool:
        return bool(list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))

    @property
    def url(self) -> str:
        return f"postgres://ideaforge@127.0.0.1:{self.port}/postgres"

    def _run(self, command: str) -> None:
        if os.getuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.dir, "postgres")
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", command]
        else:
            argv = ["sh", "-c", command]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        data = self.dir / "data"
        self._run(f"{self.bin}/initdb -D {data} -U ideaforge --auth=trust")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(f"{self.bin}/pg_ctl -D {data} -o '{options}' -w start")
        self.started = True

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(f"{self.bin}/pg_ctl -D {self.dir / 'data'} -m immediate stop")
            self.started = False


class Simulator:
    """bench/simproc.py in its own process: the gateway, its counters and fault switches."""

    def __init__(self, token_lifetime: int, chunk_delay_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "simproc.py"), "--token-lifetime", str(token_lifetime),
             "--chunk-delay", str(chunk_delay_ms / 1000)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        info = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        self.url, self.token_url, self.base_url = info["url"], info["token_url"], info["base_url"]

    def counters(self) -> dict[str, int]:
        return httpx.get(self.url + "/_bench/counters", timeout=5).json()

    def fault(self, **order: Any) -> None:
        httpx.post(self.url + "/_bench/fault", json=order, timeout=5).raise_for_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# -- Django-side helpers (in a subprocess with the stack's environment) ------------------------

_USER_SCRIPT = """
import django, json
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user, _ = get_user_model().objects.get_or_create(username="loadtest")
s = SessionStore()
s[SESSION_KEY] = str(user.pk); s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
s[HASH_SESSION_KEY] = user.get_session_auth_hash(); s.create()
print(json.dumps({"session": s.session_key}))
"""

_COUNT_SCRIPT = """
import django, json
django.setup()
from django.db.models import Count
from agents.models import AgentRun
rows = AgentRun.objects.values("status").annotate(n=Count("id"))
print(json.dumps({r["status"]: r["n"] for r in rows}))
"""


def _django(env: dict[str, str], script: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the driver ---------------------------------------------------------------------------------


@dataclass
class Request:
    started: float  # seconds since the scenario began
    first_event: float | None = None  # seconds after `started`
    total: float | None = None
    ok: bool = False
    message: str = ""
    left: bool = False  # a client that left mid-stream on purpose


async def _one(client: httpx.AsyncClient, t0: float, *, leave: bool = False) -> Request:
    req = Request(started=time.monotonic() - t0)
    began = time.monotonic()
    last: dict[str, Any] = {}
    try:
        async with client.stream(
            "POST", "/forge/stream", data={"agent": "idea_generator", "prompt": PROMPT}
        ) as response:
            if response.status_code != 200:
                body = (await response.aread()).decode(errors="replace")
                req.message = f"HTTP {response.status_code}: {body[:120]}"
                return req
            async for line in response.aiter_lines():
                if not line:
                    continue
                if req.first_event is None:
                    req.first_event = time.monotonic() - began
                last = json.loads(line)
                if leave and last.get("kind") == "delta":
                    req.left = True
                    return req  # leaving the `async with` closes the connection mid-stream
        if last.get("kind") == "done":
            req.ok = True
        elif last.get("kind") == "error":
            req.message = str(last.get("message"))
        else:
            req.message = "the stream ended without a final event"
    except httpx.HTTPError as exc:
        req.message = f"{type(exc).__name__}: {exc}"[:160]
    finally:
        req.total = time.monotonic() - began
    return req


async def _drive(url: str, session: str, csrf: str, duration: float, in_flight: int, disconnects: int) -> list[Request]:
    cookies = {"sessionid": session, "csrftoken": csrf}
    headers = {"X-CSRFToken": csrf, "Referer": url + "/forge/"}
    limits = httpx.Limits(max_connections=in_flight + 4 * disconnects + 8)
    results: list[Request] = []
    async with httpx.AsyncClient(base_url=url, cookies=cookies, headers=headers, timeout=60, limits=limits) as client:
        t0 = time.monotonic()
        stop_at = t0 + duration

        async def worker() -> None:
            while time.monotonic() < stop_at:
                results.append(await _one(client, t0))

        async def leaver() -> None:
            leaving: set[asyncio.Task[Request]] = set()
            while time.monotonic() < stop_at:
                task = asyncio.create_task(_one(client, t0, leave=True))
                leaving.add(task)
                task.add_done_callback(lambda t: (leaving.discard(t), results.append(t.result())))
                await asyncio.sleep(1 / disconnects)
            await asyncio.gather(*leaving)

        jobs = [worker() for _ in range(in_flight)] + ([leaver()] if disconnects else [])
        await asyncio.gather(*jobs)
    return results


# -- one scenario -------------------------------------------------------------------------------


@dataclass
class Report:
    scenario: str
    duration: float
    requests: int
    runs_per_s: float
    first_event_p50_ms: float | None
    first_event_p99_ms: float | None
    end_p50_ms: float | None
    end_p99_ms: float | None
    fault_window: tuple[float, float] | None
    failed_inside: int
    failed_outside: int
    messages: dict[str, int] = field(default_factory=dict)
    left_mid_stream: int = 0
    upstream_streams_aborted: int = 0
    upstream_streams_open_after: int = 0
    token_requests: int = 0  # every request to the token endpoint, refused ones included
    tokens_issued: int = 0
    token_renewals: float = 0.0  # how many times the token was due in the scenario's time
    tokens_per_renewal: float | None = None  # the target: 1 (no process fetches a fresh token twice)
    connections_opened: int = 0
    connection_reuse: float | None = None
    records: int = 0
    records_by_status: dict[str, int] = field(default_factory=dict)


def _shape(message: str) -> str:
    """A message with its numbers as N, so "(15 s left)" and "(9 s left)" count as one."""
    return re.sub(r"\d+", "N", message.split("\n", 1)[0])[:200]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


class LoadTest:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="ideaforge-loadtest-"))
        self.work.chmod(0o711)  # PostgreSQL runs as its own user and must reach its directory
        self.pg: Postgres | None = None
        self.redis = Redis(self.work)
        self.sim: Simulator | None = None
        self.stack: Stack | None = None
        self.env: dict[str, str] = {}
        self.csrf = secrets.token_hex(16)  # CSRF tokens are 32 alphanumerics
        self.session = ""

    def start(self) -> None:
        args = self.args
        if args.db == "postgres" or (args.db == "auto" and Postgres.available()):
            self.pg = Postgres(self.work)
            self.pg.start()
            database = self.pg.url
        else:
            database = f"sqlite:///{self.work / 'db.sqlite3'}"
        self.redis.start()
        self.sim = Simulator(args.token_lifetime, args.chunk_delay_ms)
        from cryptography.fernet import Fernet

        self.env = {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_COOKIES": "false",
            # Plain http on loopback, as behind a TLS-terminating proxy (docs/deployment.md).
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database,
            "REDIS_URL": self.redis.url,
            "IDEAFORGE_STATE_DIR": str(self.work / "state"),
            "LOG_LEVEL": "WARNING",
            "AGNO_TELEMETRY": "false",
            "AI_GATEWAY_ENABLED": "true",
            "AI_GATEWAY_BASE_URL": self.sim.base_url,
            "AI_GATEWAY_TOKEN_URL": self.sim.token_url,
            "AI_GATEWAY_CLIENT_ID": "sim-client",
            "AI_GATEWAY_CLIENT_SECRET": "sim-secret",
            "AI_GATEWAY_DEFAULT_MODEL": "sim-standard",
            "AI_GATEWAY_FAST_MODEL": "sim-fast",
            "AI_GATEWAY_STANDARD_MODEL": "sim-standard",
            "AI_GATEWAY_PREMIUM_MODEL": "sim-premium",
            # Beat must be able to pre-refresh a token that lives `token_lifetime` seconds.
            "PROVIDERS_TOKEN_REFRESH_INTERVAL": str(max(2.0, args.token_lifetime / 6)),
            "PROVIDERS_TOKEN_REFRESH_MARGIN": str(args.token_lifetime / 2),  # see `renewals` below
        }
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AI_GATEWAY_", "PROVIDERS_", "DJANGO_", "DATABASE_"))
        }
        env.update(self.env)
        self.stack = Stack(port=_free_port(), workers=args.workers, env=env, log_dir=self.work / "logs")
        self.stack.start()
        self._full_env = {**env, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "ideaforge.settings"}
        self.session = _django(self._full_env, _USER_SCRIPT)["session"]
        # Warm up (imports, pools filled to the concurrency): scenarios measure the steady state.
        warm = asyncio.run(_drive(self.stack.url, self.session, self.csrf, 3.0, self.args.in_flight, 0))
        if not any(r.ok for r in warm):
            raise RuntimeError(
                f"no request succeeded while warming up: {Counter(r.message for r in warm).most_common(3)}"
            )

    def stop(self) -> None:
        for step in (
            lambda: self.stack and self.stack.stop(),
            lambda: self.sim and self.sim.stop(),
            self.redis.kill,
            lambda: self.pg and self.pg.stop(),
        ):
            with contextlib.suppress(Exception):
                step()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- faults --------------------------------------------------------------------------

    async def _inject(self, scenario: str, at: float) -> tuple[float, float] | None:
        assert self.sim is not None and self.stack is not None
        if scenario in ("baseline", "disconnects"):
            return None
        await asyncio.sleep(at)
        loop = asyncio.get_running_loop()
        if scenario == "token_down":
            await loop.run_in_executor(None, lambda: self.sim.fault(kind="token_down", seconds=FAULT_SECONDS))  # type: ignore[union-attr]
            return (at, at + FAULT_SECONDS)
        if scenario == "gateway_503":
            await loop.run_in_executor(None, lambda: self.sim.fault(kind="chat_503", times=1))  # type: ignore[union-attr]
            return (at, at + 2.0)
        if scenario == "redis_down":
            await loop.run_in_executor(None, self.redis.kill)
            await asyncio.sleep(FAULT_SECONDS)
            await loop.run_in_executor(None, self.redis.start)
            return (at, at + FAULT_SECONDS)
        if scenario == "worker_killed":
            await loop.run_in_executor(None, self.stack.kill, "worker")
            await asyncio.sleep(FAULT_SECONDS)
            await loop.run_in_executor(None, self.stack.launch, "worker")
            return (at, at + FAULT_SECONDS)
        raise ValueError(f"unknown scenario {scenario!r}")

    async def _scenario(self, scenario: str) -> tuple[list[Request], tuple[float, float] | None]:
        args = self.args
        disconnects = DISCONNECTS_PER_SECOND if scenario == "disconnects" else 0
        drive = _drive(self.stack.url, self.session, self.csrf, args.duration, args.in_flight, disconnects)  # type: ignore[union-attr]
        results, window = await asyncio.gather(drive, self._inject(scenario, args.duration / 3))
        return results, window

    def run(self, scenario: str) -> Report:
        assert self.sim is not None and self.stack is not None
        before = self.sim.counters()
        runs_before = _django(self._full_env, _COUNT_SCRIPT)
        began = time.monotonic()
        results, window = asyncio.run(self._scenario(scenario))
        elapsed = time.monotonic() - began
        # Give abandoned runs and closing upstream streams a moment to settle.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.sim.counters()["streams_active"]:
            time.sleep(0.1)
        after = self.sim.counters()
        runs_after = _django(self._full_env, _COUNT_SCRIPT)
        return self._report(scenario, results, window, elapsed, before, after, runs_before, runs_after)

    def _report(self, scenario: str, results: list[Request], window: tuple[float, float] | None, elapsed: float,
                before: dict[str, int], after: dict[str, int], runs_before: dict[str, int], runs_after: dict[str, int]) -> Report:  # fmt: skip
        served = [r for r in results if not r.left]
        done = [r for r in served if r.ok]
        failed = [r for r in served if not r.ok]
        grace = 2.0

        def inside(r: Request) -> bool:
            if window is None:
                return False
            end = r.started + (r.total or 0)
            return r.started < window[1] + grace and end > window[0]

        delta = {k: after[k] - before.get(k, 0) for k in after}
        by_status = {k: runs_after.get(k, 0) - runs_before.get(k, 0) for k in set(runs_after) | set(runs_before)}
        # A token is renewed `margin` seconds before it expires (`refresh_margin`: never more than
        # half its lifetime), so it is due every `lifetime - margin` seconds, not every `lifetime`:
        # for 30 s tokens and a 15 s margin, twice per lifetime. Tokens issued per renewal is the
        # figure that says whether processes duplicate each other's refreshes.
        lifetime = float(self.args.token_lifetime)
        renewals = elapsed / (lifetime - refresh_margin(lifetime, ahead=lifetime / 2))
        # Every chat request needs a connection; those not opened afresh were reused.
        reuse = 1 - max(0, delta["connections_opened"] - delta["token"]) / delta["chat"] if delta["chat"] else None
        return Report(
            scenario=scenario,
            duration=round(elapsed, 1),
            requests=len(results),
            runs_per_s=round(len(done) / elapsed, 1),
            first_event_p50_ms=_pct([r.first_event for r in served if r.first_event is not None], 0.50),
            first_event_p99_ms=_pct([r.first_event for r in served if r.first_event is not None], 0.99),
            end_p50_ms=_pct([r.total for r in done if r.total is not None], 0.50),
            end_p99_ms=_pct([r.total for r in done if r.total is not None], 0.99),
            fault_window=window,
            failed_inside=sum(inside(r) for r in failed),
            failed_outside=sum(not inside(r) for r in failed),
            messages=dict(Counter(_shape(r.message) for r in failed).most_common(8)),
            left_mid_stream=sum(r.left for r in results),
            upstream_streams_aborted=delta["streams_aborted"],
            upstream_streams_open_after=after["streams_active"],
            token_requests=delta["token"],
            tokens_issued=delta["tokens_issued"],
            token_renewals=round(renewals, 1),
            tokens_per_renewal=round(delta["tokens_issued"] / renewals, 2) if renewals >= 1 else None,
            connections_opened=delta["connections_opened"],
            connection_reuse=None if reuse is None else round(reuse, 3),
            records=sum(by_status.values()),
            records_by_status={k: v for k, v in by_status.items() if v},
        )


# -- output -------------------------------------------------------------------------------------


def _table(reports: list[Report]) -> str:
    head = ("| scenario | requests | runs/s | first event p50 / p99 ms | end p50 / p99 ms | failed in / out of window "
            "| left mid-stream / upstream aborted / open after | tokens issued per renewal (issued / renewals; token requests) | conn. reuse | records |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in reports:
        lines.append(
            f"| {r.scenario} | {r.requests} | {r.runs_per_s} | {r.first_event_p50_ms} / {r.first_event_p99_ms} "
            f"| {r.end_p50_ms} / {r.end_p99_ms} | {r.failed_inside} / {r.failed_outside} "
            f"| {r.left_mid_stream} / {r.upstream_streams_aborted} / {r.upstream_streams_open_after} "
            f"| {r.tokens_per_renewal} ({r.tokens_issued} / {r.token_renewals}; {r.token_requests}) "
            f"| {'' if r.connection_reuse is None else f'{r.connection_reuse:.1%}'} | {r.records} {r.records_by_status} |"
        )
    messages = [
        f"- {r.scenario}: " + "; ".join(f"{n} x {m!r}" for m, n in r.messages.items()) for r in reports if r.messages
    ]
    if messages:
        lines += ["", "What users saw on failed requests:", *messages]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="30 s: baseline and disconnects, 15 s each, 10 s tokens; prints only"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per scenario (<= 600)")
    parser.add_argument("--in-flight", type=int, default=32, help="requests in flight (<= 256)")
    parser.add_argument("--workers", type=int, default=2, help="ASGI web workers")
    parser.add_argument("--token-lifetime", type=int, default=30)
    parser.add_argument("--chunk-delay-ms", type=float, default=10.0)
    parser.add_argument("--db", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--json", type=Path, help="write the reports here as JSON")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md (default for a full run)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) for a look afterwards")
    args = parser.parse_args(argv)
    if args.quick:
        args.scenarios, args.duration, args.token_lifetime = "baseline,disconnects", 15.0, 10
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown or not 1 <= args.duration <= 600 or not 1 <= args.in_flight <= 256:
        parser.error(f"unknown scenarios {sorted(unknown)}" if unknown else "--duration 1..600, --in-flight 1..256")
    write_docs = args.write_docs or (not args.quick and scenarios == list(SCENARIOS))

    test = LoadTest(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reports: list[Report] = []
    try:
        test.start()
        db = "PostgreSQL" if test.pg else "SQLite"
        print(f"stack: {test.stack.url} ({args.workers} ASGI workers, {db}, Redis, Celery worker + beat); "  # type: ignore[union-attr]
              f"simulator: {args.token_lifetime} s tokens, {args.chunk_delay_ms:g} ms between chunks; work dir {test.work}", flush=True)  # fmt: skip
        for scenario in scenarios:
            print(f"== {scenario}: {args.in_flight} in flight for {args.duration:g} s", flush=True)
            report = test.run(scenario)
            reports.append(report)
            print(json.dumps(asdict(report)), flush=True)
    finally:
        test.stop()
    cpu = f"{os.cpu_count()} cores"
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu}, {args.workers} ASGI workers, {db}, {args.in_flight} in flight, "
              f"{args.duration:g} s per scenario, {args.token_lifetime} s tokens, {args.chunk_delay_ms:g} ms between chunks "
              f"(22 chunks an answer).")  # fmt: skip
    text = header + "\n\n" + _table(reports)
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=1))
    if write_docs:
        write_block(text, start=START, end=END, heading="Load and fault run (`make loadtest`)")
    median_end = statistics.median([r.end_p50_ms or 0 for r in reports]) if reports else 0
    return 0 if reports and median_end else 1


if __name__ == "__main__":
    sys.exit(main())
