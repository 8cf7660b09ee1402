"""Reads: a user's credentials, and their *effective* credentials (own first, then the platform's).

Nothing here decrypts unless asked: `EffectiveCredential.config()` is the one place a stored
secret becomes a `Secret` (the seed's "API key loader").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.signals import setting_changed
from django.db.models import QuerySet
from django.views.decorators.debug import sensitive_variables

from . import registry, snapshots
from .backends.base import BaseBackend
from .models import ProviderCredential, VerificationStatus
from .secrets import Secret
from .tiers import TIERS
from .types import CredentialConfig


def credential_list_for_user(*, user: AbstractBaseUser) -> QuerySet[ProviderCredential]:
    return ProviderCredential.objects.filter(owner=user).order_by("priority", "provider")


def credential_get_for_user(*, user: AbstractBaseUser, provider: str) -> ProviderCredential:
    """The user's credential for a provider; raises ProviderCredential.DoesNotExist (views: 404)."""
    return ProviderCredential.objects.get(owner=user, provider=provider)


@sensitive_variables()
def credential_config(*, credential: ProviderCredential) -> CredentialConfig:
    """Decrypt a stored credential for use. Raises CredentialDecryptionError when a key is missing."""

    def secret_of(value: object) -> Secret | None:
        return value.secret() if value else None  # type: ignore[union-attr]

    return CredentialConfig(
        provider=credential.provider,
        api_key=secret_of(credential.api_key),
        client_id=secret_of(credential.client_id),
        client_secret=secret_of(credential.client_secret),
        base_url=credential.base_url,
        token_url=credential.token_url,
        scope=credential.scope,
        token_auth_method=credential.token_auth_method,
        credential_id=credential.pk,
    )


@dataclass(frozen=True)
class EffectiveCredential:
    """A credential usable for a user: their own (`source="user"`) or the platform's (`"platform"`)."""

    provider: str
    source: str
    key: str  # stable id for caches and breakers: "cred:<pk>" or "platform:<provider>"
    priority: int
    default_model: str = ""
    tier_models: dict[str, str] = field(default_factory=dict)
    credential: ProviderCredential | None = None

    def config(self) -> CredentialConfig:
        if self.credential is not None:
            return credential_config(credential=self.credential)
        return platform_config(self.provider)


@sensitive_variables()
def platform_config(provider: str) -> CredentialConfig:
    """The operator's env-configured credential for a provider (empty when not configured)."""
    return registry.get(provider).platform_config() or CredentialConfig(provider=provider)


# platform_credentials() per registry (its backend ids), until a provider setting changes.
_platform_cache: dict[tuple[str, ...], list[EffectiveCredential]] = {}


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(("AI_GATEWAY_", "PROVIDERS_")) or setting.endswith("_API_KEY"):
        _platform_cache.clear()


setting_changed.connect(_on_setting_changed, dispatch_uid="providers.selectors.platform_credentials")


def platform_credentials() -> list[EffectiveCredential]:
    """Providers the operator configured in env, in registry order (no secrets decrypted or copied).

    Settings only change with a restart (or `setting_changed` in tests), so the list is built
    once: reading its ~18 settings on every agent run was a measurable part of `resolve()`."""
    backends = registry.all_backends()
    ids = tuple(b.id for b in backends)
    cached = _platform_cache.get(ids)
    if cached is None:
        cached = _platform_cache[ids] = _build_platform_credentials(backends)
    return list(cached)


def _build_platform_credentials(backends: list[BaseBackend]) -> list[EffectiveCredential]:
    return [
        EffectiveCredential(
            provider=backend.id,
            source="platform",
            key=f"platform:{backend.id}",
            priority=1000,
            default_model=backend.env_default_model(),
            tier_models=backend.env_tier_models(),
        )
        for backend in backends
        if backend.platform_config() is not None
    ]


def _own_usable(user: AbstractBaseUser) -> list[EffectiveCredential]:
    return [
        EffectiveCredential(
            provider=c.provider,
            source="user",
            key=f"cred:{c.pk}",
            priority=c.priority,
            default_model=c.default_model,
            credential=c,
            tier_models={t: c.tier_model(t) for t in TIERS if c.tier_model(t)},
        )
        for c in credential_list_for_user(user=user).filter(enabled=True, status=VerificationStatus.VERIFIED)
    ]


def effective_credentials_with_cached(
    *,
    user: AbstractBaseUser,
    cache_keys: Callable[[list[EffectiveCredential]], list[str]] | None = None,
) -> tuple[list[EffectiveCredential], dict[str, Any]]:
    """`effective_credentials_for_user`, plus the Django-cache values of `cache_keys(credentials)`
    (e.g. their circuit breakers), fetched in the same cache round trip as the credentials' generation
    token when this process's snapshot is current (see `providers.snapshots`)."""
    platform = platform_credentials()
    keys_for = None if cache_keys is None else (lambda own: cache_keys([*own, *platform]))
    own, found = snapshots.own_credentials(user=user, load=_own_usable, extra_keys=keys_for or ())
    ordered = [*own, *platform]
    first = {backend.id for backend in registry.all_backends() if backend.tried_first()}
    if first:
        # Stable sort: those candidates move to the front, everything else keeps its order.
        ordered.sort(key=lambda c: c.provider not in first)
    return ordered, found


def effective_credentials_for_user(*, user: AbstractBaseUser) -> list[EffectiveCredential]:
    """The user's verified, enabled credentials by priority, then the platform's (so a failing own
    key can fall back to the operator's); a backend's `tried_first()` puts its own before them all
    (the AI Gateway's, when AI_GATEWAY_ENABLED)."""
    return effective_credentials_with_cached(user=user)[0]
