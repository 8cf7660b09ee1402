"""Writes: verify, store, re-verify, reorder and remove provider credentials.

Every function is keyword-only and scoped to its owner. Views, forms, the JSON API, admin
actions, tasks and commands call these and nothing below them.

Rules kept here (see ARCHITECTURE.md "Security rules"):
- a failed verification never changes a stored row, unless the caller asks for "save anyway";
- a blank secret input keeps the stored secret;
- a stored secret is never sent to a URL it was not stored with: changing a gateway URL
  requires re-entering the client secret;
- nothing written to `last_error` or a log line contains a secret.

Checking and merging the submitted input lives in `providers.credential_input`.
"""

from __future__ import annotations

import dataclasses
import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ideaforge import ratelimit

from .. import registry, snapshots
from ..audit import audit
from ..backends.base import BaseBackend
from ..conf import app_settings
from ..exceptions import CredentialDecryptionError, URLNotAllowed
from ..http.deadline import deadline
from ..metrics import count_verification
from ..models import AuditAction, ProviderCredential, VerificationStatus
from ..redaction import redact
from ..selectors import credential_config, platform_config
from ..types import CredentialConfig, VerificationOutcome, VerificationResult
from .credential_input import (
    LAST_ERROR_MAX,
    MODEL_MAX,
    URL_FIELDS,
    CredentialInput,
    prepare_input,
    validate_url_field,
)

logger = logging.getLogger(__name__)

# Outcomes that say something about the credential itself; the others (unreachable, timeout,
# rate limited) say nothing about it, so a re-check with them does not demote a verified row.
PERMANENT_FAILURES = {
    VerificationOutcome.INVALID_CREDENTIALS,
    VerificationOutcome.UNEXPECTED_RESPONSE,
    VerificationOutcome.URL_NOT_ALLOWED,
    VerificationOutcome.DECRYPTION_FAILED,
}


def _run_verify(backend: BaseBackend, config: CredentialConfig) -> VerificationResult:
    """backend.verify(), with the URL policy and any unexpected exception mapped to an outcome.

    The detail is redacted here too (defence in depth: a provider may echo the key it got).
    """
    try:
        # One total bound for every request of the verify (token grant, model list...): a gateway
        # trickling a byte every 10 s held a verify for 320 s under per-read timeouts alone.
        limit = float(app_settings.VERIFY_TIMEOUT)
        with deadline(limit) as bound:
            result = backend.verify(config)
        if result.outcome == VerificationOutcome.TIMEOUT and bound.expired:
            detail = f"{backend.name} did not answer within {limit:g} s (PROVIDERS_VERIFY_TIMEOUT)."
            result = dataclasses.replace(result, detail=detail)
        if result.detail:
            detail = redact(result.detail, secrets=config.secrets, limit=LAST_ERROR_MAX)
            result = dataclasses.replace(result, detail=detail)
        return result
    except URLNotAllowed as exc:
        return VerificationResult(VerificationOutcome.URL_NOT_ALLOWED, detail=redact(str(exc), limit=LAST_ERROR_MAX))
    except CredentialDecryptionError:
        return VerificationResult(VerificationOutcome.DECRYPTION_FAILED)
    except Exception as exc:  # verify() promises not to raise; a bug must still not leak or 500
        logger.error("verify() of %s raised %s", backend.id, type(exc).__name__)
        return VerificationResult(VerificationOutcome.UNEXPECTED_RESPONSE, detail="an internal error stopped the check")


def _error_text(result: VerificationResult, config: CredentialConfig) -> str:
    return redact(result.message, secrets=config.secrets, limit=LAST_ERROR_MAX)


def _log_result(action: str, provider: str, owner_id: object, result: VerificationResult) -> None:
    logger.info(
        "credential %s: provider=%s owner=%s outcome=%s models=%d",
        action,
        provider,
        owner_id,
        result.outcome.value,
        len(result.models),
    )
    count_verification(provider, result.outcome.value)


def _record_result(credential: ProviderCredential, result: VerificationResult, error_text: str) -> list[str]:
    """Apply a verification result to a row in memory; returns the fields changed."""
    now = timezone.now()
    credential.status_code = result.outcome.value
    credential.last_checked_at = now
    fields = ["status_code", "last_checked_at", "updated_at"]
    if result.ok:
        credential.status = VerificationStatus.VERIFIED
        credential.verified_at = now
        credential.available_models = [m.as_json() for m in result.models]
        credential.last_error = ""
        fields += ["status", "verified_at", "available_models", "last_error"]
    else:
        credential.last_error = error_text
        fields.append("last_error")
        if result.outcome in PERMANENT_FAILURES:
            credential.status = VerificationStatus.FAILED
            fields.append("status")
    return fields


# Plain (non-secret) fields a save may change, audited by name.
_PLAIN_FIELDS = ("base_url", "token_url", "scope", "token_auth_method", "default_model")


# --- services --------------------------------------------------------------------------------

VERIFY_LIMITED = "Too many verification attempts; try again in {seconds} s."


def credential_verify_budget(*, user: AbstractBaseUser) -> ratelimit.RetryAfter | None:
    """Spend one of the user's verifications (PROVIDERS_VERIFY_RATE_LIMIT, shared across processes
    through Redis). Call it before anything that reaches out to a provider: a verify or save
    request is otherwise a free outbound request tool. RetryAfter when the budget is spent."""
    return ratelimit.hit(app_settings.VERIFY_RATE_LIMIT, "providers-verify", user.pk)


@sensitive_variables()
def credential_verify_input(*, user: AbstractBaseUser, provider: str, data: CredentialInput) -> VerificationResult:
    """Verify submitted values without saving anything (blank secrets use the stored ones)."""
    prepared = prepare_input(user=user, provider=provider, data=data)
    result = _run_verify(prepared.backend, prepared.config)
    _log_result("verify_input", provider, user.pk, result)
    return result


@sensitive_variables()
def credential_save(
    *, user: AbstractBaseUser, provider: str, data: CredentialInput, save_unverified: bool = False
) -> tuple[ProviderCredential | None, VerificationResult]:
    """Verify, then create or update the user's credential.

    Returns (credential, result). When verification fails and `save_unverified` is false,
    nothing changes and the credential is None. With `save_unverified`, the values are stored
    with status "failed" (the provider rejected them) or "unverified" (it could not tell).
    """
    prepared = prepare_input(user=user, provider=provider, data=data)
    result = _run_verify(prepared.backend, prepared.config)
    _log_result("save", provider, user.pk, result)
    if not result.ok and not save_unverified:
        return None, result

    config = prepared.config
    with transaction.atomic():
        credential = ProviderCredential.objects.select_for_update().filter(owner=user, provider=provider).first()
        created = credential is None
        if credential is None:
            credential = ProviderCredential(owner=user, provider=provider)
        elif prepared.existing is None or (credential.base_url, credential.token_url) != (
            prepared.existing.base_url,
            prepared.existing.token_url,
        ):
            # Someone else changed the row while we verified; our URL check was against old data.
            raise ValidationError({"base_url": ["This credential changed meanwhile; please submit again."]})
        before = {name: getattr(credential, name) for name in _PLAIN_FIELDS}
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
        changed = [*prepared.new_secrets, *(n for n in _PLAIN_FIELDS if getattr(credential, n) != before[n])]
        audit(
            AuditAction.CREATE if created else AuditAction.UPDATE,
            credential=credential,
            fields=changed,
            outcome=result.outcome.value,
        )
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
    models = {
        "default_model": default_model,
        "fast_model": fast_model,
        "standard_model": standard_model,
        "premium_model": premium_model,
    }
    errors = {
        name: [f"At most {MODEL_MAX} characters."]
        for name, value in models.items()
        if len((value or "").strip()) > MODEL_MAX
    }
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 32767:
        errors["priority"] = ["Enter a whole number between 0 and 32767."]
    if errors:
        raise ValidationError(errors)
    before = {name: getattr(credential, name) for name in [*models, "priority", "enabled"]}
    for name, value in models.items():
        setattr(credential, name, (value or "").strip())
    credential.priority = priority
    credential.enabled = bool(enabled)
    credential.save(update_fields=[*models, "priority", "enabled", "updated_at"])
    changed = [name for name, value in before.items() if getattr(credential, name) != value]
    if changed:
        flipped = "enabled" in changed
        action = (AuditAction.ENABLE if credential.enabled else AuditAction.DISABLE) if flipped else AuditAction.UPDATE
        audit(action, credential=credential, fields=changed)
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
        audit(AuditAction.REORDER, owner=user, fields=[c.provider for c in rows])


def credential_delete(*, user: AbstractBaseUser, provider: str) -> None:
    """Remove the user's credential; ProviderCredential.DoesNotExist when there is none."""
    credential = ProviderCredential.objects.get(owner=user, provider=provider)
    credential_remove(credential=credential)
    logger.info("credential deleted: provider=%s owner=%s", provider, user.pk)


@sensitive_variables()
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
    audit(AuditAction.VERIFY, credential=credential, outcome=result.outcome.value)
    return result


def platform_credential_verify(*, provider: str) -> VerificationResult:
    """Verify the operator's env-configured credential for `provider` (no row to record it on:
    the outcome and time are kept in the cache for the admin's Provider health view)."""
    backend = registry.get(provider)
    config = platform_config(provider)
    result = _run_verify(backend, config)
    _log_result("platform_verify", provider, "platform", result)
    cache.set(
        PLATFORM_VERIFY_CACHE_KEY + provider,
        {"outcome": result.outcome.value, "at": timezone.now().isoformat(), "message": _error_text(result, config)},
        timeout=None,
    )
    return result


def platform_verification(*, provider: str) -> dict[str, str] | None:
    """The last `platform_credential_verify` outcome for `provider` ({outcome, at, message}), if known."""
    try:
        return cache.get(PLATFORM_VERIFY_CACHE_KEY + provider)
    except Exception:  # a cache outage must not break the page asking
        return None


PLATFORM_VERIFY_CACHE_KEY = "providers:platform_verify:"


def credential_remove(*, credential: ProviderCredential) -> None:
    """Delete a credential (the owner's delete, the admin's): audited, then gone."""
    with transaction.atomic():
        audit(AuditAction.DELETE, credential=credential)
        credential.delete()


def credential_admin_save(*, credential: ProviderCredential, changed: list[str], created: bool) -> None:
    """Save what an operator edited in the admin (the form applied it); audited by field name."""
    with transaction.atomic():
        credential.save()
        if created:
            action = AuditAction.CREATE
        elif "enabled" in changed:
            action = AuditAction.ENABLE if credential.enabled else AuditAction.DISABLE
        else:
            action = AuditAction.UPDATE
        audit(action, credential=credential, fields=changed)


def _check_stored_urls(config: CredentialConfig) -> VerificationResult | None:
    """The policy may have tightened since the URL was stored: check it again before connecting."""
    for name in URL_FIELDS:
        value = getattr(config, name)
        if value:
            try:
                validate_url_field(name, value)
            except ValidationError as exc:
                return VerificationResult(
                    VerificationOutcome.URL_NOT_ALLOWED, detail=f"{name}: {'; '.join(exc.messages)}"
                )
    return None


def credential_mark_failed(*, credential_id: int, code: str, message: str) -> None:
    """Record that a credential stopped working (e.g. the token endpoint said invalid_client).

    A no-op when the credential was deleted meanwhile.
    """
    now = timezone.now()
    updated = ProviderCredential.objects.filter(pk=credential_id).update(
        status=VerificationStatus.FAILED,
        status_code=redact(code, limit=LAST_ERROR_MAX)[:32],
        last_error=redact(message, limit=LAST_ERROR_MAX),
        last_checked_at=now,
        updated_at=now,
    )
    if updated:
        failed = ProviderCredential.objects.select_related("owner").filter(pk=credential_id).first()
        if failed is not None:
            audit(AuditAction.STATUS_CHANGE, credential=failed, fields=["status"], outcome=code)
        # QuerySet.update() sends no post_save: tell every process's credential snapshots.
        owner_id = ProviderCredential.objects.filter(pk=credential_id).values_list("owner_id", flat=True).first()
        if owner_id is not None:
            snapshots.credentials_changed(owner_id=owner_id)
    logger.warning(
        "credential marked failed: id=%s code=%s found=%s",
        credential_id,
        redact(code, limit=LAST_ERROR_MAX)[:32],
        bool(updated),
    )
