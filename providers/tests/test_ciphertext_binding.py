"""Issue 9, "Ciphertext is not bound to its row": a secret copied elsewhere fails closed.

Each stored secret is AES-GCM ciphertext whose associated data names the model, the field and
the row's owner and provider; the shared gateway tokens in Redis are bound to their key. Copying
a ciphertext into another user's row, another provider's row or another field gives
`CredentialDecryptionError` ("re-enter it"), and nothing is sent to the provider. Rows written
before binding (Fernet tokens) still decrypt and `providers_rotate_keys` binds them.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from providers.crypto import BOUND_PREFIX
from providers.exceptions import CredentialDecryptionError
from providers.models import ProviderCredential, VerificationStatus
from providers.secrets import Secret, mask
from providers.services.credentials import credential_verify
from providers.services.keys import credentials_rotate_keys
from providers.types import VerificationOutcome

from .conftest import OPENAI_KEY

pytestmark = pytest.mark.django_db

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()
BOBS_KEY = "sk-bobs-own-key-000000000000"


def column(pk: int, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name} FROM providers_providercredential WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def set_column(pk: int, name: str, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE providers_providercredential SET {name} = %s WHERE id = %s", [value, pk])


def make(owner, provider: str = "openai", **secrets: str) -> ProviderCredential:
    hint = mask(next(iter(secrets.values())))
    return ProviderCredential.objects.create(
        owner=owner, provider=provider, secret_hint=hint, status=VerificationStatus.VERIFIED, **secrets
    )


@pytest.fixture
def keys(settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    return settings


def test_a_ciphertext_copied_to_another_users_row_fails_closed(keys, alice, bob, fake_openai):
    alices = make(alice, api_key=OPENAI_KEY)
    bobs = make(bob, api_key=BOBS_KEY)
    assert column(alices.pk, "api_key").startswith(BOUND_PREFIX)
    set_column(bobs.pk, "api_key", column(alices.pk, "api_key"))  # the attack: a moved ciphertext

    with pytest.raises(CredentialDecryptionError, match="re-enter"):
        ProviderCredential.objects.get(pk=bobs.pk).api_key.secret()
    # Alice's own row still works.
    assert ProviderCredential.objects.get(pk=alices.pk).api_key.secret().reveal() == OPENAI_KEY

    # Through the app: bob's verify with the stored key asks for it again, and nothing is sent.
    client = Client()
    client.force_login(bob)
    response = client.post("/api/providers/verify", json.dumps({"provider": "openai"}), content_type="application/json")
    assert response.status_code == 400
    assert "cannot be decrypted" in " ".join(response.json()["errors"]["api_key"])
    assert credential_verify(credential=ProviderCredential.objects.get(pk=bobs.pk)).outcome is (
        VerificationOutcome.DECRYPTION_FAILED
    )
    assert fake_openai.requests == []
    assert ProviderCredential.objects.get(pk=bobs.pk).status == VerificationStatus.FAILED


def test_moving_between_providers_and_fields_fails_too(keys, alice):
    openai = make(alice, api_key=OPENAI_KEY)
    gateway = make(alice, "ai_gateway", client_id="gw-client-id-0001", client_secret="gw-secret-value-0001")
    anthropic = make(alice, "anthropic", api_key="sk-ant-placeholder-000000")
    set_column(anthropic.pk, "api_key", column(openai.pk, "api_key"))  # same owner, other provider
    set_column(gateway.pk, "client_id", column(gateway.pk, "client_secret"))  # same row, other field
    with pytest.raises(CredentialDecryptionError):
        ProviderCredential.objects.get(pk=anthropic.pk).api_key.secret()
    with pytest.raises(CredentialDecryptionError):
        ProviderCredential.objects.get(pk=gateway.pk).client_id.secret()
    assert ProviderCredential.objects.get(pk=gateway.pk).client_secret.secret().reveal() == "gw-secret-value-0001"


def test_changing_the_owner_of_a_row_needs_re_entry(keys, alice, bob):
    credential = make(alice, api_key=OPENAI_KEY)
    ProviderCredential.objects.filter(pk=credential.pk).update(owner=bob)
    with pytest.raises(CredentialDecryptionError):
        ProviderCredential.objects.get(pk=credential.pk).api_key.secret()


def test_plaintext_without_its_row_is_refused(keys, alice):
    credential = make(alice, api_key=OPENAI_KEY)
    with pytest.raises(TypeError, match="save"), transaction.atomic():
        ProviderCredential.objects.filter(pk=credential.pk).update(api_key="sk-unbound-000000000000")
    assert ProviderCredential.objects.get(pk=credential.pk).api_key.secret().reveal() == OPENAI_KEY


def test_legacy_fernet_rows_decrypt_and_the_rotate_command_binds_them(keys, alice, bob):
    alices = make(alice, api_key=OPENAI_KEY)
    gateway = make(bob, "ai_gateway", client_id="gw-client-id-0002", client_secret="gw-secret-value-0002")
    legacy = {
        (alices.pk, "api_key"): Fernet(K1.encode()).encrypt(OPENAI_KEY.encode()).decode(),
        (gateway.pk, "client_id"): Fernet(K1.encode()).encrypt(b"gw-client-id-0002").decode(),
        (gateway.pk, "client_secret"): Fernet(K1.encode()).encrypt(b"gw-secret-value-0002").decode(),
    }
    for (pk, name), token in legacy.items():
        set_column(pk, name, token)
    assert ProviderCredential.objects.get(pk=alices.pk).api_key.secret().reveal() == OPENAI_KEY  # old format reads

    keys.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]  # a new key, and the migration to bound values
    out = io.StringIO()
    call_command("providers_rotate_keys", stdout=out)
    assert "2 credential rows scanned; 3 secrets re-encrypted; 0 already current; 0 failed" in out.getvalue()
    for (pk, name), token in legacy.items():
        assert column(pk, name).startswith(BOUND_PREFIX) and column(pk, name) != token
    keys.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    assert ProviderCredential.objects.get(pk=alices.pk).api_key.secret().reveal() == OPENAI_KEY
    assert ProviderCredential.objects.get(pk=gateway.pk).client_secret.secret().reveal() == "gw-secret-value-0002"
    # Bound now: the copy no longer travels.
    set_column(gateway.pk, "client_secret", column(alices.pk, "api_key"))
    with pytest.raises(CredentialDecryptionError):
        ProviderCredential.objects.get(pk=gateway.pk).client_secret.secret()
    report = credentials_rotate_keys()
    assert (report.reencrypted, report.already_current, report.failed) == (0, 2, 1)  # the moved one is reported


def test_a_bound_value_already_under_the_first_key_is_current(keys, alice):
    credential = make(alice, api_key=OPENAI_KEY)
    before = column(credential.pk, "api_key")
    report = credentials_rotate_keys()
    assert (report.rows, report.reencrypted, report.already_current) == (1, 0, 1)
    assert column(credential.pk, "api_key") == before


@pytest.mark.redis
def test_shared_gateway_tokens_are_bound_to_their_key(keys, redis_url):
    import redis

    from providers.gateway.token_info import TokenInfo
    from providers.gateway.token_store import SharedTokenStore

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        store = SharedTokenStore(redis_url, "test")
        now = time.time()
        info = TokenInfo(Secret("access-token-for-a-000000"), "Bearer", now + 600, now + 300, now, 600.0, "")
        store.put("credential-a", info)
        assert store.get("credential-a").access_token.reveal() == "access-token-for-a-000000"
        raw = client.get("test:providers:gwtoken:credential-a")
        client.set("test:providers:gwtoken:credential-b", raw, px=600_000)  # copied under another key
        assert store.get("credential-b") is None
    finally:
        client.flushdb()
        client.close()


def test_the_admin_asks_for_the_secret_when_the_owner_changes(keys, alice, bob, client, django_user_model):
    from django.urls import reverse

    client.force_login(django_user_model.objects.create_superuser("operator", password="op-password-123"))
    credential = make(alice, api_key=OPENAI_KEY)
    url = reverse("admin:providers_providercredential_change", args=[credential.pk])
    data = {
        "owner": str(bob.pk),
        "provider": "openai",
        "priority": "0",
        "enabled": "on",
        "base_url": "",
        "token_url": "",
        "scope": "",
        "token_auth_method": "client_secret_basic",
        "default_model": "",
        "fast_model": "",
        "standard_model": "",
        "premium_model": "",
        "new_api_key": "",
        "new_client_id": "",
        "new_client_secret": "",
    }
    response = client.post(url, data)
    assert response.status_code == 200 and "Changing the owner or provider requires entering this again" in (
        response.content.decode()
    )
    assert ProviderCredential.objects.get(pk=credential.pk).owner_id == alice.pk
    response = client.post(url, {**data, "new_api_key": BOBS_KEY})
    assert response.status_code == 302
    moved = ProviderCredential.objects.get(pk=credential.pk)
    assert moved.owner_id == bob.pk and moved.api_key.secret().reveal() == BOBS_KEY
