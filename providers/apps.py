from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "AI providers"

    def ready(self) -> None:
        from . import checks, credcache, registry  # noqa: F401  (checks register on import)

        registry.load()
        credcache.connect_signals()
