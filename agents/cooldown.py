"""Per-credential cooldowns after retryable failures, kept in Django's cache.

Keyed by the effective credential's key (`cred:<pk>` or `platform:<provider>`), so one user's
failing key never cools a provider down for everyone, while the platform's shared credential
cools down for all users at once. With Redis configured (`REDIS_URL`) every web and Celery
process sees the same cooldowns; on the embedded default (local-memory cache) each process has
its own, which only means a second process may try a failing provider once more.

The cached value is the wall-clock deadline (`time.time()`), so the remaining time can be shown
and compared across processes; the cache timeout makes the entry disappear on its own.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable

from django.core.cache import cache

from .conf import app_settings

#: A provider's Retry-After is honoured up to this many seconds (a bogus "Retry-After: 86400"
#: must not take a provider out for a day).
MAX_COOLDOWN_SECONDS = 3600.0
_PREFIX = "agents:cooldown:"


def cooldown_cache_key(key: str) -> str:
    """The Django-cache key holding `key`'s deadline (for callers that batch cache reads)."""
    return _PREFIX + key


def cooldown_seconds(*, retry_after: float | None = None) -> float:
    """The cooldown for a failure: the configured default, longer when the provider asked."""
    base = float(app_settings.COOLDOWN_SECONDS)
    if retry_after is not None and retry_after > base:
        return min(float(retry_after), MAX_COOLDOWN_SECONDS)
    return base


def cooldown_start(*, key: str, retry_after: float | None = None) -> float:
    """Cool `key` down; returns the number of seconds. Never shortens a longer running cooldown."""
    seconds = cooldown_seconds(retry_after=retry_after)
    if seconds <= 0:
        return 0.0
    until = time.time() + seconds
    current = cache.get(cooldown_cache_key(key))
    if current is not None and float(current) > until:
        return float(current) - time.time()
    cache.set(cooldown_cache_key(key), until, timeout=math.ceil(seconds))
    return seconds


def cooldown_remaining(*, key: str) -> float:
    """Seconds left in `key`'s cooldown (0.0 when it is not cooling down)."""
    until = cache.get(cooldown_cache_key(key))
    return max(0.0, float(until) - time.time()) if until is not None else 0.0


def cooldown_remaining_many(*, keys: Iterable[str]) -> dict[str, float]:
    """Seconds left for each key that is cooling down (one cache round trip)."""
    keys = list(keys)
    if not keys:
        return {}
    return cooldown_remaining_in(found=cache.get_many([cooldown_cache_key(k) for k in keys]), keys=keys)


def cooldown_remaining_in(*, found: dict[str, object], keys: Iterable[str]) -> dict[str, float]:
    """`cooldown_remaining_many` over cache values the caller already fetched (`found`, keyed by
    `cooldown_cache_key`)."""
    now = time.time()
    result: dict[str, float] = {}
    for key in keys:
        until = found.get(cooldown_cache_key(key))
        if until is not None and float(until) > now:
            result[key] = float(until) - now
    return result


def cooldown_clear(*, key: str) -> None:
    cache.delete(cooldown_cache_key(key))
