"""The DATABASE_POOL* settings: what settings.py builds from the environment (no database needed).

The pool at work, under a real uvicorn on PostgreSQL, is in agents/tests/test_db_pool_live.py.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from ideaforge import testing

POSTGRES = "postgres://ideaforge@127.0.0.1:5432/ideaforge"


def database(variables: dict[str, str]) -> dict:
    return testing.load_settings({"DJANGO_DEBUG": "true", **variables})["DATABASES"]["default"]


def test_postgresql_gets_a_pool_by_default_with_the_documented_sizes():
    db = database({"DATABASE_URL": POSTGRES})
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 10.0}
    assert db["CONN_MAX_AGE"] == 0
    documented = testing.documented_defaults()
    assert documented["DATABASE_POOL"] == "`true`"
    assert documented["DATABASE_POOL_MIN_SIZE"] == "`2`"
    assert documented["DATABASE_POOL_MAX_SIZE"] == "`10`"
    assert documented["DATABASE_POOL_TIMEOUT"] == "`10`"


def test_the_sizes_and_timeout_come_from_the_environment():
    db = database(
        {
            "DATABASE_URL": POSTGRES,
            "DATABASE_POOL_MIN_SIZE": "0",
            "DATABASE_POOL_MAX_SIZE": "4",
            "DATABASE_POOL_TIMEOUT": "2.5",
        }
    )
    assert db["OPTIONS"]["pool"] == {"min_size": 0, "max_size": 4, "timeout": 2.5}


def test_pool_off_keeps_persistent_connections_working():
    db = database({"DATABASE_URL": POSTGRES, "DATABASE_POOL": "false", "DATABASE_CONN_MAX_AGE": "60"})
    assert "pool" not in db.get("OPTIONS", {})
    assert db["CONN_MAX_AGE"] == 60


def test_sqlite_has_no_pool_even_when_asked():
    db = database({"DATABASE_URL": "sqlite:////tmp/ideaforge-pool-test.sqlite3", "DATABASE_POOL": "true"})
    assert "pool" not in db["OPTIONS"]


def test_pool_with_persistent_connections_is_refused_at_start_with_the_fix():
    with pytest.raises(ImproperlyConfigured) as refused:
        database({"DATABASE_URL": POSTGRES, "DATABASE_CONN_MAX_AGE": "60"})
    message = str(refused.value)
    assert "DATABASE_CONN_MAX_AGE=60" in message
    assert "DATABASE_CONN_MAX_AGE=0" in message and "DATABASE_POOL=false" in message


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "4"}, "DATABASE_POOL_MIN_SIZE=5"),
        ({"DATABASE_POOL_MAX_SIZE": "0"}, "DATABASE_POOL_MAX_SIZE=0"),
        ({"DATABASE_POOL_MIN_SIZE": "-1"}, "DATABASE_POOL_MIN_SIZE=-1"),
        ({"DATABASE_POOL_TIMEOUT": "0"}, "DATABASE_POOL_TIMEOUT=0"),
    ],
)
def test_impossible_sizes_are_refused_naming_the_variable(variables, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        database({"DATABASE_URL": POSTGRES, **variables})


def test_server_side_cursors_can_be_turned_off_for_pgbouncer():
    assert database({"DATABASE_URL": POSTGRES})["DISABLE_SERVER_SIDE_CURSORS"] is False
    db = database({"DATABASE_URL": POSTGRES, "DATABASE_POOL": "false", "DATABASE_DISABLE_SERVER_SIDE_CURSORS": "true"})
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is True and "pool" not in db.get("OPTIONS", {})


def test_sqlite_keeps_connections_and_postgresql_closes_them_by_default():
    """SQLite's connections live on the ASGI handler's kept threads (docs/configuration.md);
    PostgreSQL's are reused through the pool, which needs CONN_MAX_AGE=0."""
    assert database({"DATABASE_URL": "sqlite:////tmp/ideaforge-pool-test.sqlite3"})["CONN_MAX_AGE"] == 600
    assert database({"DATABASE_URL": POSTGRES})["CONN_MAX_AGE"] == 0
    sqlite = database({"DATABASE_URL": "sqlite:////tmp/ideaforge-pool-test.sqlite3", "DATABASE_CONN_MAX_AGE": "0"})
    assert sqlite["CONN_MAX_AGE"] == 0
