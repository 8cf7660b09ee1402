"""The agents app's settings, each declared once here with its one default.

Read live through `app_settings.<NAME>` (the rules are those of `providers/conf.py`: an absent or
None Django setting takes the default below; `ideaforge/settings.py` only reads the environment).
"""

from __future__ import annotations

from providers.conf import AppSettings, Setting

DECLARED: dict[str, Setting] = {
    # Seconds a candidate (one credential) is skipped after a retryable failure (agents/cooldown.py).
    "COOLDOWN_SECONDS": Setting("AGENTS_COOLDOWN_SECONDS", 30.0),
    # Dependencies whose failure makes /readyz answer 503 (agents/health.py): any of database,
    # cache, broker. Redis is a soft dependency of the request path, so only the database by default.
    "HEALTH_REQUIRED": Setting("HEALTH_REQUIRED", ["database"]),
    # Bearer token that may scrape /metrics without a staff session ("" = staff session only).
    "METRICS_TOKEN": Setting("METRICS_TOKEN", ""),
    # prometheus_client's multiprocess directory ("" = single-process registry); see docs/operations.md.
    "PROMETHEUS_MULTIPROC_DIR": Setting("PROMETHEUS_MULTIPROC_DIR", ""),
}

app_settings = AppSettings(DECLARED)
