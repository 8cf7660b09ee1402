"""This process's memory of a Redis outage, shared by the cache backend and the token store.

The rule (remember the outage for `PROVIDERS_REDIS_RETRY_SECONDS`, one log line when it starts
and one when it ends) is `ideaforge.outage.Outage`, which the rate limiter uses too.
"""

from __future__ import annotations

import logging

from ideaforge.outage import Outage

from .conf import app_settings

outage = Outage(
    "Redis",
    meanwhile="using per-process state (credentials from the database, tokens and circuit breakers in memory)",
    back="shared state in use again",
    retry_seconds=lambda: float(app_settings.REDIS_RETRY_SECONDS),
    logger=logging.getLogger(__name__),
)
