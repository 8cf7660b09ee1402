"""Provider failures as typed errors, with messages fit to show and to log.

`error_for_response` maps a non-2xx response (status, Retry-After, the provider's own error
type and message) and `error_for_transport` a failure without a response (timeouts, connection
errors) to the errors of `providers.exceptions`. The remote text in a message goes through
`providers.redaction.redact` (one line, bounded, key- and token-like strings blanked); request
headers and secrets never go in.
"""
from __future__ import annotations

import email.utils
import json
import math
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
from ..redaction import redact


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
    return redact(": ".join(p for p in (kind, message) if p))


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
    reason = redact(str(exc) or type(exc).__name__, limit=120)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"{provider} did not answer in time ({type(exc).__name__})", provider=provider)
    if isinstance(exc, (httpx.TransportError, httpx.InvalidURL)):
        return ProviderUnavailable(f"could not reach {provider}: {reason}", provider=provider)
    return UnexpectedResponse(f"bad response from {provider}: {reason}", provider=provider)

