from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from providers.gateway import ratelimit_signals

        from . import limits, logsafety, request_ids, rollup  # noqa: F401  (receivers)

        logsafety.install()
        # The gateway's x-ratelimit-* headers hold a spent credential back (agents.limits).
        ratelimit_signals.add_listener(limits.on_gateway_signal)
