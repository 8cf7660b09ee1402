"""A database-touching page over uvicorn on PostgreSQL, with and without the connection pool.

    .venv/bin/python bench/db_pool_bench.py             # full run, updates docs/benchmarks.md
    .venv/bin/python bench/db_pool_bench.py --quick     # small run, prints only

One run: a private PostgreSQL cluster (initdb in a temporary directory, a free port on
127.0.0.1, fsync off, stopped and removed at the end; the server binaries of the `postgresql`
package), migrated once, one user and its session. Then the app under uvicorn (one worker,
DJANGO_DEBUG=false) serves `GET /settings/providers/` (the session, the user and their
credentials: three queries) with DATABASE_POOL=true and with DATABASE_POOL=false, alternately,
`--rounds` times each: first one request at a time (p50), then 32 in flight for `--seconds`
(requests/s, p50, p99). PostgreSQL's own count of sessions (pg_stat_database.sessions) gives the
server connections each variant opened per request.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appserver import UvicornApp, free_port, logged_in_user  # noqa: E402  (bench/ is the script's directory)
from cryptography.fernet import Fernet  # noqa: E402
from docsection import write_block  # noqa: E402

START, END = "<!-- db-pool-bench:start -->", "<!-- db-pool-bench:end -->"
PAGE = "/settings/providers/"
IN_FLIGHT = 32
VARIANTS = {"pool": "true", "no pool": "false"}
# The same keys for the set-up and every app: a session's hash depends on the secret.
_SECRET_KEY = secrets.token_urlsafe(50)
_ENCRYPTION_KEY = Fernet.generate_key().decode()


class Postgres:
    """A throwaway cluster, as .ci/run starts one (as the `postgres` user when run as root)."""

    def __init__(self) -> None:
        initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        if not initdbs:
            raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
        self.bin = Path(initdbs[-1]).parent
        self.dir = tempfile.mkdtemp(prefix="ideaforge-pgbench.")
        self.port = free_port()
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = f"{self.dir}/data"
        self._run(f"{self.bin}/initdb -D {data} -U ideaforge --auth=trust >/dev/null")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(f"{self.bin}/pg_ctl -D {data} -o '{opts}' -l {self.dir}/log -w start >/dev/null")
        self.url = f"postgres://ideaforge@127.0.0.1:{self.port}/postgres"

    def _run(self, command: str) -> None:
        argv = ["su", "postgres", "-s", "/bin/bash", "-c", command] if os.getuid() == 0 else ["bash", "-c", command]
        subprocess.run(argv, check=True, timeout=120)

    def stop(self) -> None:
        try:
            self._run(f"{self.bin}/pg_ctl -D {self.dir}/data -m immediate stop >/dev/null 2>&1 || true")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _env(database_url: str, pool: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "ideaforge.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": _SECRET_KEY,
        "CREDENTIALS_ENCRYPTION_KEYS": _ENCRYPTION_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain http on loopback, as behind a TLS proxy
        "AGNO_TELEMETRY": "false",
        "DATABASE_URL": database_url,
        "DATABASE_POOL": pool,
        "REDIS_URL": "",
        "LOG_LEVEL": "ERROR",
    }


def _sessions(database_url: str) -> int:
    """Server sessions (connections) opened so far; counted when each ends."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        return int(conn.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()[0])  # type: ignore[index]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _load(url: str, session: str, sequential: int, seconds: float) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, cookies={"sessionid": session}, limits=limits, timeout=30) as client:

        async def one() -> float:
            began = time.perf_counter()
            response = await client.get(PAGE)
            if response.status_code != 200:
                raise RuntimeError(f"GET {PAGE}: HTTP {response.status_code}")
            return (time.perf_counter() - began) * 1000

        for _ in range(20):  # warm-up: imports, templates, the pool's first connections
            await one()
        alone = [await one() for _ in range(sequential)]
        latencies: list[float] = []
        stop_at = time.monotonic() + seconds

        async def loop() -> None:
            while time.monotonic() < stop_at:
                latencies.append(await one())

        began = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
        elapsed = time.monotonic() - began
    return {"alone": alone, "latencies": latencies, "rps": len(latencies) / elapsed, "requests": 20 + sequential}


def run(rounds: int, sequential: int, seconds: float) -> dict[str, Any]:
    pg = Postgres()
    try:
        _, session = logged_in_user(_env(pg.url, "false"))
        from django.db import connections

        connections.close_all()  # this process's connection: the measured servers start from none
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        for _ in range(rounds):
            for name, pool in VARIANTS.items():
                before = _sessions(pg.url)
                app = UvicornApp(_env(pg.url, pool))
                try:
                    result = asyncio.run(_load(app.url, session, sequential, seconds))
                finally:
                    app.stop()
                time.sleep(0.5)  # the last sessions' ends reach the statistics
                result["sessions"] = _sessions(pg.url) - before - 1  # -1: this bench's own count query
                result["requests"] += len(result["latencies"])
                results[name].append(result)
        return {"results": results, "seconds": seconds, "rounds": rounds, "sequential": sequential}
    finally:
        pg.stop()


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    alone = [ms for r in runs for ms in r["alone"]]
    loaded = [ms for r in runs for ms in r["latencies"]]
    return {
        "alone_p50": statistics.median(alone),
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(loaded),
        "p99": _pct(loaded, 0.99),
        "per_request": sum(r["sessions"] for r in runs) / sum(r["requests"] for r in runs),
    }


def report(result: dict[str, Any]) -> str:
    s = {name: _summary(runs) for name, runs in result["results"].items()}
    pool, plain = s["pool"], s["no pool"]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/db_pool_bench.py` ({result['rounds']} rounds per "
        f"variant, alternating; {result['sequential']} requests one at a time, then {IN_FLIGHT} in flight for "
        f"{result['seconds']:g} s; PostgreSQL {_pg_version()}, uvicorn with one worker, `GET {PAGE}` logged in).",
        "",
        "| | 1 at a time p50 | 32 in flight: requests/s | p50 | p99 | new server connections per request |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in s.items():
        lines.append(
            f"| {name} | {row['alone_p50']:.2f} ms | {row['rps']:.0f} | {row['p50']:.1f} ms | {row['p99']:.1f} ms "
            f"| {row['per_request']:.3f} |"
        )
    lines += [
        "",
        f"Pool vs no pool: {pool['rps'] / plain['rps']:.2f}x the requests/s at {IN_FLIGHT} in flight, "
        f"p50 {pool['p50'] / plain['p50']:.2f}x; one at a time p50 {pool['alone_p50'] / plain['alone_p50']:.2f}x.",
    ]
    return "\n".join(lines)


def _pg_version() -> str:
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return initdbs[-1].split("/")[4] if initdbs else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, printed only")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sequential", type=int, default=200)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.sequential = 1, 2.0, 50
    text = report(run(args.rounds, args.sequential, args.seconds))
    print(text)
    if not args.quick:
        write_block(text, start=START, end=END, heading="PostgreSQL connection pool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
