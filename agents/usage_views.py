"""The usage page (`/usage/`): one user's runs, tokens, latency and fallbacks over 7/30/90 days,
and the operators' dashboard in the admin (the same across all users, plus the top users)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .budgets import budgets_for
from .charts import bar_chart
from .limits import user_overrides
from .presentation import provider_display
from .usage import PERIODS, QUANTILES, Usage, period_from, top_users_by_tokens, usage_for


def usage_context(usage: Usage, days: int) -> dict[str, Any]:
    # The roll-up keys runs by provider id; people read display names ("AI Gateway (service
    # account)", not "ai_gateway") in the legend, the table headers and the latency rows.
    runs_by_name = {provider_display(p) or p: counts for p, counts in usage.runs_by_provider.items()}
    return {
        "usage": usage,
        "days": days,
        "periods": PERIODS,
        "quantiles": QUANTILES,
        "provider_names": [provider_display(p) or p for p in usage.providers],
        "latency": [replace(row, provider=provider_display(row.provider) or row.provider) for row in usage.latency],
        "runs_chart": bar_chart(
            title=f"Runs per day by provider, last {days} days", days=usage.days, series=runs_by_name
        ),
        "tokens_chart": bar_chart(
            title=f"Tokens per day, last {days} days",
            days=usage.days,
            series={"input": usage.input_tokens, "output": usage.output_tokens},
        ),
    }


@login_required
@require_GET
def usage_page(request: HttpRequest) -> HttpResponse:
    days = period_from(request.GET.get("days"))
    usage = usage_for(user=request.user, days=days)
    usage.budgets = budgets_for(request.user.pk, user_overrides(request.user.pk))
    return render(request, "agents/usage.html", usage_context(usage, days))


def admin_dashboard(request: HttpRequest, admin_context: dict[str, Any]) -> HttpResponse:
    """Rendered by AgentRunAdmin's `dashboard/` URL (staff only, through admin_view)."""
    days = period_from(request.GET.get("days"))
    context = {
        **admin_context,
        **usage_context(usage_for(user=None, days=days), days),
        "top_users": top_users_by_tokens(days=days),
        "title": "Usage dashboard",
    }
    return render(request, "agents/admin_dashboard.html", context)
