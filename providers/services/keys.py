"""Re-encrypt every stored secret under the first `CREDENTIALS_ENCRYPTION_KEYS` key, bound to its row.

Rotation is three operator steps (docs/operations.md): put the new key first in the list, run
`manage.py providers_rotate_keys`, then drop the old key. This module is the middle step. The
same command migrates rows written before ciphertexts were bound (legacy Fernet tokens) to the
bound format (`providers.crypto`).

Design notes:
- To be idempotent (a second run reports 0 re-encrypted and writes nothing) a value bound to
  its row under the first key counts as "already current" and is left untouched.
- A bound value that does not decrypt under its own row's context (copied from another row) is
  a failure like a missing key: it is reported and its owner must re-enter it.
- Each row is written in its own transaction with a compare-and-swap on the old ciphertext, so a
  user saving a new key while the rotation runs is never overwritten with the rotated old key.
- A secret no configured key decrypts is reported (credential id, provider, field), never
  skipped silently and never printed: the owner must re-enter it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from .. import snapshots
from ..audit import audit
from ..crypto import decrypt, encrypt, get_aead_keys, is_current
from ..exceptions import CredentialDecryptionError
from ..fields import EncryptedValue
from ..models import AuditAction, ProviderCredential
from ..types import SECRET_FIELDS

_PROGRESS_EVERY = 100


@dataclass(frozen=True)
class RotationFailure:
    """A secret that could not be decrypted with any configured key. Holds no secret material."""

    credential_id: int
    provider: str
    field: str

    def __str__(self) -> str:
        return f"credential {self.credential_id} ({self.provider}) {self.field}: cannot be decrypted with any configured key"


@dataclass
class RotationReport:
    dry_run: bool = False
    rows: int = 0
    reencrypted: int = 0
    already_current: int = 0
    # Rows changed by someone else between our read and our write: their new value is already
    # encrypted under the current first key, so there is nothing left to do for them.
    changed_concurrently: int = 0
    failures: list[RotationFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        verb = "would be re-encrypted" if self.dry_run else "re-encrypted"
        return (
            f"{self.rows} credential rows scanned; {self.reencrypted} secrets {verb}; "
            f"{self.already_current} already current; {self.failed} failed"
            + (
                f"; {self.changed_concurrently} rows changed concurrently (left as saved)"
                if self.changed_concurrently
                else ""
            )
            + "."
        )


def credentials_rotate_keys(*, dry_run: bool = False, progress: Callable[[str], None] | None = None) -> RotationReport:
    """Re-encrypt every ProviderCredential secret under the first configured key.

    Idempotent; `dry_run` counts without writing. Raises CredentialDecryptionError only when no
    key is configured at all (then nothing could be rotated).
    """
    say = progress or (lambda line: None)
    get_aead_keys()  # raises when no key is configured
    report = RotationReport(dry_run=dry_run)

    # owner_id and provider: the context each value is bound to (EncryptedValue.context).
    rows = ProviderCredential.objects.order_by("pk").only("pk", "owner_id", "provider", *SECRET_FIELDS)
    for credential in rows.iterator(chunk_size=500):
        report.rows += 1
        updates: dict[str, EncryptedValue] = {}
        originals: dict[str, EncryptedValue] = {}
        for name in SECRET_FIELDS:
            value = getattr(credential, name)
            if not isinstance(value, EncryptedValue):
                continue  # empty: nothing stored
            if is_current(value.ciphertext, context=value.context):
                report.already_current += 1
                continue
            try:
                plaintext = decrypt(value.ciphertext, context=value.context)
            except CredentialDecryptionError:
                failure = RotationFailure(credential.pk, credential.provider, name)
                report.failures.append(failure)
                say(f"FAILED {failure}")
                continue
            originals[name] = value
            updates[name] = EncryptedValue(encrypt(plaintext, context=value.context))
            del plaintext

        if updates:
            if dry_run or _swap(credential.pk, originals, updates):
                report.reencrypted += len(updates)
                action = "would re-encrypt" if dry_run else "re-encrypted"
                say(f"credential {credential.pk} ({credential.provider}): {action} {', '.join(updates)}")
            else:
                report.changed_concurrently += 1
                say(f"credential {credential.pk} ({credential.provider}): changed while rotating; left as saved")
        if report.rows % _PROGRESS_EVERY == 0:
            say(f"... {report.rows} rows scanned")
    return report


def _swap(pk: int, originals: dict[str, EncryptedValue], updates: dict[str, EncryptedValue]) -> bool:
    """Write the rotated tokens only if the row still holds the tokens we read (one transaction per row)."""
    with transaction.atomic():
        # Filtering on an EncryptedTextField compares raw ciphertext (get_prep_value passes an
        # EncryptedValue through unchanged), which is exactly the compare-and-swap we want.
        changed = ProviderCredential.objects.filter(pk=pk, **originals).update(**updates)
        if changed == 1:
            # QuerySet.update() sends no post_save: snapshots hold the old ciphertext.
            owner_id = ProviderCredential.objects.filter(pk=pk).values_list("owner_id", flat=True).first()
            snapshots.credentials_changed(owner_id=owner_id)
            rotated = ProviderCredential.objects.select_related("owner").only("pk", "provider", "owner").get(pk=pk)
            audit(AuditAction.ROTATE_KEY, credential=rotated, fields=list(updates))
    return changed == 1
