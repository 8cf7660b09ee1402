"""Anthropic: `GET {ANTHROPIC_BASE_URL}/v1/models` with `x-api-key` and `anthropic-version`.

The list is paginated (`has_more`, `last_id`, `after_id`); we ask for the largest page and
follow a bounded number of pages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .. import agno_support
from ..conf import app_settings
from ..exceptions import UnexpectedResponse
from ..http.client import get_json, new_client
from ..types import CredentialConfig, ModelInfo
from .base import BaseBackend
from .openai import model_infos, require_api_key

ANTHROPIC_VERSION = "2023-06-01"
_PAGE_SIZE = 1000
_MAX_PAGES = 10


class AnthropicBackend(BaseBackend):
    id = "anthropic"
    name = "Anthropic"
    default_tier_models: ClassVar[dict[str, str]] = {
        "fast": "claude-3-5-haiku-latest",
        "standard": "claude-sonnet-4-0",
        "premium": "claude-opus-4-1",
    }
    help_text = "An API key from console.anthropic.com (starts with sk-ant-). It is verified by listing your models."
    platform_key_setting = "ANTHROPIC_API_KEY"
    model_settings = ("ANTHROPIC_BASE_URL",)

    def agno_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """Agno `Claude`; the base URL goes through `client_params` (Claude has no base_url field)."""
        from agno.models.anthropic import Claude
        from anthropic import Timeout

        # The anthropic SDK runs on httpx2 and refuses an `httpx.Timeout`.
        timeout = Timeout(**agno_support.http_timeout(options).as_dict())
        client_params = {
            "base_url": app_settings.ANTHROPIC_BASE_URL,
            # Agno fills auth_token from $ANTHROPIC_AUTH_TOKEN when unset; the key is the credential.
            "auth_token": None,
            "max_retries": 0,
            "timeout": timeout,
            **(options.pop("client_params", None) or {}),
        }
        key = agno_support.api_key(config)
        return agno_support.per_loop(Claude)(id=model_id, api_key=key, client_params=client_params, **options)

    def list_models(self, config: CredentialConfig) -> list[ModelInfo]:
        key = require_api_key(config, self.id)
        url = app_settings.ANTHROPIC_BASE_URL.rstrip("/") + "/v1/models"
        headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"limit": _PAGE_SIZE}
        with new_client(enforce_policy=False) as client:
            for _ in range(_MAX_PAGES):
                payload = get_json(client, url, headers=headers, provider=self.id, params=params)
                if not isinstance(payload, dict):
                    raise UnexpectedResponse(f"{self.id}: the model list is not a JSON object", provider=self.id)
                models += model_infos(
                    payload.get("data"), provider=self.id, parse=_anthropic_model, secrets=config.secrets
                )
                last_id = payload.get("last_id")
                if not payload.get("has_more") or not isinstance(last_id, str) or not last_id:
                    break
                params = {"limit": _PAGE_SIZE, "after_id": last_id}
        return models


def _anthropic_model(item: dict[str, Any]) -> ModelInfo:
    """An entry of `GET /v1/models`: `{"id", "type", "display_name", "created_at"}` (no context length)."""
    return ModelInfo.from_stored({"id": item["id"], "display_name": item.get("display_name")}) or ModelInfo(
        id=item["id"]
    )
