"""Model discovery with details: what each provider's model list reports (owner, display name,
context length), parsed from the simulators' wire formats over HTTP, stored on the credential
(old rows with plain ids still load), and shown on the settings page and in the JSON API."""

from __future__ import annotations

import pytest
from django.utils import timezone

from providers import registry
from providers.models import ProviderCredential, VerificationStatus
from providers.secrets import Secret, mask
from providers.services import credentials
from providers.services.credential_input import CredentialInput
from providers.testing.fake_providers import FakeAnthropic, FakeGemini, FakeOpenAI
from providers.testing.gateway_simulator import GatewaySimulator
from providers.types import CredentialConfig, ModelInfo, stored_models

from .conftest import GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET

KEY = "sk-model-info-key-0000000000"
PAGE = "/settings/providers/"


def _key_config(provider: str) -> CredentialConfig:
    return CredentialConfig(provider=provider, api_key=Secret(KEY))


def _gateway_config(sim: GatewaySimulator) -> CredentialConfig:
    return CredentialConfig(
        provider="ai_gateway",
        client_id=Secret(GATEWAY_CLIENT_ID),
        client_secret=Secret(GATEWAY_CLIENT_SECRET),
        base_url=sim.base_url,
    )


def _by_id(models: list[ModelInfo]) -> dict[str, ModelInfo]:
    return {m.id: m for m in models}


# --- parsing each provider's wire format (simulators over HTTP) ------------------------------


def test_openai_reports_the_owner(settings):
    with FakeOpenAI(valid_key=KEY, models=["gpt-4o", "gpt-3.5-turbo"]) as srv:
        settings.PROVIDERS_OPENAI_BASE_URL = srv.base_url
        models = registry.get("openai").list_models(_key_config("openai"))
    assert models == [
        ModelInfo(id="gpt-4o", owner="system"),
        ModelInfo(id="gpt-3.5-turbo", owner="openai"),
    ]


def test_anthropic_reports_display_names_and_no_context(settings):
    with FakeAnthropic(valid_key=KEY) as srv:
        settings.PROVIDERS_ANTHROPIC_BASE_URL = srv.base_url
        models = _by_id(registry.get("anthropic").list_models(_key_config("anthropic")))
    assert models["claude-sonnet-4-0"] == ModelInfo(id="claude-sonnet-4-0", display_name="Claude Sonnet 4")
    assert all(m.context_length is None and m.owner is None for m in models.values())


def test_gemini_reports_display_name_and_input_token_limit(settings):
    with FakeGemini(valid_key=KEY, models=["gemini-2.5-flash", "text-embedding-004"]) as srv:
        settings.PROVIDERS_GEMINI_BASE_URL = srv.base_url
        models = registry.get("gemini").list_models(_key_config("gemini"))
    assert models == [ModelInfo(id="gemini-2.5-flash", display_name="Gemini 2.5 Flash", context_length=1048576)]
    assert models[0].details == "Gemini 2.5 Flash · 1M context"


def test_gateway_reports_owner_and_the_common_context_fields():
    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        models = _by_id(registry.get("ai_gateway").list_models(_gateway_config(sim)))
    # The simulator uses context_window, max_input_tokens and context_length, one per model.
    assert models == {
        "sim-fast": ModelInfo(id="sim-fast", owner="openai", context_length=128000),
        "sim-standard": ModelInfo(id="sim-standard", owner="anthropic", context_length=200000),
        "sim-premium": ModelInfo(id="sim-premium", owner="google", context_length=1048576),
    }
    assert models["sim-fast"].details == "owned by openai · 128k context"


def test_gateway_context_is_optional_nested_or_ignored_when_malformed():
    info = {
        "plain": {},
        "litellm": {"model_info": {"max_input_tokens": 32768}},
        "vllm": {"max_model_len": 8192},
        "words": {"context_window": "lots", "owned_by": 42},
        "negative": {"context_length": -1},
        "boolean": {"context_length": True},
    }
    with GatewaySimulator(
        client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET, models=list(info), model_info=info
    ) as sim:
        models = _by_id(registry.get("ai_gateway").list_models(_gateway_config(sim)))
    assert models["plain"] == ModelInfo(id="plain", owner="simulator")
    assert models["litellm"].context_length == 32768 and models["vllm"].context_length == 8192
    assert models["words"] == ModelInfo(id="words")  # a non-text owner is dropped, not shown
    assert models["negative"].context_length is None and models["boolean"].context_length is None


# --- the stored shape ------------------------------------------------------------------------


def test_stored_records_and_old_plain_ids_both_load():
    stored = [
        "gpt-4o",  # written before the records existed
        {"id": "gpt-4.1", "owner": "system", "context_length": 1047576},
        {"id": ""},
        {"owner": "no id"},
        7,
    ]
    assert stored_models(stored) == [
        ModelInfo(id="gpt-4o"),
        ModelInfo(id="gpt-4.1", owner="system", context_length=1047576),
    ]
    assert stored_models(None) == [] and stored_models("gpt-4o") == [] and stored_models({"id": "x"}) == []
    record = ModelInfo(id="m", display_name="M", owner="o", context_length=200000)
    assert ModelInfo.from_stored(record.as_json()) == record
    assert ModelInfo(id="m").as_json() == {"id": "m"}


@pytest.mark.parametrize(
    "tokens, label",
    [(None, ""), (512, "512 context"), (8192, "8k context"), (128000, "128k context"), (131072, "128k context"),
     (200000, "200k context"), (1048576, "1M context"), (2000000, "2M context"), (1500000, "1.5M context")],
)  # fmt: skip
def test_context_label(tokens, label):
    assert ModelInfo(id="m", context_length=tokens).context_label == label


@pytest.mark.django_db
def test_save_stores_records_and_the_page_and_api_show_them(alice, alice_client, gateway):
    data = CredentialInput(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET, base_url=gateway.base_url)
    credential, result = credentials.credential_save(user=alice, provider="ai_gateway", data=data)
    assert result.ok
    credential.refresh_from_db()
    assert credential.available_models[0] == {"id": "sim-fast", "owner": "openai", "context_length": 128000}
    assert credential.model_ids == ["sim-fast", "sim-standard", "sim-premium"]

    page = alice_client.get(PAGE).content.decode()
    assert '<code>sim-fast</code> <span class="model-meta">owned by openai · 128k context</span>' in page
    assert '<span class="model-meta">owned by google · 1M context</span>' in page
    # The pickers' suggestions carry the same details.
    assert '<option value="sim-standard" label="owned by anthropic · 200k context">' in page

    api = alice_client.get("/api/providers").json()
    mine = next(p for p in api["providers"] if p["provider"] == "ai_gateway")
    assert mine["models"] == ["sim-fast", "sim-standard", "sim-premium"]
    assert mine["model_details"][2] == {"id": "sim-premium", "owner": "google", "context_length": 1048576}


@pytest.mark.django_db
def test_a_row_with_old_plain_ids_still_renders(alice, alice_client):
    key = "sk-old-row-000000000000001"
    ProviderCredential.objects.create(
        owner=alice,
        provider="openai",
        api_key=key,
        secret_hint=mask(key),
        status=VerificationStatus.VERIFIED,
        status_code="verified",
        verified_at=timezone.now(),
        available_models=["gpt-4o-mini", "gpt-4o"],
    )
    response = alice_client.get(PAGE)
    page = response.content.decode()
    assert response.status_code == 200
    assert '<li data-model="gpt-4o-mini"><code>gpt-4o-mini</code></li>' in page
    assert 'data-listed="gpt-4o-mini gpt-4o"' in page
    api = alice_client.get("/api/providers").json()["providers"][0]
    assert api["models"] == ["gpt-4o-mini", "gpt-4o"] and api["model_details"][0] == {"id": "gpt-4o-mini"}
