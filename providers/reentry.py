"""Does a stored credential need its secrets entered again?

A credential whose secret no longer decrypts (its encryption key was removed from
`CREDENTIALS_ENCRYPTION_KEYS`) cannot be used, whatever its recorded status says: it was
"verified" with a key that is gone. Nothing writes to the row when a key is removed, so the
settings page, `GET /api/providers` and the admin ask here, at display time, and show "needs
re-entry" instead of the recorded status. Decrypting the one or two secrets of a row costs
microseconds; the admin filter does it for every row it filters (operators' pages only).
"""

from __future__ import annotations

from typing import Any

from .exceptions import CredentialDecryptionError

NEEDS_REENTRY = "needs_reentry"
NEEDS_REENTRY_TEXT = "Needs re-entry: the stored secret can no longer be decrypted; enter it again"
_SECRET_FIELDS = ("api_key", "client_id", "client_secret")


def needs_reentry(credential: Any) -> bool:
    """True when a stored secret of `credential` cannot be decrypted with the configured keys."""
    for name in _SECRET_FIELDS:
        value = getattr(credential, name, "")
        if not value or not hasattr(value, "secret"):
            continue
        try:
            value.secret()
        except CredentialDecryptionError:
            return True
    return False


def display_status(credential: Any) -> str:
    """The status to show: `NEEDS_REENTRY`, else the recorded one (verified, failed, unverified)."""
    return NEEDS_REENTRY if needs_reentry(credential) else str(credential.status)
