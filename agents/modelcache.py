"""Built Agno models, kept per process and shared by runs.

Building a model per run would cost more than the provider layer is allowed to add (a fresh
HTTP client, TLS context and TCP connection each time), and Agno models are meant to be shared
by concurrent runs. An entry is keyed by the credential's cache key, the model id and the
credential's *version*: for a stored credential its `updated_at` (every edit, re-verification
or key change saves it), for the platform's a digest of the operator settings it was built
from, plus the provider endpoint setting. A changed credential therefore gets a new model on its
next run; stale entries fall out of the LRU. Deleting a credential drops its models at once.

An entry keeps the credential's secrets (as strings) beside the model so that the runner can
scrub them from error messages without decrypting again; they live only in this process's memory.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete

from providers import registry
from providers.models import ProviderCredential

from .selectors import Candidate

MAX_MODELS = 256
_lock = threading.Lock()
_models: OrderedDict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = OrderedDict()


def _version(candidate: Candidate) -> tuple[Any, ...]:
    provider = candidate.provider
    backend = registry.get(provider)
    endpoint = tuple(backend.setting(name) for name in backend.model_settings)
    stored = candidate.credential.credential
    if stored is not None:
        return ("db", stored.pk, stored.updated_at, endpoint)
    return ("platform", _platform_version(provider), endpoint)


@functools.lru_cache(maxsize=32)
def _platform_version(provider: str) -> str:
    # Memoized (cleared with the models when a setting changes): reading six settings and
    # hashing them on every run costs more than the lookup it keys.
    backend = registry.get(provider)
    raw = "platform\0" + "\0".join(str(backend.setting(n)) for n in backend.platform_settings())
    # Hashed: the key of a dict that outlives the run should not hold the platform's secret in clear.
    return hashlib.sha256(raw.encode()).hexdigest()


def model_for(candidate: Candidate) -> tuple[Any, tuple[str, ...]]:
    """The candidate's Agno model (built on first use) and its credential's secret strings."""
    key = (candidate.key, candidate.model_id, _version(candidate))
    with _lock:
        hit = _models.get(key)
        if hit is not None:
            _models.move_to_end(key)
            return hit
    config = candidate.credential.config()
    secrets = tuple(s.reveal() for s in config.secrets)
    model = registry.get(candidate.provider).build_model(config, candidate.model_id)
    with _lock:
        _models[key] = (model, secrets)
        while len(_models) > MAX_MODELS:
            _models.popitem(last=False)
    return model, secrets


def model_cache_clear(credential_key: str | None = None) -> None:
    with _lock:
        if credential_key is None:
            _models.clear()
            _platform_version.cache_clear()
        else:
            for key in [k for k in _models if k[0] == credential_key]:
                del _models[key]


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(("AI_GATEWAY_", "PROVIDERS_")) or setting.endswith("_API_KEY"):
        model_cache_clear()


def _on_credential_deleted(*, instance: ProviderCredential, **kwargs: Any) -> None:
    model_cache_clear(f"cred:{instance.pk}")


setting_changed.connect(_on_setting_changed)
post_delete.connect(
    _on_credential_deleted, sender=ProviderCredential, dispatch_uid="agents.modelcache.credential_deleted"
)
