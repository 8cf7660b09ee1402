"""Plain value types passed between services, selectors, backends and the gateway client."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class ModelInfo:
    """One model a provider lists, with what the provider reports about it (None: not reported).

    Stored on the credential as JSON (`as_json()`); `from_stored()` also reads the plain model
    ids that rows verified before these records existed still hold."""

    id: str
    display_name: str | None = None
    owner: str | None = None
    context_length: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The fields that are set: what `available_models` stores and the JSON API returns."""
        data: dict[str, Any] = {"id": self.id}
        for name in ("display_name", "owner", "context_length"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_stored(cls, item: object) -> ModelInfo | None:
        """A stored entry (a dict from `as_json()`, or an old plain id), or None for junk."""
        if isinstance(item, str):
            return cls(id=item) if item else None
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
            return None
        return cls(
            id=item["id"],
            display_name=_text(item.get("display_name")),
            owner=_text(item.get("owner")),
            context_length=positive_int(item.get("context_length")),
        )

    @classmethod
    def coerce(cls, item: ModelInfo | str) -> ModelInfo:
        """A backend's entry as a ModelInfo (backends written before it returned plain ids)."""
        return item if isinstance(item, ModelInfo) else cls(id=item)

    @property
    def context_label(self) -> str:
        """The context length as people read it ("128k context", "1M context"); "" if not reported."""
        n = self.context_length
        if not n:
            return ""
        # Providers mix powers of two (131072, 1048576) and of ten (128000, 1000000).
        for unit, binary, decimal in (("M", 1 << 20, 1_000_000), ("k", 1 << 10, 1000)):
            if n >= decimal:
                size = n / decimal if n % decimal == 0 or n % binary else n / binary
                size_text = f"{size:.1f}".removesuffix(".0") + unit
                break
        else:
            size_text = str(n)
        return f"{size_text} context"

    @property
    def details(self) -> str:
        """What the pages show next to the id: "owned by openai · 128k context" (or "")."""
        parts = [
            self.display_name if self.display_name and self.display_name != self.id else "",
            f"owned by {self.owner}" if self.owner else "",
        ]
        return " · ".join(p for p in [*parts, self.context_label] if p)


def stored_models(items: object) -> list[ModelInfo]:
    """A credential's stored `available_models` as records; unreadable entries are left out."""
    if not isinstance(items, Iterable) or isinstance(items, str | bytes | Mapping):
        return []
    found = (ModelInfo.from_stored(item) for item in items)
    return [m for m in found if m is not None]


def positive_int(value: object) -> int | None:
    """A reported size (context length) if it is a positive whole number, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _text(value: object) -> str | None:
    return (value.strip()[:200] or None) if isinstance(value, str) else None


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
    models: tuple[ModelInfo, ...] = ()
    # Sanitized detail for the user and the log (status code, provider's error type); never a secret.
    detail: str = ""
    retry_after: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is VerificationOutcome.VERIFIED

    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.models]

    @property
    def message(self) -> str:
        if self.ok:
            return f"Verified: the provider offers {len(self.models)} model{'s' if len(self.models) != 1 else ''}."
        return f"{self.outcome.summary}{': ' + self.detail if self.detail else ''}."
