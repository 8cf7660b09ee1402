"""The providers app's settings: each one declared once here, with its one default.

`app_settings.<NAME>` reads the declared Django setting live from `django.conf.settings` (so
tests' `settings` fixture and `override_settings` apply at once, with nothing to reload on
`setting_changed`); a setting that is absent or None takes the default declared here.
`ideaforge/settings.py` only reads the environment: it sets a setting from its variable when the
variable is set and leaves it None otherwise, writing no default of its own.
`providers/tests/test_conf.py` checks the two files, `.env.example` and `docs/configuration.md`
against each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

_SAME_AS_SETTING = "<same as setting>"


@dataclass(frozen=True)
class Setting:
    """One app setting: the Django setting holding it, its default (a callable is called on each
    read, for defaults computed from other settings) and the environment variable
    `ideaforge/settings.py` reads it from: the setting's own name unless given, None for a setting
    not read from the environment (a project setting, or a bound only code and tests change)."""

    setting: str
    default: Any
    env: str | None = _SAME_AS_SETTING

    def __post_init__(self) -> None:
        if self.env == _SAME_AS_SETTING:
            object.__setattr__(self, "env", self.setting)

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default


class AppSettings:
    """An app's settings as attributes, named as in `declared`, each read live with its default."""

    def __init__(self, declared: Mapping[str, Setting]) -> None:
        self._declared = dict(declared)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            entry = self._declared[name]
        except KeyError:
            raise AttributeError(f"no app setting {name!r}") from None
        value = getattr(settings, entry.setting, None)
        return entry.default_value() if value is None else value

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._declared]


# DEBUG as the project configured it, remembered when the app loads (`remember_configured_debug`).
# Django's test runner sets settings.DEBUG to False for every test afterwards; the URL policy's
# defaults follow the configuration (the suite runs with DJANGO_DEBUG=true and reaches the local
# simulators on 127.0.0.1), as they did when settings.py computed them at import.
_configured_debug: bool | None = None


def remember_configured_debug() -> None:
    """Called from ProvidersConfig.ready(), before any test setup changes settings.DEBUG."""
    global _configured_debug
    _configured_debug = bool(settings.DEBUG)


def _debug() -> bool:
    return bool(settings.DEBUG) if _configured_debug is None else _configured_debug


def _not_debug() -> bool:
    return not _debug()


DECLARED: dict[str, Setting] = {
    # Registered backends by dotted path: the project lists them in settings.PROVIDERS_BACKENDS.
    "BACKENDS": Setting("PROVIDERS_BACKENDS", [], env=None),
    # Where the public providers live (operator settings for proxies and simulators).
    "OPENAI_BASE_URL": Setting("PROVIDERS_OPENAI_BASE_URL", "https://api.openai.com/v1", env="OPENAI_BASE_URL"),
    "ANTHROPIC_BASE_URL": Setting(
        "PROVIDERS_ANTHROPIC_BASE_URL", "https://api.anthropic.com", env="ANTHROPIC_BASE_URL"
    ),
    "GEMINI_BASE_URL": Setting(
        "PROVIDERS_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com", env="GEMINI_BASE_URL"
    ),
    # Outbound HTTP bounds, for every provider call (seconds, bytes).
    "HTTP_CONNECT_TIMEOUT": Setting("PROVIDERS_HTTP_CONNECT_TIMEOUT", 5.0),
    "HTTP_READ_TIMEOUT": Setting("PROVIDERS_HTTP_READ_TIMEOUT", 30.0),
    "HTTP_MAX_RESPONSE_BYTES": Setting("PROVIDERS_HTTP_MAX_RESPONSE_BYTES", 5 * 1024 * 1024),
    "STREAM_MAX_BYTES": Setting("PROVIDERS_STREAM_MAX_BYTES", 20 * 1024 * 1024),
    # Total bound on one credential verification, all its requests together (seconds).
    "VERIFY_TIMEOUT": Setting("PROVIDERS_VERIFY_TIMEOUT", 20.0),
    # URL policy for user-set URLs (providers/netpolicy.py): relaxed under DEBUG.
    "REQUIRE_HTTPS": Setting("PROVIDERS_REQUIRE_HTTPS", _not_debug),
    # Development mode: loopback on any port (the local simulators); never link-local/metadata.
    "ALLOW_LOOPBACK_URLS": Setting("PROVIDERS_ALLOW_LOOPBACK_URLS", _debug),
    "ALLOW_PRIVATE_URLS": Setting("PROVIDERS_ALLOW_PRIVATE_URLS", False),
    "AI_GATEWAY_ALLOWED_HOSTS": Setting("AI_GATEWAY_ALLOWED_HOSTS", []),
    # Per-user budget of credential verifications (settings page and API together; each calls a
    # provider), `limits` notation, checked by ideaforge.ratelimit.
    "VERIFY_RATE_LIMIT": Setting("PROVIDERS_VERIFY_RATE_LIMIT", "10/minute"),
    # Agent runs per credential and per (credential, model), requests and tokens ("" = no limit).
    "CREDENTIAL_RATE_LIMIT": Setting("PROVIDERS_CREDENTIAL_RATE_LIMIT", ""),
    "CREDENTIAL_TOKEN_LIMIT": Setting("PROVIDERS_CREDENTIAL_TOKEN_LIMIT", ""),
    "MODEL_RATE_LIMIT": Setting("PROVIDERS_MODEL_RATE_LIMIT", ""),
    "MODEL_TOKEN_LIMIT": Setting("PROVIDERS_MODEL_TOKEN_LIMIT", ""),
    # AI Gateway client (providers/gateway/).
    "STREAM_IDLE_TIMEOUT": Setting("PROVIDERS_STREAM_IDLE_TIMEOUT", 30.0),
    "GATEWAY_TOTAL_TIMEOUT": Setting("PROVIDERS_GATEWAY_TOTAL_TIMEOUT", 120.0),
    "GATEWAY_MAX_RETRIES": Setting("PROVIDERS_GATEWAY_MAX_RETRIES", 2),
    "GATEWAY_RETRY_AFTER_MAX": Setting("PROVIDERS_GATEWAY_RETRY_AFTER_MAX", 5.0),
    "GATEWAY_MAX_CONNECTIONS": Setting("PROVIDERS_GATEWAY_MAX_CONNECTIONS", 1000, env=None),
    # Gateway token manager (seconds).
    "TOKEN_DEFAULT_LIFETIME": Setting("PROVIDERS_TOKEN_DEFAULT_LIFETIME", 300.0),
    "TOKEN_REQUEST_TIMEOUT": Setting("PROVIDERS_TOKEN_REQUEST_TIMEOUT", 10.0),
    # Short: callers keep failing this long after the endpoint is back (3 s showed in make loadtest).
    "TOKEN_NEGATIVE_CACHE_SECONDS": Setting("PROVIDERS_TOKEN_NEGATIVE_CACHE_SECONDS", 1.0),
    # Redis as a soft dependency (providers/redis_outage.py): socket timeouts for every Redis
    # call, and how long an outage is remembered before Redis is asked again (seconds).
    "REDIS_SOCKET_TIMEOUT": Setting("PROVIDERS_REDIS_SOCKET_TIMEOUT", 0.5),
    "REDIS_RETRY_SECONDS": Setting("PROVIDERS_REDIS_RETRY_SECONDS", 5.0),
    # Gateway token pre-refresh (Celery beat, see ideaforge/celery.py, and
    # `providers_refresh_tokens`), seconds.
    "TOKEN_REFRESH_INTERVAL": Setting("PROVIDERS_TOKEN_REFRESH_INTERVAL", 60.0),
    "TOKEN_REFRESH_MARGIN": Setting("PROVIDERS_TOKEN_REFRESH_MARGIN", 300.0),
    # Where processes keep local state (Celery beat's schedule file), relative to the project
    # directory unless absolute; the default is git-ignored.
    "STATE_DIR": Setting("IDEAFORGE_STATE_DIR", "var"),
    # Platform defaults: the operator's own credentials, used after a user's own.
    "AI_GATEWAY_ENABLED": Setting("AI_GATEWAY_ENABLED", False),
    "AI_GATEWAY_CLIENT_ID": Setting("AI_GATEWAY_CLIENT_ID", ""),
    "AI_GATEWAY_CLIENT_SECRET": Setting("AI_GATEWAY_CLIENT_SECRET", ""),
    "AI_GATEWAY_BASE_URL": Setting("AI_GATEWAY_BASE_URL", ""),
    "AI_GATEWAY_TOKEN_URL": Setting("AI_GATEWAY_TOKEN_URL", ""),
    "AI_GATEWAY_SCOPE": Setting("AI_GATEWAY_SCOPE", ""),
    "AI_GATEWAY_TOKEN_AUTH_METHOD": Setting("AI_GATEWAY_TOKEN_AUTH_METHOD", "client_secret_basic"),
    "AI_GATEWAY_DEFAULT_MODEL": Setting("AI_GATEWAY_DEFAULT_MODEL", ""),
    "AI_GATEWAY_FAST_MODEL": Setting("AI_GATEWAY_FAST_MODEL", ""),
    "AI_GATEWAY_STANDARD_MODEL": Setting("AI_GATEWAY_STANDARD_MODEL", ""),
    "AI_GATEWAY_PREMIUM_MODEL": Setting("AI_GATEWAY_PREMIUM_MODEL", ""),
    "OPENAI_API_KEY": Setting("OPENAI_API_KEY", ""),
    "ANTHROPIC_API_KEY": Setting("ANTHROPIC_API_KEY", ""),
    "GEMINI_API_KEY": Setting("GEMINI_API_KEY", ""),
    # Console log lines: "plain" or "json" (providers/logformat.py), each with the request id.
    "LOG_FORMAT": Setting("LOG_FORMAT", "plain"),
}

app_settings = AppSettings(DECLARED)
