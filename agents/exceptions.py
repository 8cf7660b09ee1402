"""The agents app's errors. Messages are sanitized (never a secret) and safe to show and log."""

from __future__ import annotations

from providers.exceptions import ProviderError, ProviderTimeout


class AgentError(ProviderError):
    """Base class for errors an agent run ends with."""


class NoModelAvailable(AgentError):
    """Every candidate for the tier failed, had its circuit breaker open, or none was configured.

    `tried` lists each candidate with the reason it was left:
    `[{"provider", "model", "source", "reason"}]` (empty: the user has no usable provider).
    """

    def __init__(self, tier: str, tried: list[dict[str, str]] | None = None) -> None:
        self.tier = tier
        self.tried = list(tried or [])
        if self.tried:
            attempts = "; ".join(f"{t['provider']} {t['model']} ({t['source']}): {t['reason']}" for t in self.tried)
            message = f"No model available for the {tier} tier. Tried: {attempts}."
        else:
            message = f"No AI provider is set up for the {tier} tier. Add and verify one in Settings › AI providers."  # noqa: RUF001 - the page's breadcrumb
        super().__init__(message, code="no_model_available")

    @property
    def nothing_configured(self) -> bool:
        return not self.tried


class RequestRefused(AgentError):
    """The provider refused the request itself (400-class): no fallback, the caller must change it."""


class StreamInterrupted(AgentError):
    """The provider failed after the answer had started to reach the caller (no fallback then)."""


class AttemptTimedOut(ProviderTimeout):
    """One attempt ran past `AGENTS_RUN_TIMEOUT`, or its stream went silent for longer than
    `PROVIDERS_STREAM_IDLE_TIMEOUT`; the message names the provider. A timeout like any other:
    the runner falls back unless part of the answer already reached the caller."""


class UserRateLimited(AgentError):
    """The user's own rate limit is spent: the run did not start."""

    def __init__(self, retry_after: int, limit: str, what: str = "runs") -> None:
        self.retry_after = retry_after
        self.limit = limit
        super().__init__(
            f"You have reached your limit of {limit} agent {what}. Try again in {retry_after} s.",
            status_code=429,
            code="rate_limited",
        )
