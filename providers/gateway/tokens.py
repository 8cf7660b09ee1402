"""The AI Gateway's OAuth2 client-credentials token manager (one per process).

Guarantees, and the peer bugs they answer (see shared/notes/oauth2.md):

* One cached token per (token URL, client id, scope, secret fingerprint). The key holds only
  HMAC fingerprints, never a raw secret or client id.
* Expiry from the *send* time of the token request plus `expires_in` (RFC 6749 §5.1), refreshed
  `margin = min(max(60 s, 10 % of lifetime), lifetime / 2)` early (`token_info.refresh_margin`;
  the pre-refresh's wider margin is `refresh`'s); a default lifetime when `expires_in` is
  missing; absurd values clamped. Inside the margin callers keep the still-valid
  token while one background refresh runs; only an expired token makes callers wait.
* Warm lookups are lock-free: per config object, a dict get and a monotonic clock read (no key
  fingerprints, no lock) until the token's refresh point; everything else takes the locked path.
* Single flight: however many threads and asyncio tasks (on any event loops) want a token, one
  token request runs, in a thread of its own, and publishes its result through one
  `concurrent.futures.Future`. Async callers await it with `asyncio.wrap_future` behind
  `asyncio.shield`; the future is marked running first, so a cancelled waiter can never cancel
  it for the others (an `asyncio.Lock` would be bound to one loop; Authlib #266/#673).
  A failure resolves the future too, so every waiter gets the error at once (no never-set
  Event), and a short negative cache answers the next callers with the same error.
* Across processes (`token_store`, when Redis is configured) one process fetches under a lease;
  the others read the encrypted token from Redis.
* `invalid_client` (and other rejections of the client) is not retried: every waiter gets
  `CredentialInvalid`. The manager writes nothing: for a stored credential it sends
  `credential_rejected`, and the providers app's receiver marks the credential failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from django.core.signals import setting_changed
from django.dispatch import Signal

from ..conf import app_settings
from ..exceptions import CredentialInvalid, ProviderError, ProviderTimeout
from ..http.client import new_client
from ..http.deadline import deadline
from ..http.netpolicy import require_https
from ..metrics import counts_token_fetch
from ..secrets import Secret
from ..types import CredentialConfig
from . import token_store
from .oauth2 import request_token
from .token_info import TokenInfo, TokenKey, token_key, token_url_for

logger = logging.getLogger(__name__)

#: `TokenManager.refresh(keep=...)`: whether a cached token is good enough to keep.
Keep = Callable[[TokenInfo], bool]

#: Sent when the token endpoint rejected the client of a stored credential (`CredentialInvalid`:
#: invalid_client and friends), with `config` (its `credential_id` set) and `error`. Sent once
#: per failed token request, from the refresh's own thread (not a request thread), after every
#: waiter got the error. `providers.services.tokens` connects the receiver that marks the
#: credential failed (`ProvidersConfig.ready()`): the gateway package never writes the database.
credential_rejected = Signal()


class _Slot:
    __slots__ = ("expire_mono", "failure", "failure_until", "flight", "fresh", "info", "refresh_mono")

    def __init__(self) -> None:
        self.info: TokenInfo | None = None
        # (info, refresh_mono) in one attribute, replaced atomically, for the lock-free fast path.
        self.fresh: tuple[TokenInfo, float] | None = None
        self.refresh_mono = 0.0
        self.expire_mono = 0.0
        self.flight: concurrent.futures.Future[TokenInfo] | None = None
        self.failure: BaseException | None = None
        self.failure_until = 0.0

    def set(self, info: TokenInfo) -> None:
        # Wall-clock times -> this process's monotonic clock, once.
        offset = time.monotonic() - time.time()
        self.info, self.refresh_mono, self.expire_mono = info, info.refresh_at + offset, info.expires_at + offset
        self.fresh = (info, self.refresh_mono)

    def drop(self) -> None:
        self.info = self.fresh = None


def _copy_error(error: BaseException) -> BaseException:
    """A fresh exception per waiter: one instance raised in many threads shares a traceback."""
    try:
        clone = copy.copy(error)
        clone.__traceback__ = None
        return clone
    except Exception:  # an exotic exception type: raise the original
        return error


_MAX_CONFIGS = 1024
_key_epoch = 0  # bumped when SECRET_KEY changes (tests): token keys derive from it


class TokenManager:
    """The process's gateway tokens (see the module docstring); use `get_token_manager()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[TokenKey, _Slot] = {}
        # Fast path: id(config) -> (config, its slot, key epoch). Models and clients keep their
        # config object, so a warm lookup is a dict get and a clock read: no key, no lock.
        self._by_config: dict[int, tuple[CredentialConfig, _Slot, int]] = {}

    # -- public API -----------------------------------------------------------------------

    def _fresh(self, config: CredentialConfig) -> Secret | None:
        entry = self._by_config.get(id(config))
        if entry is not None and entry[0] is config and entry[2] == _key_epoch:
            fresh = entry[1].fresh
            # Before the refresh point this is exactly what _begin would answer.
            if fresh is not None and time.monotonic() < fresh[1]:
                return fresh[0].access_token
        return None

    def get_token(self, config: CredentialConfig) -> Secret:
        """A valid access token; waits for a refresh only when the cached one has expired."""
        token = self._fresh(config)
        if token is not None:
            return token
        result = self._begin(token_key(config), config, force=False)
        if isinstance(result, TokenInfo):
            return result.access_token
        return self._wait(result, config.provider).access_token

    async def aget_token(self, config: CredentialConfig) -> Secret:
        token = self._fresh(config)
        if token is not None:
            return token
        result = self._begin(token_key(config), config, force=False)
        if isinstance(result, TokenInfo):
            return result.access_token
        return (await self._await(result, config.provider)).access_token

    def refresh(self, config: CredentialConfig, *, force: bool = False, keep: Keep | None = None) -> TokenInfo:
        """The current token, fetched now if stale; waits for the fetch.

        `force` fetches a new token even when the cached one is fresh (joining a refresh already
        in flight). `keep(info)` decides instead which token is good enough: one it accepts is
        returned as it is, any other is replaced. It is asked again inside the single flight
        and, with Redis, under the cross-process lease, so callers that raced each other fetch
        once (the pre-refresh, `providers.gateway.refresh`, keeps tokens that are not due)."""
        result = self._begin(token_key(config), config, force=force, keep=keep)
        return result if isinstance(result, TokenInfo) else self._wait(result, config.provider)

    def invalidate(self, config: CredentialConfig, token: Secret) -> None:
        """Forget `token` after a 401, but only if it is still the current one (another
        thread or process may already have replaced it)."""
        key = token_key(config)
        with self._lock:
            entry = self._by_config.get(id(config))
            # The fast path's slot too, should it differ (a clear() or SECRET_KEY change since).
            for slot in (self._slots.get(key), entry[1] if entry is not None and entry[0] is config else None):
                if slot is not None and slot.info is not None and slot.info.access_token == token:
                    slot.drop()
        store = token_store.get_store()
        if store is not None:
            store.discard(key.cache_id, token)

    def current(self, config: CredentialConfig) -> TokenInfo | None:
        """The newest unexpired token for `config`: the shared store's (when Redis is configured)
        or this process's, whichever expires later; None when there is none.

        The shared store is read first: another process may have refreshed since this one last
        looked, and judging by this process's older copy made the pre-refresh fetch a token
        that was already fresh (issue 8, item 6). A newer shared token replaces the local copy."""
        key = token_key(config)
        store = token_store.get_store()
        shared = store.get(key.cache_id) if store is not None else None
        with self._lock:
            slot = self._slots.get(key)
            info = slot.info if slot is not None else None
            if shared is not None and (info is None or shared.expires_at > info.expires_at):
                self._slots.setdefault(key, _Slot()).set(shared)
                info = shared
        return info if info is not None and info.expires_in() > 0 else None

    def expires_in(self, config: CredentialConfig) -> float | None:
        """Seconds left on the newest cached token (`current`); None when there is none."""
        info = self.current(config)
        return info.expires_in() if info is not None else None

    def clear(self) -> None:
        """Forget every cached token and failure (tests, key rotation)."""
        with self._lock:
            self._slots.clear()
            self._by_config.clear()

    # -- single flight --------------------------------------------------------------------

    def _begin(
        self, key: TokenKey, config: CredentialConfig, *, force: bool, keep: Keep | None = None
    ) -> TokenInfo | concurrent.futures.Future[TokenInfo]:
        now = time.monotonic()
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
            if len(self._by_config) >= _MAX_CONFIGS:
                self._by_config.clear()
            self._by_config[id(config)] = (config, slot, _key_epoch)
            info = slot.info
            if keep is not None:
                if info is not None and now < slot.expire_mono and keep(info):
                    return info
                if slot.flight is not None:  # it brings a newer token than the one refused
                    return slot.flight
                return self._start(key, slot, config, force=force, keep=keep)
            if not force and info is not None and now < slot.expire_mono:
                if now < slot.refresh_mono or slot.flight is not None or now < slot.failure_until:
                    return info
                # Inside the margin: refresh in the background, keep using the valid token.
                self._start(key, slot, config, force=False)
                return info
            if slot.flight is not None:
                return slot.flight
            if not force and slot.failure is not None and now < slot.failure_until:
                raise _copy_error(slot.failure)
            return self._start(key, slot, config, force=force)

    def _start(
        self, key: TokenKey, slot: _Slot, config: CredentialConfig, *, force: bool, keep: Keep | None = None
    ) -> concurrent.futures.Future[TokenInfo]:
        """Called with the lock held."""
        future: concurrent.futures.Future[TokenInfo] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # from now on cancel() is a no-op
        slot.flight = future
        thread = threading.Thread(
            target=self._fly, args=(key, slot, config, future, force, keep), name="gateway-token-refresh", daemon=True
        )
        thread.start()
        return future

    def _fly(
        self,
        key: TokenKey,
        slot: _Slot,
        config: CredentialConfig,
        future: concurrent.futures.Future[TokenInfo],
        force: bool,
        keep: Keep | None,
    ) -> None:
        try:
            info = self._obtain(key, config, force=force, keep=keep)
        except BaseException as exc:  # every failure must reach the waiters
            with self._lock:
                slot.flight = None
                slot.failure = exc
                slot.failure_until = time.monotonic() + float(app_settings.TOKEN_NEGATIVE_CACHE_SECONDS)
            future.set_exception(exc)
            logger.warning("gateway token refresh failed for %s: %s", config.provider, exc)
            if isinstance(exc, CredentialInvalid) and config.credential_id is not None:
                _send_rejected(config, exc)
        else:
            with self._lock:
                slot.set(info)
                slot.flight = None
                slot.failure = None
                slot.failure_until = 0.0
            future.set_result(info)

    def _wait_bound(self) -> float:
        return token_store.lease_seconds() * 2 + 1.0

    def _wait(self, future: concurrent.futures.Future[TokenInfo], provider: str) -> TokenInfo:
        try:
            return future.result(timeout=self._wait_bound())
        except concurrent.futures.TimeoutError:
            raise ProviderTimeout("The gateway's token endpoint did not answer in time.", provider=provider) from None
        except ProviderError as exc:
            raise _copy_error(exc) from None

    async def _await(self, future: concurrent.futures.Future[TokenInfo], provider: str) -> TokenInfo:
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self._wait_bound())
        except TimeoutError:
            raise ProviderTimeout("The gateway's token endpoint did not answer in time.", provider=provider) from None
        except ProviderError as exc:
            raise _copy_error(exc) from None

    # -- fetching -------------------------------------------------------------------------

    def _obtain(self, key: TokenKey, config: CredentialConfig, *, force: bool, keep: Keep | None) -> TokenInfo:
        store = token_store.get_store()
        if store is None:
            return fetch_token(config)
        started = time.time()

        def usable(info: TokenInfo) -> bool:
            now = time.time()
            if keep is not None:
                return now < info.expires_at and keep(info)
            return now < info.refresh_at and (not force or info.obtained_at >= started)

        return store.obtain(key.cache_id, lambda: fetch_token(config), accept=usable)


@counts_token_fetch
def fetch_token(config: CredentialConfig) -> TokenInfo:
    """One client-credentials grant (RFC 6749 §4.4), timed from its send time."""
    assert config.client_id is not None and config.client_secret is not None
    enforce = config.credential_id is not None
    token_url = token_url_for(config)
    if enforce:  # a user's stored URL: the policy may have tightened since it was saved
        require_https(token_url, what="AI Gateway token URL", provider=config.provider)
    client = _token_http(enforce_policy=enforce)
    sent_at = time.time()
    # A total deadline, not only per read: a token endpoint trickling its answer must not hold
    # the request past the cross-process lease (3x this), or two processes lead at once.
    limit = float(app_settings.TOKEN_REQUEST_TIMEOUT)
    with deadline(limit) as bound:
        try:
            response = request_token(
                client,
                token_url=token_url,
                client_id=config.client_id,
                client_secret=config.client_secret,
                scope=config.scope,
                auth_method=config.token_auth_method,
                provider=config.provider,
            )
        except ProviderTimeout:
            if not bound.expired:
                raise
            raise ProviderTimeout(
                f"The AI Gateway token endpoint did not answer within {limit:g} s (PROVIDERS_TOKEN_REQUEST_TIMEOUT).",
                provider=config.provider,
            ) from None
    return TokenInfo.issued(
        response.access_token, response.token_type, response.expires_in, sent_at, response.scope or config.scope
    )


_http_clients: dict[tuple[int, bool], httpx.Client] = {}
_http_lock = threading.Lock()


def _token_http(*, enforce_policy: bool) -> httpx.Client:
    """This process's pooled client for token requests. Its timeouts are the token timeout, so
    a token request always ends before the cross-process lease (3x that) runs out."""
    key = (os.getpid(), enforce_policy)
    client = _http_clients.get(key)
    if client is None or client.is_closed:
        with _http_lock:
            client = _http_clients.get(key)
            if client is None or client.is_closed:
                limit = float(app_settings.TOKEN_REQUEST_TIMEOUT)
                timeout = httpx.Timeout(limit, connect=min(limit, float(app_settings.HTTP_CONNECT_TIMEOUT)))
                client = _http_clients[key] = new_client(enforce_policy=enforce_policy, timeout=timeout)
    return client


def _send_rejected(config: CredentialConfig, error: CredentialInvalid) -> None:
    for receiver, failure in credential_rejected.send_robust(sender=TokenManager, config=config, error=error):
        if failure is not None:  # the request already failed with the real error: log, go on
            logger.error("%s failed for gateway credential %s", receiver, config.credential_id, exc_info=failure)


_manager: TokenManager | None = None
_manager_lock = threading.Lock()


def get_token_manager() -> TokenManager:
    """The process's token manager (a forked child starts with its own)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = TokenManager()
    return _manager


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    global _key_epoch
    if setting == "SECRET_KEY":
        _key_epoch += 1


setting_changed.connect(_on_setting_changed, dispatch_uid="providers.gateway.tokens.key_epoch")


def _after_fork() -> None:
    # A child must not inherit a held lock or a flight whose thread did not survive the fork.
    global _manager, _manager_lock
    _manager = None
    _manager_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


__all__ = ["TokenManager", "credential_rejected", "fetch_token", "get_token_manager"]
