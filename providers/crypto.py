"""The credentials' encryption keys and the ciphers built from them.

Keys come from `CREDENTIALS_ENCRYPTION_KEYS` (the first encrypts, all decrypt), never from
SECRET_KEY, so rotating SECRET_KEY never makes a stored secret unreadable. A value no key
decrypts raises `CredentialDecryptionError`: the ciphertext is never handed back as if it were
the plaintext (the bug in django-fernet-encrypted-fields).

Two formats:

* **Bound** (what `encrypt` writes): AES-256-GCM with authenticated associated data, the
  `context` naming where the value lives ("providers.providercredential|api_key|owner=5|
  provider=openai"). Decrypting with any other context fails the tag check, so a ciphertext
  copied into another row, user or field fails closed (`CredentialDecryptionError`: "re-enter
  it") instead of handing one user's key to another. Stored as `BOUND_PREFIX` + urlsafe base64
  of nonce (12 bytes) + ciphertext + tag. The AES key of each configured key is derived from it
  with HKDF-SHA256, so operators keep one list of Fernet-format keys.
* **Legacy Fernet** (rows written before binding): still decrypted, by `MultiFernet` over the
  same keys, with no binding. `manage.py providers_rotate_keys` rewrites them in the bound
  format (`is_current`).

Used by the model field (`providers.fields`), the key checks (`providers.checks`), key rotation
(`providers.services.keys`) and the gateway's shared token store, which keeps tokens in Redis
under the same keys (bound to their Redis key).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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


#: What a bound ciphertext starts with (a Fernet token starts with "gAAAAA").
BOUND_PREFIX = "b1:"
_NONCE_BYTES = 12
_HKDF_INFO = b"ideaforge credentials aes-256-gcm v1"


def _aes_key(fernet_key: str) -> AESGCM:
    raw = base64.urlsafe_b64decode(fernet_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(raw)
    return AESGCM(derived)


@functools.lru_cache(maxsize=1)
def get_aead_keys() -> tuple[AESGCM, ...]:
    """One AES-GCM cipher per configured key, the encrypting one first."""
    keys = configured_keys()
    if not keys:
        raise CredentialDecryptionError("No CREDENTIALS_ENCRYPTION_KEYS configured.")
    return tuple(_aes_key(k) for k in keys)


def _reset_fernet(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CREDENTIALS_ENCRYPTION_KEYS", "DEBUG"):
        get_fernet.cache_clear()
        get_aead_keys.cache_clear()


setting_changed.connect(_reset_fernet)


@sensitive_variables("plaintext")
def encrypt(plaintext: str, *, context: str) -> str:
    """The bound ciphertext of `plaintext` under the first key; only `context` decrypts it."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = get_aead_keys()[0].encrypt(nonce, plaintext.encode(), context.encode())
    return BOUND_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(ciphertext: str, *, context: str) -> str:
    """The plaintext; `CredentialDecryptionError` when no configured key decrypts it, or when a
    bound ciphertext was made for another `context` (moved to another row, user or field).
    A legacy Fernet token decrypts whatever the context."""
    if not ciphertext.startswith(BOUND_PREFIX):
        try:
            return get_fernet().decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError, TypeError) as exc:
            raise CredentialDecryptionError() from exc
    try:
        blob = base64.urlsafe_b64decode(ciphertext[len(BOUND_PREFIX) :].encode())
    except (binascii.Error, ValueError) as exc:
        raise CredentialDecryptionError() from exc
    nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
    for key in get_aead_keys():
        try:
            return key.decrypt(nonce, sealed, context.encode()).decode()
        except (InvalidTag, ValueError):
            continue
    raise CredentialDecryptionError()


def is_current(ciphertext: str, *, context: str) -> bool:
    """Whether `ciphertext` is bound to `context` under the first key (key rotation leaves it)."""
    if not ciphertext.startswith(BOUND_PREFIX):
        return False
    try:
        blob = base64.urlsafe_b64decode(ciphertext[len(BOUND_PREFIX) :].encode())
        get_aead_keys()[0].decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.encode())
    except (binascii.Error, InvalidTag, ValueError):
        return False
    return True
