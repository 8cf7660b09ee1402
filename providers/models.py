"""Stored provider credentials. Secrets are encrypted columns; everything else is plain."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from . import registry
from .fields import EncryptedTextField
from .tiers import TIERS
from .types import ModelInfo, stored_models


class VerificationStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not verified"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"


class TokenAuthMethod(models.TextChoices):
    BASIC = "client_secret_basic", "HTTP Basic (client_secret_basic)"
    POST = "client_secret_post", "Form body (client_secret_post)"


class ProviderCredential(models.Model):
    """One user's credential for one provider.

    Secret columns hold Fernet ciphertext (see `providers.fields`); `secret_hint` keeps the
    last characters for display so nothing has to be decrypted to render a page.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_credentials")
    # Choices and the CheckConstraint below come from the registered backends (PROVIDERS_BACKENDS).
    provider = models.CharField(max_length=32, choices=registry.as_choices)

    # Secrets (encrypted). OpenAI/Anthropic/Gemini use api_key; the AI Gateway uses client_id + client_secret.
    # Bound to owner and provider (unique together, known before insert): a ciphertext copied
    # into another user's row does not decrypt there (providers.fields).
    api_key = EncryptedTextField(blank=True, default="", bind_to=("owner_id", "provider"))
    client_id = EncryptedTextField(blank=True, default="", bind_to=("owner_id", "provider"))
    client_secret = EncryptedTextField(blank=True, default="", bind_to=("owner_id", "provider"))
    secret_hint = models.CharField(max_length=16, blank=True, default="")
    client_id_hint = models.CharField(max_length=16, blank=True, default="")

    # AI Gateway connection settings (user-set URLs pass providers.http.netpolicy).
    base_url = models.CharField(max_length=500, blank=True, default="")
    token_url = models.CharField(max_length=500, blank=True, default="")
    scope = models.CharField(max_length=500, blank=True, default="")
    token_auth_method = models.CharField(max_length=32, choices=TokenAuthMethod.choices, default=TokenAuthMethod.BASIC)

    # Model choices: the default, and one per tier (blank: fall back to env, then backend default).
    default_model = models.CharField(max_length=200, blank=True, default="")
    fast_model = models.CharField(max_length=200, blank=True, default="")
    standard_model = models.CharField(max_length=200, blank=True, default="")
    premium_model = models.CharField(max_length=200, blank=True, default="")
    available_models = models.JSONField(
        default=list,
        blank=True,
        help_text="The models the provider reported at the last successful verification: id, and name, owner and context length where reported.",
    )

    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)

    status = models.CharField(max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.UNVERIFIED)
    status_code = models.CharField(
        max_length=32, blank=True, default="", help_text="Outcome of the last verification (e.g. invalid_credentials)."
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(
        max_length=500, blank=True, default="", help_text="Sanitized; never contains a secret."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "priority", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "provider"], name="providers_credential_one_per_owner_provider"),
            # Built when this module is imported: a new backend needs `makemigrations` to widen it.
            models.CheckConstraint(
                condition=models.Q(provider__in=registry.configured_ids()), name="providers_credential_provider_known"
            ),
            models.CheckConstraint(
                condition=models.Q(token_auth_method__in=[c.value for c in TokenAuthMethod]),
                name="providers_credential_token_auth_method_known",
            ),
        ]
        indexes = [models.Index(fields=["provider", "status", "enabled"])]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.owner}"

    @property
    def model_infos(self) -> list[ModelInfo]:
        """`available_models` as records. Rows verified before the records existed hold plain ids,
        which read as records without details (the JSON column needs no migration either way)."""
        return stored_models(self.available_models)

    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.model_infos]

    def tier_model(self, tier: str) -> str:
        """The model set for a tier on this credential, or ''."""
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}")
        return getattr(self, f"{tier}_model")


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    VERIFY = "verify", "Verified"
    ENABLE = "enable", "Enabled"
    DISABLE = "disable", "Disabled"
    REORDER = "reorder", "Reordered"
    DELETE = "delete", "Deleted"
    ROTATE_KEY = "rotate_key", "Re-encrypted under a new key"
    STATUS_CHANGE = "status_change", "Status changed"


class ActorKind(models.TextChoices):
    USER = "user", "the owner"
    OPERATOR = "operator", "an operator"
    SYSTEM = "system", "the system"


class CredentialAuditEvent(models.Model):
    """One change to a credential: append-only, written by `providers.audit` from the services.

    Holds names and outcomes only: which fields changed, never their values, so no secret (nor
    its ciphertext) can reach this table. Snapshots of the owner's and actor's names keep the
    trail readable after a credential or a user is deleted."""

    credential = models.ForeignKey(
        ProviderCredential, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="credential_audit_events",
    )
    owner_name = models.CharField(max_length=150, blank=True, default="")
    provider = models.CharField(
        max_length=32, blank=True, default="", help_text="Empty for a reorder of all of a user's credentials."
    )
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    fields = models.JSONField(
        default=list, blank=True, help_text="Names of the fields changed (never values), or the new order."
    )
    outcome = models.CharField(
        max_length=32, blank=True, default="", help_text="Verification outcome or new status code."
    )
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="providers_audit_owner_recent")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.provider or 'credentials'} of {self.owner_name} by {self.get_actor_kind_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("credential audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("credential audit events are append-only")
