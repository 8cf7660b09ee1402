"""Rate limits: `hit("10/minute", "providers-verify", user.pk)` consumes one unit of a budget.

One small wrapper around the `limits` library (moving window), for every budget in the project:

- the limit is a `limits` string from a setting: "10/minute", "5/hour", "1/second;100/hour";
- the identifiers name the budget and whose it is (a namespace first, then e.g. a user id or IP);
- `hit()` returns None when the call is allowed, or `RetryAfter(seconds)` when the budget is
  spent (a refused call does not consume anything).

Storage comes from `settings.RATELIMIT_STORAGE_URL`: `redis://...` (settings derive it from
REDIS_URL) shares each budget across every process, `memory://` keeps it per process. Redis is a
soft dependency: when it fails, each process falls back to its own memory limiter (never an
error for the caller), with the outage rule the cache uses too (`ideaforge.outage`): one log
line when the outage starts and one when Redis answers again, and Redis tried again at most
every `REDIS_RETRY_SECONDS` (so a hung Redis costs one short timeout per interval, not one per
request).

`acquire()` checks several budgets at once, in one Redis round trip (one Lua script): budgets
every call must pass (a user's) and alternatives tried in order (candidate credentials), the
first that passes being consumed with the required ones. Token budgets (`Ask(tokens=True)`)
are only checked there (is the window already full?) and charged after the fact with
`charge()`, since a run's token count is known only when it ends. An empty limit string means
no limit.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.signals import setting_changed
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from .outage import Outage

logger = logging.getLogger(__name__)

#: After a Redis failure, how long to use the memory fallback before trying Redis again.
REDIS_RETRY_SECONDS = 5.0
#: Bounds on one Redis call (redis-py's default is 5 s: a hung Redis would stall every request).
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class RetryAfter:
    """A spent budget: whole seconds until the next call would be allowed (at least 1)."""

    seconds: int


@functools.cache
def parse(limit: str) -> tuple[RateLimitItem, ...]:
    """The limits of a setting's string; ValueError when it is not `limits` notation."""
    items = tuple(parse_many(limit))
    if not items:
        raise ValueError(f"no rate limit in {limit!r}")
    return items


class _Limiter:
    """The configured storage (maybe Redis) and a per-process memory fallback."""

    def __init__(self, url: str, key_prefix: str) -> None:
        self.fallback = MovingWindowRateLimiter(MemoryStorage())
        self.shared: MovingWindowRateLimiter | None = None
        if not url.startswith("memory://"):
            options: dict[str, Any] = {"wrap_exceptions": True}
            if url.startswith(("redis", "valkey")):  # redis://, rediss://, redis+unix://, ...
                options.update(
                    key_prefix=key_prefix,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                )
            self.shared = MovingWindowRateLimiter(_storage(url, options))
        self._lock = threading.Lock()
        self.outage = Outage(
            "rate limit storage",
            meanwhile="limits are per process until it is back",
            back="limits are shared again",
            retry_seconds=lambda: REDIS_RETRY_SECONDS,
            logger=logger,
        )

    def acquire(self, asks: Sequence[_Key], groups: int) -> list[float]:
        """Run the multi-budget check (see `acquire()`); the raw result list of `_acquire_*`."""
        if self.shared is not None and not self.outage.down:
            storage = self.shared.storage
            try:
                result = _acquire_redis(storage, asks, groups)
            except storage.base_exceptions as exc:
                self.outage.failed(exc, where="rate limit acquire")
            else:
                self.outage.succeeded()
                return result
        with self._lock:  # the memory storage's own locks are per key: make the group atomic
            return _acquire_memory(self.fallback.storage, asks, groups)

    def charge(self, items: Sequence[tuple[RateLimitItem, tuple[str, ...], int]]) -> None:
        if self.shared is not None and not self.outage.down:
            storage = self.shared.storage
            try:
                _charge_redis(storage, items)
            except storage.base_exceptions as exc:
                self.outage.failed(exc, where="rate limit charge")
            else:
                self.outage.succeeded()
                return
        fixed = FixedWindowRateLimiter(self.fallback.storage)
        for item, identifiers, cost in items:
            fixed.hit(item, *identifiers, cost=cost)

    def hit(self, items: tuple[RateLimitItem, ...], identifiers: tuple[str, ...]) -> RetryAfter | None:
        if self.shared is not None and not self.outage.down:
            try:
                result = _hit(self.shared, items, identifiers)
            except StorageError as exc:
                self.outage.failed(getattr(exc, "storage_error", exc), where="rate limit hit")
            else:
                self.outage.succeeded()
                return result
        return _hit(self.fallback, items, identifiers)


def _storage(url: str, options: dict[str, Any]) -> Storage:
    return storage_from_string(url, **options)


def _hit(
    limiter: MovingWindowRateLimiter, items: tuple[RateLimitItem, ...], identifiers: tuple[str, ...]
) -> RetryAfter | None:
    """Consume one unit of each limit; a refused call costs nothing (a moving window only records
    what it allows, and with several limits each is tested before any is consumed)."""
    if len(items) > 1:
        for item in items:
            if not limiter.test(item, *identifiers):
                return _retry_after(limiter, item, identifiers)
    for item in items:
        if not limiter.hit(item, *identifiers):  # lost a race with another caller
            return _retry_after(limiter, item, identifiers)
    return None


def _retry_after(limiter: MovingWindowRateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> RetryAfter:
    reset_at = limiter.get_window_stats(item, *identifiers).reset_time
    return RetryAfter(max(1, math.ceil(reset_at - time.time())))


# -- several budgets at once ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One budget for `acquire()`: a `limits` string, whose budget it is, and what it counts."""

    limit: str
    identifiers: tuple[str, ...]
    #: A token budget: `acquire` refuses only when its window is already full; `charge` counts.
    tokens: bool = False


@dataclass(frozen=True)
class Acquired:
    """What `acquire()` decided."""

    #: The required budgets were spent (nothing was consumed): when to try again.
    refused: RetryAfter | None = None
    #: Which of the required Asks was spent (its index), when `refused`.
    refused_by: int | None = None
    #: The index of the alternative consumed (None: every one was over its budget, or none given).
    chosen: int | None = None
    #: Alternatives found over their budgets before `chosen`, with when each frees up.
    over: dict[int, RetryAfter] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class _Key:
    """One limit item of an Ask, flattened for the script: group 0 is required, then 1, 2, ..."""

    key: str
    amount: int
    expiry: int
    tokens: bool
    group: int
    ask: int  # index of its Ask in the group


def _keys(asks: Sequence[Ask], group: int) -> list[_Key]:
    keys: list[_Key] = []
    for index, ask in enumerate(asks):
        if ask.limit:
            keys += _ask_keys(ask.limit, ask.identifiers, ask.tokens, group, index)
    return keys


@functools.lru_cache(maxsize=4096)
def _ask_keys(limit: str, identifiers: tuple[str, ...], tokens: bool, group: int, index: int) -> tuple[_Key, ...]:
    # Building a key costs more than checking it in memory (limits' key_for escapes every part):
    # the same users, credentials and models come back run after run.
    return tuple(
        _Key(item.key_for(*identifiers), item.amount, item.get_expiry(), tokens, group, index) for item in parse(limit)
    )


# One round trip for every budget of a run. The layout is that of `limits`' own strategies (a
# moving window is a list of timestamps, newest first; a fixed window is a counter with a TTL), so
# `hit()` and `limits` read the same keys. ARGV: now, the number of alternative groups, then four
# per key (limit, window seconds, token budget?, group). Returns {-1, ms to wait} when a required
# budget is spent (and the 1-based index of the key that waits longest), else {chosen group (-2: none), ms to wait for each group checked (0: passed)}.
_ACQUIRE_LUA = """
local now, last = tonumber(ARGV[1]), tonumber(ARGV[2])
local function wait(i)
  local base = 2 + (i - 1) * 4
  local limit, expiry, tokens = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), ARGV[base + 3] == '1'
  if tokens then
    local used = tonumber(redis.call('get', KEYS[i]) or '0')
    if used >= limit then
      local ttl = redis.call('pttl', KEYS[i])
      if ttl < 1000 then ttl = 1000 end
      return ttl
    end
  else
    local entry = redis.call('lindex', KEYS[i], limit - 1)
    if entry and tonumber(entry) >= now - expiry then
      return math.ceil((tonumber(entry) + expiry - now) * 1000)
    end
  end
  return 0
end
local groups, waits = {}, {}
local by = 0
for i = 1, #KEYS do
  local g = tonumber(ARGV[2 + (i - 1) * 4 + 4])
  local w = wait(i)
  if w > (waits[g] or 0) then
    waits[g] = w
    if g == 0 then by = i end
  end
  groups[i] = g
end
local out = {}
if (waits[0] or 0) > 0 then
  return {-1, waits[0], by}
end
local chosen = -2
for g = 1, last do
  out[#out + 1] = waits[g] or 0
  if (waits[g] or 0) == 0 then chosen = g break end
end
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  if (groups[i] == 0 or groups[i] == chosen) and ARGV[base + 3] ~= '1' then
    redis.call('lpush', KEYS[i], now)
    redis.call('ltrim', KEYS[i], 0, tonumber(ARGV[base + 1]) - 1)
    redis.call('expire', KEYS[i], tonumber(ARGV[base + 2]))
  end
end
table.insert(out, 1, chosen)
return out
"""


def _acquire_redis(storage: Any, keys: Sequence[_Key], groups: int) -> list[float]:
    script = getattr(storage, "_ideaforge_acquire", None)
    if script is None:
        script = storage._ideaforge_acquire = storage.get_connection().register_script(_ACQUIRE_LUA)
    argv: list[Any] = [time.time(), groups]
    for k in keys:
        argv += [k.amount, k.expiry, "1" if k.tokens else "0", k.group]
    raw = script([storage.prefixed_key(k.key) for k in keys], argv)
    if int(raw[0]) == -1:
        return [-1, int(raw[1]) / 1000, int(raw[2]) - 1]
    return [int(raw[0])] + [int(w) / 1000 for w in raw[1:]]


# `limits`' fixed-window increment (incr_expire.lua) for several keys at once: one round trip.
_CHARGE_LUA = """
for i = 1, #KEYS do
  local amount = tonumber(ARGV[i * 2])
  local current = redis.call('incrby', KEYS[i], amount)
  if tonumber(current) == amount then
    redis.call('expire', KEYS[i], ARGV[i * 2 - 1])
  end
end
return #KEYS
"""


def _charge_redis(storage: Any, items: Sequence[tuple[RateLimitItem, tuple[str, ...], int]]) -> None:
    script = getattr(storage, "_ideaforge_charge", None)
    if script is None:
        script = storage._ideaforge_charge = storage.get_connection().register_script(_CHARGE_LUA)
    argv: list[Any] = []
    for item, _identifiers, cost in items:
        argv += [item.get_expiry(), cost]
    script([storage.prefixed_key(item.key_for(*identifiers)) for item, identifiers, _cost in items], argv)


def _acquire_memory(storage: MemoryStorage, keys: Sequence[_Key], last: int) -> list[float]:
    """`_ACQUIRE_LUA` on the per-process storage (the caller holds the limiter's lock)."""
    now = time.time()
    waits: dict[int, float] = {}
    by = 0
    for i, k in enumerate(keys):
        if k.tokens:
            wait = max(1.0, storage.get_expiry(k.key) - now) if storage.get(k.key) >= k.amount else 0.0
        else:
            start, count = storage.get_moving_window(k.key, k.amount, k.expiry)
            wait = max(0.001, start + k.expiry - now) if count >= k.amount else 0.0
        if wait > waits.get(k.group, 0.0):
            waits[k.group] = wait
            by = i if k.group == 0 else by
    if waits.get(0, 0.0) > 0:
        return [-1, waits[0], by]
    out: list[float] = []
    chosen = -2
    for group in range(1, last + 1):
        out.append(waits.get(group, 0.0))
        if not waits.get(group, 0.0):
            chosen = group
            break
    for k in keys:
        if (k.group == 0 or k.group == chosen) and not k.tokens:
            storage.acquire_entry(k.key, k.amount, k.expiry)
    return [chosen, *out]


def _seconds(wait: float) -> RetryAfter:
    return RetryAfter(max(1, math.ceil(wait)))


def acquire(required: Sequence[Ask], alternatives: Sequence[Sequence[Ask]] = ()) -> Acquired:
    """Check `required` and `alternatives` together (one Redis round trip) and consume them.

    When a required budget is spent nothing is consumed (`refused`). Otherwise the required
    request budgets and those of the first alternative within all of its budgets are consumed
    (`chosen`); `over` names the alternatives before it that were over theirs. Never raises for a
    storage failure (per-process fallback, as `hit()`).
    """
    keys = _keys(required, 0)
    for index, asks in enumerate(alternatives):
        keys += _keys(asks, index + 1)
    if not keys:  # no limit configured: nothing to ask anyone
        return Acquired(chosen=0 if alternatives else None)
    result = _get_limiter().acquire(keys, len(alternatives))
    if result[0] == -1:
        return Acquired(refused=_seconds(result[1]), refused_by=keys[int(result[2])].ask)
    waits = result[1:]
    if result[0] >= 1:
        return Acquired(chosen=int(result[0]) - 1, over={i: _seconds(w) for i, w in enumerate(waits[:-1])})
    return Acquired(chosen=None, over={i: _seconds(w) for i, w in enumerate(waits)})


def charge_many(charges: Sequence[tuple[str, Sequence[object], int]]) -> None:
    """Count tokens against token budgets, each `(limit, identifiers, cost)`, in one Redis round
    trip (one script). A fixed window: counted even past the limit, so the next `acquire` refuses
    until the window ends. Never raises for storage failures."""
    items = []
    for limit, identifiers, cost in charges:
        if limit and cost > 0:
            ids = tuple(str(i) for i in identifiers)
            items += [(item, ids, int(cost)) for item in parse(limit)]
    if items:
        _get_limiter().charge(items)


_limiter: _Limiter | None = None
_limiter_lock = threading.Lock()


def _get_limiter() -> _Limiter:
    global _limiter
    limiter = _limiter
    if limiter is None:
        with _limiter_lock:
            if _limiter is None:
                _limiter = _Limiter(settings.RATELIMIT_STORAGE_URL, settings.RATELIMIT_KEY_PREFIX)
            limiter = _limiter
    return limiter


def hit(limit: str, *identifiers: object) -> RetryAfter | None:
    """Consume one call from the budget `limit` (a `limits` string) of `identifiers`.

    None: allowed (always, for an empty `limit`: no limit). RetryAfter: refused, nothing
    consumed. Never raises for storage failures.
    """
    if not limit:
        return None
    return _get_limiter().hit(parse(limit), tuple(str(i) for i in identifiers))


def reset() -> None:
    """Forget every budget of this process and rebuild the storage from settings (tests; a
    shared Redis storage keeps its counters)."""
    global _limiter
    with _limiter_lock:
        _limiter = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("RATELIMIT_"):
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="ideaforge.ratelimit")


def check_rate_limit_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every `*_RATE_LIMIT` setting parses (a typo would otherwise fail the first request)."""
    errors = []
    for name in dir(settings):
        if name.endswith(("_RATE_LIMIT", "_TOKEN_LIMIT")):
            value = getattr(settings, name)
            if value is None or value == "":  # not set: the default applies; empty: no limit
                continue
            try:
                parse(value)
            except (TypeError, ValueError):
                errors.append(
                    checks.Error(
                        f"{name} = {value!r} is not a rate limit.",
                        hint='Use `limits` notation with full unit names: "10/minute", "5 per hour", "1/second;100/hour".',
                        id="ideaforge.E001",
                    )
                )
    return errors
