"""Operators' view of agent runs: every run in a bounded window, filters, per-provider totals over
that window, and the usage dashboard (linked from the admin index).

The list stays fast as runs accumulate: it shows the last 7 days unless another period is picked
(`PeriodFilter`), counts only the filtered rows and stops at 10,000 (`CappedPaginator`), computes
the totals over the same window, and searches through indexes (`agents.run_search`; never the
prompts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from .budgets import usage_line
from .capped_paginator import COUNT_CAP, CappedPaginator
from .limits import Overrides
from .models import AgentRun, UsageLimits
from .run_search import search_runs
from .selectors import run_totals_by_provider

#: Where get_search_results leaves its (capped) count for get_paginator, on the request.
_SEARCH_COUNT = "_agents_run_search_count"


class PeriodFilter(admin.SimpleListFilter):
    """Runs of the last N days; 7 by default (a year of runs is never listed by accident)."""

    title = "period"
    parameter_name = "period"
    DEFAULT = "7"
    CHOICES = (
        ("1", "Last 24 hours"),
        ("7", "Last 7 days"),
        ("30", "Last 30 days"),
        ("90", "Last 90 days"),
        ("all", "All time (slow)"),
    )

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, str], ...]:
        return self.CHOICES

    def value(self) -> str:
        value = super().value()
        return value if value in dict(self.CHOICES) else self.DEFAULT

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[AgentRun]) -> QuerySet[AgentRun]:
        if self.value() == "all":
            return queryset
        return queryset.filter(created_at__gte=timezone.now() - dt.timedelta(days=int(self.value())))


class _StaticChoicesFilter(admin.SimpleListFilter):
    """A field's filter with choices known in code: the default filter lists the distinct values
    of the whole table, a full scan per filter and page view."""

    field = ""

    def choices_now(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return self.choices_now()

    def queryset(self, request: HttpRequest, queryset: QuerySet[AgentRun]) -> QuerySet[AgentRun]:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class ProviderFilter(_StaticChoicesFilter):
    title, parameter_name, field = "provider", "provider__exact", "provider"

    def choices_now(self) -> list[tuple[str, str]]:
        from providers import registry

        return [(b.id, b.name) for b in registry.all_backends()]


class AgentFilter(_StaticChoicesFilter):
    title, parameter_name, field = "agent", "agent__exact", "agent"

    def choices_now(self) -> list[tuple[str, str]]:
        from .catalog import AGENTS

        return [(name, name) for name in sorted(AGENTS)]


class TierFilter(_StaticChoicesFilter):
    title, parameter_name, field = "tier", "tier__exact", "tier"

    def choices_now(self) -> list[tuple[str, str]]:
        from providers.tiers import TIERS

        return [(tier, tier) for tier in TIERS]


class SourceFilter(_StaticChoicesFilter):
    title, parameter_name, field = "credential source", "credential_source__exact", "credential_source"

    def choices_now(self) -> list[tuple[str, str]]:
        return [("user", "user"), ("platform", "platform")]


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    change_list_template = "agents/admin_change_list.html"
    list_display = (
        "created_at",
        "user",
        "agent",
        "tier",
        "provider",
        "model_id",
        "status",
        "latency_ms",
        "time_to_first_token_ms",
        "input_tokens",
        "output_tokens",
        "fallback_count",
        "cache_hit",
    )
    list_filter = (PeriodFilter, ProviderFilter, "status", AgentFilter, TierFilter, SourceFilter, "cache_hit")
    # Searched by get_search_results below (user names first, then short exact/prefix columns).
    search_fields = ("user__username", "agent", "model_id", "request_id")
    search_help_text = (
        "A user name (or part), an agent, a provider, a model id prefix (case-sensitive) or a request id."
    )
    # Users come by prefetch (one query for the page), not a join: with auth_user joined, SQLite
    # drives the list from the user table and sorts every run in the window.
    list_select_related = ()
    show_full_result_count = False
    # Rendering rows is what the page pays for once its queries are bounded: 50 rows, and no
    # per-row action checkbox (a widget template each; records are not edited or bulk-deleted here).
    list_per_page = 50
    actions = None
    readonly_fields = [f.name for f in AgentRun._meta.fields]

    @admin.display(description="fallbacks")
    def fallback_count(self, obj: AgentRun) -> int:
        return len(obj.fallbacks or [])

    # Records are written by the runner only.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AgentRun | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        dashboard = path(
            "dashboard/", self.admin_site.admin_view(self.dashboard_view), name="agents_agentrun_dashboard"
        )
        health = path(
            "provider-health/",
            self.admin_site.admin_view(self.provider_health_view),
            name="agents_agentrun_provider_health",
        )
        return [dashboard, health, *super().get_urls()]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentRun]:
        return super().get_queryset(request).prefetch_related("user")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AgentRun], search_term: str
    ) -> tuple[QuerySet[AgentRun], bool]:
        """A user name (part of one), an agent, a provider, a model id prefix or a request id
        (`agents.run_search`: each through its own index; prompts, answers and errors never)."""
        search = search_runs(runs=queryset, term=search_term)
        if search is None:
            return queryset, False
        # The search has counted its matches (capped) to pick its query: the paginator reuses it.
        setattr(request, _SEARCH_COUNT, search.count)
        return search.best, False

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[AgentRun],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> CappedPaginator:
        return CappedPaginator(
            queryset, per_page, orphans, allow_empty_first_page, known_count=getattr(request, _SEARCH_COUNT, None)
        )

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Provider health links to one credential's failing runs.
        return lookup == "credential_key__exact" or super().lookup_allowed(lookup, value, request)

    def provider_health_view(self, request: HttpRequest) -> HttpResponse:
        from django.shortcuts import render

        from .provider_health import provider_health

        context = {**self.admin_site.each_context(request), "rows": provider_health(), "title": "Provider health"}
        return render(request, "agents/admin_provider_health.html", context)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        from .usage_views import admin_dashboard

        return admin_dashboard(request, self.admin_site.each_context(request))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            cl = context["cl"]
            context["count_cap"] = f"{COUNT_CAP:,}"
            if cl.result_count > COUNT_CAP and cl.query:
                # Totals over a search read each match's row: past the cap, narrow the search.
                context["totals_skipped"] = True
            else:
                context["provider_totals"] = run_totals_by_provider(runs=cl.queryset)
        return response


@admin.register(UsageLimits)
class UsageLimitsAdmin(admin.ModelAdmin):
    """Operators' per-user overrides of the rate limits (and budgets); empty fields: the defaults."""

    list_display = (
        "user",
        "rate_limit",
        "token_limit",
        "daily_token_budget",
        "monthly_token_budget",
        "used_today",
        "used_this_month",
        "updated_at",
    )
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
