"""PostgreSQL's connection pool under a real uvicorn: requests reuse the server's backends.

Each request's sync work runs on one of the ASGI handler's kept threads; without the pool a
connection is closed at the end of each request (CONN_MAX_AGE=0), so nearly every request opens
a new PostgreSQL connection, a new server backend (requests in flight together on one thread
share its connection). The tests record the
backend pid of every connection the app's threads open (Django's `connection_created`, the same
pid as pg_stat_activity's) and ask pg_stat_activity whether those backends are still alive.

PostgreSQL only: run with DATABASE_URL=postgres://... (the second leg of .ci/run does).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created

from .live_asgi import LiveASGI, login

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 30
IN_FLIGHT = 8
MAX_SIZE = 4


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://... (.ci/run's second leg does)")
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("psycopg-pool is required under CI=true (requirements.txt)")
        pytest.skip("psycopg-pool is not installed")


def _use_pool(options: dict[str, Any] | None) -> None:
    """Switch the default database's pool (None: off) for every thread: they share settings_dict."""
    conn = connections["default"]
    conn.close()
    conn.close_pool()  # the process-wide pool built from the previous options, if any
    if options is None:
        conn.settings_dict["OPTIONS"].pop("pool", None)
    else:
        conn.settings_dict["OPTIONS"]["pool"] = options


@pytest.fixture
def pool_setting() -> Iterator[Any]:
    saved = connections["default"].settings_dict["OPTIONS"].get("pool")
    yield _use_pool
    _use_pool(saved)


@pytest.fixture
def app_backends() -> Iterator[list[int]]:
    """The server backend pid of every connection opened outside the test's thread."""
    pids: list[int] = []
    me = threading.get_ident()

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        if threading.get_ident() != me:
            pids.append(connection.connection.info.backend_pid)

    connection_created.connect(record, weak=False)
    yield pids
    connection_created.disconnect(record)


def serve_logged_in_pages(alice: Any) -> list[int]:
    """REQUESTS GETs of a page that reads the session and the user, IN_FLIGHT at a time."""
    with LiveASGI() as server, httpx.Client(base_url=server.url, timeout=30) as client:
        login(client, alice)

        def get(_: int) -> int:
            return client.get("/settings/providers/").status_code

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            return list(pool.map(get, range(REQUESTS)))


def alive(pids: set[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
        return {row[0] for row in cursor.fetchall()}


def test_with_the_pool_requests_reuse_a_few_server_backends(alice, pool_setting, app_backends):
    pool_setting({"min_size": 1, "max_size": MAX_SIZE, "timeout": 10})

    assert serve_logged_in_pages(alice) == [200] * REQUESTS

    used = set(app_backends)
    assert len(app_backends) >= REQUESTS // 2  # the requests took connections again and again...
    assert 1 <= len(used) <= MAX_SIZE  # ...from at most MAX_SIZE server backends
    assert alive(used) == used  # which stay open in the pool, ready for the next request


def test_without_the_pool_every_request_opens_a_new_backend(alice, pool_setting, app_backends):
    """The same traffic without the pool: what the test above would see if reuse broke."""
    pool_setting(None)

    assert serve_logged_in_pages(alice) == [200] * REQUESTS

    used = set(app_backends)
    assert len(used) >= REQUESTS // 2  # a server backend (fork, authentication) per request or two
    assert alive(used) == set()  # each closed at the end of its request


STREAMS = 4
SLOW_PROMPT = " ".join(f"w{i}" for i in range(20))  # 20 deltas, chunk_delay apart


def run_streams(alice: Any, gateway: Any) -> list[str]:
    """STREAMS Forge streams at once, each about two seconds long; the last event kind of each
    (after one stream alone, which pays the one-off costs: imports, the gateway token)."""
    with LiveASGI() as server, httpx.Client(base_url=server.url, timeout=30) as client:
        client.headers["X-CSRFToken"] = login(client, alice)
        client.headers["Referer"] = server.url + "/forge/"
        connection.close()  # the test's own connection back to the pool: the app gets all of it

        def stream(_: int) -> str:
            data = {"agent": "idea_generator", "prompt": SLOW_PROMPT}
            with client.stream("POST", "/forge/stream", data=data) as response:
                if response.status_code != 200:
                    return f"HTTP {response.status_code}"
                lines = [line for line in response.iter_lines() if line]
            return json.loads(lines[-1])["kind"]

        assert stream(0) == "done"
        gateway.chunk_delay = 0.1
        with ThreadPoolExecutor(STREAMS) as pool:
            return list(pool.map(stream, range(STREAMS)))


def test_a_stream_gives_its_connection_back_while_it_waits_on_the_model(alice, pool_setting, platform_gateway):
    """Two pooled connections serve four concurrent two-second streams: none holds a connection
    while the model answers, so none waits out the pool's 1 s timeout."""
    pool_setting({"min_size": 0, "max_size": 2, "timeout": 1.0})

    assert run_streams(alice, platform_gateway) == ["done"] * STREAMS


def test_streams_holding_their_connection_drain_the_pool(alice, pool_setting, platform_gateway, monkeypatch):
    """The same streams with the early release switched off: what the test above guards against."""
    monkeypatch.setattr("agents.services.release_pooled_connection", lambda: None)
    pool_setting({"min_size": 0, "max_size": 2, "timeout": 1.0})

    ends = run_streams(alice, platform_gateway)

    assert ends.count("done") <= 2, ends
