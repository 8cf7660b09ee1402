"""One process's memory of a Redis outage, shared by the cache backend and the token store.

Redis is a soft dependency on the request path (docs/operations.md): when it is down or hung,
callers fall back to per-process state. Two things make that cheap and quiet:

* The outage is remembered for `PROVIDERS_REDIS_RETRY_SECONDS`: meanwhile nobody asks Redis
  again, so a hung server costs one socket timeout per process per retry period, not one per
  call.
* One warning when the outage starts and one info line when Redis answers again, per process:
  not one log record per failed call.
"""

from __future__ import annotations

import logging
import threading
import time

from .conf import app_settings

logger = logging.getLogger(__name__)


class RedisOutage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None  # monotonic; None while Redis is up
        self._retry_at = 0.0
        self.outages = 0  # how many outages this process saw (tests, metrics)

    @property
    def down(self) -> bool:
        """True while an outage is remembered: skip Redis, use per-process state."""
        return self._down_since is not None and time.monotonic() < self._retry_at

    @property
    def in_outage(self) -> bool:
        """True from the first failure until a call succeeds again (also while retrying)."""
        return self._down_since is not None

    def failed(self, exc: BaseException, *, where: str) -> None:
        """A Redis call failed with a connection error or a timeout."""
        now = time.monotonic()
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
                self.outages += 1
            self._retry_at = now + float(app_settings.REDIS_RETRY_SECONDS)
        if first:
            logger.warning(
                "Redis unavailable (%s in %s): using per-process state (credentials from the "
                "database, tokens and cooldowns in memory); retrying every %g s",
                type(exc).__name__,
                where,
                float(app_settings.REDIS_RETRY_SECONDS),
            )

    def succeeded(self) -> bool:
        """A Redis call worked. Returns True when that ends an outage (the caller may resync)."""
        if self._down_since is None:
            return False
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is None:
            return False
        logger.info("Redis is back after %.1f s: shared state in use again", time.monotonic() - since)
        return True

    def reset(self) -> None:
        """Forget any outage (tests)."""
        with self._lock:
            self._down_since = None
            self._retry_at = 0.0
            self.outages = 0


outage = RedisOutage()
