"""Usage over a period, from the daily roll-up (`AgentRunDaily`): what the usage page (one user)
and the admin dashboard (everyone) show. Each function is a handful of grouped queries over at
most `days` x providers x models x buckets roll-up rows; only the cache hit rate counts the
period's runs (the roll-up has no hit column), bounded by the runs' date index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet, Sum
from django.utils import timezone

from .models import LATENCY_BUCKETS_MS, LATENCY_COLUMNS, AgentRunDaily

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 7
QUANTILES = (0.5, 0.9, 0.99)


def period_from(value: str | None) -> int:
    """The period in days from a query parameter; anything else is the default."""
    try:
        days = int(value or DEFAULT_PERIOD)
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


@dataclass
class Latency:
    provider: str
    model_id: str
    runs: int
    quantiles: dict[float, int | None]  # ms upper bound of the bucket holding the quantile; None = slower than the last


@dataclass
class Usage:
    days: list[dt.date]
    runs_by_provider: dict[str, list[int]] = field(default_factory=dict)  # one count per day
    input_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    runs: int = 0
    failed: int = 0
    fallbacks: int = 0
    #: Runs answered from the response cache, as a percentage of all runs in the period.
    cache_hit_rate: float = 0.0
    #: The user's token budgets with their use (`agents.budgets.Budget`); empty when none applies.
    budgets: list[Any] = field(default_factory=list)

    @property
    def daily_rows(self) -> list[dict[str, Any]]:
        """One row per day for the tables under the charts."""
        providers = sorted(self.runs_by_provider)
        return [
            {
                "day": day,
                "runs": [self.runs_by_provider[p][i] for p in providers],
                "total": sum(self.runs_by_provider[p][i] for p in providers),
                "input_tokens": self.input_tokens[i],
                "output_tokens": self.output_tokens[i],
            }
            for i, day in enumerate(self.days)
        ]

    @property
    def providers(self) -> list[str]:
        return sorted(self.runs_by_provider)


def _window(days: int, user: AbstractBaseUser | None) -> tuple[list[dt.date], QuerySet[AgentRunDaily]]:
    today = timezone.localdate()
    dates = [today - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    rows = AgentRunDaily.objects.filter(day__gte=dates[0], day__lte=today)
    if user is not None:
        rows = rows.filter(user=user)
    return dates, rows.order_by()


def quantile_ms(counts: list[int], q: float) -> int | None:
    """The upper bound (ms) of the bucket the q-quantile falls in; None when past the last bound."""
    total = sum(counts)
    if not total:
        return None
    rank, running = q * total, 0
    for index, count in enumerate(counts):
        running += count
        if running >= rank:
            return LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else None
    return None


def usage_for(*, user: AbstractBaseUser | None, days: int) -> Usage:
    """Usage over the last `days` days (today included): one user's, or everyone's for None."""
    dates, rows = _window(days, user)
    position = {day: i for i, day in enumerate(dates)}
    usage = Usage(days=dates, input_tokens=[0] * len(dates), output_tokens=[0] * len(dates))
    per_day = rows.values("day", "provider").annotate(
        n=Sum("runs"),
        f=Sum("failed"),
        fb=Sum("fallbacks"),
        h=Sum("cache_hits"),
        i=Sum("input_tokens"),
        o=Sum("output_tokens"),
    )
    hits = 0
    for row in per_day:
        index = position[row["day"]]
        series = usage.runs_by_provider.setdefault(row["provider"] or "(none answered)", [0] * len(dates))
        series[index] += row["n"]
        usage.input_tokens[index] += row["i"] or 0
        usage.output_tokens[index] += row["o"] or 0
        usage.runs += row["n"]
        usage.failed += row["f"]
        usage.fallbacks += row["fb"]
        hits += row["h"]
    buckets: dict[tuple[str, str], list[int]] = {}
    per_model = (
        rows.exclude(provider="")
        .values("provider", "model_id")
        .annotate(**{column: Sum(column) for column in LATENCY_COLUMNS})
    )
    for row in per_model:
        buckets[(row["provider"], row["model_id"])] = [row[column] or 0 for column in LATENCY_COLUMNS]
    usage.latency = [
        Latency(provider, model, sum(counts), {q: quantile_ms(counts, q) for q in QUANTILES})
        for (provider, model), counts in sorted(buckets.items())
    ]
    usage.cache_hit_rate = 100.0 * hits / usage.runs if usage.runs else 0.0
    return usage


def top_users_by_tokens(*, days: int, limit: int = 10) -> list[dict[str, Any]]:
    """The users who used the most tokens (in + out) over the period, for operators."""
    _, rows = _window(days, None)
    top = (
        rows.values("user_id", "user__username")
        .annotate(
            runs=Sum("runs"),
            tokens_in=Sum("input_tokens"),
            tokens_out=Sum("output_tokens"),
            tokens=Sum("input_tokens") + Sum("output_tokens"),
        )
        .order_by("-tokens", "user_id")
    )
    return list(top[:limit])
