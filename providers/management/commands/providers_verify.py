"""`manage.py providers_verify [--user USERNAME] [--provider P] [--no-platform]`: re-verify credentials.

Stored credentials, then the platform's own from the environment (`AI_GATEWAY_*`,
`OPENAI_API_KEY`, ...; `platform` in the user column), unless `--user` or `--no-platform`.

One line per credential, `<user> <provider> <outcome> <message>`, and a non-zero exit when any
of them did not verify, so it can run from cron or a deploy check. Thin: each credential goes
through `providers.services.credentials.credential_verify`, which records the outcome on the row.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers import registry
from providers.context import acting_as
from providers.exceptions import UnknownProvider
from providers.models import ProviderCredential
from providers.redaction import redact
from providers.selectors import platform_credentials
from providers.services.credential_input import LAST_ERROR_MAX
from providers.services.credentials import credential_verify, platform_credential_verify


class Command(BaseCommand):
    help = "Verify stored provider credentials against their providers; exit non-zero if any fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="USERNAME", help="Only this user's credentials.")
        parser.add_argument("--provider", metavar="PROVIDER", help=f"Only this provider ({', '.join(registry.ids())}).")
        parser.add_argument(
            "--no-platform", action="store_true", help="Skip the platform's credentials from the environment."
        )

    def handle(self, *args: Any, user: str | None = None, provider: str | None = None, **options: Any) -> None:
        with acting_as("manage.py providers_verify"):
            self._verify(user, provider, platform=user is None and not options.get("no_platform"))

    def _verify(self, user: str | None, provider: str | None, *, platform: bool) -> None:
        credentials = ProviderCredential.objects.select_related("owner").order_by("owner__pk", "priority", "provider")
        if user is not None:
            User = get_user_model()
            if not User._default_manager.filter(**{User.USERNAME_FIELD: user}).exists():
                raise CommandError(f"No user named {user!r}.")
            credentials = credentials.filter(**{f"owner__{User.USERNAME_FIELD}": user})
        if provider is not None:
            try:
                registry.get(provider)
            except UnknownProvider as exc:
                raise CommandError(str(exc)) from None
            credentials = credentials.filter(provider=provider)

        total = failed = 0
        for credential in credentials.iterator(chunk_size=200):
            total += 1
            result = credential_verify(credential=credential)
            if not result.ok:
                failed += 1
            # result.message is built from redacted details; the recorded last_error was redacted
            # with the credential's own secrets too, so prefer it for failures.
            message = (
                result.message if result.ok else (credential.last_error or redact(result.message, limit=LAST_ERROR_MAX))
            )
            line = f"{credential.owner.get_username()} {credential.provider} {result.outcome.value} {message}"
            self.stdout.write(self.style.SUCCESS(line) if result.ok else self.style.ERROR(line))

        if platform:
            for effective in platform_credentials():
                if provider is not None and effective.provider != provider:
                    continue
                total += 1
                result = platform_credential_verify(provider=effective.provider)
                if not result.ok:
                    failed += 1
                line = f"platform {effective.provider} {result.outcome.value} {redact(result.message, limit=LAST_ERROR_MAX)}"
                self.stdout.write(self.style.SUCCESS(line) if result.ok else self.style.ERROR(line))

        if total == 0:
            self.stdout.write("No credentials matched.")
            return
        self.stdout.write(f"{total - failed} of {total} credential(s) verified.")
        if failed:
            raise CommandError(f"{failed} of {total} credential(s) failed verification.")
