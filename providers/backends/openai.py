"""OpenAI: `GET {OPENAI_BASE_URL}/models` with `Authorization: Bearer <key>`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, ClassVar

from .. import agno_support
from ..conf import app_settings
from ..exceptions import CredentialInvalid, UnexpectedResponse
from ..http.client import get_json, new_client
from ..redaction import redact
from ..secrets import Secret
from ..types import CredentialConfig, ModelInfo
from .base import BaseBackend


def require_api_key(config: CredentialConfig, provider: str) -> str:
    """The revealed API key, for the one header it goes into; a clear error when it is missing."""
    if not config.api_key:
        raise CredentialInvalid("No API key was given", provider=provider, code="missing_key")
    return config.api_key.reveal()


def model_infos(
    items: object,
    *,
    provider: str,
    parse: Callable[[dict[str, Any]], ModelInfo] | None = None,
    secrets: Iterable[Secret] = (),
) -> list[ModelInfo]:
    """The model list's entries as records, refusing anything that is not a list of objects with
    an "id". `parse` reads what else an entry reports (the id alone by default)."""
    if not isinstance(items, list):
        raise UnexpectedResponse(f"{provider}: the model list is missing", provider=provider)
    entries = [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
    if len(entries) != len(items):
        raise UnexpectedResponse(f"{provider}: the model list has entries without 'id'", provider=provider)
    return [clean_model(parse(item) if parse else ModelInfo(id=item["id"]), secrets) for item in entries]


def clean_model(model: ModelInfo, secrets: Iterable[Secret]) -> ModelInfo:
    """The provider's free text (display name, owner) through the one redaction rule before it is
    stored and shown: a provider may echo what it was sent."""
    display_name = redact(model.display_name, secrets=secrets, limit=100) if model.display_name else None
    owner = redact(model.owner, secrets=secrets, limit=100) if model.owner else None
    return replace(model, display_name=display_name or None, owner=owner or None)


def openai_model(item: dict[str, Any]) -> ModelInfo:
    """An entry of OpenAI's `GET /v1/models`: `{"id", "object", "created", "owned_by"}`."""
    return ModelInfo.from_stored({"id": item["id"], "owner": item.get("owned_by")}) or ModelInfo(id=item["id"])


class OpenAIBackend(BaseBackend):
    id = "openai"
    name = "OpenAI"
    default_tier_models: ClassVar[dict[str, str]] = {"fast": "gpt-4o-mini", "standard": "gpt-4o", "premium": "gpt-4.1"}
    help_text = "An API key from platform.openai.com (starts with sk-). It is verified by listing your models."
    platform_key_setting = "OPENAI_API_KEY"
    model_settings = ("OPENAI_BASE_URL",)

    def agno_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """Agno `OpenAIChat` for the public OpenAI API (or the operator's OpenAI-compatible proxy)."""
        from agno.models.openai import OpenAIChat
        from openai import Timeout

        timeout = Timeout(**agno_support.http_timeout(options).as_dict())
        client_params = {"timeout": timeout, **(options.pop("client_params", None) or {})}
        return agno_support.per_loop(OpenAIChat)(
            id=model_id,
            api_key=agno_support.api_key(config),
            base_url=app_settings.OPENAI_BASE_URL,
            max_retries=0,
            client_params=client_params,
            **options,
        )

    def list_models(self, config: CredentialConfig) -> list[ModelInfo]:
        key = require_api_key(config, self.id)
        url = app_settings.OPENAI_BASE_URL.rstrip("/") + "/models"
        with new_client(enforce_policy=False) as client:
            payload = get_json(client, url, headers={"Authorization": f"Bearer {key}"}, provider=self.id)
        data = payload.get("data") if isinstance(payload, dict) else None
        return model_infos(data, provider=self.id, parse=openai_model, secrets=config.secrets)
