"""Classify what went wrong with a candidate: fall back (retryable) or give the error back.

Errors arrive in three shapes: our typed `providers.exceptions` (with `.retryable`), Agno's
`ModelProviderError(status_code=...)` wrapping an SDK error (`raise ... from sdk_error`, so the
HTTP response and its Retry-After are on the `__cause__` chain), and anything else. Agno's
`Agent.run` does not raise at all (it returns status ERROR), so `ErrorTap` keeps the original
exception from the model's invoke methods for us to classify.

Retryable (fall back to the next candidate, cool this one down): connect errors, timeouts,
408/409/425/429/529, every 5xx (Agno reports connection failures as 502) and the token endpoint
being down. Anything else, 400-class above all, goes back to the caller.
"""
from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from providers.exceptions import ProviderError, ProviderUnavailable, RateLimited
from providers.http.errors import parse_retry_after
from providers.redaction import redact

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 529})
#: The bound of a failure reason (`providers.redaction.redact`'s limit) in records, events and pages.
REASON_LIMIT = 300


@dataclass(frozen=True)
class Failure:
    # A transient outage of this candidate (cool it down; another candidate may answer). Whether
    # the runner may still fall back also depends on whether output already reached the caller.
    retryable: bool
    reason: str  # redacted, for records, events and pages
    status_code: int | None = None
    retry_after: float | None = None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _retry_after(chain: list[BaseException]) -> float | None:
    for exc in chain:
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers is None:
            continue
        millis = headers.get("retry-after-ms")
        if millis:
            try:
                return float(millis) / 1000
            except ValueError:
                pass
        seconds = parse_retry_after(headers.get("retry-after"))
        if seconds is not None:
            return seconds
    return None


def classify(exc: BaseException, *, secrets: tuple[str, ...] = ()) -> Failure:
    from agno.exceptions import ModelProviderError

    chain = _chain(exc)
    names = " ".join(type(e).__name__ for e in chain)
    message = redact(str(exc) or type(exc).__name__, secrets=secrets, limit=REASON_LIMIT)
    status = None
    for e in chain:
        code = getattr(e, "status_code", None)
        if isinstance(code, int):
            status = code
            break
    retry_after = _retry_after(chain)

    # Our typed error may be the cause of Agno's ModelProviderError (e.g. the token endpoint
    # failing inside the gateway model's auth flow, under the SDK's request): it knows best.
    typed = next((e for e in chain if isinstance(e, ProviderError)), None)
    if typed is not None:
        # Not `typed.retryable`: StreamError answers False once a delta was yielded, but the
        # provider still had an outage (the runner knows what reached the caller).
        retryable = isinstance(typed, ProviderUnavailable)
        status = typed.status_code if typed.status_code is not None else status
    elif "Timeout" in names:
        return Failure(True, f"timed out: {message}", status, retry_after)
    elif "Connect" in names or "RemoteProtocolError" in names:
        return Failure(True, f"connection failed: {message}", status, retry_after)
    elif isinstance(exc, ModelProviderError):
        retryable = status is None or status in RETRYABLE_STATUS or status >= 500
    else:
        # Our own bug or an SDK surprise: not a provider outage, do not hide it behind a fallback.
        retryable = False

    if status == 429:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        reason = f"rate limited (HTTP 429{wait}): {message}"
    elif status is not None and f"HTTP {status}" not in message:
        reason = f"HTTP {status}: {message}"
    else:
        reason = message
    return Failure(retryable, reason, status, retry_after)


def unusable_reason(exc: BaseException) -> str:
    """Why a candidate was left whose model could not be built (nothing was sent to it)."""
    return f"could not be used: {redact(str(exc) or type(exc).__name__, limit=REASON_LIMIT)}"


_current_tap: ContextVar[ErrorTap | None] = ContextVar("agents_error_tap", default=None)
_TAPPED = "_forge_error_tap_installed"


class ErrorTap:
    """Keeps the exception raised by a model's invoke methods during one attempt (Agno swallows it).

    The model's `invoke`, `ainvoke`, `invoke_stream` and `ainvoke_stream` are wrapped once per
    model instance (Agno calls them through `self.<name>`, so instance attributes win); the
    wrappers report to the tap active in the current context. Models are cached and shared by
    concurrent runs, so the tap lives in a ContextVar (per thread / asyncio task), not on the model.
    The runner calls `activate()` before each attempt (which also clears the last error).
    """

    def __init__(self, model: Any) -> None:
        self.error: BaseException | None = None
        if not getattr(model, _TAPPED, False):
            for name in ("invoke", "ainvoke", "invoke_stream", "ainvoke_stream"):
                original = getattr(model, name, None)
                if original is not None:
                    setattr(model, name, _wrap(original))
            setattr(model, _TAPPED, True)

    def activate(self) -> None:
        self.error = None
        _current_tap.set(self)


def _report(exc: Exception) -> None:
    tap = _current_tap.get()
    if tap is not None:
        tap.error = exc


def _wrap(original: Any) -> Any:
    if inspect.isasyncgenfunction(original):
        @functools.wraps(original)
        async def agen(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in original(*args, **kwargs):
                    yield item
            except Exception as exc:
                _report(exc)
                raise
        return agen
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def coro(*args: Any, **kwargs: Any) -> Any:
            try:
                return await original(*args, **kwargs)
            except Exception as exc:
                _report(exc)
                raise
        return coro
    if inspect.isgeneratorfunction(original):
        @functools.wraps(original)
        def gen(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from original(*args, **kwargs)
            except Exception as exc:
                _report(exc)
                raise
        return gen

    @functools.wraps(original)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            _report(exc)
            raise
    return plain
