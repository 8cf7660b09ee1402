"""An encrypted text field whose ciphertext is bound to its row (keys and cipher: `providers.crypto`).

Keys come from `CREDENTIALS_ENCRYPTION_KEYS` (first encrypts, all decrypt), never from
SECRET_KEY. A value that no key decrypts raises `CredentialDecryptionError`: the ciphertext is
never handed back as if it were the secret (the bug in django-fernet-encrypted-fields).

Binding: each value is encrypted with associated data naming the model, the field and the
row's `bind_to` attributes (for `ProviderCredential`: owner id and provider, which are unique
together and known before the row is inserted, unlike its primary key). A ciphertext copied into
another row, user or field therefore fails to decrypt there. Encryption happens in `pre_save()`,
where the row is at hand; writing plaintext without a row (`QuerySet.update(api_key="...")`,
`bulk_update`) is refused. Values are decrypted lazily: the model attribute holds an
`EncryptedValue` whose `.secret()` decrypts on demand, so loading a row to list it never
decrypts anything; the descriptor hands it the row's context when read from an instance.

Changing `bind_to` attributes of a row (moving a credential to another owner) leaves its
secrets undecryptable, on purpose: they must be entered again.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.views.decorators.debug import sensitive_variables

from .crypto import decrypt, encrypt
from .secrets import Secret


class EncryptedValue:
    """What an encrypted field holds on a model instance: ciphertext, decrypted on request
    under `context` (set by the field's descriptor from the row it was read from)."""

    __slots__ = ("ciphertext", "context")

    def __init__(self, ciphertext: str, context: str = "") -> None:
        self.ciphertext = ciphertext
        self.context = context

    def secret(self) -> Secret:
        return Secret(decrypt(self.ciphertext, context=self.context))

    def __bool__(self) -> bool:
        return bool(self.ciphertext)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptedValue) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)

    def __repr__(self) -> str:
        return "EncryptedValue(<hidden>)"

    __str__ = __repr__


class _BoundDescriptor(DeferredAttribute):
    """Gives an `EncryptedValue` read from an instance that instance's context. A data
    descriptor (it has `__set__`), so it runs on every read, not only while the value is deferred."""

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        value = super().__get__(instance, cls)
        if instance is not None and isinstance(value, EncryptedValue):
            value.context = self.field.context_for(instance)
        return value


class EncryptedTextField(models.TextField):
    """Stores bound AES-GCM ciphertext; assign a plain `str` (or `Secret`) to set a new value.

    Reading gives an `EncryptedValue` (or "" when empty). Never filter or order on it.
    `bind_to`: the row's attributes the ciphertext is bound to (with the model and field name);
    not part of the schema, so not in migrations.
    """

    description = "Text encrypted with CREDENTIALS_ENCRYPTION_KEYS, bound to its row"
    descriptor_class = _BoundDescriptor

    def __init__(self, *args: Any, bind_to: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.bind_to = tuple(bind_to)
        super().__init__(*args, **kwargs)

    def context_for(self, instance: models.Model) -> str:
        """The associated data for this field of `instance`: model, field, `bind_to` values."""
        parts = [self.model._meta.label_lower, self.name]
        parts += [f"{name}={getattr(instance, name)}" for name in self.bind_to]
        return "|".join(parts)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> EncryptedValue | str:
        if not value:
            return ""
        return EncryptedValue(value)

    def to_python(self, value: Any) -> Any:
        return value

    @sensitive_variables("value")
    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if value is None or value == "" or isinstance(value, EncryptedValue):
            return value
        if isinstance(value, Secret):
            value = value.reveal()
        return EncryptedValue(encrypt(str(value), context=self.context_for(model_instance)))

    @sensitive_variables("value")
    def get_prep_value(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, EncryptedValue):
            return value.ciphertext
        # Plaintext without its row (QuerySet.update, bulk_update, a lookup): it cannot be bound.
        raise TypeError(f"{self.name}: assign a new secret on the model instance and save() it")

    def value_to_string(self, obj: Any) -> str:
        # Serialization (dumpdata) gets ciphertext, never plaintext.
        value = self.value_from_object(obj)
        return value.ciphertext if isinstance(value, EncryptedValue) else ""
