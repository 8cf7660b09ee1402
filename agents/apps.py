from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from . import logsafety, rollup  # noqa: F401  (rollup: its post_save receiver)

        logsafety.install()
