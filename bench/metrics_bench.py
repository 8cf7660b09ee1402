"""What recording a run's metrics costs (`agents.metrics.record_run`), budget 20 µs per run.

    .venv/bin/python bench/metrics_bench.py          # both modes, prints a markdown table

Measured in both of prometheus_client's modes: in-process values, and multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, values in mmap'd files), each in a fresh interpreter because the
mode is chosen at import. The run is a typical one: a streamed answer with a first token,
token counts and one fallback taken before it. Called by bench/agents_bench.py as well.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
BUDGET_US = 20.0


def _measure(n: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from agents.metrics import record_run

    candidate = SimpleNamespace(provider="ai_gateway", model_id="sim-fast")
    output = SimpleNamespace(metrics=SimpleNamespace(input_tokens=120, output_tokens=480))
    fallback = {"provider": "openai", "model": "gpt-fast", "source": "user", "reason": "HTTP 503: unavailable"}
    loop = SimpleNamespace(
        agent=SimpleNamespace(name="idea_generator"),
        tier="fast",
        attempt=SimpleNamespace(candidate=candidate),
        started=time.perf_counter(),
        first_token_at=time.perf_counter(),
        output=output,
        tried=[fallback],
    )
    done = SimpleNamespace(text="answer")  # a Done has no `error`
    for _ in range(200):
        record_run(loop, done)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        record_run(loop, done)
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return {"median": statistics.median(samples), "p99": samples[int(len(samples) * 0.99) - 1], "n": n}


def measure_modes(n: int = 20000) -> dict[str, dict[str, float]]:
    """{"in-process": {...}, "multiprocess": {...}} in µs, each from its own interpreter."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="ideaforge-prom-") as directory:
        for mode, extra in (("in-process", {}), ("multiprocess", {"PROMETHEUS_MULTIPROC_DIR": directory})):
            env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"} | extra
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            ).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
    return results


def section(results: dict[str, dict[str, float]]) -> str:
    worst = max(r["p99"] for r in results.values())
    lines = [
        "### Recording a run's metrics (`agents.metrics.record_run`, `bench/metrics_bench.py`)",
        "",
        "| mode | median | p99 |",
        "|---|---:|---:|",
    ]
    for mode, r in results.items():
        lines.append(f"| {mode} ({r['n']} runs) | {r['median']:.1f} µs | {r['p99']:.1f} µs |")
    lines += ["", f"Budget 20 µs per run: **{'met' if worst <= BUDGET_US else 'missed'}** (worst p99 {worst:.1f} µs)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_measure(int(sys.argv[2]))))
    else:
        print(section(measure_modes()))
