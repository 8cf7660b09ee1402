"""Plain value types passed between services, selectors, backends and the gateway client."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .secrets import Secret

#: The credential fields that hold secrets: encrypted at rest, never shown (a hint at most), and
#: scrubbed out of provider error text.
SECRET_FIELDS = ("api_key", "client_id", "client_secret")


@dataclass(frozen=True)
class CredentialConfig:
    """Everything a backend needs to talk to a provider: decrypted secrets (as `Secret`) and
    non-secret connection settings. Built by `selectors.credential_config()` or from form input;
    safe to repr()."""

    provider: str
    api_key: Secret | None = None
    client_id: Secret | None = None
    client_secret: Secret | None = None
    base_url: str = ""
    token_url: str = ""
    scope: str = ""
    token_auth_method: str = "client_secret_basic"
    # Where it came from: a ProviderCredential pk, or None for the platform's env credential.
    credential_id: int | None = None

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The secrets that are set, for scrubbing them out of provider error text."""
        values = (getattr(self, name) for name in SECRET_FIELDS)
        return tuple(s for s in values if s)


class VerificationOutcome(enum.StrEnum):
    """The typed results a verification can have; each has a user-facing explanation."""

    VERIFIED = "verified"
    INVALID_CREDENTIALS = "invalid_credentials"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    UNEXPECTED_RESPONSE = "unexpected_response"
    URL_NOT_ALLOWED = "url_not_allowed"
    # Not from the provider: the stored secret no longer decrypts (a key was removed).
    DECRYPTION_FAILED = "decryption_failed"

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]


_SUMMARIES = {
    VerificationOutcome.VERIFIED: "Verified",
    VerificationOutcome.INVALID_CREDENTIALS: "Invalid credentials: the provider rejected them",
    VerificationOutcome.UNREACHABLE: "Provider unreachable",
    VerificationOutcome.TIMEOUT: "Provider timed out",
    VerificationOutcome.RATE_LIMITED: "Rate limited by the provider (the key may be fine; try again later)",
    VerificationOutcome.UNEXPECTED_RESPONSE: "Unexpected response from the provider",
    VerificationOutcome.URL_NOT_ALLOWED: "URL not allowed",
    VerificationOutcome.DECRYPTION_FAILED: "The stored secret cannot be decrypted; re-enter this credential",
}


@dataclass(frozen=True)
class VerificationResult:
    outcome: VerificationOutcome
    models: tuple[str, ...] = ()
    # Sanitized detail for the user and the log (status code, provider's error type); never a secret.
    detail: str = ""
    retry_after: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is VerificationOutcome.VERIFIED

    @property
    def message(self) -> str:
        if self.ok:
            return f"Verified: the provider offers {len(self.models)} model{'s' if len(self.models) != 1 else ''}."
        return f"{self.outcome.summary}{': ' + self.detail if self.detail else ''}."
