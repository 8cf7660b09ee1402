"""Gateway token pre-refresh: the service behind the Celery beat task and `providers_refresh_tokens`.

Request paths refresh tokens on demand (the token manager's own margin); this runs ahead of them
so that, in steady state, no request waits on the token endpoint. It is an optimisation only:
when Celery or Redis is down nothing breaks, requests just pay for the refresh themselves.

Work is addressed by *keys*, never by secrets (task arguments sit in the broker and show up in
monitoring): `"cred:<pk>"` for a user's ProviderCredential, `"platform:ai_gateway"` for the
operator's env-configured gateway. The same keys are used by `selectors.EffectiveCredential`.

Idempotency (Celery with Redis redelivers unacknowledged tasks): a refresh runs only when the
key's token is still due (missing, or expiring within the margin), under a short cache lease so
two copies of the same task running at once refresh once; the second finds the token fresh.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache

from .conf import app_settings
from .exceptions import CredentialDecryptionError, ProviderError, ProviderUnavailable
from .models import ProviderCredential, VerificationStatus
from .selectors import credential_config, platform_config, platform_credentials
from .types import CredentialConfig

logger = logging.getLogger(__name__)

PROVIDER = "ai_gateway"
PLATFORM_KEY = f"platform:{PROVIDER}"
# Longer than one bounded token request (connect + read timeouts and the manager's retries).
LEASE_SECONDS = 120
_LEASE_PREFIX = "providers:token-prefresh:lease:"
_LIFETIME_PREFIX = "providers:token-prefresh:lifetime:"


class RefreshAction:
    REFRESHED = "refreshed"
    WOULD_REFRESH = "would refresh"
    FRESH = "fresh"
    BUSY = "busy"  # another worker holds the lease for this key right now
    FAILED = "failed"  # permanent: the credential needs a person (re-enter, fix the secret)
    GONE = "gone"  # deleted, disabled, unverified or no longer configured since it was queued


@dataclass(frozen=True)
class RefreshTarget:
    key: str
    label: str  # for people: owner and client id hint, never a secret
    expires_in: float | None  # seconds left on the cached token; None = nothing cached


@dataclass(frozen=True)
class RefreshResult:
    key: str
    label: str
    action: str
    expires_in: float | None = None
    error: str = ""


def _token_manager():  # imported late: the gateway package imports httpx and friends
    from .gateway.tokens import get_token_manager

    return get_token_manager()


def token_refresh_margin() -> float:
    return float(app_settings.TOKEN_REFRESH_MARGIN)


def _effective_margin(key: str, margin: float) -> float:
    """The margin, but never more than half the lifetime we last saw for this key: with tokens
    shorter than the margin, a just-refreshed token would otherwise count as due again, and a
    redelivered task would refresh twice."""
    lifetime = cache.get(_LIFETIME_PREFIX + key)
    return min(margin, lifetime / 2) if lifetime else margin


def _platform_configured() -> bool:
    return any(c.provider == PROVIDER for c in platform_credentials())


def _active_user_credentials():
    return (
        ProviderCredential.objects.filter(provider=PROVIDER, enabled=True, status=VerificationStatus.VERIFIED)
        .select_related("owner")
        .order_by("pk")
    )


def _label(credential: ProviderCredential | None) -> str:
    if credential is None:
        return "platform AI Gateway (AI_GATEWAY_* settings)"
    hint = f", client {credential.client_id_hint}" if credential.client_id_hint else ""
    return f"{credential.owner.get_username()}'s AI Gateway{hint}"


def _resolve(key: str) -> tuple[str, CredentialConfig] | None:
    """(label, config) for an *active* gateway credential key; None when it no longer is one.

    Raises CredentialDecryptionError when a stored secret cannot be decrypted."""
    if key == PLATFORM_KEY:
        return (_label(None), platform_config(PROVIDER)) if _platform_configured() else None
    prefix, _, pk = key.partition(":")
    if prefix != "cred" or not pk.isdigit():
        raise ValueError(f"not a gateway credential key: {key!r}")
    credential = _active_user_credentials().filter(pk=int(pk)).first()
    if credential is None:
        return None
    return _label(credential), credential_config(credential=credential)


def gateway_credential_keys() -> list[str]:
    """Keys of every active gateway credential: enabled + verified user credentials, then the
    platform's when configured. Evaluated fully (a list), so no query stays open afterwards."""
    keys = [f"cred:{pk}" for pk in _active_user_credentials().values_list("pk", flat=True)]
    if _platform_configured():
        keys.append(PLATFORM_KEY)
    return keys


def token_refresh_status(*, margin: float | None = None) -> list[tuple[RefreshTarget, bool]]:
    """Every active gateway credential with its token's time left and whether it is due."""
    margin = token_refresh_margin() if margin is None else margin
    manager = _token_manager()
    rows: list[tuple[RefreshTarget, bool]] = []
    for key in gateway_credential_keys():
        try:
            resolved = _resolve(key)
        except CredentialDecryptionError:
            # Still "due": the per-key refresh reports it (and the command prints it) as failed.
            rows.append((RefreshTarget(key, key, None), True))
            continue
        if resolved is None:
            continue
        label, config = resolved
        left = manager.expires_in(config)
        rows.append((RefreshTarget(key, label, left), left is None or left <= _effective_margin(key, margin)))
    return rows


def token_refresh_due(*, margin: float | None = None) -> list[RefreshTarget]:
    """Active gateway credentials whose token is not cached or expires within the margin."""
    return [target for target, due in token_refresh_status(margin=margin) if due]


def token_refresh_one(*, key: str, margin: float | None = None, dry_run: bool = False) -> RefreshResult:
    """Refresh one key's token if (and only if) it is still due. Idempotent; safe to redeliver.

    Returns a RefreshResult for permanent outcomes (refreshed, fresh, busy, gone, failed);
    raises ProviderUnavailable (and subclasses: timeout, rate limited) for transient ones, so a
    task can retry them.
    """
    margin = token_refresh_margin() if margin is None else margin
    try:
        resolved = _resolve(key)
    except CredentialDecryptionError as exc:
        return RefreshResult(key, key, RefreshAction.FAILED, error=str(exc))
    if resolved is None:
        return RefreshResult(key, key, RefreshAction.GONE)
    label, config = resolved
    manager = _token_manager()

    def still_due() -> tuple[bool, float | None]:
        left = manager.expires_in(config)
        return left is None or left <= _effective_margin(key, margin), left

    due, left = still_due()
    if not due:
        return RefreshResult(key, label, RefreshAction.FRESH, left)
    if dry_run:
        return RefreshResult(key, label, RefreshAction.WOULD_REFRESH, left)

    owner = uuid.uuid4().hex
    lease = _LEASE_PREFIX + key
    if not cache.add(lease, owner, timeout=LEASE_SECONDS):
        return RefreshResult(key, label, RefreshAction.BUSY, left)
    try:
        # Re-check under the lease: a copy of this task may have refreshed while we looked.
        due, left = still_due()
        if not due:
            return RefreshResult(key, label, RefreshAction.FRESH, left)
        started = time.monotonic()
        try:
            info = manager.refresh(config, force=True)
        except ProviderUnavailable:
            raise
        except ProviderError as exc:
            # Permanent (invalid_client, bad request, URL policy): the token manager has already
            # marked the credential failed where that applies; retrying would not help.
            logger.warning("providers: gateway token refresh failed for %s: %s", key, exc)
            return RefreshResult(key, label, RefreshAction.FAILED, left, error=str(exc))
        left = info.expires_in()
        cache.set(_LIFETIME_PREFIX + key, info.lifetime, timeout=24 * 3600)
        logger.info("providers: refreshed gateway token for %s in %.0f ms", key, (time.monotonic() - started) * 1000)
        return RefreshResult(key, label, RefreshAction.REFRESHED, left)
    finally:
        # Not atomic (the cache API has no compare-and-delete), but the lease outlives any
        # bounded refresh, so in practice it is still ours; the worst case is one extra refresh.
        if cache.get(lease) == owner:
            cache.delete(lease)


def token_refresh_all(*, margin: float | None = None, dry_run: bool = False) -> list[RefreshResult]:
    """The synchronous pass (`manage.py providers_refresh_tokens`): every active gateway
    credential, refreshed when due. Transient errors are reported per credential, not raised."""
    results: list[RefreshResult] = []
    for target, _due in token_refresh_status(margin=margin):
        try:
            results.append(token_refresh_one(key=target.key, margin=margin, dry_run=dry_run))
        except ProviderError as exc:
            results.append(RefreshResult(target.key, target.label, RefreshAction.FAILED, target.expires_in, error=str(exc)))
    return results
