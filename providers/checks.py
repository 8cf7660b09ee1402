"""System checks for the credentials encryption keys."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks

from .crypto import configured_keys


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    explicit = [k.strip() for k in getattr(settings, "CREDENTIALS_ENCRYPTION_KEYS", []) if k.strip()]
    messages: list[checks.CheckMessage] = []
    if not explicit:
        if settings.DEBUG:
            messages.append(
                checks.Warning(
                    "CREDENTIALS_ENCRYPTION_KEYS is not set: stored credentials use a public development key.",
                    hint="Fine for local development only. Generate a key with `make key` and set it before storing real credentials.",
                    id="providers.W001",
                )
            )
        else:
            messages.append(
                checks.Critical(
                    "CREDENTIALS_ENCRYPTION_KEYS is not set.",
                    hint="Set it to one or more Fernet keys (comma separated; `make key` prints one).",
                    id="providers.E001",
                )
            )
        return messages
    for index, key in enumerate(configured_keys()):
        if key == settings.SECRET_KEY:
            messages.append(
                checks.Critical(
                    "A CREDENTIALS_ENCRYPTION_KEYS entry equals SECRET_KEY.",
                    hint="Use a dedicated key so rotating SECRET_KEY never makes credentials unreadable.",
                    id="providers.E002",
                )
            )
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            messages.append(
                checks.Critical(
                    f"CREDENTIALS_ENCRYPTION_KEYS entry #{index + 1} is not a valid Fernet key.",
                    hint="A key is 32 url-safe base64-encoded bytes; `make key` prints one.",
                    id="providers.E003",
                )
            )
    return messages
