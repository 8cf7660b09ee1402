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
