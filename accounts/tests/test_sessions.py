"""Sessions: the key changes on login and on password change (no session fixation)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

pytestmark = pytest.mark.django_db


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def planted_session(client: Client) -> str:
    """A session the client had before logging in (what a fixation attacker would plant)."""
    store = SessionStore()
    store["planted"] = True
    store.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return store.session_key


def test_session_age_defaults_to_two_weeks():
    assert settings.SESSION_COOKIE_AGE == 14 * 24 * 3600


def test_login_rotates_the_session_key(alice):
    client = Client()
    before = planted_session(client)
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-123"})
    assert response.status_code == 302
    after = session_key(client)
    assert after != before
    assert not SessionStore().exists(before)
    assert client.get("/settings/providers/").status_code == 200


def test_password_change_rotates_the_session_key_and_keeps_the_user_logged_in(django_user_model):
    django_user_model.objects.create_superuser("root", password="root-password-123")
    client = Client()
    assert client.post("/admin/login/", {"username": "root", "password": "root-password-123"}).status_code == 302
    before = session_key(client)
    response = client.post(
        "/admin/password_change/",
        {
            "old_password": "root-password-123",
            "new_password1": "a-new-Passphrase-77",
            "new_password2": "a-new-Passphrase-77",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("/admin/password_change/done/")
    after = session_key(client)
    assert after != before and not SessionStore().exists(before)
    assert client.get("/admin/").status_code == 200
