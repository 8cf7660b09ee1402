"""Issue 9, "Secrets": a pasted hint is never stored, and nothing stored goes to a new URL.

Every path that takes a new secret (the settings page's "Save anyway", the API's
`save_unverified`, the admin's write-only fields) refuses the masked hint; a URL change needs
every stored credential part again. Real HTTP against the local fakes and gateway simulators.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from providers.models import ProviderCredential, VerificationStatus
from providers.secrets import mask
from providers.testing.gateway_simulator import GatewaySimulator

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET, OPENAI_KEY

pytestmark = pytest.mark.django_db

PAGE = "/settings/providers/"
MASKED = "This looks like the masked hint"


def stored_row(credential: ProviderCredential) -> dict:
    return ProviderCredential.objects.filter(pk=credential.pk).values().get()


def gateway_form(sim: GatewaySimulator, **overrides: str) -> dict[str, str]:
    data = {
        "client_id": GATEWAY_CLIENT_ID,
        "client_secret": GATEWAY_CLIENT_SECRET,
        "base_url": sim.base_url,
        "token_url": sim.token_url,
        "token_auth_method": "client_secret_basic",
        "default_model": "",
    }
    data.update(overrides)
    return {f"ai_gateway-{k}": v for k, v in data.items()}


@pytest.fixture
def api(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def staff_client(client, django_user_model) -> Client:
    client.force_login(django_user_model.objects.create_superuser("operator", password="op-password-123"))
    return client


def masked_values(secret: str) -> list[str]:
    return [mask(secret), "…" + secret[-4:], "sk-••••", "••••"]


@pytest.mark.parametrize("index", range(4))
def test_save_anyway_refuses_the_masked_hint_on_the_page(alice_client, alice, fake_openai, index):
    alice_client.post(f"{PAGE}openai/save", {"openai-api_key": OPENAI_KEY})
    credential = ProviderCredential.objects.get(owner=alice, provider="openai")
    before = stored_row(credential)
    fake_openai.requests.clear()
    value = masked_values(OPENAI_KEY)[index]
    response = alice_client.post(f"{PAGE}openai/save", {"openai-api_key": value, "save_unverified": "1"})
    assert response.status_code == 400
    assert MASKED in response.content.decode()
    assert stored_row(credential) == before
    assert ProviderCredential.objects.get(pk=credential.pk).api_key.secret().reveal() == OPENAI_KEY
    assert fake_openai.requests == []  # refused before anything is sent


def test_api_save_unverified_refuses_the_masked_hint(api, alice, gateway):
    payload = {
        "provider": "ai_gateway",
        "client_id": GATEWAY_CLIENT_ID,
        "client_secret": GATEWAY_CLIENT_SECRET,
        "base_url": gateway.base_url,
        "token_url": gateway.token_url,
    }
    assert api.post("/api/providers/configure", json.dumps(payload), content_type="application/json").status_code == 200
    credential = ProviderCredential.objects.get(owner=alice)
    before = stored_row(credential)
    for field, value in (
        ("client_secret", mask(GATEWAY_CLIENT_SECRET)),
        ("client_id", mask(GATEWAY_CLIENT_ID)),
        ("client_secret", "abc…9f8e"),
    ):
        body = {**payload, field: value, "save_unverified": True}
        response = api.post("/api/providers/configure", json.dumps(body), content_type="application/json")
        assert response.status_code == 400, response.content
        assert MASKED in " ".join(response.json()["errors"][field])
    assert stored_row(credential) == before
    assert ProviderCredential.objects.get(pk=credential.pk).client_secret.secret().reveal() == GATEWAY_CLIENT_SECRET


def test_admin_refuses_the_masked_hint(staff_client, alice):
    key = "sk-admin-stored-key-8c0e"
    credential = ProviderCredential.objects.create(
        owner=alice, provider="openai", api_key=key, secret_hint=mask(key), status=VerificationStatus.VERIFIED
    )
    before = stored_row(credential)
    url = reverse("admin:providers_providercredential_change", args=[credential.pk])
    data = {
        "owner": str(alice.pk),
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
        "new_client_id": "",
        "new_client_secret": "",
    }
    for value in (mask(key), "…8c0e", "••••"):
        response = staff_client.post(url, {**data, "new_api_key": value})
        assert response.status_code == 200  # the form again, with the error
        assert MASKED in response.content.decode()
    assert stored_row(credential) == before
    assert ProviderCredential.objects.get(pk=credential.pk).api_key.secret().reveal() == key


def test_url_change_with_only_the_secret_sends_nothing_stored_to_the_new_url(api, alice_client, alice, gateway):
    alice_client.post(f"{PAGE}ai_gateway/save", gateway_form(gateway))
    credential = ProviderCredential.objects.get(owner=alice, provider="ai_gateway")
    before = stored_row(credential)
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as other:
        new_urls = {"base_url": other.base_url, "token_url": other.token_url}
        # The page: the secret re-entered, the client ID left blank ("keep the stored one").
        response = alice_client.post(f"{PAGE}ai_gateway/verify", gateway_form(gateway, client_id="", **new_urls))
        assert response.status_code == 400
        assert "Re-enter the client ID and client secret" in response.content.decode()
        # The API: the client ID omitted.
        body = {"provider": "ai_gateway", "client_secret": GATEWAY_CLIENT_SECRET, **new_urls}
        for url in ("/api/providers/verify", "/api/providers/configure"):
            response = api.post(
                url,
                json.dumps({**body, "save_unverified": True} if "configure" in url else body),
                content_type="application/json",
            )
            assert response.status_code == 400
            assert set(response.json()["errors"]) >= {"base_url", "client_id"}
        assert other.requests == []  # the new address received nothing
        # Both parts re-entered: the new URL may be used.
        response = api.post(
            "/api/providers/verify",
            json.dumps({**body, "client_id": GATEWAY_CLIENT_ID}),
            content_type="application/json",
        )
        assert response.json()["ok"] is True and other.requests
    assert stored_row(credential) == before


def test_admin_url_change_needs_the_client_id_too(staff_client, alice):
    credential = ProviderCredential.objects.create(
        owner=alice,
        provider="ai_gateway",
        client_id=GATEWAY_CLIENT_ID,
        client_secret=GATEWAY_CLIENT_SECRET,
        client_id_hint=mask(GATEWAY_CLIENT_ID),
        secret_hint=mask(GATEWAY_CLIENT_SECRET),
        base_url="https://gateway.example.com/v1",
    )
    before = stored_row(credential)
    url = reverse("admin:providers_providercredential_change", args=[credential.pk])
    data = {
        "owner": str(alice.pk),
        "provider": "ai_gateway",
        "priority": "0",
        "enabled": "on",
        "base_url": "https://elsewhere.example.com/v1",
        "token_url": "",
        "scope": "",
        "token_auth_method": "client_secret_basic",
        "default_model": "",
        "fast_model": "",
        "standard_model": "",
        "premium_model": "",
        "new_api_key": "",
        "new_client_id": "",
        "new_client_secret": "new-secret-value-123",
    }
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "requires entering this again" in response.content.decode()
    assert stored_row(credential) == before
