"""`manage.py providers_rotate_keys [--dry-run]`: re-encrypt stored secrets under the first key.

Thin: the work is in `providers.services.keys.credentials_rotate_keys`. Exits non-zero when a
secret cannot be decrypted with any configured key (its owner must re-enter it).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.exceptions import CredentialDecryptionError
from providers.services.keys import credentials_rotate_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored provider secret under the first CREDENTIALS_ENCRYPTION_KEYS key. "
        "Idempotent. Run after prepending a new key, before removing the old one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        try:
            report = credentials_rotate_keys(dry_run=dry_run, progress=self.stdout.write)
        except CredentialDecryptionError as exc:  # no key configured at all
            raise CommandError(str(exc)) from None
        style = self.style.SUCCESS if report.ok else self.style.WARNING
        self.stdout.write(style(("[dry run] " if dry_run else "") + report.summary()))
        if not report.ok:
            for failure in report.failures:
                self.stderr.write(str(failure))
            raise CommandError(
                f"{report.failed} secret(s) could not be decrypted with any configured key; "
                "keep the old key in CREDENTIALS_ENCRYPTION_KEYS, or have the owners re-enter these credentials."
            )
