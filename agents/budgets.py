"""Per-user token budgets per day and per calendar month (UTC), counted from the run records.

Defaults in settings (`AGENTS_DAILY_TOKEN_BUDGET`, `AGENTS_MONTHLY_TOKEN_BUDGET`; 0 = none),
overridden per user by an operator (`agents.models.UsageLimits`: empty = the default, 0 = no
budget). Usage is the sum of the user's runs' input and output tokens since the window began
(cache hits record zero): one aggregate over the `(user, -created_at)` index, bounded by the
window, and only when a budget applies. At `WARN_AT` of a budget the Forge page warns; at 100 %
a run is refused (`BudgetExceeded`, a `UserRateLimited`: the same 429 / page message / command
error, recorded as rate limited) naming the budget and when it resets.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .conf import app_settings
from .exceptions import AgentError, UserRateLimited
from .models import AgentRun

#: The share of a budget at which the user is warned.
WARN_AT = 0.8


@dataclass(frozen=True)
class Budget:
    """One budget's state for one user."""

    name: str  # "daily" or "monthly"
    limit: int
    used: int
    resets_at: dt.datetime

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else 0.0

    @property
    def spent(self) -> bool:
        return self.used >= self.limit

    def describe(self) -> str:
        return f"{self.used} of your {self.name} budget of {self.limit} tokens ({self.share:.0%})"


class BudgetExceeded(UserRateLimited):
    """A token budget of the user is spent: the run did not start (refused like a rate limit)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.retry_after = max(1, math.ceil((budget.resets_at - timezone.now()).total_seconds()))
        self.limit = f"{budget.limit} tokens per {'day' if budget.name == 'daily' else 'month'}"
        AgentError.__init__(
            self,
            f"You have used your {budget.name} budget of {budget.limit} tokens ({budget.used} used). "
            f"It resets at {budget.resets_at:%Y-%m-%d %H:%M} UTC.",
            status_code=429,
            code="budget_exceeded",
        )


def _windows(now: dt.datetime) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    now = now.astimezone(dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    return {"daily": (day, day + dt.timedelta(days=1)), "monthly": (month, next_month)}


def budget_limits(overrides: Any) -> dict[str, int]:
    """The user's budgets in tokens (0: none): their overrides (`agents.limits.Overrides`), else settings."""
    daily = overrides.daily_token_budget
    monthly = overrides.monthly_token_budget
    return {
        "daily": int(app_settings.DAILY_TOKEN_BUDGET or 0) if daily is None else int(daily),
        "monthly": int(app_settings.MONTHLY_TOKEN_BUDGET or 0) if monthly is None else int(monthly),
    }


def tokens_used(user_id: Any, since: dt.datetime) -> int:
    """The user's tokens (in + out) in runs since `since`."""
    total = AgentRun.objects.filter(user_id=user_id, created_at__gte=since).aggregate(
        tokens=Sum(Coalesce(F("input_tokens"), 0) + Coalesce(F("output_tokens"), 0))
    )["tokens"]
    return int(total or 0)


def budgets_for(user_id: Any, overrides: Any, now: dt.datetime | None = None) -> list[Budget]:
    """Each budget that applies to the user, with its usage (one query per budget set)."""
    limits = budget_limits(overrides)
    windows = _windows(now or timezone.now())
    result: list[Budget] = []
    for name in ("daily", "monthly"):
        if limits[name] > 0:
            start, end = windows[name]
            result.append(Budget(name, limits[name], tokens_used(user_id, start), end))
    return result


def check(user_id: Any, overrides: Any) -> list[Budget]:
    """The user's budgets; raises `BudgetExceeded` for the first one spent."""
    budgets = budgets_for(user_id, overrides)
    for budget in budgets:
        if budget.spent:
            raise BudgetExceeded(budget)
    return budgets


def usage_line(user_id: Any, overrides: Any, name: str) -> str:
    """'<used> / <budget>' tokens for the admin (the budget '-' when none applies)."""
    start, _end = _windows(timezone.now())[name]
    limit = budget_limits(overrides)[name]
    used = tokens_used(user_id, start)
    return f"{used} / {limit} ({used / limit:.0%})" if limit > 0 else f"{used} / -"


def warning(user_id: Any, overrides: Any) -> str:
    """A line for the Forge page when a budget is at `WARN_AT` or more, else ''."""
    near = [b for b in budgets_for(user_id, overrides) if b.share >= WARN_AT]
    if not near:
        return ""
    worst = max(near, key=lambda b: b.share)
    return f"You have used {worst.describe()}; it resets at {worst.resets_at:%Y-%m-%d %H:%M} UTC."
