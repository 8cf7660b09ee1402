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
    values = dict(
        owner=owner,
        provider=provider,
        api_key=key,
        secret_hint=mask(key),
        status=VerificationStatus.VERIFIED,
        verified_at=timezone.now(),
        status_code="verified",
        available_models=["gpt-4o"],
    )
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


@pytest.mark.parametrize(
    "method,url", [("get", LIST), ("post", VERIFY), ("post", CONFIGURE), ("delete", "/api/providers/openai")]
)
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
    for response in (
        post(client, VERIFY, payload),
        post(client, CONFIGURE, payload),
        client.delete("/api/providers/openai"),
    ):
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


@pytest.mark.parametrize(
    "body,field",
    [
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
        (
            {
                "provider": "ai_gateway",
                "client_id": "c" * 12,
                "client_secret": "s" * 12,
                "base_url": "http://u:p@127.0.0.1:9/v1",
            },
            "base_url",
        ),
        (
            {
                "provider": "ai_gateway",
                "client_id": "c" * 12,
                "client_secret": "s" * 12,
                "base_url": "http://127.0.0.1:9/v1",
                "token_auth_method": "client_secret_jwt",
            },
            "token_auth_method",
        ),
    ],
)
@pytest.mark.parametrize("url", [VERIFY, CONFIGURE])
def test_bad_input_is_400_with_field_errors(api, url, body, field):
    response = post(api, url, body)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors and all(isinstance(m, str) for m in errors[field])
    assert not ProviderCredential.objects.exists()


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"priority": -1}, "priority"),
        ({"priority": "1"}, "priority"),
        ({"priority": True}, "priority"),
        ({"enabled": "yes"}, "enabled"),
        ({"save_unverified": 1}, "save_unverified"),
        ({"models": ["gpt-4o"]}, "models"),
        ({"models": {"turbo": "gpt-4o"}}, "models"),
        ({"models": {"fast": 3}}, "models"),
        ({"models": {"fast": "m" * 201}}, "models"),
    ],
)
def test_bad_configure_options_are_400_and_change_nothing(api, alice, extra, field):
    credential = make(alice)
    before = ProviderCredential.objects.filter(pk=credential.pk).values().get()
    response = post(api, CONFIGURE, {"provider": "openai", "api_key": "sk-new-key-0000000000", **extra})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ProviderCredential.objects.filter(pk=credential.pk).values().get() == before


# --- list and delete -----------------------------------------------------------------------


def test_list_is_masked_and_scoped(api, alice, bob, settings):
    make(
        alice,
        "openai",
        key="sk-alice-secret-000011112222",
        priority=1,
        default_model="gpt-4o",
        fast_model="gpt-4o-mini",
    )
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


# --- against the gateway simulator (real HTTP on 127.0.0.1) --------------------------------

from providers.testing.gateway_simulator import GatewaySimulator  # noqa: E402

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET  # noqa: E402


def gateway_payload(sim, **overrides) -> dict:
    payload = {
        "provider": "ai_gateway",
        "client_id": GATEWAY_CLIENT_ID,
        "client_secret": GATEWAY_CLIENT_SECRET,
        "base_url": sim.base_url,
        "token_url": sim.token_url,
    }
    payload.update(overrides)
    return payload


def test_verify_reports_the_outcome_and_stores_nothing(api, gateway):
    response = post(api, VERIFY, gateway_payload(gateway))
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True and data["outcome"] == "verified"
    assert data["models"] == list(gateway.models) and data["message"] == "Verified: the provider offers 3 models."
    wrong = post(api, VERIFY, gateway_payload(gateway, client_secret="wrong-secret-000000")).json()
    assert wrong["ok"] is False and wrong["outcome"] == "invalid_credentials" and wrong["models"] == []
    assert not ProviderCredential.objects.exists()


def test_configure_saves_masked_with_preferences(api, alice, gateway):
    response = post(
        api,
        CONFIGURE,
        gateway_payload(
            gateway,
            default_model="sim-standard",
            models={"fast": "sim-fast", "premium": "sim-premium"},
            priority=3,
            enabled=False,
        ),
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["ok"] is True and data["saved"] is True
    credential = data["credential"]
    assert credential["hint"] == mask(GATEWAY_CLIENT_SECRET) and credential["client_id_hint"] == mask(GATEWAY_CLIENT_ID)
    assert credential["status"] == "verified" and credential["models"] == list(gateway.models)
    assert credential["tier_models"] == {"fast": "sim-fast", "standard": "", "premium": "sim-premium"}
    assert (
        credential["priority"] == 3 and credential["enabled"] is False and credential["default_model"] == "sim-standard"
    )
    assert GATEWAY_CLIENT_SECRET not in response.content.decode() and GATEWAY_CLIENT_ID not in response.content.decode()
    stored = ProviderCredential.objects.get(owner=alice)
    assert stored.fast_model == "sim-fast" and stored.enabled is False


def test_configure_failure_changes_nothing_unless_save_unverified(api, alice, gateway):
    post(api, CONFIGURE, gateway_payload(gateway))
    credential = ProviderCredential.objects.get(owner=alice)
    before = ProviderCredential.objects.filter(pk=credential.pk).values().get()
    response = post(api, CONFIGURE, gateway_payload(gateway, client_secret="wrong-secret-000000", priority=1))
    assert response.status_code == 422
    assert response.json()["saved"] is False and response.json()["credential"] is None
    assert ProviderCredential.objects.filter(pk=credential.pk).values().get() == before
    response = post(api, CONFIGURE, gateway_payload(gateway, client_secret="wrong-secret-000000", save_unverified=True))
    assert response.status_code == 200 and response.json()["saved"] is True
    assert response.json()["credential"]["status"] == "failed"


def test_blank_secret_keeps_stored_and_url_change_needs_it(api, alice, gateway):
    post(api, CONFIGURE, gateway_payload(gateway))
    credential = ProviderCredential.objects.get(owner=alice)
    before = ProviderCredential.objects.filter(pk=credential.pk).values().get()
    ok = post(api, VERIFY, {"provider": "ai_gateway"})  # everything omitted: the stored values
    assert ok.json()["ok"] is True
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as other:
        for url in (VERIFY, CONFIGURE):
            response = post(api, url, {"provider": "ai_gateway", "base_url": other.base_url})
            assert response.status_code == 400
            assert set(response.json()["errors"]) >= {"base_url", "client_secret"}
        assert other.requests == []
    assert ProviderCredential.objects.filter(pk=credential.pk).values().get() == before
