"""An encrypted text field on `cryptography`'s MultiFernet (keys and cipher: `providers.crypto`).

Keys come from `CREDENTIALS_ENCRYPTION_KEYS` (first encrypts, all decrypt), never from
SECRET_KEY. A value that no key decrypts raises `CredentialDecryptionError`: the ciphertext is
never handed back as if it were the secret (the bug in django-fernet-encrypted-fields).

Values are decrypted lazily: the model attribute holds an `EncryptedValue` whose `.secret()`
decrypts on demand, so loading a row to list it never decrypts anything.
"""
from __future__ import annotations

from typing import Any

from django.db import models
from django.views.decorators.debug import sensitive_variables

from .crypto import decrypt, encrypt
from .secrets import Secret


class EncryptedValue:
    """What an encrypted field holds on a model instance: ciphertext, decrypted on request."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str) -> None:
        self.ciphertext = ciphertext

    def secret(self) -> Secret:
        return Secret(decrypt(self.ciphertext))

    def __bool__(self) -> bool:
        return bool(self.ciphertext)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptedValue) and other.ciphertext == self.ciphertext

    def __repr__(self) -> str:
        return "EncryptedValue(<hidden>)"

    __str__ = __repr__


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; assign a plain `str` (or `Secret`) to set a new value.

    Reading gives an `EncryptedValue` (or "" when empty). Never filter or order on it.
    """

    description = "Text encrypted with CREDENTIALS_ENCRYPTION_KEYS"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> EncryptedValue | str:
        if not value:
            return ""
        return EncryptedValue(value)

    def to_python(self, value: Any) -> Any:
        return value

    @sensitive_variables("value")
    def get_prep_value(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, EncryptedValue):
            return value.ciphertext
        if isinstance(value, Secret):
            value = value.reveal()
        return encrypt(str(value))

    def value_to_string(self, obj: Any) -> str:
        # Serialization (dumpdata) gets ciphertext, never plaintext.
        value = self.value_from_object(obj)
        return value.ciphertext if isinstance(value, EncryptedValue) else ""
