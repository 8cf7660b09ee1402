"""The contract every provider backend fulfils.

A backend is a stateless class: identity as class attributes, behaviour as a few methods.
Register it by dotted path in `settings.PROVIDERS_BACKENDS`; `providers.registry` loads them.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..exceptions import (
    CredentialInvalid,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    URLNotAllowed,
)
from ..redaction import redact
from ..types import CredentialConfig, VerificationOutcome, VerificationResult


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

    def verify(self, config: CredentialConfig) -> VerificationResult:
        """Check the credential against the provider without storing anything.

        Never raises for provider-side outcomes: every one maps to a VerificationOutcome.
        The default lists the models (the cheapest authenticated call every provider has).
        """
        try:
            models = self.list_models(config)
        except ProviderError as exc:
            return result_for_error(exc)
        return VerificationResult(outcome=VerificationOutcome.VERIFIED, models=tuple(models))

    def list_models(self, config: CredentialConfig) -> list[str]:
        """Model ids the credential can use; raises CredentialInvalid / ProviderUnavailable."""
        raise NotImplementedError

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

    def default_model_for(self, tier: str) -> str:
        return self.default_tier_models.get(tier, "")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"
