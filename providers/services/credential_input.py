"""Checking what a user submits for a credential and merging it with what is stored.

`providers.services` calls `prepare_input()` before it verifies or stores anything; it raises
ValidationError with field errors and touches nothing. The rules it applies (see services' module
docstring): a blank secret keeps the stored one, and a stored client secret only ever goes to the
URLs it was stored with. Text stored as a credential's error is `redact()`ed to `LAST_ERROR_MAX`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from .. import registry
from ..backends.base import BaseBackend
from ..exceptions import CredentialDecryptionError, URLNotAllowed
from ..http.netpolicy import validate_url
from ..models import ProviderCredential, TokenAuthMethod
from ..redaction import redact
from ..secrets import Secret
from ..types import CredentialConfig

URL_FIELDS = ("base_url", "token_url")
LAST_ERROR_MAX = 500
MODEL_MAX = 200
REENTER_URL_CHANGE = (
    "Re-enter the client ID and client secret to use a new URL: nothing stored is sent to a different address."
)
# The characters `providers.secrets.mask` writes into a hint: no real key contains them, so a value
# holding one is a hint pasted back (saving it would overwrite the real key with its mask).
MASK_CHARACTERS = ("…", "•")
MASKED_VALUE = "This looks like the masked hint, not the full value: enter the whole secret, or leave it empty to keep the stored one."


@dataclass(frozen=True)
class CredentialInput:
    """What a user submitted for a credential.

    Secrets: "" or None means "keep the stored one". Non-secret fields: None means "not given,
    keep the stored value" (the JSON API may omit them); "" means "empty" (for URLs: the operator
    default). Secrets are excluded from repr() so the dataclass can be logged safely.
    """

    api_key: str | None = field(default=None, repr=False)
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    base_url: str | None = None
    token_url: str | None = None
    scope: str | None = None
    token_auth_method: str | None = None
    default_model: str | None = None

    def secret(self, name: str) -> Secret | None:
        value = getattr(self, name)
        if isinstance(value, Secret):
            return value if value else None
        value = (value or "").strip()
        return Secret(value) if value else None


@dataclass(frozen=True)
class PreparedInput:
    """A validated input merged with what is stored: ready to verify and to store."""

    backend: BaseBackend
    config: CredentialConfig
    new_secrets: dict[str, Secret]  # only the secrets the user re-entered
    default_model: str
    existing: ProviderCredential | None


def _backend(provider: str) -> BaseBackend:
    try:
        return registry.get(provider)
    except KeyError:  # UnknownProvider is a KeyError
        raise ValidationError({"provider": [f"Unknown provider {provider!r}."]}) from None


def validate_url_field(name: str, url: str) -> str:
    """A user-set URL checked against the URL policy; ValidationError on `name` when refused."""
    # The same check is repeated on the address actually connected to (providers.http.transports).
    try:
        return validate_url(url)
    except URLNotAllowed as exc:
        raise ValidationError({name: [redact(str(exc), limit=LAST_ERROR_MAX) or "This URL is not allowed."]}) from None


def masked_value_error(value: str, hints: Iterable[str] = ()) -> str | None:
    """Why `value` must not be stored as a new secret, or None: it contains a mask character or
    equals one of the stored `hints` (the page, the API and the admin all apply this)."""
    if any(ch in value for ch in MASK_CHARACTERS) or value in {h for h in hints if h}:
        return MASKED_VALUE
    return None


def _stored_secret(existing: ProviderCredential | None, name: str) -> Secret | None:
    if existing is None:
        return None
    value = getattr(existing, name)
    if not value:
        return None
    try:
        return value.secret()
    except CredentialDecryptionError:
        raise ValidationError({name: ["The stored value cannot be decrypted; please enter it again."]}) from None


@sensitive_variables()
def prepare_input(*, user: AbstractBaseUser, provider: str, data: CredentialInput) -> PreparedInput:
    """Validate input, merge it with the stored credential, apply the URL-change rule.

    Raises ValidationError with field errors; touches nothing.
    """
    backend = _backend(provider)
    existing = ProviderCredential.objects.filter(owner=user, provider=provider).first()
    errors: dict[str, list[str]] = {}

    base_url = token_url = scope = ""
    token_auth_method = TokenAuthMethod.BASIC.value
    if backend.user_urls:
        base_url = existing.base_url if (data.base_url is None and existing) else (data.base_url or "").strip()
        token_url = existing.token_url if (data.token_url is None and existing) else (data.token_url or "").strip()
        scope = existing.scope if (data.scope is None and existing) else (data.scope or "").strip()
        method = data.token_auth_method
        if method is None or method == "":
            method = existing.token_auth_method if existing else TokenAuthMethod.BASIC.value
        if method not in TokenAuthMethod.values:
            errors["token_auth_method"] = [f"Choose one of: {', '.join(TokenAuthMethod.values)}."]
        token_auth_method = method
        if not base_url:
            base_url = backend.default_base_url()  # operator default, documented in the form
        if not base_url:
            errors["base_url"] = ["Enter the gateway base URL."]
        for name, value in (("base_url", base_url), ("token_url", token_url)):
            if len(value) > 500:
                errors[name] = ["At most 500 characters."]
            elif value and name not in errors:
                try:
                    validated = validate_url_field(name, value)
                except ValidationError as exc:
                    errors.update(exc.message_dict)
                else:
                    if name == "base_url":
                        base_url = validated
                    else:
                        token_url = validated
        if len(scope) > 500:
            errors["scope"] = ["At most 500 characters."]

    new_secrets: dict[str, Secret] = {}
    secrets: dict[str, Secret | None] = {}
    for name in backend.secret_fields:
        given = data.secret(name)
        if given is not None:
            if len(given.reveal()) > 4096:
                errors[name] = ["This value is too long."]
                continue
            hints = (existing.secret_hint, existing.client_id_hint) if existing else ()
            masked = masked_value_error(given.reveal(), hints)
            if masked:
                errors[name] = [masked]
                continue
            new_secrets[name] = given
            secrets[name] = given
            continue
        try:
            secrets[name] = _stored_secret(existing, name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if secrets[name] is None:
            errors[name] = ["This field is required."]

    # Nothing stored ever goes to a URL it was not stored with: the client ID identifies the
    # client as much as the secret does, so every secret field must be re-entered.
    if backend.user_urls and existing is not None:
        missing = [name for name in backend.secret_fields if name not in new_secrets]
        changed = [
            n
            for n, v in (("base_url", base_url), ("token_url", token_url))
            if n not in errors and v != getattr(existing, n)
        ]
        if missing and changed:
            for name in changed:
                errors.setdefault(name, []).append(REENTER_URL_CHANGE)
            for name in missing:
                errors.setdefault(name, []).append("Required when a URL changes.")

    default_model = (
        existing.default_model if (data.default_model is None and existing) else (data.default_model or "").strip()
    )
    if len(default_model) > MODEL_MAX:
        errors["default_model"] = [f"At most {MODEL_MAX} characters."]

    if errors:
        raise ValidationError(errors)

    config = CredentialConfig(
        provider=provider,
        api_key=secrets.get("api_key"),
        client_id=secrets.get("client_id"),
        client_secret=secrets.get("client_secret"),
        base_url=base_url,
        token_url=token_url,
        scope=scope,
        token_auth_method=token_auth_method,
        credential_id=existing.pk if existing else None,
    )
    return PreparedInput(
        backend=backend, config=config, new_secrets=new_secrets, default_model=default_model, existing=existing
    )
