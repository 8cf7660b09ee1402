"""Provider failures as typed errors, with messages fit to show and to log.

`error_for_response` maps a non-2xx response (status, Retry-After, the provider's own error
type and message) and `error_for_transport` a failure without a response (timeouts, connection
errors) to the errors of `providers.exceptions`. Messages are sanitized: one line, at most 200
characters, key- and token-like strings blanked; never request headers or secrets.
"""
from __future__ import annotations

import email.utils
import json
import math
import re
from datetime import datetime, timezone
from typing import Any

import httpx

from ..exceptions import (
    BadRequest,
    CredentialInvalid,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnexpectedResponse,
)

_DETAIL_MAX = 200
# Strings that look like keys or tokens are blanked out of provider messages before we show them.
_SECRETISH = re.compile(r"(?:sk-|sk-ant-|AIza|ya29\.|Bearer\s+)[\w\-.~+/=]*|[A-Za-z0-9_\-+=]{32,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clip(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start ending in "…" (`limit` in all)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int) -> str:
    """Every run of whitespace (newlines too) made one space, ends stripped, then `clip`ped."""
    return clip(" ".join(text.split()), limit)


def sanitize(text: str, *, limit: int = _DETAIL_MAX) -> str:
    """One line, no control characters, key-like strings blanked, at most `limit` characters."""
    text = _CONTROL.sub(" ", text).strip()
    text = _SECRETISH.sub("[redacted]", text)
    return clip(text, limit)


def provider_error_detail(body: bytes) -> str:
    """The provider's own error type and message from an error body, in the shapes we know:
    OpenAI/gateway `{"error": {"type", "code", "message"}}`, Anthropic
    `{"type": "error", "error": {"type", "message"}}`, Gemini `{"error": {"status", "message"}}`,
    OAuth2 `{"error": "...", "error_description": "..."}`."""
    try:
        payload = json.loads(body.decode("utf-8", "replace")) if body else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error")
    kind, message = "", ""
    if isinstance(error, dict):
        kind = str(error.get("type") or error.get("status") or error.get("code") or "")
        message = str(error.get("message") or "")
    elif isinstance(error, str):
        kind = error
        message = str(payload.get("error_description") or payload.get("message") or "")
    elif payload.get("message"):
        message = str(payload["message"])
    return sanitize(": ".join(p for p in (kind, message) if p))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return min(max(seconds, 0.0), 24 * 3600.0)


def _body_if_read(response: httpx.Response) -> bytes:
    try:
        return response.content
    except httpx.ResponseNotRead:
        return b""


def error_for_response(response: httpx.Response, *, provider: str, body: bytes | None = None) -> ProviderError | None:
    """The typed error for a non-2xx response, or None for a 2xx. Pass `body` when the response
    was streamed and read with `read_capped`; otherwise its content is used if it was read."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    detail = provider_error_detail(_body_if_read(response) if body is None else body)
    suffix = f" ({detail})" if detail else ""
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status}
    if 300 <= status < 400:
        return UnexpectedResponse(f"HTTP {status} from {provider}: redirect not followed", **kwargs)
    if status in (401, 403):
        what = "rejected the credentials" if status == 401 else "refused access"
        return CredentialInvalid(f"HTTP {status} from {provider}: {what}{suffix}", **kwargs)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        when = f", retry after {retry_after:.0f}s" if retry_after is not None else ""
        return RateLimited(f"HTTP 429 from {provider}: rate limited{when}{suffix}", retry_after=retry_after, **kwargs)
    if status >= 500:
        return ProviderUnavailable(f"HTTP {status} from {provider}: server error{suffix}", **kwargs)
    if 400 <= status < 500:
        return BadRequest(f"HTTP {status} from {provider}: request refused{suffix}", **kwargs)
    return UnexpectedResponse(f"HTTP {status} from {provider}: unexpected status", **kwargs)


def error_for_transport(exc: Exception, *, provider: str) -> ProviderError:
    """The typed error for an httpx failure without a response (timeouts, connection errors)."""
    reason = sanitize(str(exc) or type(exc).__name__, limit=120)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"{provider} did not answer in time ({type(exc).__name__})", provider=provider)
    if isinstance(exc, (httpx.TransportError, httpx.InvalidURL)):
        return ProviderUnavailable(f"could not reach {provider}: {reason}", provider=provider)
    return UnexpectedResponse(f"bad response from {provider}: {reason}", provider=provider)

