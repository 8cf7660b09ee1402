"""Shared fixtures for the providers tests. Helpers add fixtures here with small appended edits."""
from __future__ import annotations

import pytest


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-123")


# pytest-django runs tests with DEBUG=False (Django's test setup forces it), so the DEBUG-only
# development key is not used and every write of a secret would fail. Give each test a real,
# throw-away key; tests about keys override `settings.CREDENTIALS_ENCRYPTION_KEYS` themselves.
_TEST_ENCRYPTION_KEY = __import__("cryptography.fernet", fromlist=["Fernet"]).Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _credentials_encryption_key(settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [_TEST_ENCRYPTION_KEY]


# --- helper B: settings page / JSON API fixtures -------------------------------------------

GATEWAY_CLIENT_ID = "sim-client-id-4242"
GATEWAY_CLIENT_SECRET = "sim-secret-value-9f8e7d6c"


@pytest.fixture
def gateway():
    """A running AI Gateway simulator whose valid service account is GATEWAY_CLIENT_ID/SECRET."""
    from providers.testing.gateway_simulator import GatewaySimulator

    with GatewaySimulator(client_id=GATEWAY_CLIENT_ID, client_secret=GATEWAY_CLIENT_SECRET) as sim:
        yield sim


@pytest.fixture
def alice_client(alice):
    from django.test import Client

    client = Client()
    client.force_login(alice)
    return client
