"""The gateway client's one retry policy, with a sync and an async driver.

What is retried, and why:

* 429 with a Retry-After up to `max_retry_after` seconds: wait that long and retry (a short
  back-off the gateway asked for). A longer one fails fast as `RateLimited`, so the caller's
  fallback loop can move to another candidate instead of holding a web worker.
  Without a Retry-After: exponential back-off like a 5xx.
* 5xx, connect errors, connect/pool timeouts, a stream broken before its first delta:
  exponential back-off with full jitter (AWS architecture blog, "Exponential Backoff and
  Jitter"), at most `max_retries` times.
* Never: 400-class (`BadRequest`), rejected credentials (the 401 path is the client's own,
  one refresh and one resend), a read timeout on a request that may have been processed, and a
  stream after its first delta reached the caller.

Every wait respects the call's deadline: a retry that could not finish in time is not started.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from ..conf import app_settings
from ..exceptions import ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited, StreamError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 5.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_retries=int(app_settings.GATEWAY_MAX_RETRIES),
            max_retry_after=float(app_settings.GATEWAY_RETRY_AFTER_MAX),
        )

    def backoff(self, retry: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**retry)]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**retry)))

    def delay_for(self, error: BaseException, retry: int) -> float | None:
        """Seconds to wait before retry number `retry` (0-based), or None: do not retry."""
        if retry >= self.max_retries or not isinstance(error, ProviderUnavailable):
            return None
        if isinstance(error, StreamError):
            return None if error.delta_yielded else self.backoff(retry)
        if isinstance(error, RateLimited):
            if error.retry_after is None:
                return self.backoff(retry)
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        if isinstance(error, ProviderTimeout):
            # Only when the request never left: a read timeout may mean it is being processed.
            cause = error.__cause__
            return self.backoff(retry) if isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout)) else None
        return self.backoff(retry)

    def next_wait(self, error: ProviderError, retry: int, deadline: float | None) -> float | None:
        """`delay_for`, but None when waiting would cross the deadline (for hand-written loops)."""
        delay = self.delay_for(error, retry)
        if delay is None:
            return None
        if deadline is not None and time.monotonic() + delay >= deadline:
            return None
        return delay

    def call(
        self, attempt: Callable[[], T], *, deadline: float | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> T:
        """Run `attempt` until it succeeds or the policy gives up (re-raising the last error)."""
        retry = 0
        while True:
            try:
                return attempt()
            except ProviderError as error:
                delay = self.next_wait(error, retry, deadline)
                if delay is None:
                    raise
            sleep(delay)
            retry += 1

    async def acall(self, attempt: Callable[[], Awaitable[T]], *, deadline: float | None = None) -> T:
        """Async driver of the same policy."""
        retry = 0
        while True:
            try:
                return await attempt()
            except ProviderError as error:
                delay = self.next_wait(error, retry, deadline)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            retry += 1
