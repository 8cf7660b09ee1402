"""System check: can the Celery beat pre-refresh renew gateway tokens before they expire?

What the settings tell (and so what is checked here): the beat interval
(`PROVIDERS_TOKEN_REFRESH_INTERVAL`), the pre-refresh margin (`PROVIDERS_TOKEN_REFRESH_MARGIN`)
and the lifetime assumed when a token endpoint sends no `expires_in`
(`PROVIDERS_TOKEN_DEFAULT_LIFETIME`). A token of lifetime L is due min(margin, L / 2) seconds
before it expires (`providers.gateway.refresh`); beat can only catch it in that window when it
runs more often. A token endpoint's real lifetime is not in the settings: it is known once a
token arrives, and `providers.gateway.refresh` logs a too-short one then (once per credential).

Only a warning: requests still refresh their tokens themselves (one request per expiry).
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from .conf import app_settings
from .gateway.token_info import refresh_margin


@checks.register()
def check_token_refresh_interval(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    interval = float(app_settings.TOKEN_REFRESH_INTERVAL)
    margin = float(app_settings.TOKEN_REFRESH_MARGIN)
    default_lifetime = float(app_settings.TOKEN_DEFAULT_LIFETIME)
    messages: list[checks.CheckMessage] = []
    if interval <= 0:
        return [checks.Error("PROVIDERS_TOKEN_REFRESH_INTERVAL must be positive.", id="providers.E010")]
    if interval >= margin:
        messages.append(
            checks.Warning(
                f"PROVIDERS_TOKEN_REFRESH_INTERVAL ({interval:g} s) is not shorter than "
                f"PROVIDERS_TOKEN_REFRESH_MARGIN ({margin:g} s): a token can come due and expire "
                "between two beat runs, so requests will wait on the token endpoint.",
                hint="Run beat more often than the margin, e.g. at most a third of it.",
                id="providers.W010",
            )
        )
    elif interval >= refresh_margin(default_lifetime, ahead=margin):
        window = refresh_margin(default_lifetime, ahead=margin)
        messages.append(
            checks.Warning(
                f"PROVIDERS_TOKEN_REFRESH_INTERVAL ({interval:g} s) cannot pre-refresh tokens of the "
                f"default lifetime (PROVIDERS_TOKEN_DEFAULT_LIFETIME, {default_lifetime:g} s): they are "
                f"due only {window:g} s before expiry.",
                hint=f"Set the interval below {window:g} s, or raise the default lifetime if the "
                "token endpoint's tokens live longer.",
                id="providers.W011",
            )
        )
    return messages
