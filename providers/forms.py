"""Forms for the settings page and the JSON API: validation only; the services do the work.

Secret inputs are PasswordInput(render_value=False): a stored secret is never put back into a
page, and an empty secret field means "keep the stored one".
"""

from __future__ import annotations

from typing import Any

from django import forms

from .backends.base import BaseBackend
from .models import ProviderCredential, TokenAuthMethod
from .services.credential_input import CredentialInput
from .tiers import TIERS
from .types import ModelInfo

SECRET_LABELS = {"api_key": "API key", "client_id": "Client ID", "client_secret": "Client secret"}
KEEP_HELP = "Leave blank to keep the stored secret."


class DatalistInput(forms.TextInput):
    """A text input tied to a <datalist> of suggestions (free text still allowed)."""

    def __init__(self, list_id: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={**(attrs or {}), "list": list_id, "autocomplete": "off"})


def model_suggestions(backend: BaseBackend, credential: ProviderCredential | None) -> list[ModelInfo]:
    """Models to suggest: what the provider reported (with its details), then the backend's tier defaults."""
    seen: dict[str, ModelInfo] = {}
    listed = credential.model_infos if credential else []
    for model in [*listed, *(ModelInfo(id=m) for m in backend.default_tier_models.values() if m)]:
        seen.setdefault(model.id, model)
    return list(seen.values())


class BaseCredentialForm(forms.Form):
    """Secret fields and (for the gateway) connection settings; built per backend below."""

    backend: BaseBackend

    def __init__(self, *args: Any, stored: ProviderCredential | None = None, **kwargs: Any) -> None:
        self.stored = stored
        if stored is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "base_url": stored.base_url,
                "token_url": stored.token_url,
                "scope": stored.scope,
                "token_auth_method": stored.token_auth_method,
                "default_model": stored.default_model,
            }
        super().__init__(*args, **kwargs)
        self.fields["default_model"].widget = DatalistInput(f"models-{self.backend.id}")
        for name in self.backend.secret_fields:
            field = self.fields[name]
            if stored is not None and getattr(stored, name):
                hint = stored.client_id_hint if name == "client_id" else stored.secret_hint
                field.help_text = f"Stored: {hint or '…'}. {KEEP_HELP}"
            else:
                field.required = True
                field.help_text = "Stored encrypted; never shown again (only its last characters)."

    def to_input(self) -> CredentialInput:
        data = self.cleaned_data
        values: dict[str, Any] = {name: data.get(name) or None for name in self.backend.secret_fields}
        if self.backend.user_urls:
            values.update(
                base_url=data.get("base_url", ""),
                token_url=data.get("token_url", ""),
                scope=data.get("scope", ""),
                token_auth_method=data.get("token_auth_method") or None,
            )
        values["default_model"] = data.get("default_model", "")
        return CredentialInput(**values)


def _secret_field(name: str) -> forms.CharField:
    return forms.CharField(
        label=SECRET_LABELS.get(name, name),
        required=False,
        max_length=4096,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=KEEP_HELP,
    )


def credential_form_class(backend: BaseBackend) -> type[BaseCredentialForm]:
    """The credential form for a backend, built from its `secret_fields` and `user_urls`."""
    attrs: dict[str, Any] = {"backend": backend}
    for name in backend.secret_fields:
        attrs[name] = _secret_field(name)
    if backend.user_urls:
        default = backend.default_base_url()
        attrs["base_url"] = forms.CharField(
            label="Base URL",
            required=False,
            max_length=500,
            # The operator's URL is not shown to users: "blank: the platform's gateway" is enough.
            help_text="OpenAI-compatible API root, e.g. https://gateway.example.com/v1"
            + (" (blank: the gateway the platform provides)" if default else "")
            + ". Changing it requires the client secret again.",
        )
        attrs["token_url"] = forms.CharField(
            label="Token URL",
            required=False,
            max_length=500,
            help_text="OAuth2 token endpoint; blank derives it from the base URL. Changing it requires the client secret again.",
        )
        attrs["scope"] = forms.CharField(label="Scope", required=False, max_length=500)
        attrs["token_auth_method"] = forms.ChoiceField(
            label="Client authentication",
            choices=TokenAuthMethod.choices,
            initial=TokenAuthMethod.BASIC,
            required=False,
        )
    attrs["default_model"] = forms.CharField(label="Default model", required=False, max_length=200)
    # Built per call (cheap) so help texts follow the operator's current settings.
    return type(f"{type(backend).__name__}CredentialForm", (BaseCredentialForm,), attrs)


class PreferencesForm(forms.Form):
    """Model choices per tier, priority and enabled; suggestions come from a <datalist>."""

    default_model = forms.CharField(label="Default model", required=False, max_length=200)
    fast_model = forms.CharField(label="Fast tier model", required=False, max_length=200)
    standard_model = forms.CharField(label="Standard tier model", required=False, max_length=200)
    premium_model = forms.CharField(label="Premium tier model", required=False, max_length=200)
    # Not on the page (the cards' up/down buttons order them); still accepted, blank keeps the position.
    priority = forms.IntegerField(
        label="Priority", min_value=0, max_value=32767, required=False, help_text="Lower is tried first."
    )
    enabled = forms.BooleanField(label="Enabled", required=False)

    def __init__(
        self, *args: Any, backend: BaseBackend, credential: ProviderCredential | None = None, **kwargs: Any
    ) -> None:
        if credential is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "default_model": credential.default_model,
                "priority": credential.priority,
                "enabled": credential.enabled,
                **{f"{t}_model": credential.tier_model(t) for t in TIERS},
            }
        super().__init__(*args, **kwargs)
        self.backend = backend
        list_id = f"models-{backend.id}"
        for name in ("default_model", *(f"{t}_model" for t in TIERS)):
            self.fields[name].widget = DatalistInput(list_id)
        for tier in TIERS:
            default = backend.default_model_for(tier)
            self.fields[f"{tier}_model"].help_text = (
                f"Blank: {default}" if default else "Blank: the default model above"
            )

    def unlisted_models(self, listed: list[str]) -> list[str]:
        """Chosen models the provider did not report (allowed, but worth a warning)."""
        if not listed:
            return []
        chosen = [self.cleaned_data.get(n) for n in ("default_model", *(f"{t}_model" for t in TIERS))]
        return sorted({m for m in chosen if m and m not in listed})


class OrderForm(forms.Form):
    """One position number per provider the user has; the service turns it into priorities."""

    def __init__(self, *args: Any, providers: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider_ids = [p for p, _ in providers]
        for index, (provider, name) in enumerate(providers):
            self.fields[f"position_{provider}"] = forms.IntegerField(
                label=name, min_value=1, max_value=999, initial=index + 1
            )

    def ordered_providers(self) -> list[str]:
        positions = {p: self.cleaned_data[f"position_{p}"] for p in self.provider_ids}
        # Ties keep the current order (stable sort).
        return sorted(self.provider_ids, key=lambda p: positions[p])
