"""Gateway tokens shared between processes through Redis (when `REDIS_URL` is set).

Web workers and Celery workers then use one token per credential, and one process fetches it:

* The token is stored encrypted (`providers.crypto.encrypt`, the credentials' own keys) under
  `<prefix>:providers:gwtoken:<cache id>` (the id is a hash of the token manager's key, built
  from HMAC fingerprints: no raw secret or client id in Redis keys), with a TTL that ends when
  the token expires. The value starts with an HMAC fingerprint of the token so that
  `discard()` can compare-and-delete atomically without decrypting in Lua.
* Refreshing takes a lease, `SET <prefix>:providers:gwlease:<id> <uuid> NX PX <ttl>`, released
  by a Lua compare-and-delete, so a holder whose lease expired cannot release someone else's.
  The token request's timeout is a third of the lease. Processes without the lease poll the
  shared token until a deadline, then fetch themselves (a holder that died cannot block them).
* A failed fetch leaves a short failure marker, so pollers fail fast with the same kind of error
  instead of each retrying a broken token endpoint.
* Redis down or hung: short socket timeouts (`PROVIDERS_REDIS_SOCKET_TIMEOUT`), the outage is
  remembered for `PROVIDERS_REDIS_RETRY_SECONDS` in `providers.redis_outage` (shared with the
  cache backend: one log line per outage), and every process fetches its own token meanwhile.

We talk to Redis with redis-py directly (not through Django's cache API) because leases and
compare-and-delete need `SET NX PX` and scripts; the key prefix follows the cache's KEY_PREFIX.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings

from .. import exceptions
from ..conf import app_settings
from ..crypto import decrypt, encrypt
from ..redis_outage import outage
from ..secrets import Secret
from .token_info import TokenInfo

logger = logging.getLogger(__name__)

_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_DELETE_IF_PREFIX = """
local value = redis.call('get', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Errors a failure marker may carry across processes (by name; nothing else is ever built).
_SHAREABLE_ERRORS = (
    "CredentialInvalid",
    "BadRequest",
    "RateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "UnexpectedResponse",
    "URLNotAllowed",
)
_POLL_INTERVAL = 0.05


def lease_seconds() -> float:
    """The refresh lease; the token request (connect + write + read) fits in it."""
    return 3 * float(app_settings.TOKEN_REQUEST_TIMEOUT)


def _token_fingerprint(token: Secret) -> str:
    key = hashlib.sha256(settings.SECRET_KEY.encode() + b":gwtoken").digest()
    return token.fingerprint(key)


class SharedTokenStore:
    def __init__(self, url: str, prefix: str) -> None:
        # Imported here: only deployments with REDIS_URL use redis-py; the embedded default
        # (one process, no Redis) never loads it.
        import redis

        timeout = float(app_settings.REDIS_SOCKET_TIMEOUT)
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        # Outages only; any other Redis error (a script error) is a bug and raises.
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._prefix = f"{prefix}:" if prefix else ""
        self._release = self._redis.register_script(_COMPARE_AND_DELETE)
        self._discard = self._redis.register_script(_DELETE_IF_PREFIX)

    def _key(self, kind: str, cache_id: str) -> str:
        return f"{self._prefix}providers:{kind}:{cache_id}"

    @property
    def available(self) -> bool:
        return not outage.down

    def _went_down(self, exc: BaseException) -> None:
        outage.failed(exc, where="gateway token store")

    # -- tokens ---------------------------------------------------------------------------

    def get(self, cache_id: str) -> TokenInfo | None:
        if not self.available:
            return None
        try:
            raw = self._redis.get(self._key("gwtoken", cache_id))
        except self._errors as exc:
            self._went_down(exc)
            return None
        outage.succeeded()
        return self._decode(raw, self._key("gwtoken", cache_id)) if raw else None

    def put(self, cache_id: str, info: TokenInfo) -> None:
        ttl_ms = int((info.expires_at - time.time()) * 1000)
        if ttl_ms <= 0 or not self.available:
            return
        payload = {
            "access_token": info.access_token.reveal(),
            "token_type": info.token_type,
            "expires_at": info.expires_at,
            "refresh_at": info.refresh_at,
            "obtained_at": info.obtained_at,
            "lifetime": info.lifetime,
            "scope": info.scope,
        }
        key = self._key("gwtoken", cache_id)
        # Bound to its Redis key: a value copied under another credential's key does not decrypt.
        value = _token_fingerprint(info.access_token) + ":" + encrypt(json.dumps(payload), context=key)
        try:
            self._redis.set(key, value, px=ttl_ms)
        except self._errors as exc:
            self._went_down(exc)

    def discard(self, cache_id: str, token: Secret) -> None:
        """Delete the shared token only if it is still `token` (atomic)."""
        if not self.available:
            return
        try:
            self._discard(keys=[self._key("gwtoken", cache_id)], args=[_token_fingerprint(token) + ":"])
        except self._errors as exc:
            self._went_down(exc)

    def _decode(self, raw: bytes, key: str) -> TokenInfo | None:
        try:
            _, _, blob = raw.decode().partition(":")
            data = json.loads(decrypt(blob, context=key))
            return TokenInfo(
                Secret(data["access_token"]),
                data["token_type"],
                float(data["expires_at"]),
                float(data["refresh_at"]),
                float(data["obtained_at"]),
                float(data["lifetime"]),
                data.get("scope", ""),
            )
        except (exceptions.CredentialDecryptionError, ValueError, KeyError, TypeError):
            # Another key set or a corrupt entry: ignore it, a fresh token will overwrite it.
            logger.warning("ignoring an unreadable shared gateway token")
            return None

    # -- failures -------------------------------------------------------------------------

    def _put_failure(self, cache_id: str, error: BaseException) -> None:
        name = type(error).__name__ if type(error).__name__ in _SHAREABLE_ERRORS else "ProviderUnavailable"
        payload = {
            "at": time.time(),
            "type": name,
            "message": str(error)[:300],
            "code": getattr(error, "code", ""),
            "status_code": getattr(error, "status_code", None),
            "retry_after": getattr(error, "retry_after", None),
            "provider": getattr(error, "provider", None),
        }
        ttl_ms = max(1, int(float(app_settings.TOKEN_NEGATIVE_CACHE_SECONDS) * 1000))
        try:
            self._redis.set(self._key("gwfail", cache_id), json.dumps(payload), px=ttl_ms)
        except self._errors as exc:
            self._went_down(exc)

    def _failure_since(self, cache_id: str, since: float) -> BaseException | None:
        try:
            raw = self._redis.get(self._key("gwfail", cache_id))
        except self._errors as exc:
            self._went_down(exc)
            return None
        if not raw:
            return None
        data = json.loads(raw)
        if data["at"] < since:
            return None
        cls: Any = getattr(exceptions, data["type"])
        kwargs: dict[str, Any] = {
            "provider": data.get("provider"),
            "status_code": data["status_code"],
            "code": data["code"],
        }
        if data["type"] == "RateLimited":
            kwargs["retry_after"] = data["retry_after"]
        if data["type"] == "URLNotAllowed":
            return cls(data["message"])
        return cls(data["message"], **kwargs)

    # -- single flight across processes ---------------------------------------------------

    def obtain(
        self, cache_id: str, fetch: Callable[[], TokenInfo], *, accept: Callable[[TokenInfo], bool]
    ) -> TokenInfo:
        """A token `accept` likes: the shared one, or one fetched by us under the lease, or by
        the lease holder while we poll; ourselves after the deadline or when Redis fails."""
        started = time.time()
        info = self.get(cache_id)
        if info is not None and accept(info):
            return info
        lease = lease_seconds()
        deadline = time.monotonic() + lease
        owner = uuid.uuid4().hex
        lease_key = self._key("gwlease", cache_id)
        while self.available:
            try:
                acquired = self._redis.set(lease_key, owner, nx=True, px=int(lease * 1000))
            except self._errors as exc:
                self._went_down(exc)
                break
            if acquired:
                try:
                    info = self.get(cache_id)  # the previous holder may have finished meanwhile
                    if info is not None and accept(info):
                        return info
                    return self._fetch_and_share(cache_id, fetch)
                finally:
                    try:
                        self._release(keys=[lease_key], args=[owner])
                    except self._errors as exc:
                        self._went_down(exc)
            time.sleep(_POLL_INTERVAL)
            info = self.get(cache_id)
            if info is not None and accept(info):
                return info
            failure = self._failure_since(cache_id, started)
            if failure is not None:
                raise failure
            if time.monotonic() >= deadline:
                logger.warning(
                    "gateway token lease holder did not publish a token in %.0f s; fetching ourselves", lease
                )
                break
        return self._fetch_and_share(cache_id, fetch)

    def _fetch_and_share(self, cache_id: str, fetch: Callable[[], TokenInfo]) -> TokenInfo:
        try:
            info = fetch()
        except exceptions.ProviderError as exc:
            if self.available:
                self._put_failure(cache_id, exc)
            raise
        self.put(cache_id, info)
        return info

    def close(self) -> None:
        self._redis.close()


_stores: dict[tuple[int, str], SharedTokenStore] = {}
_stores_lock = threading.Lock()


def get_store() -> SharedTokenStore | None:
    """The shared store when `REDIS_URL` is configured, else None (tokens stay per process)."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    key = (os.getpid(), url)  # redis-py pools must not cross a fork
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                cache = getattr(settings, "CACHES", {}).get("default", {})
                store = _stores[key] = SharedTokenStore(url, cache.get("KEY_PREFIX", "") or "")
    return store


def _reset_after_fork() -> None:
    global _stores_lock
    _stores.clear()
    _stores_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
