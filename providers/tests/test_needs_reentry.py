"""A credential whose secret no longer decrypts (its key was removed) shows "needs re-entry" on
the settings page, in `GET /api/providers` and in the admin, whatever status it recorded."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from providers.models import ProviderCredential, VerificationStatus
from providers.reentry import NEEDS_REENTRY, needs_reentry
from providers.secrets import mask

pytestmark = pytest.mark.django_db

KEY = "sk-lost-key-000000009999"
CHANGELIST = "admin:providers_providercredential_changelist"


@pytest.fixture
def lost_and_kept(settings, alice, bob):
    """Alice's credential was encrypted under a key that is gone; Bob's under the current one."""
    old, current = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    values = {
        "provider": "openai",
        "api_key": KEY,
        "secret_hint": mask(KEY),
        "status": VerificationStatus.VERIFIED,
        "verified_at": timezone.now(),
        "status_code": "verified",
        "available_models": ["gpt-4o"],
    }
    settings.CREDENTIALS_ENCRYPTION_KEYS = [old]
    lost = ProviderCredential.objects.create(owner=alice, **values)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [current]
    kept = ProviderCredential.objects.create(owner=bob, **values)
    return lost, kept


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_check_decrypts_without_changing_the_row(lost_and_kept):
    lost, kept = lost_and_kept
    assert needs_reentry(ProviderCredential.objects.get(pk=lost.pk))
    assert not needs_reentry(ProviderCredential.objects.get(pk=kept.pk))
    assert ProviderCredential.objects.get(pk=lost.pk).status == VerificationStatus.VERIFIED  # nothing written


def test_the_settings_page_says_needs_reentry(lost_and_kept, alice, bob):
    body = _client(alice).get("/settings/providers/").content.decode()
    assert "Needs re-entry" in body and "Verified at" not in body
    assert "Needs re-entry" not in _client(bob).get("/settings/providers/").content.decode()


def test_the_api_says_needs_reentry(lost_and_kept, alice, bob):
    own = [c for c in _client(alice).get("/api/providers").json()["providers"] if c.get("source") == "user"]
    assert [c["status"] for c in own] == [NEEDS_REENTRY]
    own = [c for c in _client(bob).get("/api/providers").json()["providers"] if c.get("source") == "user"]
    assert [c["status"] for c in own] == ["verified"]


def test_the_admin_shows_and_filters_needs_reentry(lost_and_kept, admin_client):
    lost, kept = lost_and_kept
    body = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Needs re-entry" in body
    found = admin_client.get(reverse(CHANGELIST), {"status": NEEDS_REENTRY}).context["cl"].result_list
    assert [c.pk for c in found] == [lost.pk]
    found = admin_client.get(reverse(CHANGELIST), {"status": "verified"}).context["cl"].result_list
    assert [c.pk for c in found] == [kept.pk]
    assert KEY not in body
