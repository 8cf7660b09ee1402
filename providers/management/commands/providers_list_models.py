"""`manage.py providers_list_models --provider P [--user U]`: the models a credential offers.

Without `--user`, the platform's env-configured credential for P (e.g. `AI_GATEWAY_*`,
`OPENAI_API_KEY`); with it, that user's stored credential. Prints one model id per line (for
scripts), or with `--details` each id followed by what the provider reports about it (name,
owner, context length), tab-separated.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers import registry
from providers.backends.base import BaseBackend
from providers.exceptions import ProviderError, UnknownProvider
from providers.models import ProviderCredential
from providers.selectors import credential_config, credential_get_for_user
from providers.types import CredentialConfig


class Command(BaseCommand):
    help = "List the model ids a provider credential offers (the platform's, or a user's with --user)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, help=f"Provider id ({', '.join(registry.ids())}).")
        parser.add_argument(
            "--user", default=None, help="Username whose stored credential to use (default: the platform's)."
        )
        parser.add_argument(
            "--details",
            action="store_true",
            help="After each id, a tab and what the provider reports: name, owner, context length.",
        )

    def handle(self, *args: Any, provider: str, user: str | None = None, details: bool = False, **options: Any) -> None:
        try:
            backend = registry.get(provider)
        except UnknownProvider as exc:
            raise CommandError(str(exc)) from None
        config = self._user_config(user, provider) if user else self._platform_config(backend)
        try:
            models = backend.runtime_models(config)
        except ProviderError as exc:
            whose = f"{user}'s" if user else "the platform"
            raise CommandError(
                f"Listing {backend.name} models with {whose} credential failed: {type(exc).__name__}: {exc}"
            ) from None
        for model in models:
            self.stdout.write(f"{model.id}\t{model.details}".rstrip() if details else model.id)
        if not models:
            self.stderr.write(f"{backend.name} reported no models.")

    def _platform_config(self, backend: BaseBackend) -> CredentialConfig:
        config = backend.platform_config()
        if config is None:
            hint = backend.platform_setup_hint()
            how = f"set {hint}, or pass --user" if hint else "pass --user"
            raise CommandError(f"No platform credential for {backend.id}: {how}.")
        return config

    def _user_config(self, username: str, provider: str) -> CredentialConfig:
        User = get_user_model()
        try:
            owner = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        try:
            credential = credential_get_for_user(user=owner, provider=provider)
        except ProviderCredential.DoesNotExist:
            raise CommandError(f"User {username!r} has no {provider} credential.") from None
        try:
            return credential_config(credential=credential)
        except ProviderError as exc:  # CredentialDecryptionError: the secret must be re-entered
            raise CommandError(f"{username}'s {provider} credential: {exc}") from None
