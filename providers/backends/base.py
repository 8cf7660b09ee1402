"""The contract every provider backend fulfils.

A backend is a stateless class: identity as class attributes, behaviour as a few methods.
Register it by dotted path in `settings.PROVIDERS_BACKENDS`; `providers.registry` loads them.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..types import CredentialConfig, VerificationResult


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
        """
        raise NotImplementedError

    def list_models(self, config: CredentialConfig) -> list[str]:
        """Model ids the credential can use; raises CredentialInvalid / ProviderUnavailable."""
        raise NotImplementedError

    def build_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """A ready Agno model for this credential (added with the agents app)."""
        raise NotImplementedError(f"{self.id} cannot build models yet")

    def default_model_for(self, tier: str) -> str:
        return self.default_tier_models.get(tier, "")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"
