"""The agents app's settings, each declared once here with its one default.

Read live through `app_settings.<NAME>` (the rules are those of `providers/conf.py`: an absent or
None Django setting takes the default below; `ideaforge/settings.py` only reads the environment).
"""

from __future__ import annotations

from providers.conf import AppSettings, Setting

DECLARED: dict[str, Setting] = {
    # Seconds a candidate (one credential) is skipped after a retryable failure (agents/cooldown.py).
    "COOLDOWN_SECONDS": Setting("AGENTS_COOLDOWN_SECONDS", 30.0),
    # A user's agent runs and tokens ("" = no limit; operators override per user in the admin).
    "USER_RATE_LIMIT": Setting("AGENTS_USER_RATE_LIMIT", ""),
    "USER_TOKEN_LIMIT": Setting("AGENTS_USER_TOKEN_LIMIT", ""),
    # Tokens per user per day / per calendar month, UTC (0 = no budget; overrides in the admin).
    "DAILY_TOKEN_BUDGET": Setting("AGENTS_DAILY_TOKEN_BUDGET", 0),
    "MONTHLY_TOKEN_BUDGET": Setting("AGENTS_MONTHLY_TOKEN_BUDGET", 0),
    # Bytes of one cached answer (agents/responsecache.py); larger answers are not cached.
    "RESPONSE_CACHE_MAX_BYTES": Setting("AGENTS_RESPONSE_CACHE_MAX_BYTES", 256 * 1024),
}

app_settings = AppSettings(DECLARED)
