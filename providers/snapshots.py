"""Per-process snapshots of each user's usable credentials, checked against a generation token.

Every agent run starts by asking which of the user's credentials are verified and enabled. The
ORM query for that costs more than the provider layer may add to a run (most of it is Django
compiling the query), and the answer almost never changes between two runs. So each process
keeps the last answer per user, and Django's cache holds a per-user *generation token* that
every credential write replaces (`credentials_changed`, called from the model's post_save and
post_delete signals and from the services that write with `QuerySet.update()`). A run reads the
token (one cache round trip, together with whatever other keys the caller needs, e.g. the
circuit breakers) and uses its snapshot only if the token is the one the snapshot was loaded under.

Why this is safe:

* The token is random, never a counter: a token that was evicted or lost with a Redis restart is
  replaced by a fresh one, which no snapshot was loaded under (a counter could restart at a value
  an old snapshot still holds).
* The token is read *before* the database. A write that lands between the two replaces the
  token, so a snapshot that missed the write is stored under a token that is already gone.
* A write inside a transaction replaces the token at once (so the writing thread sees its own
  change) and again when the transaction commits (so nobody keeps a snapshot of the uncommitted
  state). Snapshots are never *stored* from inside an atomic block: what was read there might be
  rolled back.
* Snapshots are keyed by the user's primary key and loaded with `owner=user` only.
* With a per-process cache (the local-memory default, meant for one process; see
  docs/configuration.md) other processes cannot see the token, so a snapshot is also re-read
  after `UNSHARED_MAX_AGE` seconds, bounding what a second process could miss.
* While Redis is down (`providers.softcache`), snapshots are neither used nor stored: every run
  reads the database. The cache backend deletes the tokens replaced during the outage from Redis
  when it is back, so no process keeps trusting a snapshot older than a write it missed.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection, transaction

from .redis_outage import outage

_PREFIX = "providers:credgen:"
#: Snapshot lifetime when the cache is per-process (no cross-process invalidation).
UNSHARED_MAX_AGE = 5.0
MAX_USERS = 10_000

_lock = threading.Lock()
# user pk -> (generation token, loaded at (monotonic), credentials in priority order)
_snapshots: dict[Any, tuple[str, float, tuple[Any, ...]]] = {}


def generation_key(owner_id: Any) -> str:
    return f"{_PREFIX}{owner_id}"


def _replace_token(owner_id: Any) -> None:
    cache.set(generation_key(owner_id), secrets.token_hex(8), timeout=None)
    with _lock:
        _snapshots.pop(owner_id, None)


def credentials_changed(*, owner_id: Any) -> None:
    """Call after any write to `owner_id`'s credentials: every process re-reads them on next use."""
    _replace_token(owner_id)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _replace_token(owner_id))


def snapshots_clear() -> None:
    """Forget this process's snapshots (tests; the tokens in the cache stay)."""
    with _lock:
        _snapshots.clear()


def _shared_cache() -> bool:
    return not isinstance(caches["default"], (LocMemCache, DummyCache))


def own_credentials(*, user: Any, load: Any, extra_keys: Iterable[str] = ()) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The user's credentials as `load(user)` returns them, from this process's snapshot when it
    is current, plus the cache values of `extra_keys` read in the same round trip.

    `extra_keys` may be a callable taking the credentials and returning keys: it is called with
    the snapshot's credentials first (one round trip when the snapshot is current) and again with
    freshly loaded ones when it was not.
    """
    owner_id = user.pk
    gen_key = generation_key(owner_id)
    with _lock:
        snap = _snapshots.get(owner_id)
    keys_for = extra_keys if callable(extra_keys) else (lambda creds, _k=tuple(extra_keys): _k)
    guessed = list(keys_for(snap[2] if snap else ()))
    found = cache.get_many([gen_key, *guessed])
    token = found.pop(gen_key, None)
    if outage.down:
        # Redis is unreachable (the cache answered from this process's memory): other processes'
        # writes cannot reach us, so the database answers every run until Redis is back.
        credentials = tuple(load(user))
        wanted = list(keys_for(credentials))
        return credentials, (found if wanted == guessed else cache.get_many(wanted))
    fresh = snap is not None and token is not None and snap[0] == token
    if fresh and (_shared_cache() or time.monotonic() - snap[1] < UNSHARED_MAX_AGE):
        return snap[2], found
    if token is None:
        # No token yet (first use, eviction, cache restart): start one. `add` keeps a token a
        # concurrent writer set meanwhile; reading it back tells us which one won.
        cache.add(gen_key, secrets.token_hex(8), timeout=None)
        token = cache.get(gen_key)
    credentials = tuple(load(user))
    if token is not None and not connection.in_atomic_block:
        with _lock:
            if len(_snapshots) >= MAX_USERS:
                _snapshots.clear()
            _snapshots[owner_id] = (token, time.monotonic(), credentials)
    wanted = list(keys_for(credentials))
    if wanted != guessed:
        found = cache.get_many(wanted)
    return credentials, found


def _on_credential_written(*, instance: Any, **kwargs: Any) -> None:
    credentials_changed(owner_id=instance.owner_id)


def connect_signals() -> None:
    """Called from ProvidersConfig.ready(): every save and delete (admin, services, cascades)."""
    from django.db.models.signals import post_delete, post_save

    from .models import ProviderCredential

    post_save.connect(_on_credential_written, sender=ProviderCredential, dispatch_uid="providers.snapshots.saved")
    post_delete.connect(_on_credential_written, sender=ProviderCredential, dispatch_uid="providers.snapshots.deleted")
