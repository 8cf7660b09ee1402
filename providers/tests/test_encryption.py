"""Secrets at rest: ciphertext in the column, fail closed on a bad token, key rotation."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from providers.crypto import BOUND_PREFIX
from providers.exceptions import CredentialDecryptionError
from providers.fields import EncryptedValue
from providers.models import ProviderCredential
from providers.services.keys import credentials_rotate_keys

pytestmark = pytest.mark.django_db

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()
K3 = Fernet.generate_key().decode()
CANARY = "sk-canary-PLAINTEXT-4f7e2d9c1b"


def raw_columns(pk: int) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, client_id, client_secret FROM providers_providercredential WHERE id = %s", [pk])
        return cursor.fetchone()


def reload(pk: int) -> ProviderCredential:
    return ProviderCredential.objects.get(pk=pk)


def make_rows(users) -> list[int]:
    """Three rows with every secret kind, written under whatever key is first right now."""
    alice, bob = users
    rows = [
        ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY + "-openai"),
        ProviderCredential.objects.create(owner=bob, provider="anthropic", api_key=CANARY + "-anthropic"),
        ProviderCredential.objects.create(
            owner=alice, provider="ai_gateway", client_id="gateway-client-id", client_secret=CANARY + "-gw+/:=%é"
        ),
    ]
    return [row.pk for row in rows]


# --- storage -------------------------------------------------------------------------------------


def test_raw_column_never_contains_plaintext(alice, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    cred = ProviderCredential.objects.create(
        owner=alice,
        provider="ai_gateway",
        api_key=CANARY,
        client_id="client-" + CANARY,
        client_secret="secret-" + CANARY,
    )
    for column in raw_columns(cred.pk):
        assert column
        assert CANARY not in column
        # It is a bound ciphertext (AES-GCM under a key derived from K1), not a Fernet token.
        assert column.startswith(BOUND_PREFIX)
    fresh = reload(cred.pk)
    assert isinstance(fresh.api_key, EncryptedValue)
    assert fresh.api_key.secret().reveal() == CANARY
    assert fresh.client_secret.secret().reveal() == "secret-" + CANARY
    assert CANARY not in repr(fresh.api_key) and CANARY not in str(fresh.api_key)
    assert CANARY not in repr(fresh.api_key.secret())


def test_two_writes_of_same_secret_differ(alice, bob, settings):
    """Ciphertexts carry a random nonce: equal secrets are not recognisable in the column."""
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    a = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    b = ProviderCredential.objects.create(owner=bob, provider="openai", api_key=CANARY)
    assert raw_columns(a.pk)[0] != raw_columns(b.pk)[0]


def test_empty_secret_is_stored_empty(alice, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    cred = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    assert raw_columns(cred.pk)[1:] == ("", "")
    assert reload(cred.pk).client_id == ""


def test_missing_key_fails_closed(alice, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    cred = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    ciphertext = raw_columns(cred.pk)[0]

    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    fresh = reload(cred.pk)  # loading never decrypts: listing still works
    with pytest.raises(CredentialDecryptionError) as info:
        fresh.api_key.secret()
    assert CANARY not in str(info.value)
    assert ciphertext not in str(info.value)
    assert "re-enter" in str(info.value)


def test_corrupted_ciphertext_fails_closed(alice, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    cred = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    token = raw_columns(cred.pk)[0]
    # Flip one character in the middle of the token (still valid base64 alphabet).
    middle = len(token) // 2
    corrupted = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for bad in (corrupted, token[:-10], "not-a-fernet-token", CANARY):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE providers_providercredential SET api_key = %s WHERE id = %s", [bad, cred.pk])
        with pytest.raises(CredentialDecryptionError):
            reload(cred.pk).api_key.secret()


def test_no_key_in_production_fails_closed(alice, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    cred = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    settings.DEBUG = False
    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    with pytest.raises(CredentialDecryptionError):
        reload(cred.pk).api_key.secret()


# --- rotation ------------------------------------------------------------------------------------


def test_rotation_keeps_every_row_readable_with_only_new_key(alice, bob, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    pks = make_rows((alice, bob))
    before = {pk: raw_columns(pk) for pk in pks}

    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]
    out = io.StringIO()
    call_command("providers_rotate_keys", stdout=out)
    text = out.getvalue()
    assert "3 credential rows scanned; 4 secrets re-encrypted; 0 already current; 0 failed" in text
    assert CANARY not in text

    for pk in pks:
        after = raw_columns(pk)
        for old, new in zip(before[pk], after, strict=False):
            assert (old == new == "") or old != new
            assert CANARY not in new

    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    assert reload(pks[0]).api_key.secret().reveal() == CANARY + "-openai"
    assert reload(pks[1]).api_key.secret().reveal() == CANARY + "-anthropic"
    gateway = reload(pks[2])
    assert gateway.client_id.secret().reveal() == "gateway-client-id"
    assert gateway.client_secret.secret().reveal() == CANARY + "-gw+/:=%é"
    # And K1 alone no longer reads them.
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    with pytest.raises(CredentialDecryptionError):
        reload(pks[0]).api_key.secret()


def test_rotation_is_idempotent(alice, bob, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    pks = make_rows((alice, bob))
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]
    first = credentials_rotate_keys()
    assert (first.rows, first.reencrypted, first.already_current, first.failed) == (3, 4, 0, 0)
    snapshot = {pk: raw_columns(pk) for pk in pks}

    out = io.StringIO()
    call_command("providers_rotate_keys", stdout=out)
    assert "3 credential rows scanned; 0 secrets re-encrypted; 4 already current; 0 failed" in out.getvalue()
    assert {pk: raw_columns(pk) for pk in pks} == snapshot


def test_rotation_partial_state_is_finished_by_second_run(alice, bob, settings):
    """Rows written after the new key was prepended are current; only the old ones rotate."""
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    old = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]
    new = ProviderCredential.objects.create(owner=bob, provider="openai", api_key=CANARY + "2")
    new_raw = raw_columns(new.pk)
    report = credentials_rotate_keys()
    assert (report.rows, report.reencrypted, report.already_current) == (2, 1, 1)
    assert raw_columns(new.pk) == new_raw
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    assert reload(old.pk).api_key.secret().reveal() == CANARY


def test_dry_run_changes_nothing(alice, bob, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    pks = make_rows((alice, bob))
    snapshot = {pk: raw_columns(pk) for pk in pks}
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]
    out = io.StringIO()
    call_command("providers_rotate_keys", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "[dry run]" in text
    assert "4 secrets would be re-encrypted" in text
    assert {pk: raw_columns(pk) for pk in pks} == snapshot
    # Nothing was rotated: the new key alone cannot read the rows.
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    with pytest.raises(CredentialDecryptionError):
        reload(pks[0]).api_key.secret()


def test_rotation_reports_undecryptable_rows_and_exits_non_zero(alice, bob, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K3]
    lost = ProviderCredential.objects.create(owner=alice, provider="gemini", api_key=CANARY + "-lost")
    lost_raw = raw_columns(lost.pk)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    good = ProviderCredential.objects.create(owner=bob, provider="openai", api_key=CANARY)

    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]  # K3 is gone
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("providers_rotate_keys", stdout=out, stderr=err)
    text = out.getvalue() + err.getvalue() + str(info.value)
    assert f"credential {lost.pk} (gemini) api_key" in text
    assert "1 failed" in text
    assert CANARY not in text and lost_raw[0] not in text
    # The failing row is left untouched; the good one was still rotated.
    assert raw_columns(lost.pk) == lost_raw
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    assert reload(good.pk).api_key.secret().reveal() == CANARY


def test_rotation_does_not_overwrite_a_concurrent_save(alice, settings, monkeypatch):
    """If the row changes between read and write, the compare-and-swap leaves the new value."""
    from providers.services import keys as keyrotation

    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    cred = ProviderCredential.objects.create(owner=alice, provider="openai", api_key=CANARY)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2, K1]
    real_swap = keyrotation._swap

    def user_saves_first(pk, originals, updates):
        row = ProviderCredential.objects.get(pk=pk)
        row.api_key = "sk-user-saved-meanwhile-0000"
        row.save()
        return real_swap(pk, originals, updates)

    monkeypatch.setattr(keyrotation, "_swap", user_saves_first)
    report = credentials_rotate_keys()
    assert report.changed_concurrently == 1 and report.reencrypted == 0
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K2]
    assert reload(cred.pk).api_key.secret().reveal() == "sk-user-saved-meanwhile-0000"


def test_rotation_progress_lines_and_empty_table(settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [K1]
    lines: list[str] = []
    report = credentials_rotate_keys(progress=lines.append)
    assert (report.rows, report.reencrypted, report.failed) == (0, 0, 0)
    assert report.ok


def test_rotation_without_any_key_in_production_is_a_command_error(settings):
    settings.DEBUG = False
    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    with pytest.raises(CommandError, match="CREDENTIALS_ENCRYPTION_KEYS"):
        call_command("providers_rotate_keys", stdout=io.StringIO())
