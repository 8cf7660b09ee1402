"""Rate limits on agent runs: per user, per credential and per (credential, model).

Requests and tokens, each a `limits` string ("30/minute", empty: no limit):

- per user: `AGENTS_USER_RATE_LIMIT` / `AGENTS_USER_TOKEN_LIMIT`, overridden per user by an
  operator (`agents.models.UsageLimits`, in the admin). Over it, the run does not start
  (`UserRateLimited`, with the seconds to wait).
- per credential: `PROVIDERS_CREDENTIAL_RATE_LIMIT` / `PROVIDERS_CREDENTIAL_TOKEN_LIMIT`, and per
  (credential, model): `PROVIDERS_MODEL_RATE_LIMIT` / `PROVIDERS_MODEL_TOKEN_LIMIT`. Over one, the
  runner treats that candidate as temporarily unavailable and falls back to the next, as after
  a provider's 429.

`admit()` checks the user's budgets and the candidates' together in one call of
`ideaforge.ratelimit.acquire` (one Redis round trip): it consumes one request of the user's and
of the first candidate within its limits. Falling back after that candidate failed checks the
next one then (one more round trip, after an upstream failure that cost far more). Token
budgets are checked before a run (refused only when the window is already full, since a run's
size is unknown) and charged when it ends (`Admission.charge`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

from ideaforge import ratelimit
from ideaforge.ratelimit import Ask, RetryAfter
from providers.conf import app_settings as providers_settings
from providers.gateway.ratelimit_signals import RateLimitSignal

from . import budgets, hooks
from .breaker import MAX_OPEN_SECONDS, breaker_open
from .conf import app_settings
from .exceptions import UserRateLimited
from .models import UNLIMITED, UsageLimits
from .selectors import Candidate

logger = logging.getLogger(__name__)

_OVERRIDES_KEY = "agents:usage-limits:"
_OVERRIDES_TTL = 300
_NO_OVERRIDES = "-"  # cached "this user has no overrides row" (None would read as a miss)


@dataclass(frozen=True)
class Overrides:
    """A user's `UsageLimits` row as plain values (cheap to cache and to copy)."""

    rate_limit: str = ""
    token_limit: str = ""
    daily_token_budget: int | None = None
    monthly_token_budget: int | None = None


_NONE = Overrides()
# Per process, in front of Django's cache: a run must not pay a cache round trip (a pickle on
# the local-memory cache, a Redis call in production) for a row that is almost always absent.
# An operator's edit clears the shared entry at once and this one in every process within
# LOCAL_TTL seconds.
LOCAL_TTL = 2.0
_local: dict[Any, tuple[float, Overrides]] = {}


def user_overrides(user_id: Any) -> Overrides:
    """The operator's overrides for a user (empty values: none). Cached; a save or delete in
    the admin clears the cache."""
    now = time.monotonic()
    hit = _local.get(user_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = f"{_OVERRIDES_KEY}{user_id}"
    try:
        found = cache.get(key)
    except Exception:  # a cache outage is a miss, never an error
        found = None
    if not isinstance(found, Overrides):
        row = UsageLimits.objects.filter(user_id=user_id).first()
        found = (
            _NONE
            if row is None
            else Overrides(row.rate_limit, row.token_limit, row.daily_token_budget, row.monthly_token_budget)
        )
        with contextlib.suppress(Exception):  # a cache outage: the next run reads the row again
            cache.set(key, found, _OVERRIDES_TTL)
    if len(_local) > 10000:  # bounded: a busy process forgets and re-reads
        _local.clear()
    _local[user_id] = (now + LOCAL_TTL, found)
    return found


def overrides_clear() -> None:
    """Forget this process's copies (tests)."""
    _local.clear()


def _forget_overrides(*, instance: UsageLimits, **kwargs: Any) -> None:
    _local.pop(instance.user_id, None)
    with contextlib.suppress(Exception):
        cache.delete(f"{_OVERRIDES_KEY}{instance.user_id}")


post_save.connect(_forget_overrides, sender=UsageLimits, dispatch_uid="agents.limits.overrides")
post_delete.connect(_forget_overrides, sender=UsageLimits, dispatch_uid="agents.limits.overrides-delete")


def _effective(override: str, default: str) -> str:
    if override == UNLIMITED:
        return ""
    return override or default


def user_limits(overrides: Overrides) -> tuple[str, str]:
    """The user's (requests, tokens) limits: their overrides, else the settings' defaults."""
    rate, tokens = app_settings.USER_RATE_LIMIT or "", app_settings.USER_TOKEN_LIMIT or ""
    return _effective(overrides.rate_limit, rate), _effective(overrides.token_limit, tokens)


def _candidate_limits() -> tuple[str, str, str, str]:
    return (
        providers_settings.CREDENTIAL_RATE_LIMIT or "",
        providers_settings.CREDENTIAL_TOKEN_LIMIT or "",
        providers_settings.MODEL_RATE_LIMIT or "",
        providers_settings.MODEL_TOKEN_LIMIT or "",
    )


def _candidate_asks(candidate: Candidate, limits: tuple[str, str, str, str] | None = None) -> list[Ask]:
    rate, tokens, model_rate, model_tokens = limits or _candidate_limits()
    key, model = candidate.key, candidate.model_id
    return [
        Ask(rate, ("agents-cred", key)),
        Ask(tokens, ("agents-cred-tokens", key), tokens=True),
        Ask(model_rate, ("agents-model", key, model)),
        Ask(model_tokens, ("agents-model-tokens", key, model), tokens=True),
    ]


@dataclass
class Admission:
    """A run let in: which candidates are over their limits, and the one already consumed."""

    user_id: Any
    user_tokens: str
    candidates: list[Candidate]
    chosen: int | None
    over: dict[int, RetryAfter] = field(default_factory=dict)
    per_candidate: tuple[str, str, str, str] = ("", "", "", "")

    def take(self, candidate: Candidate) -> RetryAfter | None:
        """None: `candidate` may be called (its request is counted). Else when it frees up."""
        over = self._take(candidate)
        if over is not None:
            hooks.rate_limit_refused.send(None, kind="credential", user_id=self.user_id, credential_key=candidate.key)
        return over

    def _take(self, candidate: Candidate) -> RetryAfter | None:
        try:
            index = self.candidates.index(candidate)
        except ValueError:  # not checked in admit() (its breaker was open then): check it now
            index = -1
        if index >= 0 and index in self.over:
            return self.over[index]
        if index >= 0 and index == self.chosen:
            return None
        # A fallback past the chosen candidate (it failed): one more check, for this one only.
        result = ratelimit.acquire((), [_candidate_asks(candidate, self.per_candidate)])
        return None if result.chosen == 0 else result.over.get(0, RetryAfter(1))

    def charge(self, candidate: Candidate | None, tokens: int) -> None:
        """Count a finished run's tokens against the user's and the candidate's token budgets."""
        if tokens <= 0 or not (self.user_tokens or self.per_candidate[1] or self.per_candidate[3]):
            return
        charges = [(self.user_tokens, ("agents-user-tokens", str(self.user_id)))]
        if candidate is not None:
            charges += [(a.limit, a.identifiers) for a in _candidate_asks(candidate, self.per_candidate) if a.tokens]
        ratelimit.charge_many([(limit, ids, tokens) for limit, ids in charges])


def admit(user_id: Any, candidates: list[Candidate], *, cached: bool = False) -> Admission:
    """Let a run in, or raise `UserRateLimited` (nothing consumed); see the module docstring.

    `candidates` are those the runner will try, in order (those with an open breaker left out by the caller).
    `cached`: the answer comes from the response cache (no tokens): only the user's request
    limit applies, not their token limit or budgets.
    """
    overrides = user_overrides(user_id)
    if not cached:
        try:
            budgets.check(user_id, overrides)  # BudgetExceeded is a UserRateLimited: refused the same way
        except budgets.BudgetExceeded:
            hooks.rate_limit_refused.send(None, kind="budget", user_id=user_id, credential_key="")
            raise
    rate, tokens = user_limits(overrides)
    if cached:
        tokens = ""
    required = [
        Ask(rate, ("agents-user", str(user_id))),
        Ask(tokens, ("agents-user-tokens", str(user_id)), tokens=True),
    ]
    per_candidate = _candidate_limits()
    result = ratelimit.acquire(required, [_candidate_asks(c, per_candidate) for c in candidates])
    if result.refused is not None:
        spent_rate = result.refused_by == 0
        hooks.rate_limit_refused.send(None, kind="user", user_id=user_id, credential_key="")
        raise UserRateLimited(
            result.refused.seconds, rate if spent_rate else tokens, "runs" if spent_rate else "tokens"
        )
    return Admission(user_id, tokens, list(candidates), result.chosen, dict(result.over), per_candidate)


def over_limit_reason(retry: RetryAfter) -> str:
    """The fallback reason of a candidate over its credential's or model's limit."""
    return f"over IdeaForge's rate limit for this credential (free again in {retry.seconds} s)"


def budget_warning(user_id: Any) -> str:
    """The Forge page's warning when a token budget is 80 % used or more ('' otherwise)."""
    return budgets.warning(user_id, user_overrides(user_id))


def on_gateway_signal(signal: RateLimitSignal) -> None:
    """The gateway said a window of this credential is spent: hold it back until the reset, so
    the runner falls back instead of sending a request the gateway would refuse with a 429.

    Opens the circuit breaker of (credential, model) for exactly the reset's length
    (`agents.breaker.breaker_open`, which never shortens a longer open period): resolve() and
    the runner already skip open breakers. A signal without a model (no JSON request body to
    read it from) is left to the gateway's 429.
    """
    seconds = signal.spent_for
    if seconds is None or not signal.model_id:
        return
    seconds = min(max(seconds, 1.0), MAX_OPEN_SECONDS)
    with contextlib.suppress(Exception):  # a cache outage: the gateway's 429 will tell us instead
        breaker_open(signal.credential_key, signal.model_id, seconds=seconds)
        logger.info(
            "%s %s: the gateway's rate limit is spent; holding it back %.0f s",
            signal.credential_key,
            signal.model_id,
            seconds,
        )
