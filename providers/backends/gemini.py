"""Gemini (Google AI Studio): `GET {GEMINI_BASE_URL}/v1beta/models` with `x-goog-api-key`.

The key goes in the header, never in the URL (`?key=` would land in proxy and server logs).
Names come as `models/<id>`; we return the ids. Models that cannot generate content
(embeddings, ...) are left out when the provider says so. Google answers an unknown key with
400 INVALID_ARGUMENT / reason API_KEY_INVALID, which we treat as invalid credentials.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from .. import agno_support
from ..conf import app_settings
from ..exceptions import BadRequest, CredentialInvalid, UnexpectedResponse
from ..http.client import get_json, new_client
from ..types import CredentialConfig, ModelInfo
from .base import BaseBackend
from .openai import clean_model, require_api_key

_PAGE_SIZE = 1000
_MAX_PAGES = 10
_KEY_REASONS = ("API_KEY_INVALID", "API_KEY_EXPIRED")


class GeminiBackend(BaseBackend):
    id = "gemini"
    name = "Gemini"
    default_tier_models: ClassVar[dict[str, str]] = {
        "fast": "gemini-2.5-flash-lite",
        "standard": "gemini-2.5-flash",
        "premium": "gemini-2.5-pro",
    }
    help_text = "An API key from aistudio.google.com. It is sent in a header (never in the URL) to list your models."
    platform_key_setting = "GEMINI_API_KEY"
    model_settings = ("GEMINI_BASE_URL",)

    def agno_model(self, config: CredentialConfig, model_id: str, **options: Any) -> Any:
        """Agno `Gemini` on the Gemini API (never Vertex AI: that needs Google Cloud credentials)."""
        from agno.models.google import Gemini

        timeout = agno_support.http_timeout(options)
        # google-genai takes the timeout in milliseconds; its default retry_options=None never retries.
        read = timeout.read if timeout.read is not None else 30.0
        # The API version is explicit: google-genai would take it from $GOOGLE_GENAI_API_VERSION.
        http_options = {"base_url": app_settings.GEMINI_BASE_URL, "api_version": "v1", "timeout": int(read * 1000)}
        key = agno_support.api_key(config)
        client_params = {
            "api_key": key,
            # Agno switches to Vertex AI when $GOOGLE_GENAI_USE_VERTEXAI is true; pin the Gemini API.
            "vertexai": False,
            "http_options": http_options,
            **(options.pop("client_params", None) or {}),
        }
        return agno_support.secret_safe(Gemini)(id=model_id, api_key=key, client_params=client_params, **options)

    def list_models(self, config: CredentialConfig) -> list[ModelInfo]:
        key = require_api_key(config, self.id)
        url = app_settings.GEMINI_BASE_URL.rstrip("/") + "/v1beta/models"
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"pageSize": _PAGE_SIZE}
        with new_client(enforce_policy=False) as client:
            for _ in range(_MAX_PAGES):
                payload = self._get(client, url, key, params)
                models += [clean_model(m, config.secrets) for m in _generative_models(payload, self.id)]
                token = payload.get("nextPageToken")
                if not isinstance(token, str) or not token:
                    break
                params = {"pageSize": _PAGE_SIZE, "pageToken": token}
        return models

    def _get(self, client: httpx.Client, url: str, key: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = get_json(client, url, headers={"x-goog-api-key": key}, provider=self.id, params=params)
        except BadRequest as exc:
            if any(reason in str(exc) for reason in _KEY_REASONS) or "API key not valid" in str(exc):
                raise CredentialInvalid(
                    str(exc), provider=self.id, status_code=exc.status_code, code="API_KEY_INVALID"
                ) from exc
            raise
        if not isinstance(payload, dict):
            raise UnexpectedResponse(f"{self.id}: the model list is not a JSON object", provider=self.id)
        return payload


def _generative_models(payload: dict[str, Any], provider: str) -> list[ModelInfo]:
    """`models.list` resources: `{"name": "models/<id>", "displayName", "inputTokenLimit", ...}`."""
    items = payload.get("models", [])  # an account with no models gets {} from Google
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise UnexpectedResponse(f"{provider}: the model list is malformed", provider=provider)
    models = []
    for item in items:
        methods = item.get("supportedGenerationMethods")
        if isinstance(methods, list) and "generateContent" not in methods:
            continue
        model_id = item["name"].removeprefix("models/")
        stored = {
            "id": model_id,
            "display_name": item.get("displayName"),
            "context_length": item.get("inputTokenLimit"),
        }
        models.append(ModelInfo.from_stored(stored) or ModelInfo(id=model_id))
    return models
