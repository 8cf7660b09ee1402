"""Gateway tokens and the stored credentials they belong to.

The token manager (`providers.gateway.tokens`) raises and never touches the database; when the
token endpoint rejects a stored credential's client it sends `credential_rejected`, and the
receiver here marks that credential failed (shown on the settings page and in the admin; it
leaves resolution and pre-refresh until its owner verifies it again). `connect_signals()` is
called by `ProvidersConfig.ready()`.
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import connections

from ..exceptions import CredentialInvalid
from ..gateway.tokens import credential_rejected
from ..types import CredentialConfig
from .credentials import credential_mark_failed

logger = logging.getLogger(__name__)


def _on_credential_rejected(sender: Any, *, config: CredentialConfig, error: CredentialInvalid, **kwargs: Any) -> None:
    if config.credential_id is None:
        return
    try:
        credential_mark_failed(credential_id=config.credential_id, code=error.code or "invalid_client", message=str(error))
    except Exception:  # the request already failed with the real error: log, do not raise
        logger.exception("could not mark gateway credential %s failed", config.credential_id)
    finally:
        # Sent from the token manager's own thread, which no request cycle cleans up: close the
        # connection the write opened there (connections are per thread).
        connections.close_all()


def connect_signals() -> None:
    """Mark credentials failed when the token manager reports their client rejected."""
    credential_rejected.connect(_on_credential_rejected, dispatch_uid="providers.services.tokens.credential_rejected")
