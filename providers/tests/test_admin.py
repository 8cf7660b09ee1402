"""The operators' admin: lists and filters credentials, never renders a secret."""

from __future__ import annotations

import logging
import re

import pytest
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils.html import escape

from providers.models import ProviderCredential, VerificationStatus

pytestmark = pytest.mark.django_db

CANARY = "sk-CANARY-admin-7d41c0ffee99"
GW_ID = "gw-client-CANARY-id-5511"
GW_SECRET = "gw+secret/CANARY:=%é-9876"
CHANGELIST = "admin:providers_providercredential_changelist"
CHANGE = "admin:providers_providercredential_change"
HISTORY = "admin:providers_providercredential_history"
ADD = "admin:providers_providercredential_add"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("operator", email="op@example.com", password="op-password-123")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def creds(alice, bob):
    alice.email = "alice@example.com"
    alice.save()
    openai = ProviderCredential.objects.create(
        owner=alice,
        provider="openai",
        api_key=CANARY,
        secret_hint="…ee99",
        status=VerificationStatus.VERIFIED,
        last_error="",
        priority=10,
    )
    gateway = ProviderCredential.objects.create(
        owner=bob,
        provider="ai_gateway",
        client_id=GW_ID,
        client_secret=GW_SECRET,
        client_id_hint="…5511",
        secret_hint="…9876",
        status=VerificationStatus.FAILED,
        status_code="invalid_credentials",
        last_error="Invalid credentials: the provider rejected them (HTTP 401, invalid_client). " * 3,
        base_url="https://gateway.example.com/v1",
        enabled=False,
    )
    return openai, gateway


def form_data(cred: ProviderCredential, **overrides: str) -> dict[str, str]:
    data = {
        "owner": str(cred.owner_id),
        "provider": cred.provider,
        "priority": str(cred.priority),
        "base_url": cred.base_url,
        "token_url": cred.token_url,
        "scope": cred.scope,
        "token_auth_method": cred.token_auth_method,
        "default_model": cred.default_model,
        "fast_model": "",
        "standard_model": "",
        "premium_model": "",
        "new_api_key": "",
        "new_client_id": "",
        "new_client_secret": "",
    }
    if cred.enabled:
        data["enabled"] = "on"
    data.update(overrides)
    return data


def assert_no_secret(body: bytes) -> None:
    text = body.decode()
    for secret in (CANARY, GW_ID, GW_SECRET, "gw+secret", "CANARY"):
        assert secret not in text
    # Not even the ciphertext: legacy Fernet tokens start with "gAAAAA", bound ones with "b1:".
    assert "gAAAAA" not in text
    for row in ProviderCredential.objects.values_list("api_key", "client_id", "client_secret"):
        for value in row:
            if value:
                assert value.ciphertext not in text and value.ciphertext[3:40] not in text


def test_changelist_columns_and_no_secret(admin_client, creds):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    body = response.content.decode()
    for header in ("Owner", "Provider", "Status", "Verified at", "Last error", "Priority", "Enabled", "Secret"):
        assert header in body
    assert "alice" in body and "bob" in body
    assert "…ee99" in body and "id …5511 / …9876" in body
    assert "Invalid credentials" in body
    assert (
        "invalid_client). Invalid credentials: the provider rejected them (HTTP 401, invalid_client). Invalid"
        not in body
    )
    assert_no_secret(response.content)


@pytest.mark.parametrize(
    "query, present, absent",
    [
        ("provider__exact=openai", "alice", "bob"),
        ("status__exact=failed", "bob", "alice"),
        ("enabled__exact=0", "bob", "alice"),
        ("q=alice@example.com", "alice", "bob"),
        ("q=bob", "bob", "alice"),
        ("q=ai_gateway", "bob", "alice"),
    ],
)
def test_filters_and_search(admin_client, creds, query, present, absent):
    response = admin_client.get(reverse(CHANGELIST) + "?" + query)
    assert response.status_code == 200
    rows = response.content.decode().split('id="result_list"')[1]
    assert f">{present}<" in rows
    assert f">{absent}<" not in rows
    assert_no_secret(response.content)


def test_filter_sidebar_lists_the_filters(admin_client, creds):
    body = admin_client.get(reverse(CHANGELIST)).content.decode()
    for title in ("By provider", "By status", "By enabled", "By verified at"):
        assert title in body


def test_searching_for_the_secret_finds_nothing_and_shows_nothing(admin_client, creds):
    for term in (CANARY, "ee99", GW_SECRET):
        response = admin_client.get(reverse(CHANGELIST), {"q": term})
        assert response.status_code == 200
        assert "0 results" in response.content.decode()
        # Django echoes the query itself (the search box, links carrying the query string); strip
        # those echoes. The changelist tests above check links without a query.
        body = response.content.decode()
        body = re.sub(r'href="[^"]*"', "", body).replace(escape(term), "")
        assert_no_secret(body.encode())


def test_change_page_shows_hint_and_write_only_fields_only(admin_client, creds):
    _openai, gateway = creds
    for cred in creds:
        response = admin_client.get(reverse(CHANGE, args=[cred.pk]))
        assert response.status_code == 200
        body = response.content.decode()
        assert 'name="new_api_key"' in body and 'type="password"' in body
        assert 'name="api_key"' not in body and 'name="client_secret"' not in body
        assert_no_secret(response.content)
    assert "…5511" in admin_client.get(reverse(CHANGE, args=[gateway.pk])).content.decode()


def test_add_page_renders(admin_client, creds):
    response = admin_client.get(reverse(ADD))
    assert response.status_code == 200
    assert 'name="new_client_secret"' in response.content.decode()


def test_write_only_field_sets_new_secret_and_marks_unverified(admin_client, creds, caplog):
    openai, _ = creds
    new_key = "sk-NEW-admin-key-0123456789abcd"
    with caplog.at_level(logging.DEBUG):
        response = admin_client.post(reverse(CHANGE, args=[openai.pk]), form_data(openai, new_api_key=new_key))
    assert response.status_code == 302, response.content.decode()[:2000]
    openai.refresh_from_db()
    assert openai.api_key.secret().reveal() == new_key
    assert openai.secret_hint == "…abcd"
    assert openai.status == VerificationStatus.UNVERIFIED
    assert openai.verified_at is None
    assert new_key not in caplog.text
    # The history records that the field changed, not its value.
    entry = LogEntry.objects.get(object_id=str(openai.pk))
    assert "New API key" in entry.get_change_message()
    assert new_key not in entry.change_message
    history = admin_client.get(reverse(HISTORY, args=[openai.pk]))
    assert history.status_code == 200
    assert new_key not in history.content.decode()
    assert_no_secret(history.content)


def test_empty_write_only_fields_keep_stored_secret(admin_client, creds):
    openai, _ = creds
    response = admin_client.post(reverse(CHANGE, args=[openai.pk]), form_data(openai, priority="5"))
    assert response.status_code == 302
    openai.refresh_from_db()
    assert openai.priority == 5
    assert openai.api_key.secret().reveal() == CANARY
    assert openai.status == VerificationStatus.VERIFIED


def test_gateway_secrets_set_through_write_only_fields(admin_client, creds):
    _, gateway = creds
    data = form_data(gateway, new_client_id="new-client-id-000111", new_client_secret="new+secret/with:=%é-2222")
    assert admin_client.post(reverse(CHANGE, args=[gateway.pk]), data).status_code == 302
    gateway.refresh_from_db()
    assert gateway.client_id.secret().reveal() == "new-client-id-000111"
    assert gateway.client_secret.secret().reveal() == "new+secret/with:=%é-2222"
    assert (gateway.client_id_hint, gateway.secret_hint) == ("…0111", "…2222")
    assert gateway.status == VerificationStatus.UNVERIFIED


def test_invalid_form_does_not_echo_the_new_secret(admin_client, creds):
    openai, _ = creds
    new_key = "sk-ECHO-CHECK-should-not-render-1"
    response = admin_client.post(
        reverse(CHANGE, args=[openai.pk]), form_data(openai, priority="not-a-number", new_api_key=new_key)
    )
    assert response.status_code == 200  # re-displayed with errors
    assert new_key not in response.content.decode()
    assert_no_secret(response.content)
    openai.refresh_from_db()
    assert openai.api_key.secret().reveal() == CANARY


def test_gateway_url_change_requires_the_secret_again(admin_client, creds):
    _, gateway = creds
    response = admin_client.post(
        reverse(CHANGE, args=[gateway.pk]), form_data(gateway, base_url="https://elsewhere.example.com/v1")
    )
    assert response.status_code == 200
    assert "requires entering this again" in response.content.decode()
    gateway.refresh_from_db()
    assert gateway.base_url == "https://gateway.example.com/v1"


def test_wrong_secret_kind_for_provider_is_refused(admin_client, creds):
    openai, gateway = creds
    r1 = admin_client.post(reverse(CHANGE, args=[openai.pk]), form_data(openai, new_client_secret="x" * 20))
    r2 = admin_client.post(reverse(CHANGE, args=[gateway.pk]), form_data(gateway, new_api_key="x" * 20))
    assert r1.status_code == r2.status_code == 200
    openai.refresh_from_db()
    gateway.refresh_from_db()
    assert not openai.client_secret
    assert not gateway.api_key


def test_non_staff_cannot_see_admin(client, alice, creds):
    client.force_login(alice)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_only_credentials_and_their_audit_trail_are_registered_by_providers():
    from django.contrib import admin

    registered = {model._meta.label for model in admin.site._registry if model._meta.app_label == "providers"}
    assert registered == {"providers.ProviderCredential", "providers.CredentialAuditEvent"}


def test_private_gateway_url_refused_in_production_mode(admin_client, creds, settings):
    _, gateway = creds
    settings.PROVIDERS_ALLOW_PRIVATE_URLS = False
    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = False
    settings.PROVIDERS_REQUIRE_HTTPS = True
    for url in (
        "https://169.254.169.254/v1",
        "http://gateway.example.com/v1",
        "https://user:pw@gateway.example.com/v1",
    ):
        data = form_data(gateway, base_url=url, new_client_secret="replacement-secret-000")
        response = admin_client.post(reverse(CHANGE, args=[gateway.pk]), data)
        assert response.status_code == 200, url
        assert "errorlist" in response.content.decode()
    gateway.refresh_from_db()
    assert gateway.base_url == "https://gateway.example.com/v1"
    assert gateway.client_secret.secret().reveal() == GW_SECRET


# --- "Verify selected" ---------------------------------------------------------------------------


def run_verify_action(admin_client, pks) -> list[str]:
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "verify_selected", "_selected_action": [str(pk) for pk in pks]}, follow=True
    )
    assert response.status_code == 200
    assert_no_secret(response.content)
    return [str(m) for m in response.context["messages"]]


def test_verify_action_against_the_gateway_simulator(admin_client, alice, bob, gateway, settings, caplog):
    from providers.tests.conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET

    settings.PROVIDERS_ALLOW_LOOPBACK_URLS = True
    common = {"provider": "ai_gateway", "base_url": gateway.url + "/v1", "token_url": gateway.url + "/oauth/token"}
    good = ProviderCredential.objects.create(
        owner=alice, client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET, **common
    )
    bad = ProviderCredential.objects.create(
        owner=bob,
        client_id=GATEWAY_CLIENT_ID,
        client_secret="wrong-secret-CANARY-0000",
        status=VerificationStatus.VERIFIED,
        **common,
    )
    with caplog.at_level(logging.DEBUG):
        messages = run_verify_action(admin_client, [good.pk, bad.pk])
    assert messages == ["Verified 1 of 2 credential(s); failed: 1 invalid_credentials."]
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == VerificationStatus.VERIFIED and good.verified_at is not None
    assert good.available_models  # the simulator's model list was recorded
    assert bad.status == VerificationStatus.FAILED and bad.status_code == "invalid_credentials"
    assert GATEWAY_CLIENT_SECRET not in caplog.text and "CANARY" not in caplog.text


def test_verify_action_reports_undecryptable_rows(admin_client, alice, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    lost = ProviderCredential.objects.create(owner=alice, provider="gemini", api_key=CANARY)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    messages = run_verify_action(admin_client, [lost.pk])
    assert messages == ["Verified 0 of 1 credential(s); failed: 1 decryption_failed."]
    lost.refresh_from_db()
    assert lost.status == VerificationStatus.FAILED
    # The changelist shows the "re-enter" error, not the value.
    body = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "re-enter" in body


def test_verify_action_against_fake_openai(admin_client, alice, bob, settings):
    from providers.testing.fake_providers import FakeOpenAI

    good_key = "sk-admin-verify-good-key-0001"
    with FakeOpenAI(valid_key=good_key, models=["gpt-a", "gpt-b"]) as server:
        settings.PROVIDERS_OPENAI_BASE_URL = server.base_url
        good = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=good_key)
        bad = ProviderCredential.objects.create(owner=bob, provider="openai", api_key=CANARY)
        messages = run_verify_action(admin_client, [good.pk, bad.pk])
    assert messages == ["Verified 1 of 2 credential(s); failed: 1 invalid_credentials."]
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, good.model_ids) == (VerificationStatus.VERIFIED, ["gpt-a", "gpt-b"])
    assert bad.status == VerificationStatus.FAILED
    assert CANARY not in bad.last_error
