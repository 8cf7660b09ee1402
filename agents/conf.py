"""The agents app's settings, each declared once here with its one default.

Read live through `app_settings.<NAME>` (the rules are those of `providers/conf.py`: an absent or
None Django setting takes the default below; `ideaforge/settings.py` only reads the environment).
"""

from __future__ import annotations

from providers.conf import AppSettings, Setting

DECLARED: dict[str, Setting] = {
    # The circuit breaker per (credential, model), agents/breaker.py (replaces the old
    # AGENTS_COOLDOWN_SECONDS, which is no longer read): it opens after BREAKER_FAILURES
    # consecutive failures within BREAKER_WINDOW seconds, for BREAKER_OPEN_SECONDS.
    "BREAKER_FAILURES": Setting("AGENTS_BREAKER_FAILURES", 3),
    "BREAKER_WINDOW": Setting("AGENTS_BREAKER_WINDOW", 30.0),
    "BREAKER_OPEN_SECONDS": Setting("AGENTS_BREAKER_OPEN_SECONDS", 30.0),
    # A 429 whose Retry-After is at most this many seconds is waited out and the same candidate
    # retried once; a longer one opens its breaker for that long.
    "MAX_RETRY_WAIT": Setting("AGENTS_MAX_RETRY_WAIT", 5.0),
    # Bound on one agent attempt (one candidate), streamed keep-alive trickles included.
    "RUN_TIMEOUT": Setting("AGENTS_RUN_TIMEOUT", 120.0),
    # Dependencies whose failure makes /readyz answer 503 (agents/health.py): any of database,
    # cache, broker. Redis is a soft dependency of the request path, so only the database by default.
    "HEALTH_REQUIRED": Setting("HEALTH_REQUIRED", ["database"]),
    # Bearer token that may scrape /metrics without a staff session ("" = staff session only).
    "METRICS_TOKEN": Setting("METRICS_TOKEN", ""),
    # prometheus_client's multiprocess directory ("" = single-process registry); see docs/operations.md.
    "PROMETHEUS_MULTIPROC_DIR": Setting("PROMETHEUS_MULTIPROC_DIR", ""),
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
