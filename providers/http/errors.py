"""Provider failures as typed errors, with messages fit to show and to log.

`error_for_response` maps a non-2xx response (status, Retry-After, the provider's own error
type and message) and `error_for_transport` a failure without a response (timeouts, connection
errors) to the errors of `providers.exceptions`. Messages are our own words with the provider's
display name (`display_name`), never an errno or an exception class name. Remote text:

* from an operator endpoint (the public providers, the platform's gateway) a short snippet of
  the provider's error type and message, through `providers.redaction.redact` (one line,
  bounded, key- and token-like strings blanked);
* from a URL a user set (`remote_text=False`), none at all: whoever runs that server chooses the
  text, and would make our pages show it. Only a standard OAuth2 error code (RFC 6749 §5.2,
  RFC 6750 §3.1) may be named.

Connection failures (refused, reset, TLS, DNS, a server that speaks no HTTP) collapse into one
message, so verify cannot tell an open port from a closed or filtered one.
"""

from __future__ import annotations

import email.utils
import json
import math
from datetime import UTC, datetime
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

#: The error codes of RFC 6749 §5.2 and RFC 6750 §3.1: the only words from a user-set server we
#: repeat (they are a fixed vocabulary, not free text).
OAUTH2_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_token",
        "insufficient_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
    }
)

# Provider id -> display name, filled by `providers.registry.load()` (this module cannot import
# the registry: the backends import it).
_DISPLAY_NAMES: dict[str, str] = {}


def register_display_names(names: dict[str, str]) -> None:
    _DISPLAY_NAMES.clear()
    _DISPLAY_NAMES.update(names)


def display_name(provider: str) -> str:
    """The provider's display name for a message: "ai_gateway token endpoint" becomes
    "AI Gateway (service account) token endpoint"; an unknown id stays as it is."""
    first, _, rest = provider.partition(" ")
    name = _DISPLAY_NAMES.get(first, first)
    return f"{name} {rest}" if rest else name


def oauth2_error_code(body: bytes) -> str:
    """The standard OAuth2 error code of an error body, or "" (anything else is free text)."""
    try:
        payload = json.loads(body.decode("utf-8", "replace")) if body else None
    except ValueError:
        return ""
    code = payload.get("error") if isinstance(payload, dict) else None
    return code if isinstance(code, str) and code in OAUTH2_ERROR_CODES else ""


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
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return min(max(seconds, 0.0), 24 * 3600.0)


def _body_if_read(response: httpx.Response) -> bytes:
    try:
        return response.content
    except httpx.ResponseNotRead:
        return b""


def error_for_response(
    response: httpx.Response, *, provider: str, body: bytes | None = None, remote_text: bool = True
) -> ProviderError | None:
    """The typed error for a non-2xx response, or None for a 2xx. Pass `body` when the response
    was streamed and read with `read_capped`; otherwise its content is used if it was read.
    `remote_text=False` for a URL a user set: no text of the server's beyond an OAuth2 code."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    raw = _body_if_read(response) if body is None else body
    detail = provider_error_detail(raw) if remote_text else oauth2_error_code(raw)
    suffix = f" ({detail})" if detail else ""
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status}
    provider = display_name(provider)
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
    """The typed error for an httpx failure without a response (timeouts, connection errors).

    Every failure to connect (refused, unreachable, DNS, TLS, a connect timeout, a server that
    speaks no HTTP) gives the same message; only a read timeout on an open connection differs."""
    name = display_name(provider)
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return ProviderTimeout(f"{name} did not answer in time", provider=provider)
    if isinstance(exc, (httpx.TransportError, httpx.InvalidURL)):
        return ProviderUnavailable(f"could not connect to {name}", provider=provider)
    return UnexpectedResponse(f"bad response from {name}", provider=provider)
