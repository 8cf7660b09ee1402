"""The providers app's errors: permanent (show the user) vs transient (retry or fall back).

Messages never contain a secret; they are safe to log and to show. `retryable` tells the
agents' fallback loop whether trying the next candidate makes sense.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base class for everything the providers layer raises on purpose."""

    retryable: bool = False

    def __init__(
        self, message: str = "", *, provider: str = "", status_code: int | None = None, code: str = ""
    ) -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        self.provider = provider
        self.status_code = status_code
        # A machine-readable reason, e.g. the OAuth2 error ("invalid_client").
        self.code = code


class UnknownProvider(ProviderError, KeyError):
    """`registry.get()` was asked for an id that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown provider"


class CredentialDecryptionError(ProviderError):
    """A stored secret could not be decrypted with any configured key: it must be re-entered."""

    def __init__(
        self, message: str = "This credential cannot be decrypted; please re-enter it.", **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class CredentialInvalid(ProviderError):
    """The provider rejected the credential (permanent: the user must act)."""


class BadRequest(ProviderError):
    """The provider refused the request itself (400-class): not retried, not a fallback reason."""


class UnexpectedResponse(ProviderError):
    """The provider answered with something we cannot parse."""


class ResponseTooLarge(UnexpectedResponse):
    """The provider's response exceeded PROVIDERS_HTTP_MAX_RESPONSE_BYTES."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed (transient: retry or fall back)."""

    retryable = True


class ProviderTimeout(ProviderUnavailable):
    """The provider did not answer within the configured timeout."""


class StreamError(ProviderUnavailable):
    """A stream broke after it started: the connection was cut, it went idle too long, or the
    provider sent an error event. `delta_yielded` tells whether the caller already received part
    of the answer (then nobody may retry or fall back: the user has seen it). `reason` is
    "cut", "idle", "error_event" or "incomplete"."""

    def __init__(self, message: str = "", *, delta_yielded: bool = False, reason: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.delta_yielded = delta_yielded
        self.reason = reason

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return not self.delta_yielded


class RateLimited(ProviderUnavailable):
    """The provider rate limited us (429); `retry_after` is in seconds when it said."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class URLNotAllowed(ProviderError):
    """A user-set URL failed the outbound URL policy (see `providers.http.netpolicy`)."""
