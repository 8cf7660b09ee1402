"""`bench/http_bench.py --quick` runs end to end: the HTTP path over uvicorn and its baselines in one
run (the numbers are not asserted here, see docs/benchmarks.md; machines differ)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_http_bench_quick_smoke_run():
    env = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL") and not k.startswith("DJANGO_")
    }
    done = subprocess.run(
        [sys.executable, "bench/http_bench.py", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "`POST /forge/stream` over uvicorn" in out and "bare Agno `arun` loop" in out
    assert "Added by the HTTP path" in out and "of the bare `arun` loop's throughput" in out
    assert "CPU per run while 32 are in flight" in out and "| app server |" in out
    assert "sim-secret" not in out
