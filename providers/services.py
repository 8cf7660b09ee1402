"""Writes: verify, store, re-verify, reorder and remove provider credentials.

Every function is keyword-only and scoped to its owner. Views, forms, the JSON API, admin
actions, tasks and commands call these and nothing below them.

Rules kept here (see ARCHITECTURE.md "Security rules"):
- a failed verification never changes a stored row, unless the caller asks for "save anyway";
- a blank secret input keeps the stored secret;
- a stored secret is never sent to a URL it was not stored with: changing a gateway URL
  requires re-entering the client secret;
- nothing written to `last_error` or a log line contains a secret.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import credcache, netpolicy, registry
from .backends.base import BaseBackend
from .conf import app_settings
from .exceptions import CredentialDecryptionError, URLNotAllowed
from .models import ProviderCredential, TokenAuthMethod, VerificationStatus
from .secrets import Secret
from .selectors import credential_config
from .types import CredentialConfig, VerificationOutcome, VerificationResult

logger = logging.getLogger(__name__)

SECRET_FIELDS = ("api_key", "client_id", "client_secret")
URL_FIELDS = ("base_url", "token_url")
LAST_ERROR_MAX = 500
MODEL_MAX = 200
# Outcomes that say something about the credential itself; the others (unreachable, timeout,
# rate limited) say nothing about it, so a re-check with them does not demote a verified row.
PERMANENT_FAILURES = {
    VerificationOutcome.INVALID_CREDENTIALS,
    VerificationOutcome.UNEXPECTED_RESPONSE,
    VerificationOutcome.URL_NOT_ALLOWED,
    VerificationOutcome.DECRYPTION_FAILED,
}
REENTER_URL_CHANGE = "Re-enter the client secret to use a new URL: a stored secret is never sent to a different address."


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
class _Prepared:
    """A validated input merged with what is stored: ready to verify and to store."""

    backend: BaseBackend
    config: CredentialConfig
    new_secrets: dict[str, Secret]  # only the secrets the user re-entered
    default_model: str
    existing: ProviderCredential | None


# --- helpers ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def sanitize_error(text: str, *, secrets: tuple[Secret | None, ...] = ()) -> str:
    """Make text safe to store and show: no control characters, no secret, at most 500 chars."""
    text = _CONTROL.sub(" ", str(text))
    for secret in secrets:
        if secret:
            raw = secret.reveal()
            text = text.replace(raw, secret.hint or "…")
            if len(raw) >= 8:  # a prefix (e.g. "sk-proj-") could still identify the key
                text = text.replace(raw[:8], "…")
    text = " ".join(text.split())
    return text[: LAST_ERROR_MAX - 1] + "…" if len(text) > LAST_ERROR_MAX else text


def _backend(provider: str) -> BaseBackend:
    try:
        return registry.get(provider)
    except KeyError:  # UnknownProvider is a KeyError
        raise ValidationError({"provider": [f"Unknown provider {provider!r}."]}) from None


def _validate_url(name: str, url: str) -> str:
    # The same check is repeated on the address actually connected to (providers.http).
    try:
        return netpolicy.validate_url(url)
    except URLNotAllowed as exc:
        raise ValidationError({name: [sanitize_error(str(exc)) or "This URL is not allowed."]}) from None


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


def _prepare(*, user: AbstractBaseUser, provider: str, data: CredentialInput) -> _Prepared:
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
            base_url = app_settings.AI_GATEWAY_BASE_URL  # operator default, documented in the form
        if not base_url:
            errors["base_url"] = ["Enter the gateway base URL."]
        for name, value in (("base_url", base_url), ("token_url", token_url)):
            if len(value) > 500:
                errors[name] = ["At most 500 characters."]
            elif value and name not in errors:
                try:
                    validated = _validate_url(name, value)
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

    # A stored client secret only ever goes to the URLs it was stored with.
    if backend.user_urls and existing is not None and "client_secret" not in new_secrets:
        for name, value in (("base_url", base_url), ("token_url", token_url)):
            if name not in errors and value != getattr(existing, name):
                errors.setdefault(name, []).append(REENTER_URL_CHANGE)
                errors.setdefault("client_secret", []).append("Required when a URL changes.")

    default_model = existing.default_model if (data.default_model is None and existing) else (data.default_model or "").strip()
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
    return _Prepared(backend=backend, config=config, new_secrets=new_secrets, default_model=default_model, existing=existing)


def _run_verify(backend: BaseBackend, config: CredentialConfig) -> VerificationResult:
    """backend.verify(), with the URL policy and any unexpected exception mapped to an outcome.

    The detail is sanitized here too (defence in depth: a provider may echo the key it got).
    """
    try:
        result = backend.verify(config)
        if result.detail:
            detail = sanitize_error(result.detail, secrets=(config.api_key, config.client_id, config.client_secret))
            result = dataclasses.replace(result, detail=detail)
        return result
    except URLNotAllowed as exc:
        return VerificationResult(VerificationOutcome.URL_NOT_ALLOWED, detail=sanitize_error(str(exc)))
    except CredentialDecryptionError:
        return VerificationResult(VerificationOutcome.DECRYPTION_FAILED)
    except Exception as exc:  # verify() promises not to raise; a bug must still not leak or 500
        logger.error("verify() of %s raised %s", backend.id, type(exc).__name__)
        return VerificationResult(VerificationOutcome.UNEXPECTED_RESPONSE, detail=type(exc).__name__)


def _error_text(result: VerificationResult, config: CredentialConfig) -> str:
    secrets = (config.api_key, config.client_id, config.client_secret)
    return sanitize_error(result.message, secrets=secrets)


def _log_result(action: str, provider: str, owner_id: object, result: VerificationResult) -> None:
    logger.info("credential %s: provider=%s owner=%s outcome=%s models=%d", action, provider, owner_id, result.outcome.value, len(result.models))


def _record_result(credential: ProviderCredential, result: VerificationResult, error_text: str) -> list[str]:
    """Apply a verification result to a row in memory; returns the fields changed."""
    now = timezone.now()
    credential.status_code = result.outcome.value
    credential.last_checked_at = now
    fields = ["status_code", "last_checked_at", "updated_at"]
    if result.ok:
        credential.status = VerificationStatus.VERIFIED
        credential.verified_at = now
        credential.available_models = list(result.models)
        credential.last_error = ""
        fields += ["status", "verified_at", "available_models", "last_error"]
    else:
        credential.last_error = error_text
        fields.append("last_error")
        if result.outcome in PERMANENT_FAILURES:
            credential.status = VerificationStatus.FAILED
            fields.append("status")
    return fields


# --- services --------------------------------------------------------------------------------


def credential_verify_input(*, user: AbstractBaseUser, provider: str, data: CredentialInput) -> VerificationResult:
    """Verify submitted values without saving anything (blank secrets use the stored ones)."""
    prepared = _prepare(user=user, provider=provider, data=data)
    result = _run_verify(prepared.backend, prepared.config)
    _log_result("verify_input", provider, user.pk, result)
    return result


def credential_save(
    *, user: AbstractBaseUser, provider: str, data: CredentialInput, save_unverified: bool = False
) -> tuple[ProviderCredential | None, VerificationResult]:
    """Verify, then create or update the user's credential.

    Returns (credential, result). When verification fails and `save_unverified` is false,
    nothing changes and the credential is None. With `save_unverified`, the values are stored
    with status "failed" (the provider rejected them) or "unverified" (it could not tell).
    """
    prepared = _prepare(user=user, provider=provider, data=data)
    result = _run_verify(prepared.backend, prepared.config)
    _log_result("save", provider, user.pk, result)
    if not result.ok and not save_unverified:
        return None, result

    config = prepared.config
    with transaction.atomic():
        credential = ProviderCredential.objects.select_for_update().filter(owner=user, provider=provider).first()
        if credential is None:
            credential = ProviderCredential(owner=user, provider=provider)
        elif prepared.existing is None or (credential.base_url, credential.token_url) != (prepared.existing.base_url, prepared.existing.token_url):
            # Someone else changed the row while we verified; our URL check was against old data.
            raise ValidationError({"base_url": ["This credential changed meanwhile; please submit again."]})
        for name, secret in prepared.new_secrets.items():
            setattr(credential, name, secret)
        if "api_key" in prepared.new_secrets:
            credential.secret_hint = prepared.new_secrets["api_key"].hint
        if "client_secret" in prepared.new_secrets:
            credential.secret_hint = prepared.new_secrets["client_secret"].hint
        if "client_id" in prepared.new_secrets:
            credential.client_id_hint = prepared.new_secrets["client_id"].hint
        credential.base_url = config.base_url
        credential.token_url = config.token_url
        credential.scope = config.scope
        credential.token_auth_method = config.token_auth_method
        credential.default_model = prepared.default_model
        _record_result(credential, result, _error_text(result, config))
        if not result.ok:
            # A secret we could not verify is not a verified credential, whatever came before.
            transient = result.outcome not in PERMANENT_FAILURES
            credential.status = VerificationStatus.UNVERIFIED if transient else VerificationStatus.FAILED
        credential.save()
    # Reload so the returned instance holds EncryptedValue (not the plaintext just assigned).
    credential.refresh_from_db()
    logger.info("credential stored: provider=%s owner=%s status=%s", provider, user.pk, credential.status)
    return credential, result


def credential_update_preferences(
    *,
    user: AbstractBaseUser,
    provider: str,
    default_model: str,
    fast_model: str,
    standard_model: str,
    premium_model: str,
    priority: int,
    enabled: bool,
) -> ProviderCredential:
    """Set model choices, priority and enabled; no secret involved, no re-verification.

    Raises ProviderCredential.DoesNotExist when the user has no credential for the provider.
    """
    credential = ProviderCredential.objects.get(owner=user, provider=provider)
    models = {"default_model": default_model, "fast_model": fast_model, "standard_model": standard_model, "premium_model": premium_model}
    errors = {name: [f"At most {MODEL_MAX} characters."] for name, value in models.items() if len((value or "").strip()) > MODEL_MAX}
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 32767:
        errors["priority"] = ["Enter a whole number between 0 and 32767."]
    if errors:
        raise ValidationError(errors)
    for name, value in models.items():
        setattr(credential, name, (value or "").strip())
    credential.priority = priority
    credential.enabled = bool(enabled)
    credential.save(update_fields=[*models, "priority", "enabled", "updated_at"])
    return credential


def credential_set_order(*, user: AbstractBaseUser, providers: list[str]) -> None:
    """Priority = position in `providers`; the user's other credentials follow in their old order."""
    known = {b.id for b in registry.all_backends()}
    unknown = [p for p in providers if p not in known]
    if unknown or len(set(providers)) != len(providers):
        raise ValidationError({"providers": [f"Unknown or repeated providers: {', '.join(unknown) or 'duplicates'}."]})
    with transaction.atomic():
        rows = list(ProviderCredential.objects.select_for_update().filter(owner=user).order_by("priority", "provider"))
        position = {p: i for i, p in enumerate(providers)}
        rows.sort(key=lambda c: (position.get(c.provider, len(providers)), c.priority))
        for index, credential in enumerate(rows):
            if credential.priority != index:
                credential.priority = index
                credential.save(update_fields=["priority", "updated_at"])


def credential_delete(*, user: AbstractBaseUser, provider: str) -> None:
    """Remove the user's credential; ProviderCredential.DoesNotExist when there is none."""
    credential = ProviderCredential.objects.get(owner=user, provider=provider)
    credential.delete()
    logger.info("credential deleted: provider=%s owner=%s", provider, user.pk)


def credential_verify(*, credential: ProviderCredential) -> VerificationResult:
    """Re-verify a stored credential and record the outcome on it.

    A secret that no longer decrypts is recorded as failed ("re-enter this credential");
    transient outcomes (unreachable, timeout, rate limited) are recorded without demoting a
    verified credential, so a provider's bad minute does not switch off the user's key.
    """
    # Verify what is stored (and hold EncryptedValue, not whatever an unsaved instance carries).
    credential.refresh_from_db()
    try:
        backend = registry.get(credential.provider)
    except KeyError:
        result = VerificationResult(VerificationOutcome.UNEXPECTED_RESPONSE, detail="provider not registered")
        config = CredentialConfig(provider=credential.provider)
    else:
        try:
            config = credential_config(credential=credential)
        except CredentialDecryptionError:
            config = CredentialConfig(provider=credential.provider)
            result = VerificationResult(VerificationOutcome.DECRYPTION_FAILED)
        else:
            result = _check_stored_urls(config) or _run_verify(backend, config)
    fields = _record_result(credential, result, _error_text(result, config))
    credential.save(update_fields=fields)
    _log_result("reverify", credential.provider, credential.owner_id, result)
    return result


def _check_stored_urls(config: CredentialConfig) -> VerificationResult | None:
    """The policy may have tightened since the URL was stored: check it again before connecting."""
    for name in URL_FIELDS:
        value = getattr(config, name)
        if value:
            try:
                _validate_url(name, value)
            except ValidationError as exc:
                return VerificationResult(VerificationOutcome.URL_NOT_ALLOWED, detail=f"{name}: {'; '.join(exc.messages)}")
    return None


def credential_mark_failed(*, credential_id: int, code: str, message: str) -> None:
    """Record that a credential stopped working (e.g. the token endpoint said invalid_client).

    A no-op when the credential was deleted meanwhile.
    """
    now = timezone.now()
    updated = ProviderCredential.objects.filter(pk=credential_id).update(
        status=VerificationStatus.FAILED,
        status_code=sanitize_error(code)[:32],
        last_error=sanitize_error(message),
        last_checked_at=now,
        updated_at=now,
    )
    if updated:
        # QuerySet.update() sends no post_save: tell every process's credential snapshots.
        owner_id = ProviderCredential.objects.filter(pk=credential_id).values_list("owner_id", flat=True).first()
        if owner_id is not None:
            credcache.credentials_changed(owner_id=owner_id)
    logger.warning("credential marked failed: id=%s code=%s found=%s", credential_id, sanitize_error(code)[:32], bool(updated))

