"""The production command and `make serve`'s stack (ops/stack.py): gunicorn with uvicorn workers, a
Celery worker and beat, Redis; Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from ops.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def test_gunicorn_runs_asgi_workers():
    config = runpy.run_path(str(ROOT / "ideaforge" / "gunicorn.conf.py"))
    assert config["worker_class"] == "ideaforge.workers.UvicornWorker"
    from ideaforge.workers import UvicornWorker

    # Named, not "auto": a missing uvloop or httptools fails the start instead of slowing it.
    assert UvicornWorker.CONFIG_KWARGS == {"loop": "uvloop", "http": "httptools"}
    assert config["workers"] >= 1 and config["timeout"] > 0
    # Recycling after N requests drops POSTs sent on the recycled worker's keep-alive
    # connections (measured in the load test; docs/deployment.md): off unless an operator asks.
    assert config.get("max_requests", 0) == 0


def test_the_stack_never_prints_the_redis_password():
    stack = Stack(env={"REDIS_URL": "redis://:redis-canary-pw-0007@127.0.0.1:6390/0"})
    assert "redis-canary-pw-0007" not in stack.redis_url
    assert stack.redis_url == "redis://:***@127.0.0.1:6390/0"


@pytest.mark.redis
@pytest.mark.celery
@pytest.mark.timeout(120)
def test_make_serve_stack_serves_and_ctrl_c_stops_everything(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DJANGO_DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", IDEAFORGE_STATE_DIR=str(tmp_path / "state"),
               PYTHONUNBUFFERED="1")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "ops/stack.py", "--port", str(port), "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    children: list[psutil.Process] = []
    left: list[int] = []
    try:
        output = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if not line or "Ctrl-C stops them all" in line:
                break
        assert "Ctrl-C stops them all" in output[-1], "".join(output)[-3000:]
        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "gunicorn" in names and "worker" in names and "beat" in names and "redis-server" in names
        assert httpx.get(f"http://127.0.0.1:{port}/accounts/login/").status_code == 200
        # Beat keeps its schedule file under IDEAFORGE_STATE_DIR (it may start after the web server).
        deadline = time.monotonic() + 30
        while not list((tmp_path / "state").glob("celerybeat-schedule*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list((tmp_path / "state").glob("celerybeat-schedule*"))
        assert not list(ROOT.glob("celerybeat-schedule*"))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
        left = [c.pid for c in children if _alive(c)]
        for child in children:  # whatever is left: stop it (the test fails below)
            if _alive(child):
                child.kill()
    assert proc.returncode == 0
    assert not left, f"still running after Ctrl-C: {left}"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
