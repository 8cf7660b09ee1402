"""Readiness: the state of each dependency and of the platform's credentials (`GET /readyz`).

Every check is bounded and catches its own failure: a check reports, it never raises. Which
dependencies make the answer 503 is `HEALTH_REQUIRED` (agents/conf.py); the rest are reported
only. Breaker state comes from `breaker_states()`, read from the circuit breakers per (credential,
model) of agents/breaker.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from providers.selectors import platform_credentials
from providers.services.tokens import token_refresh_status

from .breaker import breakers_of
from .conf import app_settings

DEPENDENCIES = ("database", "cache", "broker")
_PROBE_KEY = "health:probe"


def breaker_states(keys: Iterable[str]) -> dict[str, str]:
    """Per credential key, the worst state of its models' breakers: "open" when any is open,
    else "half-open" when any is, else "closed"."""
    return {key: found.state for key, found in breakers_of(keys).items()}


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        state = {"ok": True, **check()}
    except Exception as exc:  # any failure is the answer; the type says enough, never the text
        state = {"ok": False, "error": type(exc).__name__}
    state["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return state


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _cache() -> dict[str, Any]:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    token = str(time.time())
    # A write then a read: a cache that swallows errors (django-redis IGNORE_EXCEPTIONS) would
    # answer a bare get() with None as if it were up.
    cache.set(_PROBE_KEY, token, timeout=10)
    if cache.get(_PROBE_KEY) != token:
        raise ConnectionError("the cache did not return what was written")
    return {"backend": backend}


def _broker() -> dict[str, Any]:
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return {"transport": "memory"}  # in-process: up whenever this process is
    with Connection(url, connect_timeout=1.0, transport_options={"socket_timeout": 1.0}) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2.0)
        return {"transport": conn.transport_cls}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {"database": _database, "cache": _cache, "broker": _broker}


def platform_credential_states() -> list[dict[str, Any]]:
    """Each env-configured platform credential: token present and seconds to expiry (gateway),
    breaker state (the worst of its models', and each listed model's). Never a secret; a failing
    lookup is reported, not raised."""
    rows: list[dict[str, Any]] = [{"provider": c.provider, "key": c.key} for c in platform_credentials()]
    try:
        tokens = {target.key: target.expires_in for target, _ in token_refresh_status()}
    except Exception as exc:
        tokens, token_error = {}, type(exc).__name__
    else:
        token_error = ""
    try:
        found = breakers_of(row["key"] for row in rows)
    except Exception as exc:
        breakers = {row["key"]: f"unknown ({type(exc).__name__})" for row in rows}
        models: dict[str, dict[str, str]] = {}
    else:
        breakers = {key: f.state for key, f in found.items()}
        models = {key: f.models for key, f in found.items()}
    for row in rows:
        if row["key"] in tokens:
            left = tokens[row["key"]]
            row["token"] = {"present": left is not None, "expires_in": None if left is None else int(left)}
        elif token_error:  # the lookup failed: unknown, for every credential
            row["token_error"] = token_error
        row["breaker"] = breakers.get(row["key"], "closed")
        row["breaker_models"] = models.get(row["key"], {})
    return rows


def readiness(*, detail: bool) -> tuple[bool, dict[str, Any]]:
    """(ready, report): ready when every required dependency is up.

    Without `detail` (an orchestrator's probe, unauthenticated) the report says only whether each
    dependency is up and required; with it (staff, METRICS_TOKEN: see agents.ops_views) also
    timings, backends, error types and each platform credential's key, token expiry and breaker."""
    required = {name.strip() for name in app_settings.HEALTH_REQUIRED if name.strip()}
    checks = {}
    for name, check in CHECKS.items():
        checks[name] = {**_timed(check), "required": name in required}
    ready = all(state["ok"] for state in checks.values() if state["required"])
    status = "ok" if ready else "unavailable"
    if not detail:
        brief = {name: {"ok": state["ok"], "required": state["required"]} for name, state in checks.items()}
        return ready, {"status": status, "checks": brief}
    return ready, {"status": status, "checks": checks, "credentials": platform_credential_states()}
