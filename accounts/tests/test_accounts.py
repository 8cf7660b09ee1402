from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_ensure_local_admin_creates_one_superuser_whose_printed_password_works(client):
    out = StringIO()
    call_command("ensure_local_admin", "--url", "http://127.0.0.1:8765/", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8765/accounts/login/" in text
    password = text.split("password: ")[1].split()[0]
    # Through the login page (django-axes needs the request that Client.login() does not pass).
    response = client.post("/accounts/login/", {"username": "admin", "password": password})
    assert response.status_code == 302 and response.wsgi_request.user.is_superuser

    again = StringIO()
    call_command("ensure_local_admin", stdout=again)
    assert "already exists" in again.getvalue()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_signup_logs_the_new_user_in_and_lands_on_the_settings_page(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "carol", "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/settings/providers/"
    assert response.context["user"].username == "carol"


def test_signup_with_mismatched_passwords_creates_nothing(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "dave", "password1": "a-long-Passphrase-42", "password2": "other-Passphrase-42"},
    )
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="dave").exists()


def test_home_redirects_anonymous_users_to_login(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
