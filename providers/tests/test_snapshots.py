"""Credential snapshots (providers.snapshots): used while current, dropped by every kind of write,
also when the write happened in another process (simulated: that process's snapshot is put back
after the write, as it would still be in its memory, and only the shared cache tells it)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from providers import snapshots
from providers.models import ProviderCredential, VerificationStatus
from providers.selectors import effective_credentials_for_user
from providers.services.credentials import (
    credential_delete,
    credential_mark_failed,
    credential_set_order,
    credential_update_preferences,
)

# Snapshots are only stored outside atomic blocks, so these tests run without the test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean(settings):
    settings.AI_GATEWAY_ENABLED = False
    for name in (
        "AI_GATEWAY_CLIENT_ID",
        "AI_GATEWAY_CLIENT_SECRET",
        "AI_GATEWAY_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
    ):
        setattr(settings, name, "")
    cache.clear()
    snapshots.snapshots_clear()
    yield
    cache.clear()
    snapshots.snapshots_clear()


def cred(owner, provider, **fields):
    fields.setdefault("status", VerificationStatus.VERIFIED)
    return ProviderCredential.objects.create(
        owner=owner, provider=provider, api_key=f"sk-{provider}-test-0123456789", **fields
    )


def keys(user):
    return [c.key for c in effective_credentials_for_user(user=user)]


def queries(fn):
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return result, len(ctx.captured_queries)


def other_process_write(user, write):
    """Run `write` as if in another process: afterwards this process still holds its old snapshot."""
    keys(user)  # make sure this process has a snapshot
    stale = dict(snapshots._snapshots)
    write()
    snapshots._snapshots.update(stale)


def test_snapshot_is_used_while_current(alice):
    openai = cred(alice, "openai")
    assert queries(lambda: keys(alice)) == ([f"cred:{openai.pk}"], 1)
    assert queries(lambda: keys(alice)) == ([f"cred:{openai.pk}"], 0)


@pytest.mark.parametrize("change", ["disable", "delete", "priority", "mark_failed", "new", "order", "unverify_save"])
def test_writes_in_another_process_are_seen_by_the_next_resolve(alice, change):
    openai = cred(alice, "openai", priority=1)
    anthropic = cred(alice, "anthropic", priority=2)
    writes = {
        "disable": lambda: credential_update_preferences(
            user=alice,
            provider="openai",
            default_model="",
            fast_model="",
            standard_model="",
            premium_model="",
            priority=1,
            enabled=False,
        ),
        "delete": lambda: credential_delete(user=alice, provider="openai"),
        "priority": lambda: _save(openai.pk, priority=5),
        "mark_failed": lambda: credential_mark_failed(
            credential_id=openai.pk, code="invalid_client", message="revoked"
        ),
        "new": lambda: cred(alice, "gemini", priority=0),
        "order": lambda: credential_set_order(user=alice, providers=["anthropic", "openai"]),
        "unverify_save": lambda: _save(openai.pk, status=VerificationStatus.FAILED),
    }
    other_process_write(alice, writes[change])
    got = keys(alice)
    expected = {
        "disable": [f"cred:{anthropic.pk}"],
        "delete": [f"cred:{anthropic.pk}"],
        "priority": [f"cred:{anthropic.pk}", f"cred:{openai.pk}"],
        "mark_failed": [f"cred:{anthropic.pk}"],
        "order": [f"cred:{anthropic.pk}", f"cred:{openai.pk}"],
        "unverify_save": [f"cred:{anthropic.pk}"],
    }.get(change)
    if change == "new":
        gemini = ProviderCredential.objects.get(owner=alice, provider="gemini")
        expected = [f"cred:{gemini.pk}", f"cred:{openai.pk}", f"cred:{anthropic.pk}"]
    assert got == expected


def _save(pk, **fields):
    obj = ProviderCredential.objects.get(pk=pk)
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.save()


def test_without_the_shared_token_the_snapshot_is_not_trusted(alice):
    openai = cred(alice, "openai")
    keys(alice)
    # Evicted, or Redis restarted: a write elsewhere may have been lost with the token.
    cache.delete(snapshots.generation_key(alice.pk))
    ProviderCredential.objects.filter(pk=openai.pk).update(enabled=False)  # no signal, like a lost token
    assert queries(lambda: keys(alice)) == ([], 1)


def test_write_during_load_leaves_no_current_snapshot(alice):
    """The token is read before the database: a write landing in between outdates what was loaded."""
    openai = cred(alice, "openai")

    def load_then_someone_writes(user):
        loaded = effective_load(user)
        _save(openai.pk, enabled=False)
        return loaded

    from providers.selectors import _own_usable as effective_load

    own, _ = snapshots.own_credentials(user=alice, load=load_then_someone_writes)
    assert [c.key for c in own] == [f"cred:{openai.pk}"]  # what was true when it was read
    assert keys(alice) == []  # the next one sees the write


def test_transaction_rollback_leaves_no_snapshot_of_uncommitted_data(alice):
    openai = cred(alice, "openai")
    assert keys(alice) == [f"cred:{openai.pk}"]
    with pytest.raises(RuntimeError), transaction.atomic():
        _save(openai.pk, enabled=False)
        assert keys(alice) == []  # the writer sees its own change
        raise RuntimeError("roll back")
    assert keys(alice) == [f"cred:{openai.pk}"]


def test_commit_replaces_the_token_again(alice):
    """A reader between the write and the commit cannot keep a snapshot of the old state."""
    openai = cred(alice, "openai")
    with transaction.atomic():
        _save(openai.pk, enabled=False)
        token_inside = cache.get(snapshots.generation_key(alice.pk))
    assert cache.get(snapshots.generation_key(alice.pk)) != token_inside


def test_users_are_isolated(alice, bob):
    a = cred(alice, "openai")
    b = cred(bob, "openai")
    assert keys(alice) == [f"cred:{a.pk}"]
    assert keys(bob) == [f"cred:{b.pk}"]
    # Bob's write leaves Alice's snapshot alone (no query for her) and never shows her his key.
    other_process_write(bob, lambda: _save(b.pk, enabled=False))
    assert queries(lambda: keys(alice)) == ([f"cred:{a.pk}"], 0)
    assert keys(bob) == []
    assert all(c.credential.owner_id == alice.pk for c in effective_credentials_for_user(user=alice))


def test_per_process_cache_snapshots_expire(alice, monkeypatch):
    """With the local-memory cache other processes cannot replace the token: snapshots age out."""
    if snapshots._shared_cache():
        pytest.skip("a shared cache is configured")
    cred(alice, "openai")
    keys(alice)
    assert queries(lambda: keys(alice))[1] == 0
    monkeypatch.setattr(snapshots, "UNSHARED_MAX_AGE", 0.0)
    assert queries(lambda: keys(alice))[1] == 1


def test_snapshots_are_not_stored_inside_a_transaction(alice):
    cred(alice, "openai")
    with transaction.atomic():
        keys(alice)
        assert snapshots._snapshots == {}
