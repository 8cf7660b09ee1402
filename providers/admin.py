"""Django admin for operators: every credential's status, never its secret.

The encrypted columns are excluded from the form entirely (so not even ciphertext is rendered);
the stored hint is shown read-only. Write-only password inputs set a new secret: the value goes
straight to the encrypted field, the hint is recomputed and the credential becomes unverified,
because nobody has tested the new value yet. "Verify selected" calls the same service as the
settings page.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.utils.text import Truncator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import registry
from .exceptions import ProviderError, URLNotAllowed
from .http.netpolicy import validate_url
from .models import CredentialAuditEvent, ProviderCredential, VerificationStatus
from .reentry import NEEDS_REENTRY, display_status, needs_reentry
from .secrets import mask
from .services.credential_input import masked_value_error
from .types import SECRET_FIELDS

# (form field, model field, hint field)
_WRITE_ONLY = (
    ("new_api_key", "api_key", "secret_hint"),
    ("new_client_id", "client_id", "client_id_hint"),
    ("new_client_secret", "client_secret", "secret_hint"),
)
_URL_FIELDS = ("base_url", "token_url")
_SECRET_NAMES = {"api_key": "an API key", "client_id": "a client ID", "client_secret": "a client secret"}


def _write_only(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        # render_value=False: a re-displayed form (after a validation error) never echoes it back.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


class ProviderCredentialAdminForm(forms.ModelForm):
    new_api_key = _write_only("New API key", "Leave empty to keep the stored key.")
    new_client_id = _write_only(
        "New client ID", "Leave empty to keep the stored client ID; required when a URL changes."
    )
    new_client_secret = _write_only(
        "New client secret", "Leave empty to keep the stored secret; required when a URL changes."
    )

    class Meta:
        model = ProviderCredential
        exclude = SECRET_FIELDS  # noqa: DJ006 - deny-list on purpose: a secret column never becomes a form field

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Which providers use each secret comes from their backends' `secret_fields`.
        for form_field, model_field, _ in _WRITE_ONLY:
            users = [backend.name for backend in registry.all_backends() if model_field in backend.secret_fields]
            if users:
                field = self.fields[form_field]
                field.help_text = f"{', '.join(users)}. {field.help_text}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        provider = cleaned.get("provider") or getattr(self.instance, "provider", "")
        backend = next((b for b in registry.all_backends() if b.id == provider), None)
        if backend is not None:
            uses = " and ".join(_SECRET_NAMES[name] for name in backend.secret_fields)
            for form_field, model_field, _ in _WRITE_ONLY:
                if cleaned.get(form_field) and model_field not in backend.secret_fields:
                    self.add_error(form_field, f"{backend.name} uses {uses}, not {_SECRET_NAMES[model_field]}.")

        # A pasted hint ("…8c0e") would overwrite the stored secret with its own mask.
        hints = (self.instance.secret_hint, self.instance.client_id_hint) if self.instance.pk else ()
        for form_field, _, _ in _WRITE_ONLY:
            masked = masked_value_error(cleaned.get(form_field) or "", hints) if cleaned.get(form_field) else None
            if masked:
                self.add_error(form_field, masked)

        for name in _URL_FIELDS:
            url = cleaned.get(name) or ""
            if url and name in self.changed_data:
                try:
                    cleaned[name] = validate_url(url)
                except URLNotAllowed as exc:
                    self.add_error(name, str(exc))
        # A stored secret is never sent to a URL it was not entered for.
        url_changed = self.instance.pk and any(name in self.changed_data for name in _URL_FIELDS)
        if url_changed:
            for form_field, model_field, _ in _WRITE_ONLY:
                if getattr(self.instance, model_field) and not cleaned.get(form_field):
                    self.add_error(form_field, "Changing the base URL or token URL requires entering this again.")
        # Stored secrets are bound to owner and provider (providers.fields): moved, they would
        # silently stop decrypting.
        elif self.instance.pk and any(name in self.changed_data for name in ("owner", "provider")):
            for form_field, model_field, _ in _WRITE_ONLY:
                if getattr(self.instance, model_field) and not cleaned.get(form_field):
                    self.add_error(form_field, "Changing the owner or provider requires entering this again.")
        return cleaned

    def apply_new_secrets(self, credential: ProviderCredential) -> list[str]:
        """Copy filled write-only fields onto the credential; return the names of the secrets set."""
        changed: list[str] = []
        for form_field, model_field, hint_field in _WRITE_ONLY:
            value = self.cleaned_data.get(form_field)
            if value:
                setattr(credential, model_field, value)
                setattr(credential, hint_field, mask(value))
                changed.append(model_field)
        if changed:
            credential.status = VerificationStatus.UNVERIFIED
            credential.status_code = ""
            credential.verified_at = None
            credential.last_error = ""
        return changed


class StatusFilter(admin.SimpleListFilter):
    """The recorded status, plus "needs re-entry" (a secret that no longer decrypts): that one is
    found by decrypting, row by row, so it is computed in Python (operators' pages only)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*VerificationStatus.choices, (NEEDS_REENTRY, "Needs re-entry")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> QuerySet[ProviderCredential]:
        value = self.value()
        if not value:
            return queryset
        candidates = queryset if value == NEEDS_REENTRY else queryset.filter(status=value)
        unreadable = [c.pk for c in candidates.only("pk", "api_key", "client_id", "client_secret") if needs_reentry(c)]
        if value == NEEDS_REENTRY:
            return queryset.filter(pk__in=unreadable)
        return candidates.exclude(pk__in=unreadable)


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    form = ProviderCredentialAdminForm
    list_display = (
        "owner",
        "provider",
        "shown_status",
        "verified_at",
        "short_error",
        "priority",
        "enabled",
        "secret_hints",
    )
    list_filter = ("provider", StatusFilter, "enabled", "verified_at")
    search_fields = ("owner__username", "owner__email", "provider")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    actions = ("verify_selected",)
    readonly_fields = (
        "secret_hint",
        "client_id_hint",
        "status",
        "status_code",
        "verified_at",
        "last_checked_at",
        "last_error",
        "available_models",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("owner", "provider", "enabled", "priority")}),
        (
            "Secrets (write-only)",
            {
                "description": "Stored secrets are never shown. Fill a field to replace the stored value; "
                "the credential then needs verifying again.",
                "fields": ("secret_hint", "client_id_hint", "new_api_key", "new_client_id", "new_client_secret"),
            },
        ),
        (
            "AI Gateway connection",
            {"fields": ("base_url", "token_url", "scope", "token_auth_method"), "classes": ("collapse",)},
        ),
        ("Models", {"fields": ("default_model", "fast_model", "standard_model", "premium_model", "available_models")}),
        ("Verification", {"fields": ("status", "status_code", "verified_at", "last_checked_at", "last_error")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    # The write-only inputs carry secrets: keep them (and every local below this view) out of error reports.
    @method_decorator(sensitive_post_parameters(*(form_field for form_field, _, _ in _WRITE_ONLY)))
    @method_decorator(sensitive_variables())
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description="status", ordering="status")
    def shown_status(self, obj: ProviderCredential) -> str:
        status = display_status(obj)
        return "Needs re-entry" if status == NEEDS_REENTRY else obj.get_status_display()

    @admin.display(description="secret")
    def secret_hints(self, obj: ProviderCredential) -> str:
        parts = [f"id {obj.client_id_hint}"] if obj.client_id_hint else []
        if obj.secret_hint:
            parts.append(obj.secret_hint)
        return " / ".join(parts) or "—"

    @admin.display(description="last error", ordering="last_error")
    def short_error(self, obj: ProviderCredential) -> str:
        return Truncator(obj.last_error).chars(60)

    def save_model(self, request: HttpRequest, obj: ProviderCredential, form: forms.Form, change: bool) -> None:
        from .services.credentials import credential_admin_save

        secrets = form.apply_new_secrets(obj) if isinstance(form, ProviderCredentialAdminForm) else []
        # Field names only: the write-only inputs are reported as the secrets they replace.
        changed = [*secrets, *(name for name in form.changed_data if not name.startswith("new_"))]
        credential_admin_save(credential=obj, changed=changed, created=not change)

    def delete_model(self, request: HttpRequest, obj: ProviderCredential) -> None:
        from .services.credentials import credential_remove

        credential_remove(credential=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        from .services.credentials import credential_remove

        for credential in queryset.select_related("owner"):
            credential_remove(credential=credential)

    @admin.action(description="Verify selected")
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        # Imported here: the services module is the settings page's, and the admin must not fail to
        # load (and take the whole admin down) if it cannot be imported.
        from .services.credentials import credential_verify

        outcomes: Counter[str] = Counter()
        for credential in queryset.select_related("owner"):
            try:
                result = credential_verify(credential=credential)
            except ProviderError as exc:  # typed, sanitized message; never a secret
                outcomes[getattr(exc, "code", "") or type(exc).__name__] += 1
                continue
            outcomes["verified" if result.ok else str(result.outcome)] += 1
        verified = outcomes.pop("verified", 0)
        failed = sum(outcomes.values())
        detail = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.message_user(
            request,
            f"Verified {verified} of {verified + failed} credential(s)" + (f"; failed: {detail}." if failed else "."),
            level=messages.SUCCESS if not failed else messages.WARNING,
        )


@admin.register(CredentialAuditEvent)
class CredentialAuditEventAdmin(admin.ModelAdmin):
    """The audit trail: read-only (append-only rows, written by the services)."""

    list_display = (
        "created_at",
        "action",
        "provider",
        "owner_name",
        "actor_kind",
        "actor_name",
        "ip_address",
        "outcome",
        "changed_fields",
    )
    list_filter = ("action", "actor_kind", "provider", "created_at")
    search_fields = ("owner_name", "actor_name", "ip_address", "request_id")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="fields")
    def changed_fields(self, obj: CredentialAuditEvent) -> str:
        return ", ".join(obj.fields or []) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CredentialAuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CredentialAuditEvent | None = None) -> bool:
        return False
