"""One process's memory of a shared store (Redis) being down.

The cache, the gateway token store and the rate limiter all treat Redis as a soft dependency:
when it is down or hung they fall back to per-process state (docs/operations.md). This class is
the one rule they share, so each behaves the same way during an outage:

* The outage is remembered for a retry period: meanwhile nobody asks the store again, so a hung
  server costs one socket timeout per process per period, not one per call.
* One warning when the outage starts and one info line when the store answers again, per
  process and per store: never one log record per failed call. Only the exception's type is
  logged, because a connection error's text can carry the store's URL and its password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Outage:
    """The outage state of one store in this process; thread-safe, cheap to read."""

    def __init__(
        self,
        store: str,
        *,
        meanwhile: str,
        back: str,
        retry_seconds: Callable[[], float],
        logger: logging.Logger,
    ) -> None:
        self.store = store  # what the log lines call it: "Redis", "rate limit storage"
        self._meanwhile = meanwhile  # what callers do during an outage, for the warning
        self._back = back  # what changes when the store answers again, for the info line
        self._retry_seconds = retry_seconds  # read per failure, so a settings change applies
        self._logger = logger
        self._lock = threading.Lock()
        self._down_since: float | None = None  # monotonic; None while the store is up
        self._retry_at = 0.0
        self.outages = 0  # how many outages this process saw (tests, metrics)

    @property
    def down(self) -> bool:
        """True while an outage is remembered: skip the store, use per-process state."""
        return self._down_since is not None and time.monotonic() < self._retry_at

    @property
    def in_outage(self) -> bool:
        """True from the first failure until a call succeeds again (also while retrying)."""
        return self._down_since is not None

    def failed(self, exc: BaseException, *, where: str) -> None:
        """A call to the store failed with a connection error or a timeout."""
        now = time.monotonic()
        retry = float(self._retry_seconds())
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
                self.outages += 1
            self._retry_at = now + retry
        if first:
            self._logger.warning(
                "%s unavailable (%s in %s): %s; retrying every %g s",
                self.store,
                type(exc).__name__,
                where,
                self._meanwhile,
                retry,
            )

    def succeeded(self) -> bool:
        """A call worked. Returns True when that ends an outage (the caller may resync)."""
        if self._down_since is None:
            return False
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is None:
            return False
        self._logger.info("%s is back after %.1f s: %s", self.store, time.monotonic() - since, self._back)
        return True

    def reset(self) -> None:
        """Forget any outage (tests)."""
        with self._lock:
            self._down_since = None
            self._retry_at = 0.0
            self.outages = 0
