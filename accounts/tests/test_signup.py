"""Sign-up is a setting (ACCOUNTS_SIGNUP_OPEN) and, when open, limited per client IP."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"


def new_user(n: int) -> dict[str, str]:
    return {"username": f"newcomer{n}", "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42"}


def test_closed_signup_answers_404_with_a_clear_page_and_is_not_linked(settings, client):
    settings.ACCOUNTS_SIGNUP_OPEN = False
    response = client.get(SIGNUP)
    assert response.status_code == 404 and "Sign-up is closed" in response.content.decode()
    response = client.post(SIGNUP, new_user(1))
    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="newcomer1").exists()
    login_page = client.get("/accounts/login/").content.decode()
    assert SIGNUP not in login_page and "Sign up" not in login_page


def test_open_signup_is_linked_from_the_login_page(settings, client):
    settings.ACCOUNTS_SIGNUP_OPEN = True
    login_page = client.get("/accounts/login/").content.decode()
    assert f'href="{SIGNUP}"' in login_page


def test_signup_defaults_follow_debug():
    """Open in development, closed in production (settings are read at start: a fresh process each)."""
    code = "import django; django.setup(); from django.conf import settings as s; print(s.ACCOUNTS_SIGNUP_OPEN, s.ACCOUNTS_SIGNUP_RATE_LIMIT)"
    for debug, expected in (("true", "True 5/hour"), ("false", "False 5/hour")):
        env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "ideaforge.settings", "DJANGO_DEBUG": debug}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=django_settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip().splitlines()[-1] == expected, out.stdout


def test_signup_posts_are_limited_per_address(settings):
    settings.ACCOUNTS_SIGNUP_OPEN = True
    settings.ACCOUNTS_SIGNUP_RATE_LIMIT = "3/hour"
    statuses = [Client(REMOTE_ADDR="198.51.100.20").post(SIGNUP, new_user(i)).status_code for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    refused = Client(REMOTE_ADDR="198.51.100.20").post(SIGNUP, new_user(9))
    text = refused.content.decode()
    assert "Too many sign-up attempts from your address; try again in" in text
    assert 3000 < int(refused["Retry-After"]) <= 3600
    assert not get_user_model().objects.filter(username__in=["newcomer3", "newcomer9"]).exists()
    # Another address has its own budget; the header a client sends does not choose the address.
    assert Client(REMOTE_ADDR="198.51.100.21").post(SIGNUP, new_user(10)).status_code == 302
    forged = Client(REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="192.0.2.1").post(SIGNUP, new_user(11))
    assert forged.status_code == 429
