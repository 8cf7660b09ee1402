"""Rate limits: `hit("10/minute", "providers-verify", user.pk)` consumes one unit of a budget.

One small wrapper around the `limits` library (moving window), for every budget in the project:

- the limit is a `limits` string from a setting: "10/minute", "5/hour", "1/second;100/hour";
- the identifiers name the budget and whose it is (a namespace first, then e.g. a user id or IP);
- `hit()` returns None when the call is allowed, or `RetryAfter(seconds)` when the budget is
  spent (a refused call does not consume anything).

Storage comes from `settings.RATELIMIT_STORAGE_URL`: `redis://...` (settings derive it from
REDIS_URL) shares each budget across every process, `memory://` keeps it per process. Redis is a
soft dependency: when it fails, each process falls back to its own memory limiter (never an
error for the caller), logs one line when the outage starts and one when Redis answers again,
and tries Redis again at most every `REDIS_RETRY_SECONDS` (so a hung Redis costs one short
timeout per interval, not one per request).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.signals import setting_changed
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

#: After a Redis failure, how long to use the memory fallback before trying Redis again.
REDIS_RETRY_SECONDS = 5.0
#: Bounds on one Redis call (redis-py's default is 5 s: a hung Redis would stall every request).
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class RetryAfter:
    """A spent budget: whole seconds until the next call would be allowed (at least 1)."""

    seconds: int


@functools.cache
def parse(limit: str) -> tuple[RateLimitItem, ...]:
    """The limits of a setting's string; ValueError when it is not `limits` notation."""
    items = tuple(parse_many(limit))
    if not items:
        raise ValueError(f"no rate limit in {limit!r}")
    return items


class _Limiter:
    """The configured storage (maybe Redis) and a per-process memory fallback."""

    def __init__(self, url: str, key_prefix: str) -> None:
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self.shared: MovingWindowRateLimiter | None = None
        if not url.startswith("memory://"):
            options: dict[str, Any] = {"wrap_exceptions": True}
            if url.startswith(("redis", "valkey")):  # redis://, rediss://, redis+unix://, ...
                options.update(
                    key_prefix=key_prefix,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
            self.shared = MovingWindowRateLimiter(_storage(url, options))
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0

    def hit(self, items: tuple[RateLimitItem, ...], identifiers: tuple[str, ...]) -> RetryAfter | None:
        if self.shared is not None and time.monotonic() >= self._retry_at:
            try:
                result = _hit(self.shared, items, identifiers)
            except StorageError as exc:
                self._outage(exc)
            else:
                self._recovered()
                return result
        return _hit(self.fallback, items, identifiers)

    def _outage(self, exc: StorageError) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            if self._down_since is None:
                self._down_since = time.monotonic()
                # The storage error's text can hold the Redis URL (and its password): type only.
                logger.warning(
                    "rate limit storage unavailable (%s): limits are per process until it is back",
                    type(getattr(exc, "storage_error", exc)).__name__,
                )

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                logger.warning(
                    "rate limit storage is back after %.0f s: limits are shared again",
                    time.monotonic() - self._down_since,
                )
                self._down_since = None


def _storage(url: str, options: dict[str, Any]) -> Storage:
    return storage_from_string(url, **options)


def _hit(
    limiter: MovingWindowRateLimiter, items: tuple[RateLimitItem, ...], identifiers: tuple[str, ...]
) -> RetryAfter | None:
    """Consume one unit of each limit; a refused call costs nothing (a moving window only records
    what it allows, and with several limits each is tested before any is consumed)."""
    if len(items) > 1:
        for item in items:
            if not limiter.test(item, *identifiers):
                return _retry_after(limiter, item, identifiers)
    for item in items:
        if not limiter.hit(item, *identifiers):  # lost a race with another caller
            return _retry_after(limiter, item, identifiers)
    return None


def _retry_after(limiter: MovingWindowRateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> RetryAfter:
    reset_at = limiter.get_window_stats(item, *identifiers).reset_time
    return RetryAfter(max(1, math.ceil(reset_at - time.time())))


_limiter: _Limiter | None = None
_limiter_lock = threading.Lock()


def _get_limiter() -> _Limiter:
    global _limiter
    limiter = _limiter
    if limiter is None:
        with _limiter_lock:
            if _limiter is None:
                _limiter = _Limiter(settings.RATELIMIT_STORAGE_URL, settings.RATELIMIT_KEY_PREFIX)
            limiter = _limiter
    return limiter


def hit(limit: str, *identifiers: object) -> RetryAfter | None:
    """Consume one call from the budget `limit` (a `limits` string) of `identifiers`.

    None: allowed. RetryAfter: refused, nothing consumed. Never raises for storage failures.
    """
    return _get_limiter().hit(parse(limit), tuple(str(i) for i in identifiers))


def reset() -> None:
    """Forget every budget of this process and rebuild the storage from settings (tests; a
    shared Redis storage keeps its counters)."""
    global _limiter
    with _limiter_lock:
        _limiter = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("RATELIMIT_"):
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="ideaforge.ratelimit")


def check_rate_limit_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every `*_RATE_LIMIT` setting parses (a typo would otherwise fail the first request)."""
    errors = []
    for name in dir(settings):
        if name.endswith("_RATE_LIMIT"):
            value = getattr(settings, name)
            if value is None:  # not set: the app's declared default applies
                continue
            try:
                parse(value)
            except (TypeError, ValueError):
                errors.append(
                    checks.Error(
                        f"{name} = {value!r} is not a rate limit.",
                        hint='Use `limits` notation with full unit names: "10/minute", "5 per hour", "1/second;100/hour".',
                        id="ideaforge.E001",
                    )
                )
    return errors
