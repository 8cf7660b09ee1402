"""Gateway token pre-refresh: is a credential's token due, and refresh it if so.

Request paths refresh tokens on demand; the pre-refresh (the Celery beat task and
`manage.py providers_refresh_tokens`, through `providers.services.tokens`) runs ahead of them so
that, in steady state, no request waits on the token endpoint. It is an optimisation only: when
Celery or Redis is down nothing breaks, requests pay for the refresh themselves.

One margin rule, `token_info.refresh_margin(lifetime, ahead=...)`: a token is refreshed `ahead`
seconds before it expires, never more than half its lifetime (else a token shorter than the
margin would be due again as soon as it was refreshed). Two callers choose `ahead`:

* On demand (`TokenManager`, every request): 10 % of the lifetime, at least 60 s. Fixed when
  the token is issued (`TokenInfo.refresh_at`); inside it callers keep the still-valid token
  while one background refresh runs.
* Pre-refresh (here): `PROVIDERS_TOKEN_REFRESH_MARGIN` (300 s), wider than the on-demand
  margin of common lifetimes, so beat renews a token before any request has to, and renews it
  even when no request comes. A token is *due* when it is missing or expires within that
  margin, capped by half of *that token's own* lifetime. The token looked at is the newest one,
  the shared store's first (`TokenManager.current`): a web process may have refreshed it since
  this worker last looked. (Judging by the worker's own older copy, or by the whole 300 s margin
  for a 30 s token whose lifetime only the web process had seen, made the task fetch a token
  that was already fresh: 2.2 token requests per expiry instead of 1.)

Beat can only pre-refresh a token when it runs more often than the token's margin: with
`PROVIDERS_TOKEN_REFRESH_INTERVAL` >= min(margin, lifetime / 2) a token may come due and expire
between two passes, and requests refresh it themselves (still one request per expiry, under the
lease). The system checks `providers.W010`/`W011` (`providers/token_checks.py`) warns when the settings
already say so; a token endpoint's real lifetime is only known once a token arrives, so a
too-short one is logged here, once per credential and process.

One lock: a due token is refreshed through `TokenManager.refresh(keep=...)`, the same single
flight (threads) and Redis lease (processes) as on-demand refreshes, and `keep` asks "still
not due?" again under them. A task redelivered while its first copy runs (Celery with Redis
redelivers unacknowledged tasks) waits for that copy's token instead of fetching another.

Everything here works on a `CredentialConfig` and a caller's key for it (`"cred:<pk>"`); which
credentials exist and what a failure means for them is `providers.services.tokens`' business.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

from ..conf import app_settings
from ..exceptions import ProviderError, ProviderUnavailable
from ..types import CredentialConfig
from .token_info import TokenInfo, refresh_margin
from .tokens import get_token_manager

logger = logging.getLogger(__name__)

_LIFETIME_PREFIX = "providers:token-prefresh:lifetime:"
_LIFETIME_TTL = 24 * 3600


class RefreshAction:
    """What a pre-refresh did for one credential."""

    REFRESHED = "refreshed"
    WOULD_REFRESH = "would refresh"
    FRESH = "fresh"
    FAILED = "failed"  # permanent: the credential needs a person (re-enter, fix the secret)
    GONE = "gone"  # deleted, disabled, unverified or no longer configured since it was queued


@dataclass(frozen=True)
class RefreshOutcome:
    action: str
    expires_in: float | None = None  # seconds left on the token afterwards; None = none cached
    error: str = ""


def prerefresh_margin() -> float:
    """`PROVIDERS_TOKEN_REFRESH_MARGIN`: refresh tokens expiring within this many seconds."""
    return float(app_settings.TOKEN_REFRESH_MARGIN)


def effective_margin(key: str, margin: float) -> float:
    """`margin`, capped at half the lifetime the pre-refresh last obtained for `key`."""
    lifetime = cache.get(_LIFETIME_PREFIX + key)
    return refresh_margin(lifetime, ahead=margin) if lifetime else margin


def _due(info: TokenInfo, margin: float) -> bool:
    return info.expires_in() <= refresh_margin(info.lifetime, ahead=margin)


def token_due(config: CredentialConfig, *, key: str, margin: float) -> tuple[bool, float | None]:
    """(due, seconds left): due when no token is cached (in the shared store or this process)
    or the newest one expires within the margin, capped at half its own lifetime."""
    info = get_token_manager().current(config)
    if info is None:
        return True, None
    return _due(info, margin), info.expires_in()


_warned_short: set[str] = set()


def _warn_if_too_short(key: str, lifetime: float) -> None:
    interval = float(app_settings.TOKEN_REFRESH_INTERVAL)
    ahead = refresh_margin(lifetime, ahead=prerefresh_margin())
    if interval >= ahead and key not in _warned_short:
        _warned_short.add(key)
        logger.warning(
            "providers: gateway tokens for %s live %.0f s: refreshed %.0f s before expiry, but beat runs "
            "every %.0f s (PROVIDERS_TOKEN_REFRESH_INTERVAL), so requests will often refresh them "
            "themselves; set the interval below %.0f s",
            key,
            lifetime,
            ahead,
            interval,
            ahead,
        )


def refresh_if_due(
    config: CredentialConfig, *, key: str, margin: float | None = None, dry_run: bool = False
) -> RefreshOutcome:
    """Refresh `config`'s token if (and only if) it is due. Idempotent; safe to redeliver.

    Returns the outcome for permanent results (refreshed, fresh, would refresh, failed); raises
    `ProviderUnavailable` (and its subclasses: timeout, rate limited) for transient ones, so a
    task can retry them.
    """
    margin = prerefresh_margin() if margin is None else margin
    due, left = token_due(config, key=key, margin=margin)
    if not due:
        return RefreshOutcome(RefreshAction.FRESH, left)
    if dry_run:
        return RefreshOutcome(RefreshAction.WOULD_REFRESH, left)

    def not_due(info: TokenInfo) -> bool:
        return not _due(info, margin)

    started = time.time()
    try:
        info = get_token_manager().refresh(config, keep=not_due)
    except ProviderUnavailable:
        raise
    except ProviderError as exc:
        # Permanent (invalid_client, bad request, URL policy): retrying would not help. A stored
        # credential the token endpoint rejected is marked failed by the providers app.
        logger.warning("providers: gateway token refresh failed for %s: %s", key, exc)
        return RefreshOutcome(RefreshAction.FAILED, left, error=str(exc))
    if info.obtained_at < started:
        return RefreshOutcome(RefreshAction.FRESH, info.expires_in())  # refreshed meanwhile
    cache.set(_LIFETIME_PREFIX + key, info.lifetime, timeout=_LIFETIME_TTL)
    _warn_if_too_short(key, info.lifetime)
    logger.info("providers: refreshed gateway token for %s in %.0f ms", key, (time.time() - started) * 1000)
    return RefreshOutcome(RefreshAction.REFRESHED, info.expires_in())
