"""The JSON API: auth and CSRF as JSON, 400 with field errors, ownership, masked output.

Provider-facing calls talk real HTTP to the local fakes / gateway simulator.
"""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from providers.models import ProviderCredential, VerificationStatus
from providers.secrets import mask

pytestmark = pytest.mark.django_db

LIST, VERIFY, CONFIGURE = "/api/providers", "/api/providers/verify", "/api/providers/configure"


def make(owner, provider="openai", key="sk-stored-key-000000001111", **extra) -> ProviderCredential:
    values = dict(owner=owner, provider=provider, api_key=key, secret_hint=mask(key), status=VerificationStatus.VERIFIED,
                  verified_at=timezone.now(), status_code="verified", available_models=["gpt-4o"])
    values.update(extra)
    return ProviderCredential.objects.create(**values)


def post(client: Client, url: str, payload, **extra):
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return client.post(url, body, content_type="application/json", **extra)


@pytest.fixture
def api(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


# --- auth, CSRF, methods -------------------------------------------------------------------


@pytest.mark.parametrize("method,url", [("get", LIST), ("post", VERIFY), ("post", CONFIGURE), ("delete", "/api/providers/openai")])
def test_anonymous_gets_401_json(client, method, url):
    kwargs = {} if method == "get" else {"data": "{}", "content_type": "application/json"}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "errors" in response.json()


def test_csrf_enforced_as_json_403(alice):
    make(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    payload = {"provider": "openai", "api_key": "sk-new-key-0000000000"}
    for response in (post(client, VERIFY, payload), post(client, CONFIGURE, payload), client.delete("/api/providers/openai")):
        assert response.status_code == 403
        assert "CSRF" in response.json()["errors"]["__all__"][0]
    assert ProviderCredential.objects.filter(owner=alice).count() == 1
    # GET works without a token and hands out the cookie; with it, DELETE goes through.
    listing = client.get(LIST)
    assert listing.status_code == 200
    token = client.cookies["csrftoken"].value
    assert client.delete("/api/providers/openai", HTTP_X_CSRFTOKEN=token).status_code == 204


def test_wrong_method_is_405_json(api):
    response = api.get(VERIFY)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert api.post(LIST).status_code == 405


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("body,field", [
    ("{not json", "__all__"),
    (b"\xff\xfe", "__all__"),
    ("[1, 2]", "__all__"),
    ('"text"', "__all__"),
    ({}, "provider"),
    ({"provider": "nope", "api_key": "x"}, "provider"),
    ({"provider": 5}, "provider"),
    ({"provider": "openai"}, "api_key"),
    ({"provider": "openai", "api_key": 12345}, "api_key"),
    ({"provider": "openai", "api_key": ["a"]}, "api_key"),
    ({"provider": "ai_gateway", "client_id": "cid-0123456789"}, "client_secret"),
    ({"provider": "ai_gateway", "client_id": "c" * 12, "client_secret": "s" * 12, "base_url": "http://u:p@127.0.0.1:9/v1"}, "base_url"),
    ({"provider": "ai_gateway", "client_id": "c" * 12, "client_secret": "s" * 12, "base_url": "http://127.0.0.1:9/v1",
      "token_auth_method": "client_secret_jwt"}, "token_auth_method"),
])
@pytest.mark.parametrize("url", [VERIFY, CONFIGURE])
def test_bad_input_is_400_with_field_errors(api, url, body, field):
    response = post(api, url, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors and all(isinstance(m, str) for m in errors[field])
    assert not ProviderCredential.objects.exists()


@pytest.mark.parametrize("extra,field", [
    ({"priority": -1}, "priority"), ({"priority": "1"}, "priority"), ({"priority": True}, "priority"),
    ({"enabled": "yes"}, "enabled"), ({"save_unverified": 1}, "save_unverified"),
    ({"models": ["gpt-4o"]}, "models"), ({"models": {"turbo": "gpt-4o"}}, "models"), ({"models": {"fast": 3}}, "models"),
    ({"models": {"fast": "m" * 201}}, "models"),
])
def test_bad_configure_options_are_400_and_change_nothing(api, alice, extra, field):
    credential = make(alice)
    before = ProviderCredential.objects.filter(pk=credential.pk).values().get()
    response = post(api, CONFIGURE, {"provider": "openai", "api_key": "sk-new-key-0000000000", **extra})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ProviderCredential.objects.filter(pk=credential.pk).values().get() == before


# --- list and delete -----------------------------------------------------------------------


def test_list_is_masked_and_scoped(api, alice, bob, settings):
    make(alice, "openai", key="sk-alice-secret-000011112222", priority=1, default_model="gpt-4o", fast_model="gpt-4o-mini")
    make(bob, "anthropic", key="sk-bob-secret-000033334444")
    settings.GEMINI_API_KEY = "platform-gemini-key-55556666"
    response = api.get(LIST)
    assert response.status_code == 200
    items = response.json()["providers"]
    assert [(i["provider"], i["source"]) for i in items] == [("openai", "user"), ("gemini", "platform")]
    mine = items[0]
    assert mine["hint"] == "…2222" and mine["status"] == "verified" and mine["models"] == ["gpt-4o"]
    assert mine["priority"] == 1 and mine["enabled"] is True and mine["verified_at"]
    assert mine["tier_models"]["fast"] == "gpt-4o-mini"
    assert items[1]["hint"] == "" and items[1]["status"] == "platform"
    text = response.content.decode()
    for secret in ("sk-alice-secret-000011112222", "sk-bob-secret", "platform-gemini-key", "6666", "4444"):
        assert secret not in text


def test_delete(api, alice, bob):
    make(alice)
    bobs = make(bob)
    assert api.delete("/api/providers/openai").status_code == 204
    assert not ProviderCredential.objects.filter(owner=alice).exists()
    assert ProviderCredential.objects.filter(pk=bobs.pk).exists()
    response = api.delete("/api/providers/openai")
    assert response.status_code == 404 and "provider" in response.json()["errors"]
    assert api.delete("/api/providers/nope").status_code == 404


def test_user_b_gets_404_for_user_a_credential(alice, bob):
    credential = make(alice)
    client = Client()
    client.force_login(bob)
    assert client.delete("/api/providers/openai").status_code == 404
    assert ProviderCredential.objects.filter(pk=credential.pk).exists()
    assert client.get(LIST).json()["providers"] == []
