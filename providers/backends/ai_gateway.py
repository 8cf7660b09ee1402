"""AI Gateway (service account): OAuth2 client credentials, then `GET {base_url}/models`.

The base URL and token URL are user-set, so both pass `netpolicy.validate_url()` and every
connection goes through the policy transport (the check happens on the address connected to).
Verification always runs a fresh grant: it must prove these credentials, not a cached token.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import agno_support
from ..conf import app_settings
from ..exceptions import BadRequest, CredentialInvalid
from ..gateway import oauth2
from ..gateway.client import GatewayClient
from ..http.client import get_json, new_client
from ..http.netpolicy import validate_url
from ..secrets import Secret
from ..types import CredentialConfig, ModelInfo, positive_int
from .base import BaseBackend
from .openai import model_infos


def gateway_urls(config: CredentialConfig) -> tuple[str, str]:
    """(base URL, token URL), validated; the token URL defaults to the base URL's origin + /oauth/token."""
    base = config.base_url or app_settings.AI_GATEWAY_BASE_URL
    if not base:
        raise CredentialInvalid(
            "No AI Gateway base URL is configured", provider=config.provider, code="missing_base_url"
        )
    base_url = validate_url(base).rstrip("/")
    token_url = validate_url(config.token_url or oauth2.default_token_url(base_url))
    return base_url, token_url


#: Where OpenAI-compatible gateways put a model's context length: LiteLLM (`max_input_tokens`,
#: also under `model_info`), OpenRouter (`context_length`), others (`context_window`), vLLM
#: (`max_model_len`). The first positive whole number wins; absence is fine.
CONTEXT_FIELDS = ("context_window", "context_length", "max_input_tokens", "max_model_len")


def gateway_model(item: dict[str, Any]) -> ModelInfo:
    """An entry of an OpenAI-compatible `GET /models`: `owned_by` and a context length if reported."""
    nested = item.get("model_info")
    sources = [item, nested] if isinstance(nested, dict) else [item]
    context = next(
        (n for source in sources for name in CONTEXT_FIELDS if (n := positive_int(source.get(name))) is not None),
        None,
    )
    stored = {"id": item["id"], "owner": item.get("owned_by"), "context_length": context}
    return ModelInfo.from_stored(stored) or ModelInfo(id=item["id"])


class AIGatewayBackend(BaseBackend):
    id = "ai_gateway"
    name = "AI Gateway (service account)"
    secret_fields = ("client_id", "client_secret")
    user_urls = True
    # Models come from the credential or AI_GATEWAY_*_MODEL: a gateway's catalogue is its own.
    default_tier_models: ClassVar[dict[str, str]] = {}
    help_text = (
        "A service account of your AI Gateway: client ID and client secret (OAuth2 client credentials). "
        "The token URL defaults to the base URL's origin + /oauth/token."
    )

    #: The operator's models per tier (and for every tier) apply to users' own gateway credentials too.
    env_model_settings: ClassVar[dict[str, str]] = {
        "fast": "AI_GATEWAY_FAST_MODEL",
        "standard": "AI_GATEWAY_STANDARD_MODEL",
        "premium": "AI_GATEWAY_PREMIUM_MODEL",
        "default": "AI_GATEWAY_DEFAULT_MODEL",
    }

    def platform_config(self) -> CredentialConfig | None:
        """The operator's service account (`AI_GATEWAY_*`): needs a client ID, secret and base URL."""
        client_id, client_secret = self.setting("AI_GATEWAY_CLIENT_ID"), self.setting("AI_GATEWAY_CLIENT_SECRET")
        if not (client_id and client_secret and self.setting("AI_GATEWAY_BASE_URL")):
            return None
        return CredentialConfig(
            provider=self.id,
            client_id=Secret(client_id),
            client_secret=Secret(client_secret),
            base_url=self.setting("AI_GATEWAY_BASE_URL"),
            token_url=self.setting("AI_GATEWAY_TOKEN_URL"),
            scope=self.setting("AI_GATEWAY_SCOPE"),
            token_auth_method=self.setting("AI_GATEWAY_TOKEN_AUTH_METHOD"),
        )

    def platform_settings(self) -> tuple[str, ...]:
        return (
            "AI_GATEWAY_CLIENT_ID",
            "AI_GATEWAY_CLIENT_SECRET",
            "AI_GATEWAY_BASE_URL",
            "AI_GATEWAY_TOKEN_URL",
            "AI_GATEWAY_SCOPE",
            "AI_GATEWAY_TOKEN_AUTH_METHOD",
        )

    def platform_setup_hint(self) -> str:
        return "AI_GATEWAY_CLIENT_ID, AI_GATEWAY_CLIENT_SECRET and AI_GATEWAY_BASE_URL"

    def tried_first(self) -> bool:
        """With `AI_GATEWAY_ENABLED`, gateway credentials go before every other provider's."""
        return bool(self.setting("AI_GATEWAY_ENABLED"))

    def default_base_url(self) -> str:
        return self.setting("AI_GATEWAY_BASE_URL")

    def agno_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """Our `AIGatewayModel`: bearer token from the token manager on every request."""
        from ..gateway.agno_model import AIGatewayModel

        timeout = agno_support.http_timeout(options)
        return AIGatewayModel(id=model_id, config=config, http_timeout=timeout, **options)

    def list_models(self, config: CredentialConfig) -> list[ModelInfo]:
        if not config.client_id or not config.client_secret:
            raise CredentialInvalid(
                "The client ID and client secret are both required", provider=self.id, code="missing_key"
            )
        auth_method = config.token_auth_method or "client_secret_basic"
        if auth_method not in oauth2.AUTH_METHODS:
            raise BadRequest(
                f"Unsupported token auth method {auth_method!r}", provider=self.id, code="invalid_auth_method"
            )
        base_url, token_url = gateway_urls(config)
        with new_client(enforce_policy=True) as client:
            token = oauth2.request_token(
                client,
                token_url=token_url,
                client_id=config.client_id,
                client_secret=config.client_secret,
                scope=config.scope,
                auth_method=auth_method,
                provider=self.id,
            )
            payload = get_json(
                client,
                base_url + "/models",
                headers={"Authorization": f"Bearer {token.access_token.reveal()}"},
                provider=self.id,
            )
        data = payload.get("data") if isinstance(payload, dict) else None
        return model_infos(data, provider=self.id, parse=gateway_model, secrets=config.secrets)

    def runtime_models(self, config: CredentialConfig) -> list[ModelInfo]:
        """Through the client runs use: the token manager's cached token and the retry policy,
        rather than `list_models()`'s fresh grant."""
        with GatewayClient(config) as client:
            models = client.list_models()
        return model_infos(models, provider=self.id, parse=gateway_model, secrets=config.secrets)
