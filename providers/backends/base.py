"""The contract every provider backend fulfils.

A backend is a stateless class: identity as class attributes, behaviour as a few methods. It
owns everything provider-specific, so that the rest of the code asks the backend instead of
branching on a provider id. Adding a provider is one module here, one dotted path in
`settings.PROVIDERS_BACKENDS` (`providers.registry` loads them) and `makemigrations` (the
stored `provider` column is checked against the registered ids).

What a backend answers, and who asks:

* identity and form: `id`, `name`, `help_text`, `secret_fields`, `user_urls`,
  `default_base_url()` (settings page, JSON API, admin);
* the provider itself: `verify()` / `list_models()` (saving a credential), `runtime_models()`
  (`manage.py providers_list_models`), `build_model()` via `agno_model()` (the agents);
* the operator's env credential: `platform_config()`, `platform_settings()`,
  `platform_setup_hint()`, `model_settings` (selectors, the agents' model cache, commands);
* models and order: `default_model_for()`, `env_tier_models()` / `env_default_model()` /
  `env_model_for()`, `tried_first()` (resolution).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.views.decorators.debug import sensitive_variables

from ..conf import app_settings
from ..exceptions import (
    CredentialInvalid,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    URLNotAllowed,
)
from ..redaction import redact
from ..secrets import Secret
from ..types import CredentialConfig, ModelInfo, VerificationOutcome, VerificationResult


def result_for_error(exc: ProviderError) -> VerificationResult:
    """The one mapping from a typed provider error to a verification outcome (all backends).

    Order matters: RateLimited and ProviderTimeout are ProviderUnavailable subclasses.
    The detail is the error's message, which the raisers keep redacted (no secrets).
    """
    if isinstance(exc, CredentialInvalid):
        outcome = VerificationOutcome.INVALID_CREDENTIALS
    elif isinstance(exc, RateLimited):
        outcome = VerificationOutcome.RATE_LIMITED
    elif isinstance(exc, ProviderTimeout):
        outcome = VerificationOutcome.TIMEOUT
    elif isinstance(exc, ProviderUnavailable):
        outcome = VerificationOutcome.UNREACHABLE
    elif isinstance(exc, URLNotAllowed):
        outcome = VerificationOutcome.URL_NOT_ALLOWED
    else:
        outcome = VerificationOutcome.UNEXPECTED_RESPONSE
    extra = {"code": exc.code} if exc.code else {}
    if exc.status_code is not None:
        extra["status"] = str(exc.status_code)
    return VerificationResult(
        outcome=outcome,
        detail=redact(str(exc), limit=300),
        retry_after=getattr(exc, "retry_after", None),
        extra=extra,
    )


#: Backend methods that hold a secret (a header, a token request, the operator's key): their
#: locals, and those of everything they call, are hidden from error reports in every subclass.
SENSITIVE_METHODS = ("verify", "list_models", "runtime_models", "build_model", "agno_model", "platform_config")


class BaseBackend:
    #: Stable id stored in ProviderCredential.provider.
    id: ClassVar[str]
    #: Human name for pages and admin.
    name: ClassVar[str]
    #: Which CredentialConfig secret attributes this provider needs, in form order.
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    #: Whether users set connection URLs (only the AI Gateway; public providers' URLs are operator settings).
    user_urls: ClassVar[bool] = False
    #: Model per tier when nothing else is set.
    default_tier_models: ClassVar[dict[str, str]] = {}
    #: Short help shown above the form.
    help_text: ClassVar[str] = ""
    #: The app setting with the operator's API key for this provider (the default
    #: `platform_config()` reads it); "" when the platform offers no credential of its own.
    platform_key_setting: ClassVar[str] = ""
    #: App settings every built model depends on besides the credential (e.g. the endpoint):
    #: the agents' model cache builds new models when one of them changes.
    model_settings: ClassVar[tuple[str, ...]] = ()
    #: App settings with the operator's model per tier, and under "default" for every tier; they
    #: apply to users' own credentials of this provider too. E.g. the gateway's
    #: `{"fast": "AI_GATEWAY_FAST_MODEL", ..., "default": "AI_GATEWAY_DEFAULT_MODEL"}`.
    env_model_settings: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in SENSITIVE_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, sensitive_variables()(cls.__dict__[name]))

    @sensitive_variables()
    def verify(self, config: CredentialConfig) -> VerificationResult:
        """Check the credential against the provider without storing anything.

        Never raises for provider-side outcomes: every one maps to a VerificationOutcome.
        The default lists the models (the cheapest authenticated call every provider has).
        """
        try:
            models = self.list_models(config)
        except ProviderError as exc:
            return result_for_error(exc)
        models_found = tuple(ModelInfo.coerce(m) for m in models)
        return VerificationResult(outcome=VerificationOutcome.VERIFIED, models=models_found)

    def list_models(self, config: CredentialConfig) -> list[ModelInfo]:
        """The models the credential can use, with what the provider reports about each (owner,
        display name, context length); raises CredentialInvalid / ProviderUnavailable.
        (Plain ids are still accepted from older backends: `verify()` coerces them.)"""
        raise NotImplementedError

    @sensitive_variables()
    def build_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """A ready Agno model for this credential: what callers use (backends implement `agno_model`).

        `options` go to the model class (e.g. `temperature`); `http_timeout` overrides the
        providers' default timeout. Raises ValueError without a model id or a needed secret."""
        if not model_id:
            raise ValueError("a model id is required")
        return self.agno_model(config, model_id, **options)

    def agno_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """Build the Agno model (`model_id` is set). The key comes from `config`, never from the
        environment; no retries in the SDK (the agents' fallback loop decides); helpers in
        `providers.agno_support`. Import the provider SDK here, not at module top."""
        raise NotImplementedError(f"{self.id} cannot build models")

    def runtime_models(self, config: CredentialConfig) -> list[ModelInfo]:
        """The models as runs would see them, for operators (`providers_list_models`).

        `list_models()` unless the backend talks to the provider differently at run time."""
        return [ModelInfo.coerce(m) for m in self.list_models(config)]

    def default_base_url(self) -> str:
        """The operator's default for a user-set base URL (`user_urls` backends): what a blank
        base URL means on the form and in the service."""
        return ""

    # -- the operator's credential and settings ---------------------------------------------

    def setting(self, name: str) -> Any:
        """An operator setting, read through `providers.conf` (one home for defaults).

        A backend whose settings `providers.conf` does not know overrides this."""
        return getattr(app_settings, name)

    @sensitive_variables()
    def platform_config(self) -> CredentialConfig | None:
        """The operator's env-configured credential, or None when it is not configured.

        The default is an API key in `platform_key_setting`."""
        key = self.setting(self.platform_key_setting) if self.platform_key_setting else ""
        return CredentialConfig(provider=self.id, api_key=Secret(key)) if key else None

    def platform_settings(self) -> tuple[str, ...]:
        """App settings `platform_config()` is read from: a change to one gives new models."""
        return (self.platform_key_setting,) if self.platform_key_setting else ()

    def platform_setup_hint(self) -> str:
        """The settings an operator sets for `platform_config()`, for error messages ("" if none)."""
        return self.platform_key_setting

    # -- models and order -------------------------------------------------------------------

    def default_model_for(self, tier: str) -> str:
        return self.default_tier_models.get(tier, "")

    def env_tier_models(self) -> dict[str, str]:
        """The operator's model per tier from `env_model_settings` (only those set)."""
        models = {tier: self.setting(name) for tier, name in self.env_model_settings.items() if tier != "default"}
        return {tier: model for tier, model in models.items() if model}

    def env_default_model(self) -> str:
        """The operator's model for every tier (`env_model_settings["default"]`), or ""."""
        name = self.env_model_settings.get("default")
        return self.setting(name) if name else ""

    def env_model_for(self, tier: str) -> str:
        """The operator's model for `tier`, else their default model, else ""."""
        name = self.env_model_settings.get(tier)
        return (self.setting(name) if name else "") or self.env_default_model()

    def tried_first(self) -> bool:
        """Whether this provider's credentials (users' and the platform's) are tried before every
        other provider's, whatever their priority."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"
