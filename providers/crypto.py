"""The credentials' encryption keys and the one `MultiFernet` built from them.

Keys come from `CREDENTIALS_ENCRYPTION_KEYS` (the first encrypts, all decrypt), never from
SECRET_KEY, so rotating SECRET_KEY never makes a stored secret unreadable. A value no key
decrypts raises `CredentialDecryptionError`: the ciphertext is never handed back as if it were
the plaintext (the bug in django-fernet-encrypted-fields).

Used by the model field (`providers.fields`), the key checks (`providers.checks`), key rotation
(`providers.services.keys`) and the gateway's shared token store, which keeps tokens in Redis
under the same keys.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.views.decorators.debug import sensitive_variables

from .exceptions import CredentialDecryptionError

# Used only under DEBUG when no key is configured; `providers.checks` warns about it and fails
# in production. Never use it for real secrets.
DEVELOPMENT_KEY = "aWRlYWZvcmdlLWRldi1rZXktTk9ULUZPUi1QUk9EISE="  # "ideaforge-dev-key-NOT-FOR-PROD!!"


def configured_keys() -> list[str]:
    """The configured keys, first (encrypting) key first; the development key under DEBUG
    when none is set."""
    keys = [k.strip() for k in getattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", []) if k.strip()]
    if not keys and settings.DEBUG:
        keys = [DEVELOPMENT_KEY]
    return keys


@functools.lru_cache(maxsize=1)
def get_fernet() -> MultiFernet:
    """The process's `MultiFernet` over `configured_keys()` (rebuilt when the keys change)."""
    keys = configured_keys()
    if not keys:
        raise CredentialDecryptionError("No CREDENTIALS_ENCRYPTION_KEYS configured.")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def _reset_fernet(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CREDENTIALS_ENCRYPTION_KEYS", "DEBUG"):
        get_fernet.cache_clear()


setting_changed.connect(_reset_fernet)


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    """Fernet ciphertext of `plaintext` under the first key."""
    return get_fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """The plaintext; `CredentialDecryptionError` when no configured key decrypts it."""
    try:
        return get_fernet().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError, TypeError) as exc:
        raise CredentialDecryptionError() from exc
