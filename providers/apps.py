from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "AI providers"

    def ready(self) -> None:
        from . import checks, conf, registry, snapshots, token_checks  # noqa: F401  (checks register on import)
        from .services import tokens

        conf.remember_configured_debug()
        registry.load()
        snapshots.connect_signals()
        tokens.connect_signals()
