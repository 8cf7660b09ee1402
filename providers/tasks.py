"""Celery tasks of the providers app. Thin: they pass keys (never secrets) and call services.

`refresh_gateway_tokens` runs on the beat schedule (`CELERY_BEAT_SCHEDULE` in settings) and fans
out one `refresh_gateway_token` per due credential, so one slow or failing token endpoint does
not hold up the others. Both are safe to redeliver (see `providers.services.tokens` and
`providers.gateway.refresh`).
"""

from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError

from .exceptions import ProviderUnavailable
from .metrics import count_refresh_task
from .services.tokens import token_refresh_due, token_refresh_one

logger = logging.getLogger(__name__)


@shared_task(
    name="providers.refresh_gateway_token",
    # Transient token-endpoint failures (connect error, timeout, 5xx, 429) retry with backoff;
    # permanent ones (invalid_client) come back as a "failed" result and are not retried.
    autoretry_for=(ProviderUnavailable,),
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=3,
    acks_late=True,
)
def refresh_gateway_token(key: str) -> str:
    """Refresh the token of one gateway credential key ("cred:<pk>" / "platform:ai_gateway")
    if it is still due; returns what happened ("refreshed", "fresh", "gone", "failed")."""
    try:
        result = token_refresh_one(key=key)
    except Exception:
        count_refresh_task("error")  # retried by Celery when the endpoint is unavailable
        raise
    count_refresh_task(result.action)
    if result.error:
        logger.warning("providers: token refresh for %s %s: %s", key, result.action, result.error)
    return result.action


@shared_task(name="providers.refresh_gateway_tokens", acks_late=True)
def refresh_gateway_tokens() -> int:
    """Beat entry point: queue one refresh per due credential; returns how many were queued."""
    # A plain list, fully evaluated: no query or transaction is open while we talk to the broker.
    keys = [target.key for target in token_refresh_due()]
    return gateway_token_refresh_dispatch(keys=keys)


def gateway_token_refresh_dispatch(*, keys: list[str]) -> int:
    """Queue a refresh task per key. A broker that is down costs one log line, not a crash:
    the tokens then refresh on demand in the request path."""
    queued = 0
    for key in keys:
        try:
            refresh_gateway_token.delay(key)
        except (OperationalError, OSError) as exc:
            logger.error(
                "providers: cannot queue gateway token refresh (broker unavailable: %s); "
                "%d of %d not queued, tokens will refresh on demand",
                type(exc).__name__,
                len(keys) - queued,
                len(keys),
            )
            break
        queued += 1
    return queued
