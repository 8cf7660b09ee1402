"""OAuth2 client-credentials grant (RFC 6749 §4.4) for the AI Gateway: one token request.

Caching, refresh margins and single-flight belong to the gateway's token manager; this module
only builds the request and parses the answer, identically for sync and async callers.

* Client authentication `client_secret_basic` (default): id and secret are each
  form-urlencoded (Appendix B) *before* being joined with ":" and Base64-encoded (§2.3.1), so
  secrets containing `+ / : = %` or non-ASCII survive servers that decode strictly.
  `client_secret_post` sends them in the form body instead. Never in the URL.
* `expires_in` is only RECOMMENDED (§5.1): missing means `None`; the caller picks a default.
* The token and the secret never appear in a message, log line or repr (`Secret`).
"""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

import httpx

from ..exceptions import CredentialInvalid, ProviderError, ResponseTooLarge, UnexpectedResponse
from ..http.client import aread_capped, aread_error_body, for_user_urls, parse_json, read_capped, read_error_body
from ..http.errors import OAUTH2_ERROR_CODES, display_name, error_for_response, error_for_transport
from ..redaction import redact
from ..secrets import Secret

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# §5.2 errors that mean the configuration is wrong: never retried, the credential is invalid.
_CREDENTIAL_ERRORS = {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant"}


@dataclass(frozen=True)
class TokenResponse:
    access_token: Secret
    token_type: str
    #: Lifetime in seconds as the server said, or None when it did not (§5.1).
    expires_in: float | None
    scope: str
    #: time.monotonic() when the request was sent: expiry counts from here, not from the answer.
    sent_at: float


def default_token_url(base_url: str) -> str:
    """The token URL used when none is configured: the origin of the base URL + `/oauth/token`.

    `https://gw.example.com/v1` -> `https://gw.example.com/oauth/token`. Set
    AI_GATEWAY_TOKEN_URL (or the credential's token URL) when the gateway's differs.
    """
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/oauth/token", "", ""))


def _build_request(
    *, client_id: Secret, client_secret: Secret, scope: str, auth_method: str
) -> tuple[dict[str, str], dict[str, str]]:
    if auth_method not in AUTH_METHODS:
        raise ValueError(f"unsupported token auth method {auth_method!r}; use one of {', '.join(AUTH_METHODS)}")
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    headers = {"Accept": "application/json", "Cache-Control": "no-store"}
    if auth_method == "client_secret_basic":
        pair = f"{quote_plus(client_id.reveal())}:{quote_plus(client_secret.reveal())}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    else:
        form["client_id"] = client_id.reveal()
        form["client_secret"] = client_secret.reveal()
    return headers, form


def _error_for(
    response: httpx.Response, body: bytes, *, provider: str, secrets: tuple[Secret, ...], remote_text: bool = True
) -> ProviderError:
    """The typed error for a refused grant. `remote_text=False` (a token URL a user set): the
    OAuth2 error code at most, never the server's `error_description`."""
    try:
        payload = parse_json(body, provider=provider) if body else None
    except UnexpectedResponse:
        payload = None
    code = payload.get("error") if isinstance(payload, dict) and isinstance(payload.get("error"), str) else ""
    description = str(payload.get("error_description") or "") if code and isinstance(payload, dict) else ""
    if not remote_text:
        code = code if code in OAUTH2_ERROR_CODES else ""
        description = ""
    status = response.status_code
    if code in _CREDENTIAL_ERRORS or (status == 401 and not code):
        code = code or "invalid_client"
        detail = redact(f"{code}: {description}" if description else code, secrets=secrets)
        return CredentialInvalid(
            f"The {display_name(provider)} token endpoint rejected the client credentials (HTTP {status}, {detail})",
            provider=provider,
            status_code=status,
            code=code,
        )
    error = error_for_response(response, provider=f"{provider} token endpoint", body=body, remote_text=remote_text)
    if error is None:  # a 2xx never reaches here
        error = UnexpectedResponse(f"{display_name(provider)} token endpoint: unexpected answer", status_code=status)
    error.provider, error.code = provider, code
    # Rebuild the message without anything secret the server may have echoed.
    error.args = (redact(str(error), secrets=secrets),)
    return error


def _parse_token(body: bytes, *, provider: str, sent_at: float) -> TokenResponse:
    payload: Any = parse_json(body, provider=f"{provider} token endpoint")
    if not isinstance(payload, dict):
        raise UnexpectedResponse(
            f"{display_name(provider)} token endpoint: the answer is not a JSON object", provider=provider
        )
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise UnexpectedResponse(
            f"{display_name(provider)} token endpoint: no access_token in the answer", provider=provider
        )
    token_type = payload.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        shown = redact(str(token_type), limit=30) if token_type is not None else "missing"
        raise UnexpectedResponse(
            f"{display_name(provider)} token endpoint: token_type {shown!r} is not Bearer", provider=provider
        )
    scope = payload.get("scope")
    return TokenResponse(
        access_token=Secret(token),
        token_type="Bearer",
        expires_in=_lifetime(payload.get("expires_in")),
        scope=scope if isinstance(scope, str) else "",
        sent_at=sent_at,
    )


def _lifetime(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _check_args(token_url: str, client_id: Secret | None, client_secret: Secret | None, provider: str) -> None:
    if not token_url:
        raise CredentialInvalid("No token URL is configured", provider=provider, code="invalid_request")
    if not client_id or not client_secret:
        raise CredentialInvalid(
            "The client ID and client secret are both required", provider=provider, code="invalid_client"
        )


def request_token(
    client: httpx.Client,
    *,
    token_url: str,
    client_id: Secret,
    client_secret: Secret,
    scope: str = "",
    auth_method: str = "client_secret_basic",
    provider: str = "oauth2",
) -> TokenResponse:
    """Run the client-credentials grant once. Raises CredentialInvalid (code = the OAuth2 error),
    RateLimited, ProviderUnavailable / ProviderTimeout, or UnexpectedResponse."""
    _check_args(token_url, client_id, client_secret, provider)
    headers, form = _build_request(
        client_id=client_id, client_secret=client_secret, scope=scope, auth_method=auth_method
    )
    secrets = (client_id, client_secret)
    sent_at = time.monotonic()
    try:
        with client.stream("POST", token_url, data=form, headers=headers) as response:
            if not response.is_success:
                raise _error_for(
                    response,
                    read_error_body(response),
                    provider=provider,
                    secrets=secrets,
                    remote_text=not for_user_urls(client),
                )
            body = read_capped(response)
    except httpx.HTTPError as exc:
        raise error_for_transport(exc, provider=provider) from exc
    except ResponseTooLarge as exc:
        exc.provider = provider
        raise
    return _parse_token(body, provider=provider, sent_at=sent_at)


async def arequest_token(
    client: httpx.AsyncClient,
    *,
    token_url: str,
    client_id: Secret,
    client_secret: Secret,
    scope: str = "",
    auth_method: str = "client_secret_basic",
    provider: str = "oauth2",
) -> TokenResponse:
    """Async twin of `request_token` (same request, same parsing, same errors)."""
    _check_args(token_url, client_id, client_secret, provider)
    headers, form = _build_request(
        client_id=client_id, client_secret=client_secret, scope=scope, auth_method=auth_method
    )
    secrets = (client_id, client_secret)
    sent_at = time.monotonic()
    try:
        async with client.stream("POST", token_url, data=form, headers=headers) as response:
            if not response.is_success:
                raise _error_for(
                    response,
                    await aread_error_body(response),
                    provider=provider,
                    secrets=secrets,
                    remote_text=not for_user_urls(client),
                )
            body = await aread_capped(response)
    except httpx.HTTPError as exc:
        raise error_for_transport(exc, provider=provider) from exc
    except ResponseTooLarge as exc:
        exc.provider = provider
        raise
    return _parse_token(body, provider=provider, sent_at=sent_at)
