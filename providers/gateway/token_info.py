"""Gateway token values and their arithmetic, without the manager's machinery.

`TokenInfo` (a token and its timing), `TokenKey` (what a cached token is filed under: HMAC
fingerprints, never a raw client id or secret), and the expiry math: the lifetime from
`expires_in` (clamped; a default when missing) and the refresh margin. Used by the token
manager (`providers.gateway.tokens`), the cross-process store (`token_store`) and the
pre-refresh (`refresh`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from ..conf import app_settings
from ..exceptions import CredentialInvalid
from ..secrets import Secret
from ..types import CredentialConfig
from .oauth2 import default_token_url

MIN_LIFETIME = 1.0
MAX_LIFETIME = 24 * 3600.0


def refresh_margin(lifetime: float, *, ahead: float | None = None) -> float:
    """Seconds before its expiry at which a token of `lifetime` seconds is refreshed: `ahead`
    (by default 10 % of the lifetime, at least 60 s), never more than half the lifetime, so a
    token is never due as soon as it is issued. `providers.gateway.refresh` says who uses which."""
    if ahead is None:
        ahead = max(60.0, 0.1 * lifetime)
    return min(ahead, lifetime / 2)


def clamp_lifetime(expires_in: float | None) -> float:
    """Seconds a token may be used: the server's `expires_in`, the default when it is missing
    or not a number, bounded to [1 s, 24 h] (a zero, negative or ten-year value is a bug)."""
    if expires_in is None or not isinstance(expires_in, (int, float)) or math.isnan(expires_in):
        return float(app_settings.TOKEN_DEFAULT_LIFETIME)
    return min(max(float(expires_in), MIN_LIFETIME), MAX_LIFETIME)


@dataclass(frozen=True, repr=False, eq=False)
class TokenInfo:
    """A token and its timing, in wall-clock seconds (shared across processes)."""

    access_token: Secret
    token_type: str
    expires_at: float
    refresh_at: float
    obtained_at: float
    lifetime: float
    scope: str = ""

    @classmethod
    def issued(
        cls, access_token: Secret, token_type: str, expires_in: float | None, sent_at: float, scope: str = ""
    ) -> TokenInfo:
        lifetime = clamp_lifetime(expires_in)
        expires_at = sent_at + lifetime
        return cls(
            access_token, token_type, expires_at, expires_at - refresh_margin(lifetime), sent_at, lifetime, scope
        )

    def expires_in(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    def __repr__(self) -> str:
        when = datetime.fromtimestamp(self.expires_at, tz=UTC).isoformat(timespec="seconds")
        return f"TokenInfo(token_type={self.token_type!r}, expires_at={when!r}, lifetime={self.lifetime:.0f})"


@dataclass(frozen=True)
class TokenKey:
    token_url: str
    client: str  # HMAC fingerprint of the client id
    scope: str
    secret: str  # HMAC fingerprint of the client secret

    @property
    def cache_id(self) -> str:
        """One opaque string for shared storage keys."""
        raw = "\n".join((self.token_url, self.client, self.scope, self.secret)).encode()
        return hashlib.sha256(raw).hexdigest()[:40]


def _fingerprint_key() -> bytes:
    return _fingerprint_key_for(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _fingerprint_key_for(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"ideaforge:gateway-token-cache", hashlib.sha256).digest()


def token_url_for(config: CredentialConfig) -> str:
    """The token endpoint: the configured one, else the default derived from the base URL."""
    return config.token_url or default_token_url(config.base_url)


def token_key(config: CredentialConfig) -> TokenKey:
    if not config.client_id or not config.client_secret:
        raise CredentialInvalid("The gateway credential has no client id or client secret.", provider=config.provider)
    return _token_key(token_url_for(config), config.client_id, config.scope, config.client_secret, _fingerprint_key())


@functools.lru_cache(maxsize=1024)
def _token_key(token_url: str, client_id: Secret, scope: str, client_secret: Secret, key: bytes) -> TokenKey:
    # Memoized: the model asks for its token on every request, and two HMACs per request add up.
    # (Secret hashes and compares by value; the secrets stay in this process's memory, as in the config.)
    return TokenKey(token_url, client_id.fingerprint(key), scope, client_secret.fingerprint(key))


__all__ = [
    "MAX_LIFETIME",
    "MIN_LIFETIME",
    "TokenInfo",
    "TokenKey",
    "clamp_lifetime",
    "refresh_margin",
    "token_key",
    "token_url_for",
]
