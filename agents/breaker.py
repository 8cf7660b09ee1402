"""A circuit breaker per (credential, model), kept in Django's cache.

Replaces the old per-credential cooldown, which took a shared platform credential out for
everyone after a single 503. The states, per (credential key, model id):

* **closed** (no cache entry, or only a count of recent failures): requests go through. It opens
  after `AGENTS_BREAKER_FAILURES` consecutive failures, the first of them at most
  `AGENTS_BREAKER_WINDOW` seconds ago (older failures start a new count). A success closes it.
* **open** (until `open_until`): the runner skips it, unless every candidate of a run is open,
  then the one that opened first is tried anyway (better a likely failure than a certain one).
  A long Retry-After or `insufficient_quota` opens it at once, for that long.
* **half-open** (open, `open_until` passed): one request, the probe, goes through; the others
  skip it. The probe is claimed with an atomic `cache.add`, so only one process probes even with
  Redis shared by many. A probe's success closes the breaker, its failure opens it again.

With Redis configured (`REDIS_URL`) every process sees the same breakers; on the embedded
default (local-memory cache) each process has its own. Updates to the failure count are a read
then a write, not atomic: two processes failing at once may count one failure instead of two,
which only delays opening by a request. A success clears the count only when the run saw
failures when it resolved (no cache write on the common healthy path), so a success racing
failures of other runs may not reset their count. Values are wall-clock times (`time.time()`), comparable
across processes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from .conf import app_settings

#: A provider's Retry-After (or a quota error) opens a breaker for at most this long.
MAX_OPEN_SECONDS = 3600.0
#: How long an open breaker's entry outlives `open_until`, so that it is half-open (one probe)
#: rather than silently closed when the period ends.
_HALF_OPEN_KEEP = 3600.0
_PREFIX = "agents:breaker:"


@dataclass(frozen=True)
class BreakerState:
    """One breaker as read from the cache. The default is a closed breaker with no failures."""

    failures: int = 0
    first_failure_at: float = 0.0
    opened_at: float | None = None
    open_until: float | None = None

    @property
    def exists(self) -> bool:
        return self.failures > 0 or self.open_until is not None

    def open_for(self, now: float | None = None) -> float:
        """Seconds until it turns half-open (0.0 when closed or half-open)."""
        if self.open_until is None:
            return 0.0
        return max(0.0, self.open_until - (time.time() if now is None else now))

    def is_open(self, now: float | None = None) -> bool:
        return self.open_for(now) > 0

    def is_half_open(self, now: float | None = None) -> bool:
        return self.open_until is not None and not self.is_open(now)


CLOSED = BreakerState()


def breaker_cache_key(credential_key: str, model_id: str) -> str:
    """The Django-cache key of a breaker (for callers that batch cache reads)."""
    return f"{_PREFIX}{credential_key}|{model_id}"


def _probe_key(credential_key: str, model_id: str) -> str:
    return f"{_PREFIX}probe:{credential_key}|{model_id}"


def breaker_state_in(found: dict[str, Any], credential_key: str, model_id: str) -> BreakerState:
    """The breaker's state from cache values the caller already fetched (keyed by
    `breaker_cache_key`); a malformed value reads as closed."""
    value = found.get(breaker_cache_key(credential_key, model_id))
    if not isinstance(value, dict):
        return CLOSED
    try:
        return BreakerState(**value)
    except TypeError:
        return CLOSED


def breaker_state(credential_key: str, model_id: str) -> BreakerState:
    key = breaker_cache_key(credential_key, model_id)
    return breaker_state_in({key: cache.get(key)}, credential_key, model_id)


def breaker_claim_probe(credential_key: str, model_id: str) -> bool:
    """Claim the one probe of a half-open breaker; False when another request holds it.

    The claim expires on its own after a run's deadline, so a process that died mid-probe does
    not keep the breaker half-open forever."""
    ttl = math.ceil(float(app_settings.RUN_TIMEOUT)) + 5
    return bool(cache.add(_probe_key(credential_key, model_id), 1, timeout=ttl))


def breaker_release_probe(credential_key: str, model_id: str) -> None:
    """Give a claimed probe back without an outcome (the run was abandoned, or the model could not
    be built), so the next request may probe at once instead of after the claim's expiry."""
    cache.delete(_probe_key(credential_key, model_id))


def _store(credential_key: str, model_id: str, state: BreakerState, ttl: float) -> None:
    cache.set(breaker_cache_key(credential_key, model_id), state.__dict__.copy(), timeout=max(1, math.ceil(ttl)))


def breaker_open(credential_key: str, model_id: str, *, seconds: float, failures: int = 0) -> float:
    """Open the breaker for `seconds` (capped at an hour); never shortens a longer open period.
    Returns the seconds it stays open."""
    seconds = min(max(float(seconds), 0.0), MAX_OPEN_SECONDS)
    now = time.time()
    current = breaker_state(credential_key, model_id)
    if current.open_until is not None and current.open_until > now + seconds:
        return current.open_until - now
    state = BreakerState(failures=failures, first_failure_at=now, opened_at=now, open_until=now + seconds)
    _store(credential_key, model_id, state, seconds + _HALF_OPEN_KEEP)
    cache.delete(_probe_key(credential_key, model_id))
    return seconds


def breaker_failure(credential_key: str, model_id: str) -> float:
    """Count one failure; returns the seconds the breaker is now open (0.0: still closed).

    A failed probe (half-open) opens it again at once."""
    now = time.time()
    state = breaker_state(credential_key, model_id)
    threshold = max(1, int(app_settings.BREAKER_FAILURES))
    window = float(app_settings.BREAKER_WINDOW)
    open_seconds = float(app_settings.BREAKER_OPEN_SECONDS)
    if state.is_open(now):
        return state.open_for(now)
    if state.is_half_open(now):
        return breaker_open(credential_key, model_id, seconds=open_seconds, failures=state.failures + 1)
    if state.failures and now - state.first_failure_at <= window:
        state = BreakerState(failures=state.failures + 1, first_failure_at=state.first_failure_at)
    else:
        state = BreakerState(failures=1, first_failure_at=now)
    if state.failures >= threshold:
        return breaker_open(credential_key, model_id, seconds=open_seconds, failures=state.failures)
    _store(credential_key, model_id, state, window)
    return 0.0


def breaker_success(credential_key: str, model_id: str, state: BreakerState) -> None:
    """Close the breaker after a success. `state` is what the run read when it resolved: a
    closed breaker without failures costs no cache write."""
    if state.exists:
        cache.delete_many([breaker_cache_key(credential_key, model_id), _probe_key(credential_key, model_id)])
