"""Operators' view of agent runs: every run, filters, and per-provider totals above the list."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from .budgets import usage_line
from .limits import Overrides
from .models import AgentRun, UsageLimits
from .selectors import run_totals_by_provider


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    change_list_template = "agents/admin_change_list.html"
    list_display = ("created_at", "user", "agent", "tier", "provider", "model_id", "status", "latency_ms",
                    "time_to_first_token_ms", "input_tokens", "output_tokens", "fallback_count", "cache_hit")
    list_filter = ("provider", "status", "agent", "tier", "credential_source", "cache_hit", "created_at")
    search_fields = ("user__username", "agent", "model_id", "error")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = [f.name for f in AgentRun._meta.fields]

    @admin.display(description="fallbacks")
    def fallback_count(self, obj: AgentRun) -> int:
        return len(obj.fallbacks or [])

    # Records are written by the runner only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AgentRun | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["provider_totals"] = run_totals_by_provider(runs=context["cl"].queryset)
        return response


@admin.register(UsageLimits)
class UsageLimitsAdmin(admin.ModelAdmin):
    """Operators' per-user overrides of the rate limits (and budgets); empty fields: the defaults."""

    list_display = ("user", "rate_limit", "token_limit", "daily_token_budget", "monthly_token_budget",
                    "used_today", "used_this_month", "updated_at")
    readonly_fields = ("used_today", "used_this_month")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
    list_select_related = ("user",)

    @admin.display(description="tokens today / budget")
    def used_today(self, obj: UsageLimits) -> str:
        return usage_line(obj.user_id, _overrides(obj), "daily") if obj.user_id else "-"

    @admin.display(description="tokens this month / budget")
    def used_this_month(self, obj: UsageLimits) -> str:
        return usage_line(obj.user_id, _overrides(obj), "monthly") if obj.user_id else "-"


def _overrides(obj: UsageLimits) -> Overrides:
    return Overrides(obj.rate_limit, obj.token_limit, obj.daily_token_budget, obj.monthly_token_budget)
