from django.apps import AppConfig
from django.core import checks


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from ideaforge.ratelimit import check_rate_limit_settings

        checks.register(check_rate_limit_settings)
