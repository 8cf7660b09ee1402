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
from collections.abc import Iterable
from dataclasses import dataclass, field
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
    _index_opened(credential_key, model_id, now + seconds, now)
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
        if state.open_until is not None:  # it had opened: no longer one to list
            _index_closed(credential_key, model_id)


# -- Listing breakers (health, metrics, admin) ---------------------------------------------------
#
# The runner reads breakers by (credential, model) directly; the health views only know the
# credential keys. An index per credential, {model_id: open_until}, names the models whose breaker
# opened. It is written only when a breaker opens or closes after being open, never on the healthy
# path. It is a hint, the breaker entries stay the truth: a stale name (a breaker closed by a run
# that read it before it opened) reads as closed and is pruned at the next write. The index's
# read-then-write is not atomic either: two models of one credential opening at the same instant
# in two processes may leave one unlisted until it opens again (the runner is unaffected).

OPEN, HALF_OPEN, CLOSED_STATE = "open", "half-open", "closed"
_SEVERITY = {CLOSED_STATE: 0, HALF_OPEN: 1, OPEN: 2}


def _index_key(credential_key: str) -> str:
    return f"{_PREFIX}index:{credential_key}"


def _index_write(credential_key: str, models: dict[str, float], now: float) -> None:
    live = {m: until for m, until in models.items() if until + _HALF_OPEN_KEEP > now}
    if not live:
        cache.delete(_index_key(credential_key))
        return
    ttl = max(live.values()) + _HALF_OPEN_KEEP - now
    cache.set(_index_key(credential_key), live, timeout=max(1, math.ceil(ttl)))


def _index_read(found: Any) -> dict[str, float]:
    if not isinstance(found, dict):
        return {}
    return {m: float(u) for m, u in found.items() if isinstance(m, str) and isinstance(u, (int, float))}


def _index_opened(credential_key: str, model_id: str, open_until: float, now: float) -> None:
    models = _index_read(cache.get(_index_key(credential_key)))
    if models.get(model_id) == open_until:
        return
    models[model_id] = open_until
    _index_write(credential_key, models, now)


def _index_closed(credential_key: str, model_id: str) -> None:
    models = _index_read(cache.get(_index_key(credential_key)))
    if model_id in models:
        del models[model_id]
        _index_write(credential_key, models, time.time())


def state_name(state: BreakerState, now: float | None = None) -> str:
    """ "open", "half-open" or "closed" (a count of recent failures is still closed)."""
    if state.is_open(now):
        return OPEN
    return HALF_OPEN if state.is_half_open(now) else CLOSED_STATE


@dataclass(frozen=True)
class CredentialBreakers:
    """The listed breakers of one credential: the worst state, and each model's."""

    state: str = CLOSED_STATE
    models: dict[str, str] = field(default_factory=dict)


def breakers_of(credential_keys: Iterable[str]) -> dict[str, CredentialBreakers]:
    """Per credential key, its state ("open" if any model is open, else "half-open" if any is,
    else "closed") and each listed model's state. Two cache round trips whatever the count."""
    keys = list(dict.fromkeys(credential_keys))
    indexes = cache.get_many([_index_key(k) for k in keys]) if keys else {}
    models = {k: sorted(_index_read(indexes.get(_index_key(k)))) for k in keys}
    wanted = [breaker_cache_key(k, m) for k in keys for m in models[k]]
    found = cache.get_many(wanted) if wanted else {}
    now = time.time()
    result: dict[str, CredentialBreakers] = {}
    for key in keys:
        per_model = {m: state_name(breaker_state_in(found, key, m), now) for m in models[key]}
        worst = max(per_model.values(), key=_SEVERITY.__getitem__, default=CLOSED_STATE)
        result[key] = CredentialBreakers(worst, per_model)
    return result
