"""providers.services: the rules every caller relies on.

Provider-facing tests talk real HTTP to local servers (the gateway simulator, the fakes).
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.utils import timezone

from providers.models import ProviderCredential, VerificationStatus
from providers.redaction import redact
from providers.secrets import Secret, mask
from providers.services import credentials as services
from providers.services.credential_input import LAST_ERROR_MAX, CredentialInput
from providers.types import VerificationOutcome

pytestmark = pytest.mark.django_db


def make(owner, provider="openai", key="sk-stored-key-000000001111", **extra) -> ProviderCredential:
    values = dict(
        owner=owner,
        provider=provider,
        api_key=key,
        secret_hint=mask(key),
        status=VerificationStatus.VERIFIED,
        verified_at=timezone.now(),
        status_code="verified",
    )
    values.update(extra)
    return ProviderCredential.objects.create(**values)


def row(credential: ProviderCredential) -> dict:
    return ProviderCredential.objects.filter(pk=credential.pk).values().get()


# --- no provider needed --------------------------------------------------------------------


def test_credential_input_repr_hides_secrets():
    data = CredentialInput(api_key="sk-CANARY-7f3e9a1b2c4d", client_id="cid-123456789", client_secret="cs-abcdef123456")
    text = repr(data)
    assert "CANARY" not in text and "cid-" not in text and "cs-abc" not in text


def test_missing_secret_is_a_field_error(alice):
    with pytest.raises(ValidationError) as exc:
        services.credential_save(user=alice, provider="openai", data=CredentialInput(api_key=""))
    assert exc.value.message_dict == {"api_key": ["This field is required."]}
    assert not ProviderCredential.objects.exists()


def test_gateway_needs_id_secret_and_url(alice, settings):
    settings.AI_GATEWAY_BASE_URL = ""
    with pytest.raises(ValidationError) as exc:
        services.credential_verify_input(user=alice, provider="ai_gateway", data=CredentialInput())
    assert set(exc.value.message_dict) == {"client_id", "client_secret", "base_url"}


def test_unknown_provider_is_a_field_error(alice):
    with pytest.raises(ValidationError) as exc:
        services.credential_verify_input(user=alice, provider="nope", data=CredentialInput(api_key="k" * 20))
    assert "provider" in exc.value.message_dict


@pytest.mark.parametrize("url", ["http://user:pw@127.0.0.1:9/v1", "ftp://127.0.0.1/v1", "http://127.0.0.1\n/v1"])
def test_url_policy_errors_are_field_errors(alice, url):
    data = CredentialInput(client_id="cid-0123456789", client_secret="cs-0123456789abc", base_url=url)
    with pytest.raises(ValidationError) as exc:
        services.credential_save(user=alice, provider="ai_gateway", data=data)
    assert "base_url" in exc.value.message_dict
    assert not ProviderCredential.objects.exists()


def test_update_preferences(alice):
    credential = make(alice)
    updated = services.credential_update_preferences(
        user=alice,
        provider="openai",
        default_model="gpt-4o",
        fast_model="gpt-4o-mini",
        standard_model="gpt-4o",
        premium_model="o3",
        priority=2,
        enabled=False,
    )
    assert updated.pk == credential.pk
    credential.refresh_from_db()
    assert (credential.fast_model, credential.premium_model, credential.priority, credential.enabled) == (
        "gpt-4o-mini",
        "o3",
        2,
        False,
    )
    assert credential.api_key == updated.api_key  # the secret is untouched


def test_update_preferences_validates(alice):
    credential = make(alice)
    before = row(credential)
    with pytest.raises(ValidationError) as exc:
        services.credential_update_preferences(
            user=alice,
            provider="openai",
            default_model="",
            fast_model="x" * 201,
            standard_model="",
            premium_model="",
            priority=-1,
            enabled=True,
        )
    assert set(exc.value.message_dict) == {"fast_model", "priority"}
    assert row(credential) == before


def test_other_users_credentials_do_not_exist(alice, bob):
    make(alice)
    with pytest.raises(ProviderCredential.DoesNotExist):
        services.credential_update_preferences(
            user=bob,
            provider="openai",
            default_model="",
            fast_model="",
            standard_model="",
            premium_model="",
            priority=1,
            enabled=True,
        )
    with pytest.raises(ProviderCredential.DoesNotExist):
        services.credential_delete(user=bob, provider="openai")
    assert ProviderCredential.objects.filter(owner=alice).count() == 1


def test_delete(alice):
    make(alice)
    services.credential_delete(user=alice, provider="openai")
    assert not ProviderCredential.objects.exists()
    with pytest.raises(ProviderCredential.DoesNotExist):
        services.credential_delete(user=alice, provider="openai")


def test_set_order(alice, bob):
    make(alice, "openai", priority=5)
    make(alice, "anthropic", priority=1)
    make(alice, "gemini", priority=3)
    bobs = make(bob, "openai", priority=9)
    services.credential_set_order(user=alice, providers=["gemini", "openai"])
    order = list(
        ProviderCredential.objects.filter(owner=alice).order_by("priority").values_list("provider", "priority")
    )
    assert order == [("gemini", 0), ("openai", 1), ("anthropic", 2)]
    assert row(bobs)["priority"] == 9
    with pytest.raises(ValidationError):
        services.credential_set_order(user=alice, providers=["gemini", "gemini"])
    with pytest.raises(ValidationError):
        services.credential_set_order(user=alice, providers=["nope"])


def test_mark_failed(alice):
    credential = make(alice)
    services.credential_mark_failed(
        credential_id=credential.pk,
        code="invalid_client",
        message="The token endpoint said invalid_client.\n" + "x" * 900,
    )
    credential.refresh_from_db()
    assert credential.status == VerificationStatus.FAILED
    assert credential.status_code == "invalid_client"
    assert len(credential.last_error) == 500 and "\n" not in credential.last_error
    services.credential_mark_failed(credential_id=credential.pk + 1000, code="invalid_client", message="gone")  # no-op


def test_redacted_error_text_removes_secrets_and_truncates():
    secret = Secret("sk-CANARY-7f3e9a1b2c4d")
    text = redact(
        "bad key sk-CANARY-7f3e9a1b2c4d and prefix sk-CANAR\x00" + "y" * 600, secrets=(secret,), limit=LAST_ERROR_MAX
    )
    assert "sk-CANARY" not in text and "sk-CANAR" not in text and "\x00" not in text
    assert len(text) <= 500


def test_reverify_with_undecryptable_secret_records_reenter(alice, settings):
    credential = make(alice)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is gone
    result = services.credential_verify(credential=credential)
    assert result.outcome is VerificationOutcome.DECRYPTION_FAILED
    credential.refresh_from_db()
    assert credential.status == VerificationStatus.FAILED
    assert "re-enter" in credential.last_error


def test_blank_secret_with_undecryptable_stored_one_is_a_field_error(alice, settings):
    make(alice)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValidationError) as exc:
        services.credential_verify_input(user=alice, provider="openai", data=CredentialInput(api_key=""))
    assert "api_key" in exc.value.message_dict


def test_reverify_refuses_a_stored_url_the_policy_now_rejects(alice):
    credential = make(
        alice,
        "ai_gateway",
        key="",
        client_id="cid-0123456789",
        client_secret="cs-0123456789abc",
        base_url="http://user:pw@127.0.0.1:9/v1",
    )
    result = services.credential_verify(credential=credential)
    assert result.outcome is VerificationOutcome.URL_NOT_ALLOWED
    credential.refresh_from_db()
    assert credential.status == VerificationStatus.FAILED


# --- against the gateway simulator (real HTTP on 127.0.0.1) --------------------------------

import base64  # noqa: E402
from urllib.parse import unquote_plus  # noqa: E402

from providers.testing.gateway_simulator import GatewaySimulator  # noqa: E402

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET  # noqa: E402


def gateway_input(sim, **overrides) -> CredentialInput:
    values = dict(
        client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET, base_url=sim.base_url, token_url=sim.token_url
    )
    values.update(overrides)
    return CredentialInput(**values)


def basic_credentials_seen(sim) -> list[tuple[str, str]]:
    seen = []
    for request in sim.requests:
        header = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        if request.path.startswith("/oauth/token") and header.lower().startswith("basic "):
            raw_id, _, raw_secret = base64.b64decode(header[6:]).decode().partition(":")
            seen.append((unquote_plus(raw_id), unquote_plus(raw_secret)))
    return seen


def test_verify_input_stores_nothing(alice, gateway):
    result = services.credential_verify_input(user=alice, provider="ai_gateway", data=gateway_input(gateway))
    assert result.ok and set(result.model_ids) == set(gateway.models)
    assert not ProviderCredential.objects.exists()


def test_save_stores_a_verified_credential(alice, gateway):
    credential, result = services.credential_save(
        user=alice, provider="ai_gateway", data=gateway_input(gateway, default_model="sim-standard")
    )
    assert result.ok and credential is not None
    assert (
        credential.status == VerificationStatus.VERIFIED
        and credential.verified_at
        and credential.status_code == "verified"
    )
    assert credential.model_ids == result.model_ids
    assert credential.secret_hint == mask(GATEWAY_CLIENT_SECRET) and credential.client_id_hint == mask(
        GATEWAY_CLIENT_ID
    )
    assert credential.client_secret.secret().reveal() == GATEWAY_CLIENT_SECRET
    assert credential.base_url == gateway.base_url and credential.default_model == "sim-standard"
    assert credential.last_error == ""


def test_failed_verification_leaves_the_stored_row_alone(alice, gateway):
    credential, _ = services.credential_save(user=alice, provider="ai_gateway", data=gateway_input(gateway))
    before = row(credential)
    saved, result = services.credential_save(
        user=alice, provider="ai_gateway", data=gateway_input(gateway, client_secret="wrong-secret-000000")
    )
    assert saved is None and result.outcome is VerificationOutcome.INVALID_CREDENTIALS
    assert row(credential) == before


@pytest.mark.parametrize("wrong,status", [(True, VerificationStatus.FAILED), (False, VerificationStatus.UNVERIFIED)])
def test_save_anyway(alice, gateway, wrong, status):
    if wrong:
        data = gateway_input(gateway, client_secret="wrong-secret-000000")
    else:
        gateway.rate_limit(retry_after=5, times=None)
        data = gateway_input(gateway)
    credential, result = services.credential_save(user=alice, provider="ai_gateway", data=data, save_unverified=True)
    assert not result.ok and credential is not None
    assert credential.status == status and credential.verified_at is None
    assert credential.last_error and "wrong-secret" not in credential.last_error


def test_blank_secret_keeps_the_stored_one(alice, gateway):
    services.credential_save(user=alice, provider="ai_gateway", data=gateway_input(gateway))
    gateway.requests.clear()
    result = services.credential_verify_input(
        user=alice, provider="ai_gateway", data=gateway_input(gateway, client_id="", client_secret=None)
    )
    assert result.ok
    assert basic_credentials_seen(gateway) == [(GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET)]
    credential, result = services.credential_save(
        user=alice,
        provider="ai_gateway",
        data=gateway_input(gateway, client_id="", client_secret="", default_model="sim-fast"),
    )
    assert result.ok and credential.client_secret.secret().reveal() == GATEWAY_CLIENT_SECRET
    assert credential.default_model == "sim-fast"


@pytest.mark.parametrize("field", ["base_url", "token_url"])
def test_url_change_without_the_secret_is_refused(alice, gateway, field):
    credential, _ = services.credential_save(user=alice, provider="ai_gateway", data=gateway_input(gateway))
    before = row(credential)
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as other:
        new_url = other.base_url if field == "base_url" else other.token_url
        for call in (services.credential_verify_input, services.credential_save):
            with pytest.raises(ValidationError) as exc:
                call(
                    user=alice, provider="ai_gateway", data=gateway_input(gateway, client_secret="", **{field: new_url})
                )
            assert field in exc.value.message_dict and "client_secret" in exc.value.message_dict
        assert other.requests == []  # the stored secret never left for the new address
        assert row(credential) == before
        # Re-entering the secret makes the change acceptable.
        moved = gateway_input(gateway, base_url=other.base_url, token_url=other.token_url)
        saved, result = services.credential_save(user=alice, provider="ai_gateway", data=moved)
        assert result.ok and getattr(saved, field) == new_url
        assert other.requests


def test_reverify_records_outcomes(alice, gateway):
    credential, _ = services.credential_save(user=alice, provider="ai_gateway", data=gateway_input(gateway))
    first_verified_at = credential.verified_at
    # Transient: recorded, but a verified credential stays usable.
    gateway.rate_limit(retry_after=5, times=None)
    result = services.credential_verify(credential=credential)
    assert result.outcome is VerificationOutcome.RATE_LIMITED
    credential.refresh_from_db()
    assert credential.status == VerificationStatus.VERIFIED and credential.status_code == "rate_limited"
    assert credential.verified_at == first_verified_at and credential.last_error
    gateway.clear_faults()
    assert services.credential_verify(credential=credential).ok
    credential.refresh_from_db()
    assert credential.verified_at > first_verified_at and credential.last_error == ""
    # Permanent: the gateway no longer knows this secret.
    gateway.client_secret = "rotated-by-the-idp-000"
    result = services.credential_verify(credential=credential)
    assert result.outcome is VerificationOutcome.INVALID_CREDENTIALS
    credential.refresh_from_db()
    assert credential.status == VerificationStatus.FAILED and credential.last_error
