"""`bench/run.py --quick` runs end to end (the numbers are not asserted here: see docs/benchmarks.md);
its exit status does carry the one correctness property, token single flight (exactly 1 request)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick_smoke_run(tmp_path):
    report = tmp_path / "bench.md"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--output", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1000 callers -> 1 token request(s)" in proc.stdout
    text = report.read_text()
    assert "Machine:" in text and "cores" in text and "Overhead ratio" in text
    assert "sim-secret" not in text
