"""The providers app's settings, read in one place with their defaults.

Attributes are read live from django.conf.settings (so tests' `settings` overrides apply);
names map to `PROVIDERS_<NAME>` unless listed in `_UNPREFIXED`.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings

_DEFAULTS: dict[str, Any] = {
    "BACKENDS": [],
    "OPENAI_BASE_URL": "https://api.openai.com/v1",
    "ANTHROPIC_BASE_URL": "https://api.anthropic.com",
    "GEMINI_BASE_URL": "https://generativelanguage.googleapis.com",
    "HTTP_CONNECT_TIMEOUT": 5.0,
    "HTTP_READ_TIMEOUT": 30.0,
    "HTTP_MAX_RESPONSE_BYTES": 5 * 1024 * 1024,
    "STREAM_MAX_BYTES": 20 * 1024 * 1024,
    "REQUIRE_HTTPS": True,
    "ALLOW_PRIVATE_URLS": False,
    # AI Gateway client and token manager (see ideaforge/settings.py).
    "STREAM_IDLE_TIMEOUT": 30.0,
    "GATEWAY_TOTAL_TIMEOUT": 120.0,
    "GATEWAY_MAX_RETRIES": 2,
    "GATEWAY_RETRY_AFTER_MAX": 5.0,
    "GATEWAY_MAX_CONNECTIONS": 1000,
    "TOKEN_DEFAULT_LIFETIME": 300.0,
    "TOKEN_REQUEST_TIMEOUT": 10.0,
    "TOKEN_NEGATIVE_CACHE_SECONDS": 3.0,
    # Gateway token pre-refresh (Celery beat and `providers_refresh_tokens`), seconds.
    "TOKEN_REFRESH_INTERVAL": 60.0,
    "TOKEN_REFRESH_MARGIN": 300.0,
    # Unprefixed (names from the seed document).
    "AI_GATEWAY_ALLOWED_HOSTS": [],
    "AI_GATEWAY_ENABLED": False,
    "AI_GATEWAY_CLIENT_ID": "",
    "AI_GATEWAY_CLIENT_SECRET": "",
    "AI_GATEWAY_BASE_URL": "",
    "AI_GATEWAY_TOKEN_URL": "",
    "AI_GATEWAY_SCOPE": "",
    "AI_GATEWAY_TOKEN_AUTH_METHOD": "client_secret_basic",
    "AI_GATEWAY_DEFAULT_MODEL": "",
    "AI_GATEWAY_FAST_MODEL": "",
    "AI_GATEWAY_STANDARD_MODEL": "",
    "AI_GATEWAY_PREMIUM_MODEL": "",
    "OPENAI_API_KEY": "",
    "ANTHROPIC_API_KEY": "",
    "GEMINI_API_KEY": "",
}
_UNPREFIXED = {name for name in _DEFAULTS if name.startswith("AI_GATEWAY_") or name.endswith("_API_KEY")}


class _AppSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in _DEFAULTS:
            raise AttributeError(name)
        django_name = name if name in _UNPREFIXED else f"PROVIDERS_{name}"
        return getattr(settings, django_name, _DEFAULTS[name])


app_settings = _AppSettings()
