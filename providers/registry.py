"""The explicit registry of provider backends, loaded from `settings.PROVIDERS_BACKENDS`.

Fails loudly: an unknown id raises UnknownProvider, a duplicate id raises at load time.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .backends.base import BaseBackend
from .conf import app_settings
from .exceptions import UnknownProvider
from .http.errors import register_display_names

_backends: dict[str, BaseBackend] = {}


def _configured_classes() -> dict[str, type[BaseBackend]]:
    """The backend classes named in settings, by id, in settings order; raises on a bad entry."""
    classes: dict[str, type[BaseBackend]] = {}
    for path in app_settings.BACKENDS:
        backend_class = import_string(path)
        if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
            raise ImproperlyConfigured(f"{path} is not a BaseBackend subclass")
        if backend_class.id in classes:
            raise ImproperlyConfigured(f"Duplicate provider backend id {backend_class.id!r} ({path})")
        classes[backend_class.id] = backend_class
    return classes


def load() -> None:
    """(Re)load the backends named in settings. Called from ProvidersConfig.ready()."""
    loaded = {backend_id: backend_class() for backend_id, backend_class in _configured_classes().items()}
    _backends.clear()
    _backends.update(loaded)
    # Error messages name providers by display name (`providers.http.errors`).
    register_display_names({backend_id: backend.name for backend_id, backend in loaded.items()})


def configured_ids() -> tuple[str, ...]:
    """The ids of the backends named in settings, without loading them (usable before `ready()`).

    `ProviderCredential`'s CheckConstraint is built from this: a new backend, then
    `makemigrations`, lets the table hold its id."""
    return tuple(_configured_classes())


def get(provider_id: str) -> BaseBackend:
    try:
        return _backends[provider_id]
    except KeyError:
        raise UnknownProvider(f"Unknown provider {provider_id!r}; known: {', '.join(_backends) or 'none'}") from None


def all_backends() -> list[BaseBackend]:
    return list(_backends.values())


def ids() -> list[str]:
    return list(_backends)


def as_choices() -> list[tuple[str, str]]:
    """(id, name) of every loaded backend: `ProviderCredential.provider`'s choices, forms, admin."""
    return [(b.id, b.name) for b in _backends.values()]
