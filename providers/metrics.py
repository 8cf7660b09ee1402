"""Provider-side Prometheus metrics: their one definition (docs/operations.md lists them).

Only `prometheus_client` is imported here, so every layer may count (the gateway package
included). Labels stay low-cardinality: provider ids, outcomes, never users, keys or URLs.
Values that are a state rather than a count (seconds until a gateway token expires) are read
at scrape time by `agents.metrics_export`, so they are right whichever process holds them.

Multiprocess mode (several web and Celery workers) is chosen by prometheus_client at import from
`PROMETHEUS_MULTIPROC_DIR` in the environment: nothing here changes with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import Counter

from .exceptions import CredentialInvalid, ProviderTimeout, ProviderUnavailable

TOKEN_FETCHES = Counter(
    "ideaforge_token_fetches",
    "OAuth2 client-credentials token requests to a gateway's token endpoint, by outcome.",
    ["provider", "outcome"],
)
VERIFICATIONS = Counter(
    "ideaforge_credential_verifications",
    "Credential verifications (settings page, API, admin, providers_verify), by outcome.",
    ["provider", "outcome"],
)
TOKEN_REFRESH_TASKS = Counter(
    "ideaforge_token_refresh_tasks",
    "Celery token pre-refresh tasks, by result (refreshed, fresh, gone, failed, error).",
    ["result"],
)

F = TypeVar("F", bound=Callable[..., Any])


def token_fetch_outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, CredentialInvalid):
        return "rejected"
    if isinstance(exc, ProviderTimeout):
        return "timeout"
    if isinstance(exc, ProviderUnavailable):
        return "unavailable"
    return "error"


def counts_token_fetch(fetch: F) -> F:
    """Decorate `fetch(config)`: one count per token request, by how it ended."""

    @functools.wraps(fetch)
    def wrapper(config: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            info = fetch(config, *args, **kwargs)
        except BaseException as exc:
            TOKEN_FETCHES.labels(config.provider, token_fetch_outcome(exc)).inc()
            raise
        TOKEN_FETCHES.labels(config.provider, "ok").inc()
        return info

    return wrapper  # type: ignore[return-value]


def count_verification(provider: str, outcome: str) -> None:
    VERIFICATIONS.labels(provider, outcome).inc()


def count_refresh_task(result: str) -> None:
    TOKEN_REFRESH_TASKS.labels(result).inc()
