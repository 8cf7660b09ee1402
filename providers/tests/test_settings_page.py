"""Settings > AI providers: login, ownership, CSRF, forms, and what the page says.

Provider-facing flows talk real HTTP to the local fakes (see conftest: `fake_openai`, `gateway`).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from providers.models import ProviderCredential, VerificationStatus
from providers.secrets import mask

pytestmark = pytest.mark.django_db

PAGE = "/settings/providers/"


def stored(owner, provider="openai", key="sk-stored-key-000000001111", **extra) -> ProviderCredential:
    values = dict(
        owner=owner,
        provider=provider,
        api_key=key,
        secret_hint=mask(key),
        status=VerificationStatus.VERIFIED,
        verified_at=timezone.now(),
        available_models=["gpt-4o-mini", "gpt-4o"],
        status_code="verified",
    )
    values.update(extra)
    return ProviderCredential.objects.create(**values)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def snapshot(credential: ProviderCredential) -> dict:
    row = ProviderCredential.objects.filter(pk=credential.pk).values().get()
    return row


# --- login and ownership -------------------------------------------------------------------


def test_page_requires_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("action", ["verify", "save", "preferences", "delete"])
def test_actions_require_login_and_change_nothing(client, alice, action):
    credential = stored(alice)
    before = snapshot(credential)
    response = client.post(f"{PAGE}openai/{action}", {"openai-api_key": "sk-new-000000000000"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert snapshot(credential) == before


def test_order_requires_login(client):
    response = client.post(f"{PAGE}order", {})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("action", ["verify", "save", "preferences", "delete"])
def test_unknown_provider_is_404(client, alice, action):
    client.force_login(alice)
    assert client.post(f"{PAGE}nope/{action}", {}).status_code == 404


def test_other_users_credential_is_404_and_untouched(client, alice, bob):
    credential = stored(alice)
    before = snapshot(credential)
    client.force_login(bob)
    prefs = {"openai-prefs-priority": "1", "openai-prefs-enabled": "", "openai-prefs-default_model": "x"}
    assert client.post(f"{PAGE}openai/preferences", prefs).status_code == 404
    assert client.get(f"{PAGE}openai/delete").status_code == 404
    assert client.post(f"{PAGE}openai/delete").status_code == 404
    assert snapshot(credential) == before
    # And bob's page does not show alice's hint.
    assert mask("sk-stored-key-000000001111") not in client.get(PAGE).content.decode()


def test_csrf_is_enforced(alice):
    credential = stored(alice)
    before = snapshot(credential)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    for url, data in [
        (f"{PAGE}openai/save", {"openai-api_key": "sk-new-000000000000"}),
        (f"{PAGE}openai/verify", {"openai-api_key": "sk-new-000000000000"}),
        (f"{PAGE}openai/preferences", {"openai-prefs-priority": "3"}),
        (f"{PAGE}openai/delete", {}),
        (f"{PAGE}order", {"position_openai": "1"}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert snapshot(credential) == before
    # With the token from the page, the same client can act.
    page = client.get(PAGE)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(f"{PAGE}openai/delete", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not ProviderCredential.objects.filter(pk=credential.pk).exists()


# --- what the page shows -------------------------------------------------------------------


def test_empty_state_lists_every_provider_as_not_configured(client, alice):
    client.force_login(alice)
    html = client.get(PAGE).content.decode()
    for name in ("OpenAI", "Anthropic", "Gemini", "AI Gateway (service account)"):
        assert name in html
    assert html.count("Not configured") == 4
    assert "No AI provider of your own yet" in html
    for button in ("Verify", "Save", "Save anyway (unverified)"):
        assert f">{button}</button>" in html


def test_platform_provided_status(client, alice, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-platform-key-99998888"
    client.force_login(alice)
    html = client.get(PAGE).content.decode()
    assert "Provided by the platform" in html
    assert "sk-ant-platform" not in html and "8888" not in html


def test_statuses_and_hint(client, alice):
    stored(alice, "openai", key="sk-openai-secret-abcdefgh1234")
    stored(
        alice,
        "anthropic",
        key="sk-ant-secret-abcdefgh5678",
        status=VerificationStatus.FAILED,
        status_code="invalid_credentials",
        last_error="Invalid credentials: the provider rejected them.",
    )
    stored(alice, "gemini", key="gemini-secret-abcdefgh9012", status=VerificationStatus.UNVERIFIED, verified_at=None)
    client.force_login(alice)
    html = client.get(PAGE).content.decode()
    assert re.search(r"Verified\s+at \d{4}-\d\d-\d\d \d\d:\d\d", html)
    assert "Failed: Invalid credentials: the provider rejected them." in html
    assert "Unverified" in html
    assert "…1234" in html and "…5678" in html and "…9012" in html
    for secret in ("sk-openai-secret-abcdefgh1234", "sk-ant-secret-abcdefgh5678", "gemini-secret-abcdefgh9012"):
        assert secret not in html and secret[:8] not in html
    # Stored secrets are never prefilled: password inputs have no value attribute.
    assert not re.search(r'<input type="password"[^>]*value=', html)
    assert "Leave blank to keep the stored secret." in html
    # Suggestions come from the models the provider reported.
    assert '<datalist id="models-openai"><option value="gpt-4o-mini">' in html


# --- preferences, order, remove ------------------------------------------------------------


def test_preferences_are_saved_without_reverification(client, alice):
    credential = stored(alice)
    client.force_login(alice)
    response = client.post(
        f"{PAGE}openai/preferences",
        {
            "openai-prefs-default_model": "gpt-4o",
            "openai-prefs-fast_model": "gpt-4o-mini",
            "openai-prefs-standard_model": "gpt-4o",
            "openai-prefs-premium_model": "o3",
            "openai-prefs-priority": "7",  # enabled unchecked -> disabled
        },
    )
    assert response.status_code == 302
    # o3 is not among the models the provider listed: saved, with a warning.
    assert messages_of(response) == ["OpenAI: preferences saved.", "OpenAI did not list o3; agents will still try it."]
    credential.refresh_from_db()
    assert (credential.default_model, credential.fast_model, credential.standard_model, credential.premium_model) == (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o",
        "o3",
    )
    assert credential.priority == 7 and credential.enabled is False
    assert credential.last_checked_at is None  # nothing was sent to the provider


def test_bad_preferences_change_nothing(client, alice):
    credential = stored(alice)
    before = snapshot(credential)
    client.force_login(alice)
    response = client.post(
        f"{PAGE}openai/preferences", {"openai-prefs-priority": "-4", "openai-prefs-fast_model": "x" * 300}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was changed" in html and "errorlist" in html
    assert snapshot(credential) == before


def test_remove_asks_for_confirmation_then_deletes(client, alice, bob):
    stored(alice)
    bobs = stored(bob)
    client.force_login(alice)
    confirm = client.get(f"{PAGE}openai/delete")
    assert confirm.status_code == 200 and "Remove your OpenAI credential?" in confirm.content.decode()
    assert ProviderCredential.objects.filter(owner=alice).exists()  # GET deletes nothing
    response = client.post(f"{PAGE}openai/delete")
    assert response.status_code == 302
    assert messages_of(response) == ["OpenAI: credential removed."]
    assert not ProviderCredential.objects.filter(owner=alice).exists()
    assert ProviderCredential.objects.filter(pk=bobs.pk).exists()
    assert client.post(f"{PAGE}openai/delete").status_code == 404


def test_order_of_preference(client, alice):
    stored(alice, "openai", priority=0)
    stored(alice, "anthropic", key="sk-ant-000000000000", priority=1)
    stored(alice, "gemini", key="gm-0000000000000000", priority=2)
    client.force_login(alice)
    html = client.get(PAGE).content.decode()
    # One ordering control: up/down per card, cards in the order agents try them; no priority box.
    assert (
        html.index('id="provider-openai"') < html.index('id="provider-anthropic"') < html.index('id="provider-gemini"')
    )
    assert 'aria-label="Move OpenAI up"' in html and 'name="openai-prefs-priority"' not in html
    response = client.post(f"{PAGE}order", {"provider": "gemini", "move": "up"})
    assert response.status_code == 302
    assert dict(ProviderCredential.objects.filter(owner=alice).values_list("provider", "priority")) == {
        "openai": 0,
        "gemini": 1,
        "anthropic": 2,
    }
    html = client.get(PAGE).content.decode()
    assert html.index('id="provider-gemini"') < html.index('id="provider-anthropic"')
    # Moving the first one up changes nothing; an unknown provider is refused.
    client.post(f"{PAGE}order", {"provider": "openai", "move": "up"})
    client.post(f"{PAGE}order", {"provider": "nope", "move": "down"})
    assert dict(ProviderCredential.objects.filter(owner=alice).values_list("provider", "priority")) == {
        "openai": 0,
        "gemini": 1,
        "anthropic": 2,
    }
    response = client.post(f"{PAGE}order", {"position_openai": "3", "position_anthropic": "2", "position_gemini": "1"})
    assert response.status_code == 302
    assert dict(ProviderCredential.objects.filter(owner=alice).values_list("provider", "priority")) == {
        "gemini": 0,
        "anthropic": 1,
        "openai": 2,
    }
    bad = client.post(f"{PAGE}order", {"position_openai": "x"})
    assert bad.status_code == 400
    assert dict(ProviderCredential.objects.filter(owner=alice).values_list("provider", "priority")) == {
        "gemini": 0,
        "anthropic": 1,
        "openai": 2,
    }


# --- real verification against the gateway simulator ---------------------------------------

import socket  # noqa: E402

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET  # noqa: E402


@pytest.fixture
def fast_failures(settings):
    """Short timeouts and no retries, so failure outcomes show up quickly."""
    settings.PROVIDERS_HTTP_READ_TIMEOUT = 0.5
    settings.PROVIDERS_TOKEN_REQUEST_TIMEOUT = 0.5
    settings.PROVIDERS_GATEWAY_MAX_RETRIES = 0
    settings.PROVIDERS_GATEWAY_TOTAL_TIMEOUT = 3.0


def gateway_form(sim, **overrides) -> dict:
    data = {
        "ai_gateway-client_id": GATEWAY_CLIENT_ID,
        "ai_gateway-client_secret": GATEWAY_CLIENT_SECRET,
        "ai_gateway-base_url": sim.base_url,
        "ai_gateway-token_url": sim.token_url,
        "ai_gateway-token_auth_method": "client_secret_basic",
        "ai_gateway-default_model": "",
    }
    data.update({f"ai_gateway-{k}": v for k, v in overrides.items()})
    return data


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "case,expected",
    [
        ("verified", "Verified: the provider offers 3 models."),
        ("invalid", "Invalid credentials"),
        ("unreachable", "Provider unreachable"),
        ("timeout", "Provider timed out"),
        ("rate_limited", "Rate limited by the provider (the key may be fine"),
        ("unexpected", "Unexpected response from the provider"),
    ],
)
def test_each_outcome_is_shown_on_the_page(alice_client, gateway, fast_failures, case, expected):
    form = gateway_form(gateway)
    if case == "invalid":
        form["ai_gateway-client_secret"] = "not-the-secret-0000"
    elif case == "unreachable":
        dead = closed_port_url()
        form.update({"ai_gateway-base_url": dead + "/v1", "ai_gateway-token_url": dead + "/oauth/token"})
    elif case == "timeout":
        gateway.inject(path_prefix="/v1/models", delay=2.0, status=200, body={"object": "list", "data": []})
    elif case == "rate_limited":
        gateway.rate_limit(retry_after=30, times=None, path_prefix="/v1/models")
    elif case == "unexpected":
        gateway.inject(path_prefix="/v1/models", status=200, body=b"<html>not json</html>")
    response = alice_client.post(f"{PAGE}ai_gateway/verify", form, follow=True)
    assert response.status_code == 200
    shown = messages_of(response) or [m.message for m in response.context["messages"]]
    html = response.content.decode()
    assert expected in html, (case, shown)
    assert "Nothing was saved" in html
    assert not ProviderCredential.objects.exists()  # Verify never stores


def test_save_then_blank_secret_keeps_it_and_failed_save_changes_nothing(alice_client, alice, gateway):
    response = alice_client.post(
        f"{PAGE}ai_gateway/save", gateway_form(gateway, default_model="sim-standard"), follow=True
    )
    assert "AI Gateway (service account): saved. Verified: the provider offers 3 models." in response.content.decode()
    credential = ProviderCredential.objects.get(owner=alice, provider="ai_gateway")
    assert credential.status == VerificationStatus.VERIFIED and credential.default_model == "sim-standard"
    page = alice_client.get(PAGE).content.decode()
    assert mask(GATEWAY_CLIENT_SECRET) in page and "sim-standard" in page
    before = snapshot(credential)

    # Wrong secret: nothing changes.
    response = alice_client.post(
        f"{PAGE}ai_gateway/save", gateway_form(gateway, client_secret="wrong-secret-000000"), follow=True
    )
    assert "Nothing was saved; your stored credential is unchanged." in response.content.decode()
    assert snapshot(credential) == before

    # Blank secret fields: the gateway sees the stored ones again.
    gateway.requests.clear()
    response = alice_client.post(
        f"{PAGE}ai_gateway/verify", gateway_form(gateway, client_id="", client_secret=""), follow=True
    )
    assert "Verified: the provider offers 3 models." in response.content.decode()
    sent = [r for r in gateway.requests if r.path.startswith("/oauth/token")]
    assert sent, "the stored secret was not used"
    auth = {k.lower(): v for k, v in sent[-1].headers.items()}["authorization"]
    import base64

    assert base64.b64decode(auth.split()[1]).decode() == f"{GATEWAY_CLIENT_ID}:{GATEWAY_CLIENT_SECRET}"


def test_url_change_without_secret_is_refused_on_the_page(alice_client, alice, gateway):
    alice_client.post(f"{PAGE}ai_gateway/save", gateway_form(gateway))
    credential = ProviderCredential.objects.get(owner=alice, provider="ai_gateway")
    before = snapshot(credential)
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as other:
        response = alice_client.post(
            f"{PAGE}ai_gateway/save", gateway_form(gateway, client_secret="", base_url=other.base_url)
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert "Re-enter the client ID and client secret to use a new URL" in html and "Nothing was changed" in html
        assert other.requests == []
    assert snapshot(credential) == before


def test_save_anyway_stores_unverified(alice_client, alice, gateway, fast_failures):
    gateway.rate_limit(retry_after=30, times=None, path_prefix="/v1/models")
    response = alice_client.post(
        f"{PAGE}ai_gateway/save", {**gateway_form(gateway), "save_unverified": "1"}, follow=True
    )
    html = response.content.decode()
    assert "saved without verification. Rate limited by the provider" in html
    credential = ProviderCredential.objects.get(owner=alice, provider="ai_gateway")
    assert credential.status == VerificationStatus.UNVERIFIED and credential.last_error.startswith("Rate limited")
    assert "Unverified: Rate limited" in html
    # Without "save anyway" the same failure stores nothing.
    credential.delete()
    alice_client.post(f"{PAGE}ai_gateway/save", gateway_form(gateway))
    assert not ProviderCredential.objects.exists()


# --- an API-key provider against the fake OpenAI -------------------------------------------

from .conftest import OPENAI_KEY  # noqa: E402


def bearer_keys(fake) -> list[str]:
    keys = []
    for request in fake.requests:
        auth = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        keys.append(auth.removeprefix("Bearer "))
    return keys


def test_openai_key_flow(alice_client, alice, fake_openai):
    response = alice_client.post(
        f"{PAGE}openai/save", {"openai-api_key": OPENAI_KEY, "openai-default_model": "gpt-4o"}, follow=True
    )
    html = response.content.decode()
    assert "OpenAI: saved. Verified: the provider offers 3 models." in html
    assert mask(OPENAI_KEY) in html and OPENAI_KEY not in html
    credential = ProviderCredential.objects.get(owner=alice, provider="openai")
    assert credential.model_ids == ["gpt-4o-mini", "gpt-4o", "o3"]
    # Suggestions for the tier models come from what the provider reported.
    assert '<option value="o3" label="owned by system">' in html

    # Blank key on edit: the fake sees the stored key again, and the row keeps it.
    fake_openai.requests.clear()
    response = alice_client.post(
        f"{PAGE}openai/save", {"openai-api_key": "", "openai-default_model": "o3"}, follow=True
    )
    assert "OpenAI: saved. Verified" in response.content.decode()
    assert bearer_keys(fake_openai) == [OPENAI_KEY]
    credential.refresh_from_db()
    assert credential.api_key.secret().reveal() == OPENAI_KEY and credential.default_model == "o3"

    # A wrong key: the message says so and the stored key stays.
    before = snapshot(credential)
    response = alice_client.post(f"{PAGE}openai/save", {"openai-api_key": "sk-wrong-key-000000000000"}, follow=True)
    assert "Invalid credentials" in response.content.decode()
    assert snapshot(credential) == before


def test_enabled_switch(client, alice, bob):
    credential = stored(alice)
    client.force_login(alice)
    assert 'role="switch" aria-checked="true" aria-label="Use OpenAI for agents"' in client.get(PAGE).content.decode()
    assert client.post(f"{PAGE}openai/enabled", {"enabled": "0"}).status_code == 302
    credential.refresh_from_db()
    assert credential.enabled is False and credential.default_model == "" and credential.last_checked_at is None
    html = client.get(PAGE).content.decode()
    assert 'aria-checked="false"' in html and "Off: agents do not use this credential." in html
    client.post(f"{PAGE}openai/enabled", {"enabled": "1"})
    credential.refresh_from_db()
    assert credential.enabled is True
    client.force_login(bob)
    assert client.post(f"{PAGE}openai/enabled", {"enabled": "0"}).status_code == 404


def test_no_js_verify_keeps_non_secret_fields_and_shows_result_on_the_card(alice_client, gateway):
    """A typo in a URL: the card comes back with the error at its top, the other fields as typed,
    the secrets never echoed."""
    form = gateway_form(gateway, base_url="ftp://x", scope="my-scope", default_model="sim-fast")
    response = alice_client.post(f"{PAGE}ai_gateway/verify", form)
    html = response.content.decode()
    assert response.status_code == 400
    card = html[html.index('id="provider-ai_gateway"') :]
    assert card.index("Nothing was changed") < card.index("<form")  # the result comes first in the card
    assert 'value="ftp://x"' in card and 'value="my-scope"' in card and 'value="sim-fast"' in card
    assert f'value="{gateway.token_url}"' in card
    assert GATEWAY_CLIENT_SECRET not in html and GATEWAY_CLIENT_ID not in html
    # A verify that reaches the provider: 200, the result on the card, the fields kept, nothing stored.
    response = alice_client.post(f"{PAGE}ai_gateway/verify", gateway_form(gateway, scope="my-scope"))
    html = response.content.decode()
    assert response.status_code == 200 and 'value="my-scope"' in html
    card = html[html.index('id="provider-ai_gateway"') :]
    assert card.index("Verified: the provider offers 3 models.") < card.index("<form")
    assert GATEWAY_CLIENT_SECRET not in html
    assert not ProviderCredential.objects.exists()


def test_refresh_fetches_the_model_list_again(alice_client, alice, gateway):
    alice_client.post(f"{PAGE}ai_gateway/save", gateway_form(gateway))
    credential = ProviderCredential.objects.get(owner=alice, provider="ai_gateway")
    ProviderCredential.objects.filter(pk=credential.pk).update(available_models=[], last_checked_at=None)
    response = alice_client.post(f"{PAGE}ai_gateway/refresh", follow=True)
    html = response.content.decode()
    credential.refresh_from_db()
    assert len(credential.model_ids) == 3 and credential.last_checked_at is not None
    assert (
        "Last fetched" in html
        and '<li data-model="sim-fast"><code>sim-fast</code> <span class="model-meta">owned by openai · 128k context</span></li>'
        in html
    )


def test_operator_gateway_url_is_not_shown(client, alice, settings):
    settings.AI_GATEWAY_BASE_URL = "https://internal-gateway.corp.example/v1"
    client.force_login(alice)
    html = client.get(PAGE).content.decode()
    assert "internal-gateway.corp.example" not in html and "blank: the gateway the platform provides" in html
