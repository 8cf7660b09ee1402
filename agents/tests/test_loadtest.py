"""The 30-second load test (`bench/loadtest.py --quick`): the production-like stack (gunicorn with
uvicorn workers, Celery worker and beat, Redis, PostgreSQL when installed) under 32 requests in
flight on /forge/stream, then the same with 5 clients a second leaving mid-stream."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.loadtest, pytest.mark.redis, pytest.mark.celery]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    out = tmp_path_factory.mktemp("loadtest") / "reports.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "loadtest.py"), "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=200)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {r["scenario"]: r for r in json.loads(out.read_text())}


@pytest.mark.timeout(240)
def test_under_load_every_request_is_answered_streamed_and_recorded(reports):
    base = reports["baseline"]
    assert base["requests"] >= 100, base
    assert (base["failed_inside"], base["failed_outside"]) == (0, 0), base["messages"]
    assert base["records"] == base["requests"] and base["records_by_status"] == {"succeeded": base["requests"]}
    # Streamed under ASGI: the first event arrives well before the answer ends (22 chunks 10 ms apart).
    assert base["first_event_p50_ms"] < 0.8 * base["end_p50_ms"], base
    # Pools warmed up to the concurrency: the runs reuse their gateway connections.
    assert base["connection_reuse"] >= 0.9, base
    # Two web workers and the Celery worker share one token: each renewal is fetched once (one
    # more at most, for a renewal that falls due just as the scenario starts or ends).
    assert base["tokens_issued"] <= base["token_renewals"] + 1, base


@pytest.mark.timeout(240)
def test_clients_that_leave_mid_stream_leave_no_upstream_stream_open(reports):
    left = reports["disconnects"]
    assert left["left_mid_stream"] >= 30, left
    assert left["failed_outside"] == 0, left["messages"]  # the clients that stayed were all answered
    assert left["upstream_streams_open_after"] == 0, left
    assert left["records"] == left["requests"], left  # the abandoned runs are recorded too
    assert 0 < left["records_by_status"].get("failed", 0) <= left["left_mid_stream"], left
