"""What `GET /metrics` serves: the counters of every process plus states read at scrape time.

Counters and histograms come from `agents.metrics` and `providers.metrics`. With
`PROMETHEUS_MULTIPROC_DIR` set they are summed over every process's files in that directory
(web workers, Celery workers: prometheus_client's multiprocess mode); without it they are this
process's. States (is a breaker open, how long until a gateway token expires) are
read when scraped, from the shared cache and token store, so they never go stale in a dead
worker's file; a lookup that fails (Redis down) leaves its series out rather than failing the scrape.
"""

from __future__ import annotations

import hmac
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from providers.models import ProviderCredential, VerificationStatus
from providers.selectors import platform_credentials
from providers.services.tokens import token_refresh_status

from .breaker import OPEN, breakers_of
from .conf import app_settings

logger = logging.getLogger(__name__)


class _ThisProcess:
    """The default registry's metrics, as one collector of a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class StateCollector:
    """Breaker state per (credential, model) and per credential, gateway token time left; read
    at scrape time."""

    def collect(self) -> Iterator[Metric]:
        yield from self._tokens()
        yield from self._breakers()

    def _tokens(self) -> Iterator[Metric]:
        try:
            status = token_refresh_status()
        except Exception as exc:
            logger.warning("metrics: gateway token states unavailable: %s", type(exc).__name__)
            return
        present = GaugeMetricFamily(
            "ideaforge_gateway_token_present",
            "1 when a usable access token is cached for the gateway credential.",
            labels=["credential"],
        )
        left = GaugeMetricFamily(
            "ideaforge_gateway_token_expires_in_seconds",
            "Seconds until the cached gateway access token expires (only when one is cached).",
            labels=["credential"],
        )
        for target, _due in status:
            present.add_metric([target.key], 0.0 if target.expires_in is None else 1.0)
            if target.expires_in is not None:
                left.add_metric([target.key], round(target.expires_in, 1))
        yield present
        yield left

    def _breakers(self) -> Iterator[Metric]:
        try:
            rows = [(c.key, c.provider) for c in platform_credentials()]
            rows += [
                (f"cred:{pk}", provider)
                for pk, provider in ProviderCredential.objects.filter(
                    enabled=True, status=VerificationStatus.VERIFIED
                ).values_list("pk", "provider")
            ]
            states = breakers_of(key for key, _ in rows)
        except Exception as exc:
            logger.warning("metrics: breaker states unavailable: %s", type(exc).__name__)
            return
        gauge = GaugeMetricFamily(
            "ideaforge_breaker_open",
            "1 while the (credential, model) breaker is open (that candidate is skipped). A series "
            'per breaker that has opened, and one per credential with model="" that is 1 while '
            "any of its models is open.",
            labels=["credential", "provider", "model"],
        )
        for key, provider in rows:
            found = states.get(key)
            gauge.add_metric([key, provider, ""], 1.0 if found is not None and found.state == OPEN else 0.0)
            for model_id, state in sorted(found.models.items()) if found is not None else ():
                gauge.add_metric([key, provider, model_id], 1.0 if state == OPEN else 0.0)
        yield gauge


def scrape_registry() -> CollectorRegistry:
    """A fresh registry per scrape, as prometheus_client's multiprocess docs prescribe."""
    registry = CollectorRegistry(auto_describe=False)
    directory = app_settings.PROMETHEUS_MULTIPROC_DIR
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())
    registry.register(StateCollector())
    return registry


def render_metrics() -> bytes:
    return generate_latest(scrape_registry())


def may_scrape(*, user: AbstractBaseUser | AnonymousUser, authorization: str) -> bool:
    """A staff session, or `Authorization: Bearer <METRICS_TOKEN>` when a token is configured."""
    if user.is_authenticated and user.is_active and user.is_staff:
        return True
    expected = app_settings.METRICS_TOKEN
    scheme, _, given = authorization.partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), str(expected).encode())


def reset_multiproc_dir(directory: str) -> int:
    """Empty the multiprocess directory (before any worker starts); returns the files removed.

    Left-over files of an earlier run would add their counts to the new ones."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    removed = 0
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed += 1
    return removed
