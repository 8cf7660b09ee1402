"""Reads: which models may answer a user's request for a tier (in the order to try them), and runs.

`resolve(user, tier)` turns the user's effective credentials (see
`providers.selectors.effective_credentials_for_user`: own verified and enabled credentials by
priority, then the platform's, the AI Gateway first when AI_GATEWAY_ENABLED) into candidates,
each with the model id for the tier. The model id comes from, in order:

1. the user's preference for that tier (the credential's `<tier>_model`),
2. the credential's default model,
3. the environment, through the backend's `env_model_for()` (`AI_GATEWAY_<TIER>_MODEL`, then
   `AI_GATEWAY_DEFAULT_MODEL`; only the gateway has env models),
4. the backend's default for the tier.

A credential with no model at all for the tier is left out. Candidates whose circuit breaker
(`agents.breaker`, per credential and model) is open are left out too, unless
`include_open=True`, which the runner uses: it names them in its final error and, when every
candidate is open, tries the one that opened first.

The run queries (`run_list_for_user`, `run_get_for_user`) are scoped to their user, like every
credential query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Avg, Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Concat

from providers import registry
from providers.selectors import EffectiveCredential, effective_credentials_for_user, effective_credentials_with_cached
from providers.tiers import TIERS

from .breaker import CLOSED, BreakerState, breaker_cache_key, breaker_state_in
from .models import AgentRun, RunStatus


class UnknownTier(ValueError):
    pass


@dataclass(frozen=True)
class Candidate:
    """One (credential, model) pair the runner may try. Holds no decrypted secret."""

    credential: EffectiveCredential
    model_id: str
    tier: str
    # The (credential, model) circuit breaker as read when resolved.
    breaker: BreakerState = CLOSED

    @property
    def provider(self) -> str:
        return self.credential.provider

    @property
    def source(self) -> str:
        return self.credential.source

    @property
    def key(self) -> str:
        return self.credential.key

    @property
    def provider_name(self) -> str:
        return registry.get(self.provider).name

    @property
    def user_set_urls(self) -> bool:
        """Whether a user chose where this candidate's requests go (their own gateway URLs): its
        error text is then not shown (docs/security.md, "Error texts")."""
        return self.source == "user" and registry.get(self.provider).user_urls

    @property
    def label(self) -> str:
        """Human label for messages and logs: 'OpenAI gpt-4o-mini (your key)'."""
        whose = "your credential" if self.source == "user" else "platform"
        return f"{self.provider_name} {self.model_id} ({whose})"

    def describe(self, reason: str) -> dict[str, str]:
        """The JSON shape stored in AgentRun.fallbacks and NoModelAvailable.tried."""
        return {"provider": self.provider, "model": self.model_id, "source": self.source, "reason": reason}


def model_for_tier(credential: EffectiveCredential, tier: str) -> str:
    """The model id `credential` should use for `tier` ('' when nothing is configured)."""
    backend = registry.get(credential.provider)
    # The operator's env models (the gateway's) apply to users' own credentials too.
    chosen = credential.tier_models.get(tier) or credential.default_model or backend.env_model_for(tier)
    return chosen or backend.default_model_for(tier)


def resolve(user: AbstractBaseUser, tier: str, *, include_open: bool = False) -> list[Candidate]:
    """Ordered candidates for `user` and `tier` (see the module docstring)."""
    if tier not in TIERS:
        raise UnknownTier(f"Unknown tier {tier!r}; expected one of {', '.join(TIERS)}")

    def breaker_keys(credentials: list[EffectiveCredential]) -> list[str]:
        return [breaker_cache_key(c.key, model_for_tier(c, tier)) for c in credentials]

    # One cache round trip in the common case: the credentials' generation token and the breakers.
    credentials, found = effective_credentials_with_cached(user=user, cache_keys=breaker_keys)
    candidates: list[Candidate] = []
    for credential in credentials:
        model_id = model_for_tier(credential, tier)
        if not model_id:
            continue
        state = breaker_state_in(found, credential.key, model_id)
        if state.is_open() and not include_open:
            continue
        candidates.append(Candidate(credential=credential, model_id=model_id, tier=tier, breaker=state))
    return candidates


def provider_available_for_user(*, user: AbstractBaseUser) -> bool:
    """Whether any credential could answer for `user`: their own usable ones or the platform's."""
    return bool(effective_credentials_for_user(user=user))


def run_list_for_user(*, user: AbstractBaseUser, limit: int) -> QuerySet[AgentRun]:
    """The user's newest `limit` runs, newest first."""
    return AgentRun.objects.filter(user=user)[:limit]


def run_latest_matching(*, user: AbstractBaseUser, agent: str, prompt: str) -> AgentRun | None:
    """The user's newest run of `agent` on `prompt` (the Forge's reload of a run it already did)."""
    return AgentRun.objects.filter(user=user, agent=agent, prompt=prompt).order_by("-created_at", "-pk").first()


def run_get_for_user(*, user: AbstractBaseUser, pk: int) -> AgentRun:
    """The user's run `pk`; raises AgentRun.DoesNotExist for another user's (views: 404)."""
    return AgentRun.objects.get(pk=pk, user=user)


def run_totals_by_provider(*, runs: QuerySet[AgentRun]) -> list[dict[str, Any]]:
    """Runs, outcomes, tokens and mean latency per provider over `runs` (e.g. the admin's filtered list)."""
    # Grouped by an expression, not the column: a plain GROUP BY provider lets SQLite walk the
    # (provider, status) index over every run, ignoring the date window the admin filters by.
    rows = (
        runs.order_by()
        .annotate(answered_by=Concat("provider", Value("")))
        .values("answered_by")
        .annotate(
            runs=Count("id"),
            succeeded=Count("id", filter=Q(status=RunStatus.SUCCEEDED)),
            failed=Count("id", filter=Q(status=RunStatus.FAILED)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            avg_latency_ms=Avg("latency_ms"),
        )
    )
    totals = [{"provider": row.pop("answered_by"), **row} for row in rows]
    return sorted(totals, key=lambda row: (-row["runs"], row["provider"]))
