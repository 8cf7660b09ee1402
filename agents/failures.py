"""Classify what went wrong with a candidate: fall back (retryable) or give the error back.

Errors arrive in three shapes: our typed `providers.exceptions` (with `.retryable`), Agno's
`ModelProviderError(status_code=...)` wrapping an SDK error (`raise ... from sdk_error`, so the
HTTP response and its Retry-After are on the `__cause__` chain), and anything else. Agno's
`Agent.run` does not raise at all (it returns status ERROR), so `ErrorTap` keeps the original
exception from the model's invoke methods for us to classify.

Retryable (fall back to the next candidate, count a failure on its breaker): connect errors,
timeouts, 408/409/425/429/529, every 5xx and the token endpoint being down; also a rejected
credential (401/403: that credential is broken, another may answer). `Failure.kind` says which,
for the runner's retry decision (`TRANSIENT` is retried once on the same candidate, `RATE_LIMITED`
waits out a short Retry-After, `QUOTA` and `REJECTED` open the breaker at once). Anything else,
400-class above all, goes back to the caller.

Agno reports a connection failure as `ModelProviderError(status_code=502)`: that 502 is Agno's,
not the server's, so a refused connection reads "connection failed", never "HTTP 502".
"""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from providers.exceptions import CredentialInvalid, ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from providers.http.errors import parse_retry_after
from providers.redaction import redact

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 529})

# Failure kinds (see the module docstring).
TRANSIENT = "transient"  # 5xx, connect error, 408/409/425/529: retry once, then fall back
TIMEOUT = "timeout"  # no answer in time: fall back (a retry would wait as long again)
RATE_LIMITED = "rate_limited"  # 429
QUOTA = "quota"  # 429 insufficient_quota: no retry helps for a long while
REJECTED = "rejected"  # 401/403 after the client's own refresh: the credential is broken
REFUSED = "refused"  # the request itself (400-class) or our own bug: back to the caller
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
    kind: str = REFUSED


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


def _quota_exhausted(chain: list[BaseException]) -> bool:
    """OpenAI's `insufficient_quota` (a 429 that no wait cures), by code or in the body text."""
    for exc in chain:
        if getattr(exc, "code", None) == "insufficient_quota" or "insufficient_quota" in str(exc):
            return True
        body = getattr(exc, "body", None)
        if isinstance(body, dict) and "insufficient_quota" in str(body):
            return True
    return False


def classify(exc: BaseException, *, secrets: tuple[str, ...] = (), remote_text: bool = True) -> Failure:
    """`remote_text=False` for a candidate whose URLs the user set: the endpoint's own words (an
    SDK error carries its body) are not repeated; the reason keeps ours (what failed, the status).
    Our typed errors are ours already (`providers.http.errors` words them for user-set URLs)."""
    from agno.exceptions import ModelProviderError

    chain = _chain(exc)
    names = " ".join(type(e).__name__ for e in chain)
    message = redact(str(exc) or type(exc).__name__, secrets=secrets, limit=REASON_LIMIT)
    typed = next((e for e in chain if isinstance(e, ProviderError)), None)
    if not remote_text and typed is None:
        message = "the endpoint gave no usable answer"
    status = None
    for e in chain:
        code = getattr(e, "status_code", None)
        if isinstance(code, int):
            status = code
            break
    retry_after = _retry_after(chain)

    # Our typed error may be the cause of Agno's ModelProviderError (e.g. the token endpoint
    # failing inside the gateway model's auth flow, under the SDK's request): it knows best.
    if typed is not None:
        # Not `typed.retryable`: StreamError answers False once a delta was yielded, but the
        # provider still had an outage (the runner knows what reached the caller).
        # Its own status only: Agno's wrapper says 502 for any failure without a response.
        status = typed.status_code
        if isinstance(typed, ProviderTimeout):
            kind = TIMEOUT
        elif isinstance(typed, RateLimited) or status == 429:
            kind = QUOTA if _quota_exhausted(chain) else RATE_LIMITED
        elif isinstance(typed, ProviderUnavailable):
            kind = TRANSIENT
        elif isinstance(typed, CredentialInvalid):
            kind = REJECTED
        else:
            kind = REFUSED
    elif "Timeout" in names and "ConnectTimeout" not in names:
        return Failure(True, f"timed out: {message}", None, retry_after, TIMEOUT)
    elif "Connect" in names or "RemoteProtocolError" in names:
        return Failure(True, f"connection failed: {message}", None, retry_after, TRANSIENT)
    elif isinstance(exc, ModelProviderError):
        if status in (401, 403):
            kind = REJECTED
        elif status == 429:
            kind = QUOTA if _quota_exhausted(chain) else RATE_LIMITED
        elif status is None or status in RETRYABLE_STATUS or status >= 500:
            kind = TRANSIENT
        else:
            kind = REFUSED
    else:
        # Our own bug or an SDK surprise: not a provider outage, do not hide it behind a fallback.
        kind = REFUSED

    if kind == QUOTA:
        reason = f"quota exhausted (HTTP 429 insufficient_quota): {message}"
    elif status == 429:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        reason = f"rate limited (HTTP 429{wait}): {message}"
    elif kind == REJECTED:
        reason = f"credential rejected (HTTP {status}): {message}"
    elif status is not None and f"HTTP {status}" not in message:
        reason = f"HTTP {status}: {message}"
    else:
        reason = message
    return Failure(kind != REFUSED, reason, status, retry_after, kind)


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
