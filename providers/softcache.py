"""Django's Redis cache backend, degraded to a per-process cache while Redis is unreachable.

`settings.CACHES` uses `providers.softcache.SoftRedisCache` when `REDIS_URL` is set. It is
Django's own `RedisCache` with three additions, so that a Redis outage never fails a request:

* Short socket timeouts (`PROVIDERS_REDIS_SOCKET_TIMEOUT`, 0.5 s; redis-py's default is 5 s)
  bound what a hung Redis costs.
* A connection error or timeout is caught: the call is answered by a per-process local-memory
  cache instead, and the outage is remembered (`providers.redis_outage`) for
  `PROVIDERS_REDIS_RETRY_SECONDS`, during which Redis is not asked at all. One log line per
  outage, not one per call.
* Keys written or deleted during the outage are deleted from Redis when it answers again (before
  the first call that reaches it). Those writes never reached Redis, so what Redis still holds
  for them is stale: a credential generation token replaced while Redis was down must not make
  another process trust its old snapshot. Losing a cooldown this way is harmless.

Other Redis errors (a wrong type, a script error) are bugs and still raise. `lock()` is not
offered by Django's backend; the token store takes its leases through redis-py itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from .conf import app_settings
from .redis_outage import outage

_MAX_DIRTY = 10_000


def _outage_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.ConnectionError, redis.TimeoutError, OSError)


class _Fallback:
    """What a process keeps while Redis is unreachable, shared by every thread's instance of the
    same cache (Django makes one backend instance per thread): the local cache and the keys to
    drop from Redis when it is back."""

    def __init__(self, name: str, timeout: Any) -> None:
        self.local = LocMemCache(name, {"TIMEOUT": timeout})
        self.lock = threading.Lock()
        self.dirty: set[tuple[str, int | None]] = set()
        self.overflow = False

    @property
    def pending(self) -> bool:
        return bool(self.dirty) or self.overflow

    def mark(self, keys: list[str], version: int | None) -> None:
        with self.lock:
            if len(self.dirty) + len(keys) > _MAX_DIRTY:
                self.overflow = True
                return
            self.dirty.update((key, version) for key in keys)

    def take(self) -> tuple[set[tuple[str, int | None]], bool]:
        with self.lock:
            dirty, self.dirty = self.dirty, set()
            overflow, self.overflow = self.overflow, False
        return dirty, overflow

    def put_back(self, dirty: set[tuple[str, int | None]], overflow: bool) -> None:
        with self.lock:
            self.dirty |= dirty
            self.overflow |= overflow


_fallbacks: dict[str, _Fallback] = {}
_fallbacks_lock = threading.Lock()


def _fallback_for(name: str, timeout: Any) -> _Fallback:
    with _fallbacks_lock:
        found = _fallbacks.get(name)
        if found is None:
            found = _fallbacks[name] = _Fallback(name, timeout)
        return found


class SoftRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        timeout = float(app_settings.REDIS_SOCKET_TIMEOUT)
        options.setdefault("socket_timeout", timeout)
        options.setdefault("socket_connect_timeout", timeout)
        params["OPTIONS"] = options
        super().__init__(server, params)
        name = f"softcache:{server}:{params.get('KEY_PREFIX', '')}"
        self._fallback = _fallback_for(name, params.get("TIMEOUT", 300))
        self._local = self._fallback.local
        self._errors = _outage_errors()

    @property
    def degraded(self) -> bool:
        """True while this process answers from its local cache (Redis down or not yet back)."""
        return outage.down

    # -- the one path every call takes ------------------------------------------------------

    def _call(self, name: str, keys: Callable[[], list[str]] | None, *args: Any, **kwargs: Any) -> Any:
        if not outage.down:
            try:
                if outage.in_outage or self._fallback.pending:
                    self._resync()
                result = getattr(super(), name)(*args, **kwargs)
            except self._errors as exc:
                outage.failed(exc, where="cache." + name)
            else:
                outage.succeeded()
                return result
        if keys is not None:
            self._fallback.mark(keys(), kwargs.get("version"))
        return getattr(self._local, name)(*args, **kwargs)

    def _resync(self) -> None:
        """Redis answers again: drop what went stale there during the outage, then the local copy."""
        dirty, overflow = self._fallback.take()
        try:
            if overflow:
                # Too many keys to track: this deployment's keys (the prefix) all go.
                client = self._cache.get_client(write=True)
                pattern = self.make_key("*")
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
            by_version: dict[int | None, list[str]] = {}
            for key, version in dirty:
                by_version.setdefault(version, []).append(key)
            for version, keys in by_version.items():
                super().delete_many(keys, version=version)
        except BaseException:
            self._fallback.put_back(dirty, overflow)
            raise
        self._local.clear()

    # -- Django's cache API -------------------------------------------------------------------

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", None, key, default, version=version)

    def get_many(self, keys: Any, version: int | None = None) -> dict[str, Any]:
        return self._call("get_many", None, keys, version=version)

    def has_key(self, key: str, version: int | None = None) -> bool:
        return self._call("has_key", None, key, version=version)

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        return self._call("set", lambda: [key], key, value, timeout, version=version)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call("add", lambda: [key], key, value, timeout, version=version)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call("touch", lambda: [key], key, timeout, version=version)

    def delete(self, key: str, version: int | None = None) -> bool:
        return self._call("delete", lambda: [key], key, version=version)

    def set_many(self, data: dict[str, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[str]:
        return self._call("set_many", lambda: list(data), data, timeout, version=version)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        keys = list(keys)
        return self._call("delete_many", lambda: keys, keys, version=version)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        return self._call("incr", lambda: [key], key, delta, version=version)

    def clear(self) -> None:
        self._fallback.take()
        self._local.clear()
        return self._call("clear", None)
