"""PostgreSQL connection pooling (psycopg 3's pool, built into Django 5.1+).

With `CONN_MAX_AGE=0` each request opens (and closes) a PostgreSQL connection: TCP,
authentication and a forked server backend per request. A per-process pool lends a connection
for the length of a request's database work and takes it back when Django closes it
(`request_finished`); the ASGI handler's kept threads (`ideaforge/asgi_threads.py`) bound how
many a worker borrows at once. docs/deployment.md sizes it against `max_connections`.

`pool_options` turns the `DATABASE_POOL*` settings into `OPTIONS["pool"]` (settings.py);
`release_pooled_connection` gives a long request's connection back while it waits on something
else (the Forge stream waits on the model for seconds).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

POSTGRESQL = "django.db.backends.postgresql"


def pool_options(
    database: dict[str, Any], *, enabled: bool, min_size: int, max_size: int, timeout: float
) -> dict[str, Any] | None:
    """The psycopg_pool.ConnectionPool arguments for `database` (one entry of DATABASES), or
    None when there is to be no pool: pooling is off, or the database is not PostgreSQL (SQLite
    has nothing to pool). Refuses, with the settings to change, what Django would only reject at
    the first query, deep in a request ("Pooling doesn't support persistent connections")."""
    if not enabled or database["ENGINE"] != POSTGRESQL:
        return None
    conn_max_age = database.get("CONN_MAX_AGE", 0)
    if conn_max_age != 0:
        raise ImproperlyConfigured(
            f"DATABASE_CONN_MAX_AGE={conn_max_age} keeps connections open, which Django's connection "
            "pool does not support (the pool keeps them). Set DATABASE_CONN_MAX_AGE=0 to use the pool "
            "(the default on PostgreSQL), or DATABASE_POOL=false to keep persistent connections."
        )
    if min_size < 0 or max_size < 1 or min_size > max_size:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MIN_SIZE={min_size} and DATABASE_POOL_MAX_SIZE={max_size}: "
            "need 0 <= min size <= max size and max size >= 1."
        )
    if timeout <= 0:
        raise ImproperlyConfigured(f"DATABASE_POOL_TIMEOUT={timeout}: need a number of seconds > 0.")
    return {"min_size": min_size, "max_size": max_size, "timeout": timeout}


def release_pooled_connection() -> None:
    """Give this thread's connection back to the pool now rather than at the end of the request.

    Call it from the sync side (inside `sync_to_async`), on the thread that used the connection.
    A no-op without a pool, where closing would only cost a new connection for the next query,
    and inside a transaction, which must not be cut short. The next query takes a connection
    from the pool again (microseconds, no new server connection)."""
    from django.db import connection

    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
