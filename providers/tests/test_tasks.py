"""Celery tasks for gateway token pre-refresh.

In-process tests use Celery's own eager mode and the in-memory broker; the `redis`/`celery` tests
run a real redis-server and a real `celery worker` subprocess against a migrated SQLite file,
with the platform gateway credential (AI_GATEWAY_* env) pointing at a GatewaySimulator. Other
processes ("web") are `manage.py shell -c` subprocesses sharing the same Redis.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from queue import Empty

import pytest

from providers.models import ProviderCredential
from providers.tasks import refresh_gateway_token, refresh_gateway_tokens
from providers.testing.gateway_simulator import GatewaySimulator

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = "platform:ai_gateway"


# -- in process --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refresh_task_is_idempotent_in_process(platform_gateway, alice):
    sim = platform_gateway
    cred = ProviderCredential.objects.create(
        owner=alice,
        provider="ai_gateway",
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        base_url=sim.base_url,
        token_url=sim.token_url,
        status="verified",
    )
    key = f"cred:{cred.pk}"
    assert refresh_gateway_token.apply(args=[key]).get() == "refreshed"
    assert refresh_gateway_token.apply(args=[key]).get() == "fresh"  # a redelivery: nothing to do
    assert sim.token_requests == 1
    cred.enabled = False
    cred.save()
    assert refresh_gateway_token.apply(args=[key]).get() == "gone"
    assert refresh_gateway_token.apply(args=["cred:999999"]).get() == "gone"
    assert sim.token_requests == 1


@pytest.mark.django_db
def test_transient_token_endpoint_failure_is_retried_by_the_task(platform_gateway):
    sim = platform_gateway
    sim.fail_token_endpoint(503)  # keeps failing
    result = refresh_gateway_token.apply(args=[PLATFORM])
    # Eager apply runs the retries inline; the last one re-raises the transient error.
    from providers.exceptions import ProviderUnavailable

    with pytest.raises(ProviderUnavailable):
        result.get()
    assert result.state == "FAILURE"
    assert sim.token_requests >= 2  # retried, bounded


@pytest.mark.django_db
def test_beat_task_queues_one_task_per_due_credential_with_ids_only(platform_gateway, alice):
    from ideaforge.celery import app

    if not app.conf.broker_url.startswith("memory://"):
        pytest.skip("needs the in-memory broker (CELERY_BROKER_URL unset)")
    sim = platform_gateway
    cred = ProviderCredential.objects.create(
        owner=alice,
        provider="ai_gateway",
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        base_url=sim.base_url,
        token_url=sim.token_url,
        status="verified",
    )
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("celery")
        _drain(queue)
        assert refresh_gateway_tokens() == 2
        messages = _drain(queue)
        queue.close()
    assert sim.token_requests == 0  # the beat pass only looks; the per-key tasks refresh
    assert sorted(m["headers"]["argsrepr"] for m in messages) == sorted([repr((f"cred:{cred.pk}",)), repr((PLATFORM,))])
    raw = json.dumps(messages)
    assert sim.client_secret not in raw and sim.client_id not in raw and sim.token_url not in raw


def _drain(queue) -> list[dict]:
    found = []
    while True:
        try:
            message = queue.get(timeout=0.3)
        except Empty:
            return found
        found.append({"headers": message.headers, "body": message.decode()})
        message.ack()


# -- subprocesses: a migrated SQLite file shared by "web" and worker processes -------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage_env(db_file: Path, sim: GatewaySimulator, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AI_GATEWAY_", "CELERY_", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ideaforge.settings",
        DJANGO_DEBUG="true",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=f"sqlite:///{db_file}",
        AI_GATEWAY_ENABLED="true",
        AI_GATEWAY_CLIENT_ID=sim.client_id,
        AI_GATEWAY_CLIENT_SECRET=sim.client_secret,
        AI_GATEWAY_BASE_URL=sim.base_url,
        AI_GATEWAY_TOKEN_URL=sim.token_url,
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def db_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("celery-db") / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DJANGO_DEBUG="true", DATABASE_URL=f"sqlite:///{path}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


@pytest.fixture(scope="module")
def module_sim():
    with GatewaySimulator() as server:
        yield server


def _shell(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_beat_task_with_the_broker_down_logs_once_and_keeps_going(db_file, module_sim):
    closed = _free_port()
    env = _manage_env(db_file, module_sim, CELERY_BROKER_URL=f"redis://127.0.0.1:{closed}/0")
    before = module_sim.token_requests
    started = time.monotonic()
    proc = _shell("from providers.tasks import refresh_gateway_tokens; print('queued', refresh_gateway_tokens())", env)
    assert proc.returncode == 0, proc.stderr
    assert "queued 0" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if "cannot queue gateway token refresh" in line]
    assert len(lines) == 1 and "ERROR" in lines[0] and "refresh on demand" in lines[0]
    assert "Traceback" not in proc.stderr and module_sim.client_secret not in proc.stderr
    assert time.monotonic() - started < 30
    assert module_sim.token_requests == before


# -- real Redis and a real Celery worker -----------------------------------------------------------

_FINGERPRINT = (
    "import hashlib; from providers.gateway.tokens import get_token_manager; "
    "from providers.selectors import platform_config; "
    "t = get_token_manager().get_token(platform_config('ai_gateway')); "
    "print('token', hashlib.sha256(t.reveal().encode()).hexdigest())"
)


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def worker(redis_url, db_file, module_sim, tmp_path_factory):
    """A real `celery worker` (solo pool) plus the env a "web" process needs to share its Redis.

    One per test: a worker process keeps tokens in memory too, and each test starts from none."""
    import redis as redis_lib
    from celery import Celery

    base = redis_url.rstrip("/").rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url.rstrip("/")
    queue = f"d2-test-{uuid.uuid4().hex[:8]}"
    env = _manage_env(
        db_file,
        module_sim,
        REDIS_URL=f"{base}/3",
        CACHE_KEY_PREFIX=queue,
        CELERY_BROKER_URL=f"{base}/4",
        CELERY_RESULT_BACKEND=f"{base}/5",
        CELERY_TASK_DEFAULT_QUEUE=queue,
    )
    log = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ideaforge",
                "worker",
                "--pool=solo",
                "--concurrency",
                "1",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        sender = Celery("d2-test-sender", broker=env["CELERY_BROKER_URL"], backend=env["CELERY_RESULT_BACKEND"])
        sender.conf.task_default_queue = queue
        cache_redis = redis_lib.Redis.from_url(env["REDIS_URL"])
        cache_redis.flushdb()
        yield {"env": env, "sender": sender, "queue": queue, "log": log, "cache": cache_redis, "proc": proc}
        cache_redis.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _send(worker, name: str, *args: str, task_id: str | None = None):
    return worker["sender"].send_task(
        name, args=list(args), queue=worker["queue"], task_id=task_id, ignore_result=False
    )


def _wait_for(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.redis
@pytest.mark.celery
def test_beat_task_refreshes_an_expiring_token_through_the_worker(worker, module_sim):
    sim = module_sim
    # A "web" process takes a short token: it lands in the shared cache, and is due (inside half
    # its lifetime) by the time beat runs.
    sim.token_lifetime = 4
    web = _shell(_FINGERPRINT, worker["env"])
    assert web.returncode == 0, web.stderr
    first = sim.token_requests
    old = sim.issued_tokens[-1]
    assert f"token {_fingerprint(old)}" in web.stdout
    sim.token_lifetime = 3600
    time.sleep(2.2)

    assert _send(worker, "providers.refresh_gateway_tokens").get(timeout=30) == 1
    assert _wait_for(lambda: sim.token_requests == first + 1), worker["log"].read_text()[-3000:]
    new = sim.issued_tokens[-1]
    assert new != old

    # Another "web" process gets the worker's new token from the shared cache: no token request.
    assert _wait_for(lambda: f"token {_fingerprint(new)}" in _shell(_FINGERPRINT, worker["env"]).stdout, timeout=20)
    assert sim.token_requests == first + 1
    # The token is fresh now: the next beat run queues nothing.
    assert _send(worker, "providers.refresh_gateway_tokens").get(timeout=30) == 0
    assert sim.token_requests == first + 1
    log = worker["log"].read_text()
    assert sim.client_secret not in log and new not in log and old not in log


@pytest.mark.redis
@pytest.mark.celery
def test_beat_after_a_web_refresh_requests_no_token(worker, module_sim):
    """Issue 8, item 6: a web process refreshed a 30 s token; the beat pass that follows must
    judge it by that shared token and its own lifetime (not the 300 s margin): 0 token requests."""
    sim = module_sim
    sim.token_lifetime = 30
    try:
        web = _shell(_FINGERPRINT, worker["env"])
        assert web.returncode == 0, web.stderr
        after_web = sim.token_requests
        assert _send(worker, "providers.refresh_gateway_tokens").get(timeout=30) == 0
        assert _send(worker, "providers.refresh_gateway_token", PLATFORM).get(timeout=30) == "fresh"
        time.sleep(0.5)
        assert sim.token_requests == after_web
    finally:
        sim.token_lifetime = 3600


@pytest.mark.redis
@pytest.mark.celery
def test_redelivered_refresh_task_refreshes_once(worker, module_sim):
    sim = module_sim  # nothing cached yet (fresh worker, empty Redis): the platform credential is due
    before = sim.token_requests
    task_id = str(uuid.uuid4())
    first = _send(worker, "providers.refresh_gateway_token", PLATFORM, task_id=task_id)
    again = _send(worker, "providers.refresh_gateway_token", PLATFORM, task_id=task_id)  # the same message, redelivered
    assert first.get(timeout=30) in ("refreshed", "fresh")
    assert again.get(timeout=30) in ("refreshed", "fresh")
    assert sim.token_requests == before + 1
    # A third delivery much later: the token is still fresh, so still nothing.
    assert _send(worker, "providers.refresh_gateway_token", PLATFORM).get(timeout=30) == "fresh"
    assert sim.token_requests == before + 1
