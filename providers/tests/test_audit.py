"""The credential audit trail: each audited action through its real path leaves exactly one
entry (who, from where, which fields), and no secret or ciphertext reaches the table."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client

from providers.models import CredentialAuditEvent, ProviderCredential
from providers.testing.fake_providers import FakeAnthropic, FakeOpenAI

pytestmark = pytest.mark.django_db

CANARY = "sk-AUDIT-CANARY-5e6f7a8b9c0d"
CANARY_ANT = "sk-ant-AUDIT-CANARY-1a2b3c4d"
PAGE = "/settings/providers/"
ALICE_IP = "203.0.113.7"
ADMIN_IP = "198.51.100.9"


@pytest.fixture
def fakes(settings):
    with (
        FakeOpenAI(valid_key=CANARY, models=["gpt-a", "gpt-b"]) as openai,
        FakeAnthropic(valid_key=CANARY_ANT) as anthropic,
    ):
        settings.PROVIDERS_OPENAI_BASE_URL = openai.base_url
        settings.PROVIDERS_ANTHROPIC_BASE_URL = anthropic.base_url
        yield openai, anthropic


@pytest.fixture
def alice_web(alice):
    client = Client(REMOTE_ADDR=ALICE_IP)
    client.force_login(alice)
    return client


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_superuser("root", password="root-password-123")
    client = Client(REMOTE_ADDR=ADMIN_IP)
    client.force_login(user)
    return user, client


def new_events(seen: int) -> list[CredentialAuditEvent]:
    return list(CredentialAuditEvent.objects.order_by("id")[seen:])


def one_new(seen: int) -> CredentialAuditEvent:
    events = new_events(seen)
    assert len(events) == 1, [(e.action, e.provider) for e in events]
    return events[0]


def table_text() -> str:
    """Every column of every audit row, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {CredentialAuditEvent._meta.db_table}")
        return "\n".join(repr(row) for row in cursor.fetchall())


def stored_ciphertexts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT api_key, client_id, client_secret FROM {ProviderCredential._meta.db_table}")
        return [value for row in cursor.fetchall() for value in row if value]


def test_every_audited_action_leaves_exactly_one_entry_and_no_secret(alice, alice_web, operator, fakes, settings):
    seen = 0
    ciphertexts: list[str] = []

    def step() -> CredentialAuditEvent:
        nonlocal seen
        ciphertexts.extend(stored_ciphertexts())
        event = one_new(seen)
        seen += 1
        return event

    # create (the settings page: verify + save)
    assert alice_web.post(f"{PAGE}openai/save", {"openai-api_key": CANARY}).status_code in (200, 302)
    event = step()
    assert (event.action, event.provider, event.outcome, event.actor_kind) == ("create", "openai", "verified", "user")
    assert event.actor == alice and event.owner == alice and str(event.ip_address) == ALICE_IP
    assert "api_key" in event.fields and event.request_id

    # update: a new key (the field's name, not its value)
    alice_web.post(f"{PAGE}openai/save", {"openai-api_key": CANARY, "openai-default_model": "gpt-b"})
    event = step()
    assert (event.action, event.fields) == ("update", ["api_key", "default_model"])

    # verify (stored credential, from the admin's action: an operator)
    user, admin = operator
    credential = ProviderCredential.objects.get(owner=alice, provider="openai")
    admin.post(
        "/admin/providers/providercredential/", {"action": "verify_selected", "_selected_action": [credential.pk]}
    )
    event = step()
    assert (event.action, event.outcome, event.actor_kind, event.actor) == ("verify", "verified", "operator", user)
    assert str(event.ip_address) == ADMIN_IP

    # disable, then enable (preferences form)
    prefs = {"openai-prefs-priority": "0", "openai-prefs-default_model": "gpt-b"}
    alice_web.post(f"{PAGE}openai/preferences", prefs)
    event = step()
    assert (event.action, event.fields) == ("disable", ["enabled", "priority"])
    alice_web.post(f"{PAGE}openai/preferences", {**prefs, "openai-prefs-enabled": "on"})
    assert step().action == "enable"

    # reorder (a second credential first)
    alice_web.post(f"{PAGE}anthropic/save", {"anthropic-api_key": CANARY_ANT})
    assert step().action == "create"
    alice_web.post(f"{PAGE}order", {"position_openai": "2", "position_anthropic": "1"})
    event = step()
    assert (event.action, event.provider, event.fields) == ("reorder", "", ["anthropic", "openai"])

    # key rotation: the system
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key, *settings.CREDENTIALS_ENCRYPTION_KEYS]
    call_command("providers_rotate_keys", stdout=io.StringIO())
    rotated = new_events(seen)
    assert sorted(e.provider for e in rotated) == ["anthropic", "openai"]  # one per credential
    assert all(e.action == "rotate_key" and e.actor_kind == "system" and e.ip_address is None for e in rotated)
    assert [e.fields for e in rotated] == [["api_key"], ["api_key"]]
    seen += 2
    ciphertexts.extend(stored_ciphertexts())

    # task-driven status change: the system
    from providers.services.credentials import credential_mark_failed

    credential_mark_failed(credential_id=credential.pk, code="invalid_client", message=f"rejected {CANARY}")
    event = step()
    assert (event.action, event.outcome, event.actor_kind) == ("status_change", "invalid_client", "system")

    # delete (the owner); the trail outlives the credential
    alice_web.post(f"{PAGE}openai/delete")
    event = step()
    assert (event.action, event.provider) == ("delete", "openai")
    assert not ProviderCredential.objects.filter(pk=credential.pk).exists()
    event.refresh_from_db()
    assert event.credential is None and event.owner_name == "alice"

    # The canary: no secret, no prefix of one, no ciphertext anywhere in the table.
    text = table_text()
    for secret in (CANARY, CANARY[:12], CANARY_ANT, CANARY_ANT[:12], *ciphertexts):
        assert secret not in text


def test_admin_edit_and_delete_are_audited_as_the_operator(alice, operator, fakes):
    user, admin = operator
    credential = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY, priority=3)
    url = f"/admin/providers/providercredential/{credential.pk}/change/"
    response = admin.post(
        url,
        {
            "owner": alice.pk,
            "provider": "openai",
            "enabled": "on",
            "priority": "5",
            "new_api_key": CANARY + "x",
            "base_url": "",
            "token_url": "",
            "scope": "",
            "token_auth_method": "client_secret_basic",
            "default_model": "",
            "fast_model": "",
            "standard_model": "",
            "premium_model": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    (event,) = CredentialAuditEvent.objects.all()
    assert (event.action, event.actor_kind, event.actor) == ("update", "operator", user)
    assert event.fields == ["api_key", "priority"]
    admin.post(f"/admin/providers/providercredential/{credential.pk}/delete/", {"post": "yes"})
    assert CredentialAuditEvent.objects.filter(action="delete", actor_kind="operator").count() == 1
    assert CANARY not in table_text()


def test_the_trail_is_append_only():
    event = CredentialAuditEvent.objects.create(action="delete", actor_kind="system", provider="openai")
    event.outcome = "forged"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()


def test_the_admin_is_read_only_with_filters(operator):
    _, admin = operator
    CredentialAuditEvent.objects.create(action="delete", actor_kind="system", provider="openai", owner_name="alice")
    listing = admin.get("/admin/providers/credentialauditevent/?action__exact=delete")
    assert listing.status_code == 200 and b"alice" in listing.content
    assert admin.get("/admin/providers/credentialauditevent/add/").status_code == 403


def test_each_user_sees_only_their_own_trail(alice, bob, alice_web, fakes):
    alice_web.post(f"{PAGE}openai/save", {"openai-api_key": CANARY})
    CredentialAuditEvent.objects.create(
        action="create", actor_kind="user", provider="gemini", owner=bob, owner_name="bob"
    )
    page = alice_web.get(PAGE).content.decode()
    assert "Recent changes to your credentials" in page
    assert "Created" in page and ALICE_IP in page
    assert "gemini" not in page.split("Recent changes to your credentials", 1)[1]


def _create_events_ip(alice, **meta) -> str | None:
    """The address the audit trail records for Alice's new credential, sent with `meta`."""
    client = Client(**meta)
    client.force_login(alice)
    seen = CredentialAuditEvent.objects.count()
    assert client.post(f"{PAGE}openai/save", {"openai-api_key": CANARY}).status_code in (200, 302)
    event = one_new(seen)
    assert event.action == "create"
    return None if event.ip_address is None else str(event.ip_address)


def test_the_audit_ip_is_the_client_behind_a_trusted_proxy(alice, fakes, settings):
    """One trusted proxy (TRUSTED_PROXY_COUNT=1): the client is the address it appended, not the
    proxy's (REMOTE_ADDR) nor what the client wrote before it."""
    settings.TRUSTED_PROXY_COUNT = 1
    ip = _create_events_ip(alice, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.66, " + ALICE_IP)
    assert ip == ALICE_IP


def test_a_forged_forwarded_header_is_not_the_audit_ip(alice, fakes, settings):
    """No trusted proxy (the default): X-Forwarded-For is the client's own claim, ignored."""
    settings.TRUSTED_PROXY_COUNT = 0
    ip = _create_events_ip(alice, REMOTE_ADDR=ALICE_IP, HTTP_X_FORWARDED_FOR="192.0.2.66")
    assert ip == ALICE_IP
