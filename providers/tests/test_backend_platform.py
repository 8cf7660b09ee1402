"""What each backend answers about the operator's credential, env models, order and the registry,
which the selectors, the model cache, the commands and the table's constraint ask instead of
comparing provider ids."""

from __future__ import annotations

import pytest

from providers import registry
from providers.models import ProviderCredential
from providers.secrets import Secret
from providers.selectors import effective_credentials_for_user, platform_config, platform_credentials
from providers.tiers import TIERS
from providers.types import CredentialConfig

API_KEY_BACKENDS = [("openai", "OPENAI"), ("anthropic", "ANTHROPIC"), ("gemini", "GEMINI")]
GATEWAY_SETTINGS = (
    "AI_GATEWAY_CLIENT_ID",
    "AI_GATEWAY_CLIENT_SECRET",
    "AI_GATEWAY_BASE_URL",
    "AI_GATEWAY_TOKEN_URL",
    "AI_GATEWAY_SCOPE",
    "AI_GATEWAY_TOKEN_AUTH_METHOD",
)


@pytest.fixture(autouse=True)
def _no_platform_credentials(settings):
    for name in (
        "AI_GATEWAY_CLIENT_ID",
        "AI_GATEWAY_CLIENT_SECRET",
        "AI_GATEWAY_BASE_URL",
        "AI_GATEWAY_TOKEN_URL",
        "AI_GATEWAY_DEFAULT_MODEL",
        *(f"AI_GATEWAY_{t.upper()}_MODEL" for t in TIERS),
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
    ):
        setattr(settings, name, "")
    settings.AI_GATEWAY_ENABLED = False


@pytest.mark.parametrize("provider,prefix", API_KEY_BACKENDS)
def test_api_key_backends_platform_credential(settings, provider, prefix):
    backend = registry.get(provider)
    assert backend.platform_config() is None
    assert platform_config(provider) == CredentialConfig(provider=provider)
    setattr(settings, f"{prefix}_API_KEY", "platform-key-0123456789")
    config = backend.platform_config()
    assert config.provider == provider and config.api_key.reveal() == "platform-key-0123456789"
    assert backend.platform_settings() == (f"{prefix}_API_KEY",)
    assert backend.platform_setup_hint() == f"{prefix}_API_KEY"
    assert backend.model_settings == (f"{prefix}_BASE_URL",)
    assert backend.tried_first() is False
    assert backend.env_tier_models() == {} and backend.env_model_for("fast") == ""


def test_gateway_platform_credential_needs_id_secret_and_base_url(settings):
    backend = registry.get("ai_gateway")
    settings.AI_GATEWAY_CLIENT_ID = "platform-client"
    settings.AI_GATEWAY_CLIENT_SECRET = "platform-secret"
    assert backend.platform_config() is None  # no base URL yet
    settings.AI_GATEWAY_BASE_URL = "https://gateway.example.com/v1"
    settings.AI_GATEWAY_SCOPE = "models"
    config = backend.platform_config()
    assert (config.provider, config.base_url, config.scope, config.credential_id) == (
        "ai_gateway",
        "https://gateway.example.com/v1",
        "models",
        None,
    )
    assert config.client_id == Secret("platform-client") and config.client_secret.reveal() == "platform-secret"
    assert backend.platform_settings() == GATEWAY_SETTINGS
    assert "AI_GATEWAY_CLIENT_ID" in backend.platform_setup_hint()
    assert backend.model_settings == ()
    assert [c.provider for c in platform_credentials()] == ["ai_gateway"]


def test_gateway_env_models_and_order(settings):
    backend = registry.get("ai_gateway")
    assert backend.env_model_for("fast") == "" and backend.tried_first() is False
    settings.AI_GATEWAY_DEFAULT_MODEL = "gw-default"
    settings.AI_GATEWAY_PREMIUM_MODEL = "gw-premium"
    assert backend.env_tier_models() == {"premium": "gw-premium"}
    assert backend.env_default_model() == "gw-default"
    assert [backend.env_model_for(t) for t in TIERS] == ["gw-default", "gw-default", "gw-premium"]
    settings.AI_GATEWAY_ENABLED = True
    assert backend.tried_first() is True


@pytest.mark.django_db
def test_tried_first_moves_that_providers_credentials_to_the_front(settings, alice):
    ProviderCredential.objects.create(owner=alice, provider="openai", priority=1, status="verified", api_key="k" * 20)
    ProviderCredential.objects.create(
        owner=alice, provider="ai_gateway", priority=50, status="verified", client_id="c" * 8, client_secret="s" * 8
    )
    settings.ANTHROPIC_API_KEY = "platform-anthropic-key"
    assert [c.provider for c in effective_credentials_for_user(user=alice)] == ["openai", "ai_gateway", "anthropic"]
    settings.AI_GATEWAY_ENABLED = True
    assert [c.provider for c in effective_credentials_for_user(user=alice)] == ["ai_gateway", "openai", "anthropic"]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ai_gateway"])
def test_build_model_needs_a_model_id(provider):
    config = CredentialConfig(
        provider=provider, api_key=Secret("k" * 20), client_id=Secret("c"), client_secret=Secret("s")
    )
    with pytest.raises(ValueError, match="model id"):
        registry.get(provider).build_model(config, "")


def test_registry_ids_choices_and_the_table_constraint(settings):
    assert registry.configured_ids() == tuple(registry.ids()) == ("openai", "anthropic", "gemini", "ai_gateway")
    field = ProviderCredential._meta.get_field("provider")
    assert list(field.choices) == registry.as_choices()
    (constraint,) = [c for c in ProviderCredential._meta.constraints if c.name == "providers_credential_provider_known"]
    assert constraint.condition.children == [("provider__in", registry.configured_ids())]
