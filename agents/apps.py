from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from . import logsafety, request_ids, rollup  # noqa: F401  (receivers)

        logsafety.install()
