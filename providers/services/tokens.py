"""Gateway tokens of the stored credentials: the one refresh service, and failed credentials.

* Pre-refresh: `token_refresh_due` / `token_refresh_one` (the Celery tasks in
  `providers.tasks`) and `token_refresh_all` (`manage.py providers_refresh_tokens`) list the
  active gateway credentials, resolve each to its config and call `providers.gateway.refresh`,
  which holds the margin, the lock and the refresh itself (its docstring says which margin
  applies and why).
* Rejected credentials: the token manager raises and never touches the database; when the
  token endpoint rejects a stored credential's client it sends `credential_rejected`, and the
  receiver here marks that credential failed (shown on the settings page and in the admin; it
  leaves resolution and pre-refresh until its owner verifies it again). This covers every
  path that asks for a token: requests, the Agno model, the tasks and the command.
  `connect_signals()` is called by `ProvidersConfig.ready()`.

Work is addressed by *keys*, never by secrets (task arguments sit in the broker and show up in
monitoring): `"cred:<pk>"` for a user's ProviderCredential, `"platform:ai_gateway"` for the
operator's env-configured gateway. The same keys are used by `selectors.EffectiveCredential`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connections
from django.db.models import QuerySet

from ..backends.ai_gateway import AIGatewayBackend
from ..exceptions import CredentialDecryptionError, CredentialInvalid, ProviderError
from ..gateway.refresh import (
    RefreshAction,
    prerefresh_margin,
    refresh_if_due,
    token_due,
)
from ..gateway.tokens import credential_rejected
from ..models import ProviderCredential, VerificationStatus
from ..selectors import credential_config, platform_config, platform_credentials
from ..types import CredentialConfig
from .credentials import credential_mark_failed

logger = logging.getLogger(__name__)

PROVIDER = AIGatewayBackend.id
PLATFORM_KEY = f"platform:{PROVIDER}"


@dataclass(frozen=True)
class RefreshTarget:
    key: str
    label: str  # for people: owner and client id hint, never a secret
    expires_in: float | None  # seconds left on the cached token; None = nothing cached


@dataclass(frozen=True)
class RefreshResult:
    key: str
    label: str
    action: str  # a RefreshAction
    expires_in: float | None = None
    error: str = ""


def _platform_configured() -> bool:
    return any(c.provider == PROVIDER for c in platform_credentials())


def _active_user_credentials() -> QuerySet[ProviderCredential]:
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
    margin = prerefresh_margin() if margin is None else margin
    rows: list[tuple[RefreshTarget, bool]] = []
    for key in gateway_credential_keys():
        try:
            resolved = _resolve(key)
            if resolved is None:
                continue
            label, config = resolved
            due, left = token_due(config, key=key, margin=margin)
        except Exception as exc:
            # One broken credential (undecryptable secret, a bug its data triggers) must not stop
            # the pass for the others. Still "due": the per-key refresh reports it as failed.
            if not isinstance(exc, CredentialDecryptionError):
                _log_unexpected(key, exc)
            rows.append((RefreshTarget(key, key, None), True))
            continue
        rows.append((RefreshTarget(key, label, left), due))
    return rows


def _log_unexpected(key: str, exc: BaseException) -> None:
    # The type only: an unexpected exception's text may quote what it choked on.
    logger.error(
        "providers: gateway token check for %s failed unexpectedly (%s); other credentials go on",
        key,
        type(exc).__name__,
    )


def token_refresh_due(*, margin: float | None = None) -> list[RefreshTarget]:
    """Active gateway credentials whose token is not cached or expires within the margin."""
    return [target for target, due in token_refresh_status(margin=margin) if due]


def token_refresh_one(*, key: str, margin: float | None = None, dry_run: bool = False) -> RefreshResult:
    """Refresh one key's token if (and only if) it is still due. Idempotent; safe to redeliver.

    Returns a RefreshResult for permanent outcomes (refreshed, fresh, gone, failed); raises
    ProviderUnavailable (and subclasses: timeout, rate limited) for transient ones, so a task
    can retry them.
    """
    try:
        resolved = _resolve(key)
    except CredentialDecryptionError as exc:
        return RefreshResult(key, key, RefreshAction.FAILED, error=str(exc))
    if resolved is None:
        return RefreshResult(key, key, RefreshAction.GONE)
    label, config = resolved
    outcome = refresh_if_due(config, key=key, margin=margin, dry_run=dry_run)
    return RefreshResult(key, label, outcome.action, outcome.expires_in, outcome.error)


def token_refresh_all(*, margin: float | None = None, dry_run: bool = False) -> list[RefreshResult]:
    """The synchronous pass (`manage.py providers_refresh_tokens`): every active gateway
    credential, refreshed when due. Transient errors are reported per credential, not raised."""
    results: list[RefreshResult] = []
    for target, _due in token_refresh_status(margin=margin):
        try:
            results.append(token_refresh_one(key=target.key, margin=margin, dry_run=dry_run))
        except ProviderError as exc:
            results.append(
                RefreshResult(target.key, target.label, RefreshAction.FAILED, target.expires_in, error=str(exc))
            )
        except Exception as exc:  # per-credential isolation: see token_refresh_status
            _log_unexpected(target.key, exc)
            results.append(
                RefreshResult(
                    target.key, target.label, RefreshAction.FAILED, target.expires_in, error=type(exc).__name__
                )
            )
    return results


def _on_credential_rejected(sender: Any, *, config: CredentialConfig, error: CredentialInvalid, **kwargs: Any) -> None:
    if config.credential_id is None:
        return
    try:
        for attempt in range(5):
            try:
                credential_mark_failed(
                    credential_id=config.credential_id, code=error.code or "invalid_client", message=str(error)
                )
                break
            except OperationalError:
                # A locked database (SQLite under concurrent writers): the mark must not be lost,
                # or the credential stays "verified" and keeps being tried. Try again shortly.
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
    except Exception:  # the request already failed with the real error: log, do not raise
        logger.exception("could not mark gateway credential %s failed", config.credential_id)
    finally:
        # Sent from the token manager's own thread, which no request cycle cleans up: close the
        # connection the write opened there (connections are per thread).
        connections.close_all()


def connect_signals() -> None:
    """Mark credentials failed when the token manager reports their client rejected."""
    credential_rejected.connect(_on_credential_rejected, dispatch_uid="providers.services.tokens.credential_rejected")
