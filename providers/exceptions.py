"""The providers app's errors: permanent (show the user) vs transient (retry or fall back).

Messages never contain a secret; they are safe to log and to show.
"""
from __future__ import annotations


class ProviderError(Exception):
    """Base class for everything the providers layer raises on purpose."""


class UnknownProvider(ProviderError, KeyError):
    """`registry.get()` was asked for an id that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown provider"


class CredentialDecryptionError(ProviderError):
    """A stored secret could not be decrypted with any configured key: it must be re-entered."""

    def __init__(self, message: str = "This credential cannot be decrypted; please re-enter it.") -> None:
        super().__init__(message)


class CredentialInvalid(ProviderError):
    """The provider rejected the credential (permanent: the user must act)."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed (transient: retry or fall back)."""


class URLNotAllowed(ProviderError):
    """A user-set URL failed the outbound URL policy (see `providers.netpolicy`)."""


class ResponseTooLarge(ProviderError):
    """The provider's response exceeded PROVIDERS_HTTP_MAX_RESPONSE_BYTES."""
