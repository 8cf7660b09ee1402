"""Create a local superuser once, for a newcomer's first `make run`.

Does nothing when any superuser exists. The generated password is printed once and never
stored in plain text anywhere.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a local 'admin' superuser with a random password if no superuser exists."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the app is served (for the login hint)."
        )

    def handle(self, *args, username: str, url: str, **options) -> None:
        login_url = url.rstrip("/") + "/accounts/login/"
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            signup = ", or sign up at /accounts/signup/" if settings.ACCOUNTS_SIGNUP_OPEN else ""
            self.stdout.write(
                f"A superuser already exists; log in at {login_url} (forgot the password? `make password`){signup}."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created local superuser '{username}' with password: {password}\n"
                f"Log in at {login_url} (this password is shown only once; "
                "`make password` sets a new one)."
            )
        )
